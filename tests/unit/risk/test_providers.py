"""The provider seam: the assessor drives any `VisionProvider` (here one without HTTP) with the
same retries, failover and fallbacks; `llm.provider` names a registered implementation."""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from typing import Any, get_args

import pytest
from pydantic import SecretStr, ValidationError

from tests.factories import CROP_BYTES, detection
from udfs.risk.assessor import Assessor
from udfs.risk.config import ProviderName, RiskConfig
from udfs.risk.keypool import key_id_for, load_keys
from udfs.risk.providers import (
    PROVIDERS,
    ApiKey,
    CallTimeout,
    Malformed,
    ProviderAnswer,
    ProviderError,
    RateLimited,
    Rejected,
    ServerError,
    VisionRequest,
    make_provider,
)
from udfs.risk.providers.openai_compatible import (
    OpenAICompatibleProvider,
    chat_body,
    retry_after_seconds,
)
from udfs.risk.records import RiskResult, RiskTask
from udfs.risk.verdict import SYSTEM_PROMPT, LlmVerdict

SECRETS = ["sk-seam-AAAA-1111", "sk-seam-BBBB-2222"]
KA, KB = (key_id_for(s) for s in SECRETS)
VERDICT = LlmVerdict(risk_level="medium", risk_types=("near_miss",), reason="close", confidence=0.6)

Step = ProviderError | None  # None: answer VERDICT


class ScriptedProvider:
    """A provider with no wire protocol: each call takes the next scripted outcome and
    records what it was asked, with which key id and secret."""

    def __init__(self, *script: Step) -> None:
        self.script: deque[Step] = deque(script)
        self.calls: list[tuple[VisionRequest, str, str]] = []
        self.closed = False

    async def assess(self, request: VisionRequest, key: ApiKey) -> ProviderAnswer:
        self.calls.append((request, key.id, key.secret.get_secret_value()))
        step = self.script.popleft() if self.script else None
        if step is not None:
            raise step
        return ProviderAnswer(
            verdicts=(VERDICT,) * len(request.images_jpeg_b64), tokens=321, latency_ms=12.5
        )

    async def close(self) -> None:
        self.closed = True


def assess(provider: ScriptedProvider, **llm: Any) -> RiskResult:
    """One task on key A through an assessor whose config names no endpoint at all."""
    cfg = RiskConfig.model_validate({"llm": {"backoff_s": 0.001, **llm}})
    secrets, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": ",".join(SECRETS)})
    task = RiskTask(event=detection(), tier="high", slot=0, key_id=KA, reserved_tokens=1000)

    async def main() -> RiskResult:
        assessor = Assessor(cfg, secrets, specs, provider=provider)
        try:
            return await assessor.assess(task)
        finally:
            await assessor.close()

    return asyncio.run(main())


def test_an_answer_becomes_an_llm_verdict_with_its_tokens() -> None:
    provider = ScriptedProvider()
    result = assess(provider)
    v = result.verdict
    assert (v.source, v.key_id, v.risk_level, v.reason, v.confidence) == (
        "llm", KA, "medium", "close", 0.6,
    )  # fmt: skip
    assert [(a.key_id, a.outcome, a.status, a.tokens) for a in result.attempts] == [
        (KA, "ok", 200, 321)
    ]
    [(request, key_id, secret)] = provider.calls
    assert (key_id, secret) == (KA, SECRETS[0])
    assert request.system_prompt == SYSTEM_PROMPT
    assert request.text.startswith(f"Camera {detection().camera_id}. Detector: 1 vehicle(s)")
    assert request.images_jpeg_b64 == (base64.b64encode(CROP_BYTES).decode(),)
    assert provider.closed


@pytest.mark.parametrize(
    ("script", "attempts", "source", "reason"),
    [
        ([RateLimited(30.0)], [(KA, "rate_limited"), (KB, "ok")], "llm", None),
        ([RateLimited(None), RateLimited(None)], [(KA, "rate_limited"), (KB, "rate_limited")],
         "fallback", "every API key is rate limited"),
        ([ServerError(503), CallTimeout("attempt timed out")],
         [(KA, "server_error"), (KA, "timeout"), (KA, "ok")], "llm", None),
        ([CallTimeout("attempt timed out")] * 3, [(KA, "timeout")] * 3,
         "fallback", "LLM failed 3 times (timeout)"),
        ([Malformed("no JSON object in the answer")], [(KA, "malformed"), (KA, "ok")], "llm", None),
        ([Malformed("x"), Malformed("x")], [(KA, "malformed")] * 2,
         "fallback", "malformed LLM answer twice"),
        ([Rejected(401)], [(KA, "client_error")], "fallback", "LLM request rejected (401)"),
    ],
    ids=["429 fails over", "all keys 429", "transient retried", "transient until max attempts",
         "malformed once", "malformed twice", "auth rejected"],
)  # fmt: skip
def test_typed_errors_drive_the_same_retries_and_fallbacks(
    script: list[Step], attempts: list[tuple[str, str]], source: str, reason: str | None
) -> None:
    provider = ScriptedProvider(*script)
    result = assess(provider)
    assert [(a.key_id, a.outcome) for a in result.attempts] == attempts
    assert [key_id for _, key_id, _ in provider.calls] == [k for k, _ in attempts]
    assert result.verdict.source == source
    if reason is not None:
        assert reason in result.verdict.reason


def test_every_configurable_provider_name_is_registered() -> None:
    assert set(PROVIDERS) == set(get_args(ProviderName))
    assert RiskConfig().llm.provider == "openai-compatible"


def test_the_default_provider_is_the_openai_compatible_one() -> None:
    cfg = RiskConfig.model_validate({"llm": {"base_url": "http://127.0.0.1:1/v1/"}})
    provider = make_provider(cfg)
    assert isinstance(provider, OpenAICompatibleProvider)
    assert provider.url == "http://127.0.0.1:1/v1/chat/completions"


def test_an_unknown_provider_name_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match=r"llm\.provider"):
        RiskConfig.model_validate({"llm": {"provider": "carrier-pigeon"}})


def test_the_openai_compatible_provider_needs_a_base_url() -> None:
    with pytest.raises(ValueError, match=r"llm\.base_url"):
        make_provider(RiskConfig())


def test_the_chat_body_is_the_request_sent_before_the_seam() -> None:
    request = VisionRequest(SYSTEM_PROMPT, "Camera c. ctx", ("QUJD",))
    assert chat_body("qwen-vl-plus", request, 200) == {
        "model": "qwen-vl-plus",
        "max_tokens": 200,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Camera c. ctx"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("-3", 0.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),
        ("soon", None),
    ],
)
def test_retry_after_as_seconds_or_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, now_s=40.0) == seconds


def test_an_api_key_never_shows_its_secret() -> None:
    key = ApiKey(KA, SecretStr(SECRETS[0]))
    assert SECRETS[0] not in repr(key) and SECRETS[0] not in str(key)
    assert KA in repr(key)
