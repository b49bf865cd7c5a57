"""Near-duplicate verdict cache: the perceptual hash, the Redis-value cache, and the assessor
on re-rendered simulator crops (no two frames share bytes), checked against the stub's
pixel verdicts: a marked crop never gets an unmarked crop's verdict."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from contract import DetectionEvent, parse
from simulator import IncidentConfig, SimConfig, simulate
from simulator.crops import render_scene
from stack import openai_stub
from tests.factories import detection
from tests.unit.risk.test_assessor_stub import MemoryKV
from udfs.risk import records, rules
from udfs.risk.assessor import Assessor
from udfs.risk.config import FilterRules, RiskConfig, TierRules
from udfs.risk.keypool import load_keys
from udfs.risk.near import HASH_BITS, NearCache, coarse_context, hamming, perceptual_hash

Box = tuple[float, float, float, float]
DISTANCE = 4


def scene(rng: random.Random) -> tuple[list[tuple[str, Box]], Box]:
    members = []
    for _ in range(rng.randint(2, 4)):
        x, y, w, h = (
            rng.uniform(0, 200),
            rng.uniform(0, 150),
            rng.uniform(10, 80),
            rng.uniform(10, 80),
        )
        members.append((rng.choice(["car", "person", "bus", "bicycle"]), (x, y, x + w, y + h)))
    union = tuple(f(b[k] for _, b in members) for k, f in ((0, min), (1, min), (2, max), (3, max)))
    return members, union  # type: ignore[return-value]


def test_the_marker_moves_the_hash_beyond_the_threshold_the_noise_does_not() -> None:
    rng = random.Random(7)
    noise, marker = [], []
    for seed in range(300):
        members, union = scene(rng)
        plain = perceptual_hash(render_scene(members, union, False, seed))
        again = perceptual_hash(render_scene(members, union, False, seed + 10_000))
        marked = perceptual_hash(render_scene(members, union, True, seed))
        assert plain is not None and again is not None and marked is not None
        noise.append(hamming(plain, again))
        marker.append(hamming(plain, marked))
    assert min(marker) > DISTANCE + 2
    assert sorted(noise)[len(noise) // 2] <= 2  # sensor noise alone: mostly a few bits
    assert perceptual_hash(b"not a jpeg") is None
    assert HASH_BITS == 256


def test_coarse_context_bands_ttc_by_the_tier_thresholds() -> None:
    tiers, filt = TierRules(), FilterRules()

    def band(ttc: float | None) -> str:
        sig = rules.Signals(vehicles=1, pedestrians=1, ttc_s=ttc, distance_px=None,
                            red_signal=False, in_crosswalk=True, has_crop=True)  # fmt: skip
        return coarse_context(sig, tiers, filt)

    assert [band(t) for t in (None, 0.4, 1.5, 1.51, 3.0, 3.2)] == [
        "v1p1tnar0c1", "v1p1thr0c1", "v1p1thr0c1", "v1p1tmr0c1", "v1p1tmr0c1", "v1p1txr0c1",
    ]  # fmt: skip


def verdict(level: str = "low", camera: str = "cam-1") -> Any:
    v = records.fallback(
        records.RiskTask(event=detection(camera_id=camera), tier="low", slot=0), "x"
    )
    return v.verdict.model_copy(update={"source": "llm", "risk_level": level})


def test_the_nearest_fresh_verdict_within_the_distance_answers() -> None:
    async def main() -> list[Any]:
        near = NearCache(MemoryKV(), "v1", "m", ttl_s=30, max_distance=DISTANCE, entries=2)
        await near.put(verdict("low"), "ctx", 0b1111, now_ms=1000)
        await near.put(verdict("high"), "ctx", 0b1111_0000_0000, now_ms=2000)
        return [
            await near.get("cam-1", "ctx", 0b0111, now_ms=3000),  # 1 bit from the first
            await near.get("cam-1", "ctx", 0b1111_1111_0000_0000, now_ms=3000),  # 4 from 2nd
            await near.get("cam-1", "ctx", 0b1111_1111_1111_0000_0000, now_ms=3000),  # 8: too far
            await near.get("cam-1", "other", 0b1111, now_ms=3000),
            await near.get("cam-2", "ctx", 0b1111, now_ms=3000),
            await near.get("cam-1", "ctx", 0b1111, now_ms=31_001),  # older than the TTL
        ]

    hits = asyncio.run(main())
    assert [(h.verdict.risk_level, h.distance) if h else None for h in hits] == [
        ("low", 1), ("high", 4), None, None, None, None,
    ]  # fmt: skip


def test_only_llm_verdicts_are_kept_and_only_the_newest_entries() -> None:
    async def main() -> tuple[Any, Any, Any]:
        kv = MemoryKV()
        near = NearCache(kv, "v1", "m", ttl_s=30, max_distance=0, entries=2)
        await near.put(verdict().model_copy(update={"source": "cache"}), "c", 1, now_ms=0)
        for n in (1, 2, 3):
            await near.put(verdict(), "c", n, now_ms=0)
        kv.data["risknear:v1:m:cam-1:bad"] = b"{not json"
        return (await near.get("cam-1", "c", 1, 0), await near.get("cam-1", "c", 3, 0),
                await near.get("cam-1", "bad", 1, 0))  # fmt: skip

    evicted, newest, corrupt = asyncio.run(main())
    assert evicted is None and newest is not None and corrupt is None


@pytest.fixture(scope="module")
def rendered_tasks() -> list[records.RiskTask]:
    sim = SimConfig(cameras=3, duration_s=300, seed=11, crops="rendered",
                    incidents=IncidentConfig(near_miss_per_hour=60))  # fmt: skip
    cfg = RiskConfig.model_validate({"llm": {"base_url": "http://127.0.0.1:1/v1"}})
    out = []
    for _, value in simulate(sim):
        out += [t for t in records.route(parse(DetectionEvent, value), cfg, True)
                if isinstance(t, records.RiskTask)]  # fmt: skip
    return sorted(out, key=lambda t: t.event.captured_at_ms)


def run_cached(tasks: list[records.RiskTask], near: int | None) -> list[records.RiskResult]:
    """Tasks in event-time order, one at a time, through the assessor with the caches."""

    async def main() -> list[records.RiskResult]:
        runner, port = await openai_stub.start(openai_stub.StubConfig(latency_ms=0))
        cache = {"redis_url": "redis://unused", "ttl_s": 30, "near_max_distance": near}
        data = {"llm": {"base_url": f"http://127.0.0.1:{port}/v1"}, "cache": cache}
        cfg = RiskConfig.model_validate(data)
        secrets, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": "sk-near-AAAA"})
        assessor = Assessor(cfg, secrets, specs, MemoryKV())
        (key,) = specs
        try:
            return [await assessor.assess(t.model_copy(update={"key_id": key})) for t in tasks]
        finally:
            await assessor.close()
            await runner.cleanup()

    return asyncio.run(main())


def test_rendered_crops_share_verdicts_and_no_marked_crop_gets_an_unmarked_one(
    rendered_tasks: list[records.RiskTask],
) -> None:
    exact_only = run_cached(rendered_tasks, near=None)
    assert {r.cache_hit for r in exact_only} == {None}  # bytes never repeat
    results = run_cached(rendered_tasks, near=DISTANCE)
    hits = [r for r in results if r.cache_hit == "near"]
    assert len(hits) > 0.3 * len(results)
    marked = [(t, r) for t, r in zip(rendered_tasks, results, strict=True) if near_miss(t)]
    assert marked and all(r.verdict.risk_level == "high" for _, r in marked)
    unmarked = [r for t, r in zip(rendered_tasks, results, strict=True) if not near_miss(t)]
    assert all(r.verdict.risk_level == "low" for r in unmarked)


def near_miss(task: records.RiskTask) -> bool:
    ttc = task.group.features.time_to_collision_s
    classes = {task.event.objects[i].class_name for i in task.group.member_indices}
    return ttc is not None and ttc < 1.5 and "person" in classes
