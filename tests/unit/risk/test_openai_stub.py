"""The stub LLM server itself: auth, per-key counts, rate limit, faults, plausible verdicts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from stack import openai_stub
from udfs.risk.providers import VisionRequest
from udfs.risk.providers.openai_compatible import chat_body, parse_completion
from udfs.risk.verdict import SYSTEM_PROMPT

BODY = chat_body(
    "m",
    VisionRequest(
        SYSTEM_PROMPT,
        "Camera c. Detector: 1 vehicle(s), 1 pedestrian(s), estimated time to collision "
        "1.0 s, signal red, in crosswalk.",
        ("QUJD",),
    ),
    50,
)


async def _session(cfg: openai_stub.StubConfig, calls: list[str | None]) -> list[Any]:
    runner, port = await openai_stub.start(cfg)
    base = f"http://127.0.0.1:{port}"
    out: list[Any] = []
    try:
        async with aiohttp.ClientSession() as s:
            for key in calls:
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                async with s.post(base + "/v1/chat/completions", json=BODY, headers=headers) as r:
                    out.append((r.status, r.headers.get("Retry-After"), await r.text()))
            async with s.get(base + "/stats") as r:
                out.append(await r.json())
    finally:
        await runner.cleanup()
    return out


def test_answers_a_fenced_plausible_verdict_and_counts_per_key_id() -> None:
    *answers, stats = asyncio.run(
        _session(openai_stub.StubConfig(latency_ms=1), ["sk-a", "sk-a", "sk-b", None])
    )
    assert [a[0] for a in answers] == [200, 200, 200, 401]
    verdict, tokens = parse_completion(json.loads(answers[0][2]))
    assert verdict.risk_level == "high"
    assert set(verdict.risk_types) == {"near_miss", "red_light", "pedestrian_conflict"}
    assert tokens == 760
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
