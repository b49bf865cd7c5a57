"""The verdict path uses the image: simulator frames through the assessor to the stub server,
which decides from the pixels only (the risk marker in near-miss crops). A group whose crop
carries the marker must come back high and every other group low, so a crop that did not
reach the model, or a verdict mapped to the wrong group, fails here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contract import DetectionEvent, parse
from simulator import IncidentConfig, SimConfig, simulate
from stack import openai_stub
from udfs.risk import records
from udfs.risk.assessor import Assessor
from udfs.risk.batching import BatchBuffer
from udfs.risk.config import BatchConfig, RiskConfig
from udfs.risk.keypool import load_keys

SECRETS = ["sk-pixels-AAAA", "sk-pixels-BBBB"]
GroupId = tuple[str, int, str]


@pytest.fixture(scope="module")
def tasks() -> list[records.RiskTask]:
    """LLM tasks of 3 simulated cameras x 3 minutes with frequent near misses."""
    sim = SimConfig(
        cameras=3, duration_s=180, seed=5, incidents=IncidentConfig(near_miss_per_hour=120)
    )
    cfg = RiskConfig.model_validate({"llm": {"base_url": "http://127.0.0.1:1/v1"}})
    out = []
    for _, value in simulate(sim):
        for item in records.route(parse(DetectionEvent, value), cfg, llm_enabled=True):
            if isinstance(item, records.RiskTask):
                out.append(item)
    return out


def near_miss(task: records.RiskTask) -> bool:
    """The simulator's rule for the marker, read from the event's own fields."""
    ttc = task.group.features.time_to_collision_s
    classes = {task.event.objects[i].class_name for i in task.group.member_indices}
    return ttc is not None and ttc < 1.5 and "person" in classes


def assess_all(
    tasks: list[records.RiskTask], images: int
) -> tuple[list[records.RiskResult], dict[str, Any]]:
    """Every task through the assessor, in batches of up to `images` crops formed as the
    operator forms them (per tier), against the stub server."""
    buffer = BatchBuffer(BatchConfig(max_images=images))
    for n, task in enumerate(tasks):
        buffer.add(str(n), task, 0.0)
    batches = [
        records.RiskBatch(tasks=tuple(w.task for w in due))
        for due in buffer.take_due(0.0, flush_all=True)
    ]

    async def main() -> tuple[list[records.RiskResult], dict[str, Any]]:
        runner, port = await openai_stub.start(openai_stub.StubConfig(latency_ms=5, jitter_ms=5))
        cfg = RiskConfig.model_validate({"llm": {"base_url": f"http://127.0.0.1:{port}/v1"}})
        secrets, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": ",".join(SECRETS)})
        assessor = Assessor(cfg, secrets, specs)
        keys = sorted(specs)
        leased = [b.model_copy(update={"key_id": keys[i % 2]}) for i, b in enumerate(batches)]
        try:
            done = await asyncio.gather(*(assessor.assess_batch(b) for b in leased))
            return [r for results in done for r in results], runner.app[openai_stub.STATE].stats()
        finally:
            await assessor.close()
            await runner.cleanup()

    return asyncio.run(main())


@pytest.mark.parametrize("images", [1, 4, 8], ids=["unbatched", "batches of 4", "batches of 8"])
def test_marked_crops_and_only_they_come_back_high(
    tasks: list[records.RiskTask], images: int
) -> None:
    marked = {
        (t.event.camera_id, t.event.frame_id, t.group.group_id) for t in tasks if near_miss(t)
    }
    assert len(marked) >= 5 and len(tasks) > 5 * len(marked)
    results, stats = assess_all(tasks, images)
    by_group: dict[GroupId, str] = {}
    for r in results:
        v = r.verdict
        assert v.source == "llm", v.reason
        by_group[(v.camera_id, v.frame_id, v.group_id)] = v.risk_level
    assert len(by_group) == len(tasks)
    assert {g for g, level in by_group.items() if level == "high"} == marked
    assert {level for g, level in by_group.items() if g not in marked} == {"low"}
    assert stats["images"] == {"seen": len(tasks), "marked": len(marked)}
    sizes = {int(n): c for n, c in stats["batch_sizes"].items()}
    assert max(sizes) == images and sum(n * c for n, c in sizes.items()) == len(tasks)
    assert stats["requests"] == sum(sizes.values()) < len(tasks) / images + 3  # 3 tiers
