"""The stub LLM server itself: auth, per-key counts, rate limit, faults, and verdicts taken
from the pixels of each image (the simulator's risk marker), never from the prompt text."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp

from simulator.crops import render
from stack import openai_stub
from tests.factories import CROP_BYTES
from udfs.risk.providers import VisionRequest
from udfs.risk.providers.openai_compatible import chat_body, parse_completion
from udfs.risk.verdict import SYSTEM_PROMPT

DANGER = (
    "Camera c. Detector: 1 vehicle(s), 1 pedestrian(s), estimated time to collision "
    "1.0 s, signal red, in crosswalk."
)
CALM = (
    "Camera c. Detector: 2 vehicle(s), 0 pedestrian(s), estimated time to collision "
    "unknown, signal not red, not in crosswalk."
)
MARKED = base64.b64encode(render(("car", "person"), 3, (24, 32), marked=True)).decode()
PLAIN = base64.b64encode(render(("car", "person"), 3, (24, 32), marked=False)).decode()


def body(text: str, *images: str) -> dict[str, Any]:
    return chat_body("m", VisionRequest(SYSTEM_PROMPT, text, images), 50)


BODY = body(DANGER, PLAIN)


async def _session(
    cfg: openai_stub.StubConfig, calls: list[str | None], bodies: list[dict[str, Any]] | None = None
) -> list[Any]:
    runner, port = await openai_stub.start(cfg)
    base = f"http://127.0.0.1:{port}"
    out: list[Any] = []
    try:
        async with aiohttp.ClientSession() as s:
            for i, key in enumerate(calls):
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                sent = bodies[i] if bodies else BODY
                async with s.post(base + "/v1/chat/completions", json=sent, headers=headers) as r:
                    out.append((r.status, r.headers.get("Retry-After"), await r.text()))
            async with s.get(base + "/stats") as r:
                out.append(await r.json())
    finally:
        await runner.cleanup()
    return out


def content_of(answer: tuple[int, str | None, str]) -> Any:
    text = json.loads(answer[2])["choices"][0]["message"]["content"]
    return json.loads(text.removeprefix("```json\n").removesuffix("\n```"))


def test_the_verdict_follows_the_marker_in_the_pixels_not_the_prompt_text() -> None:
    bodies = [body(DANGER, PLAIN), body(DANGER, MARKED), body(CALM, MARKED), body(CALM, PLAIN)]
    *answers, stats = asyncio.run(
        _session(openai_stub.StubConfig(latency_ms=1), ["sk-a"] * 4, bodies)
    )
    assert [a[0] for a in answers] == [200] * 4
    levels = [v.risk_level for a in answers for v in parse_completion(json.loads(a[2]))[0] if v]
    assert levels == ["low", "high", "high", "low"]
    (verdict,), tokens = parse_completion(json.loads(answers[1][2]))
    assert (
        verdict is not None and verdict.risk_types == ("near_miss",) and "32x24" in verdict.reason
    )
    assert tokens == 760
    assert stats["images"] == {"seen": 4, "marked": 2} and stats["batch_sizes"] == {"1": 4}


def test_a_batch_gets_one_verdict_per_image_by_index() -> None:
    batch = body(DANGER, PLAIN, MARKED, base64.b64encode(CROP_BYTES).decode())
    [answer, stats] = asyncio.run(_session(openai_stub.StubConfig(latency_ms=1), ["sk-a"], [batch]))
    verdicts = content_of(answer)["verdicts"]
    assert [(v["index"], v["risk_level"]) for v in verdicts] == [
        (0, "low"),
        (1, "high"),
        (2, "low"),
    ]
    assert "8x8" in verdicts[2]["reason"]  # the factory's 8x8 crop, not the simulator's
    assert json.loads(answer[2])["usage"]["total_tokens"] == 200 + 3 * 500 + 3 * 60
    assert stats["batch_sizes"] == {"3": 1}


def test_a_partial_fault_leaves_out_the_last_verdict_of_a_batch() -> None:
    cfg = openai_stub.StubConfig(latency_ms=0, fault_rate=1.0, faults=("partial",))
    [answer, stats] = asyncio.run(_session(cfg, ["sk-a"], [body(CALM, MARKED, PLAIN)]))
    assert [v["index"] for v in content_of(answer)["verdicts"]] == [0]
    assert stats["outcomes"] == {"partial": 1}


def test_an_image_that_does_not_decode_or_no_image_is_a_400() -> None:
    not_jpeg = base64.b64encode(b"\xff\xd8\xff\xe0not-a-jpeg\xff\xd9").decode()
    bodies = [body(DANGER, not_jpeg), body(DANGER), body(DANGER, PLAIN, "%%%")]
    *answers, stats = asyncio.run(
        _session(openai_stub.StubConfig(latency_ms=0), ["sk-a"] * 3, bodies)
    )
    assert [a[0] for a in answers] == [400, 400, 400]
    assert "does not decode" in answers[0][2] and "no image" in answers[1][2]
    assert stats["outcomes"] == {"400": 3} and stats["images"] == {}


def test_counts_per_key_id_and_refuses_a_missing_key() -> None:
    *answers, stats = asyncio.run(
        _session(openai_stub.StubConfig(latency_ms=1), ["sk-a", "sk-a", "sk-b", None])
    )
    assert [a[0] for a in answers] == [200, 200, 200, 401]
    assert stats["by_key"] == {openai_stub.key_id("sk-a"): 2, openai_stub.key_id("sk-b"): 1}
    assert stats["outcomes"] == {"ok": 3, "401": 1}
    assert "sk-a" not in str(stats)


def test_per_key_rate_limit_answers_429_with_retry_after() -> None:
    cfg = openai_stub.StubConfig(latency_ms=0, rpm_per_key=2, retry_after_s=7)
    *answers, _ = asyncio.run(_session(cfg, ["sk-a", "sk-a", "sk-a", "sk-b"]))
    assert [(a[0], a[1]) for a in answers] == [(200, None), (200, None), (429, "7"), (200, None)]


def test_fault_rate_draws_the_named_faults_reproducibly() -> None:
    cfg = openai_stub.StubConfig(latency_ms=0, fault_rate=0.5, faults=("500", "malformed"), seed=3)
    first = asyncio.run(_session(cfg, ["sk-a"] * 30))
    again = asyncio.run(_session(cfg, ["sk-a"] * 30))
    outcomes = first[-1]["outcomes"]
    assert outcomes == again[-1]["outcomes"]
    assert set(outcomes) == {"ok", "500", "malformed"}
    assert 5 <= outcomes["ok"] <= 25
