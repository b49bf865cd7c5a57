"""The assessor against the real stub HTTP server on a random local port (quick)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from simulator.crops import render
from stack import openai_stub
from tests.factories import detection
from udfs.risk.assessor import Assessor
from udfs.risk.cache import VerdictCache
from udfs.risk.config import RiskConfig
from udfs.risk.keypool import KeyPool, key_id_for, load_keys
from udfs.risk.records import RiskBatch, RiskResult, RiskTask

SECRETS = ["sk-unit-AAAA-1111", "sk-unit-BBBB-2222"]
KA, KB = (key_id_for(s) for s in SECRETS)


class MemoryKV:
    """In-memory stand-in for redis.asyncio (get/set with ex)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttl: dict[str, int | None] = {}

    async def get(self, name: str) -> bytes | None:
        return self.data.get(name)

    async def set(self, name: str, value: bytes, ex: int | None = None) -> bool:
        self.data[name], self.ttl[name] = value, ex
        return True


def make_cfg(port: int, **llm: Any) -> RiskConfig:
    settings = {"base_url": f"http://127.0.0.1:{port}/v1", "timeout_s": 1.0, "backoff_s": 0.01}
    return RiskConfig.model_validate({"llm": {**settings, **llm}})


def make_task(key_id: str | None = KA, **update: Any) -> RiskTask:
    task = RiskTask(event=detection(), tier="high", slot=0, key_id=key_id, reserved_tokens=1000)
    return task.model_copy(update=update)


Scenario = Callable[[str, Assessor], Awaitable[Any]]


def run_with_stub(scenario: Scenario, kv: MemoryKV | None = None, **stub: Any) -> Any:
    """Start the stub, build an assessor for it, run `scenario(base, assessor)`, clean up."""

    async def main() -> Any:
        llm = stub.pop("llm", {})
        runner, port = await openai_stub.start(openai_stub.StubConfig(**stub))
        cfg = make_cfg(port, **llm)
        secrets, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": ",".join(SECRETS)})
        assessor = Assessor(cfg, secrets, specs, kv)
        try:
            return await scenario(f"http://127.0.0.1:{port}", assessor)
        finally:
            await assessor.close()
            await runner.cleanup()

    return asyncio.run(main())


async def control(base: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        if body is None:
            async with s.get(base + path) as r:
                answer: dict[str, Any] = await r.json()
                return answer
        async with s.post(base + path, json=body) as r:
            posted: dict[str, Any] = await r.json()
            return posted


def outcomes(result: RiskResult) -> list[tuple[str, str]]:
    return [(a.key_id, a.outcome) for a in result.attempts]


def test_ok_answer_is_an_llm_verdict_after_the_stub_latency() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, dict[str, Any]]:
        return await a.assess(make_task()), await control(base, "/stats")

    result, stats = run_with_stub(scenario, latency_ms=80)
    v = result.verdict
    assert (v.source, v.key_id, v.model, v.tier) == ("llm", KA, "qwen-vl-plus", "high")
    # The factory's crop carries no risk marker: the stub says low whatever the context says
    # (ttc 1.5 s, red); test_verdicts_from_pixels.py covers marked crops.
    assert v.risk_level == "low" and "8x8" in v.reason
    assert v.latency_ms is not None and v.latency_ms >= 80
    assert outcomes(result) == [(KA, "ok")] and result.attempts[0].tokens == 760
    assert stats["by_key"] == {KA: 1}


def test_429_moves_the_request_to_another_key() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, dict[str, Any], KeyPool]:
        await control(base, "/control", {"script": ["429"]})
        return await a.assess(make_task()), await control(base, "/stats"), a.local

    result, stats, local = run_with_stub(scenario, retry_after_s=30)
    assert result.verdict.source == "llm" and result.verdict.key_id == KB
    assert outcomes(result) == [(KA, "rate_limited"), (KB, "ok")]
    assert result.attempts[0].retry_after_s == 30
    assert stats["by_key"] == {KA: 1, KB: 1}
    assert local.keys[KA].cooldown_until_ms >= result.attempts[0].at_ms + 29_000


def test_all_keys_rate_limited_gives_the_fallback() -> None:
    async def scenario(base: str, a: Assessor) -> RiskResult:
        await control(base, "/control", {"script": ["429", "429"]})
        return await a.assess(make_task())

    result = run_with_stub(scenario)
    assert result.verdict.source == "fallback"
    assert "rate limited" in result.verdict.reason
    assert outcomes(result) == [(KA, "rate_limited"), (KB, "rate_limited")]


def test_500_is_retried_with_backoff_then_succeeds() -> None:
    async def scenario(base: str, a: Assessor) -> RiskResult:
        await control(base, "/control", {"script": ["500", "500"]})
        return await a.assess(make_task())

    result = run_with_stub(scenario)
    assert result.verdict.source == "llm"
    assert outcomes(result) == [(KA, "server_error"), (KA, "server_error"), (KA, "ok")]


def test_a_text_rule_fails_every_request_of_one_camera_until_fallback() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, RiskResult]:
        camera = make_task().event.camera_id
        await control(base, "/control", {"when_text_contains": {f"Camera {camera}.": "500"}})
        other = make_task(event=detection().model_copy(update={"camera_id": "elsewhere"}))
        return await a.assess(make_task()), await a.assess(other)

    failing, other = run_with_stub(scenario)
    assert failing.verdict.source == "fallback"
    assert "LLM failed 3 times (server_error)" in failing.verdict.reason
    assert outcomes(failing) == [(KA, "server_error")] * 3
    assert other.verdict.source == "llm"


def test_hang_times_out_and_is_retried() -> None:
    async def scenario(base: str, a: Assessor) -> RiskResult:
        await control(base, "/control", {"script": ["hang"]})
        return await a.assess(make_task())

    result = run_with_stub(scenario, hang_s=3.0, llm={"timeout_s": 0.3})
    assert outcomes(result) == [(KA, "timeout"), (KA, "ok")]


def test_malformed_is_retried_once_then_falls_back() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, RiskResult]:
        await control(base, "/control", {"script": ["malformed", "ok"]})
        first = await a.assess(make_task())
        await control(base, "/control", {"script": ["malformed", "malformed", "ok"]})
        return first, await a.assess(make_task())

    recovered, failed = run_with_stub(scenario)
    assert recovered.verdict.source == "llm"
    assert outcomes(recovered) == [(KA, "malformed"), (KA, "ok")]
    assert failed.verdict.source == "fallback"
    assert "malformed" in failed.verdict.reason
    assert outcomes(failed) == [(KA, "malformed"), (KA, "malformed")]


def test_unknown_key_is_a_client_fault_without_retry() -> None:
    async def scenario(base: str, a: Assessor) -> RiskResult:
        return await a.assess(make_task())

    result = run_with_stub(scenario, allowed_keys=frozenset({"sk-someone-else"}))
    assert result.verdict.source == "fallback"
    assert outcomes(result) == [(KA, "client_error")]


def test_cache_hit_skips_the_server() -> None:
    kv = MemoryKV()

    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, RiskResult, dict[str, Any]]:
        first = await a.assess(make_task())
        second = await a.assess(make_task(key_id=KB))
        return first, second, await control(base, "/stats")

    first, second, stats = run_with_stub(scenario, kv)
    assert (first.verdict.source, second.verdict.source) == ("llm", "cache")
    assert second.verdict.risk_level == first.verdict.risk_level
    assert second.attempts == () and second.verdict.key_id is None
    assert stats["requests"] == 1
    [key] = kv.data
    # 1 car, 1 pedestrian, ttc 1.5 s, red, not in the crosswalk: part of the question asked.
    assert key == VerdictCache(kv, "v1", "qwen-vl-plus").key(
        first.verdict.crop_sha256 or "", "v1p1t1.5r1c0"
    )
    assert kv.ttl[key] == 300


def test_same_crop_in_another_context_is_a_new_question() -> None:
    kv = MemoryKV()
    later = detection().model_copy(update={"signal_state": "green"})

    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, RiskResult, dict[str, Any]]:
        first = await a.assess(make_task())
        second = await a.assess(make_task(event=later))
        return first, second, await control(base, "/stats")

    first, second, stats = run_with_stub(scenario, kv)
    assert (first.verdict.source, second.verdict.source) == ("llm", "llm")
    assert first.verdict.crop_sha256 == second.verdict.crop_sha256
    assert stats["requests"] == 2 and len(kv.data) == 2


def test_refused_task_is_an_immediate_fallback() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[RiskResult, dict[str, Any]]:
        result = await a.assess(make_task(key_id=None, refused="no key budget"))
        return result, await control(base, "/stats")

    result, stats = run_with_stub(scenario)
    assert result.verdict.source == "fallback" and "no key budget" in result.verdict.reason
    assert stats["requests"] == 0


def test_concurrent_calls_are_bounded_by_max_in_flight() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[list[RiskResult], dict[str, Any]]:
        results = await asyncio.gather(*(a.assess(make_task()) for _ in range(12)))
        return list(results), await control(base, "/stats")

    results, stats = run_with_stub(scenario, latency_ms=50)
    # RiskConfig default max_in_flight is 100; bound it via a second run below.
    assert all(r.verdict.source == "llm" for r in results)
    assert stats["peak_in_flight"] > 1  # calls really overlap

    async def bounded(base: str, a: Assessor) -> dict[str, Any]:
        a.gate.core.capacity = 3
        a.gate.core.limits = {"high": 3, "medium": 3, "low": 3}
        await asyncio.gather(*(a.assess(make_task()) for _ in range(12)))
        return await control(base, "/stats")

    assert run_with_stub(bounded, latency_ms=50)["peak_in_flight"] == 3


def test_no_secret_in_results_logs_or_output(caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario(base: str, a: Assessor) -> list[RiskResult]:
        await control(base, "/control", {"script": ["429", "500", "malformed", "hang"]})
        results = [await a.assess(make_task()) for _ in range(3)]
        print(repr(a.secrets), a.local.state(), await control(base, "/stats"))
        return results

    results = run_with_stub(scenario, hang_s=2.0, llm={"timeout_s": 0.2})
    text = " ".join(r.to_json_str() for r in results) + caplog.text
    captured = capsys.readouterr()
    text += captured.out + captured.err
    assert KA in text  # the public id does appear
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch) -> None:
    monkeypatch.delenv("TRAFFIC_LLM_API_KEYS", raising=False)


# -- batches: several crops in one request ---------------------------------------------------

MARKED_B64 = base64.b64encode(render(("car", "person"), 1, (24, 32), marked=True)).decode()


def batch_of(n: int, marked: set[int] = frozenset(), **lease: Any) -> RiskBatch:  # type: ignore[assignment]
    """n tasks of distinct groups (frame ids 0..n-1); those in `marked` carry the marker."""
    tasks = []
    for i in range(n):
        event = detection(frame_id=i)
        if i in marked:
            crop = event.groups[0].crop.model_copy(update={"data_b64": MARKED_B64})  # type: ignore[union-attr]
            group = event.groups[0].model_copy(update={"crop": crop, "crop_sha256": f"{i:064x}"})
            event = event.model_copy(update={"groups": (group,)})
        tasks.append(RiskTask(event=event, tier="high", slot=0))
    return RiskBatch(tasks=tuple(tasks), key_id=KA, reserved_tokens=1000 * n, **lease)


def levels(results: list[RiskResult]) -> list[tuple[int, str, str]]:
    return [(r.verdict.frame_id, r.verdict.source, r.verdict.risk_level) for r in results]


def test_a_batch_is_one_request_with_verdicts_back_in_task_order() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[list[RiskResult], dict[str, Any]]:
        return await a.assess_batch(batch_of(4, {1, 3})), await control(base, "/stats")

    results, stats = run_with_stub(scenario)
    assert levels(results) == [
        (0, "llm", "low"), (1, "llm", "high"), (2, "llm", "low"), (3, "llm", "high"),
    ]  # fmt: skip
    assert stats["requests"] == 1 and stats["batch_sizes"] == {"4": 1}
    lead, *rest = results
    assert [(a.outcome, a.images, a.tokens) for a in lead.attempts] == [("ok", 4, 200 + 4 * 560)]
    assert (lead.leased_key_id, lead.reserved_tokens) == (KA, 4000)
    assert all(r.attempts == () and r.leased_key_id is None and r.sent for r in rest)


def test_a_partial_answer_asks_again_for_the_missing_image_only() -> None:
    async def scenario(base: str, a: Assessor) -> tuple[list[RiskResult], dict[str, Any]]:
        await control(base, "/control", {"script": ["partial"]})
        return await a.assess_batch(batch_of(3, {2})), await control(base, "/stats")

    results, stats = run_with_stub(scenario)
    assert levels(results) == [(0, "llm", "low"), (1, "llm", "low"), (2, "llm", "high")]
    assert [(a.outcome, a.images) for a in results[0].attempts] == [("partial", 3), ("ok", 1)]
    assert stats["batch_sizes"] == {"3": 1, "1": 1}


def test_an_image_missing_twice_falls_back_alone() -> None:
    async def scenario(base: str, a: Assessor) -> list[RiskResult]:
        await control(base, "/control", {"script": ["partial", "partial"]})
        return await a.assess_batch(batch_of(3, {0}))

    results = run_with_stub(scenario)
    assert levels(results)[:2] == [(0, "llm", "high"), (1, "llm", "low")]
    assert results[2].verdict.source == "fallback"
    # Asked again alone, the image's answer is a (single) malformed one: its second miss.
    assert "malformed LLM answer twice" in results[2].verdict.reason
    assert [(a.outcome, a.images) for a in results[0].attempts] == [
        ("partial", 3), ("malformed", 1),
    ]  # fmt: skip


def test_a_batch_fails_over_and_retries_as_a_whole() -> None:
    async def scenario(base: str, a: Assessor) -> list[RiskResult]:
        await control(base, "/control", {"script": ["429", "malformed"]})
        return await a.assess_batch(batch_of(2, {1}))

    results = run_with_stub(scenario)
    assert levels(results) == [(0, "llm", "low"), (1, "llm", "high")]
    assert {r.verdict.key_id for r in results} == {KB}
    assert [(a.key_id, a.outcome, a.images) for a in results[0].attempts] == [
        (KA, "rate_limited", 2), (KB, "malformed", 2), (KB, "ok", 2),
    ]  # fmt: skip


def test_cached_crops_stay_out_of_the_batch_request() -> None:
    kv = MemoryKV()

    async def scenario(base: str, a: Assessor) -> tuple[list[RiskResult], dict[str, Any]]:
        await a.assess_batch(batch_of(2, {1}))  # frames 0 and 1 now cached
        await control(base, "/reset", {})
        return await a.assess_batch(batch_of(4, {1, 3})), await control(base, "/stats")

    results, stats = run_with_stub(scenario, kv)
    # Frames 0 and 2 share the factory crop (and context); 3 has a marked crop of its own.
    assert [r.verdict.source for r in results] == ["cache", "cache", "cache", "llm"]
    assert levels(results)[3] == (3, "llm", "high")
    assert stats["images"] == {"seen": 1, "marked": 1}
    assert results[0].leased_key_id == KA and len(results[0].attempts) == 1
