"""Batch formation: full batches leave at once, partial ones after the wait, tiers never mix
and leave highest first."""

from __future__ import annotations

from tests.factories import detection
from udfs.risk.batching import BatchBuffer
from udfs.risk.config import BatchConfig, Tier
from udfs.risk.records import RiskTask


def task(tier: Tier) -> RiskTask:
    return RiskTask(event=detection(), tier=tier, slot=0)


def fill(buffer: BatchBuffer, tiers: str, at_ms: float = 0.0) -> None:
    names: dict[str, Tier] = {"h": "high", "m": "medium", "l": "low"}
    for n, t in enumerate(tiers):
        buffer.add(f"{t}{n}", task(names[t]), at_ms)


def ids(batches: list[list]) -> list[list[str]]:  # type: ignore[type-arg]
    return [[w.call_id for w in batch] for batch in batches]


def test_without_batching_every_task_leaves_at_once_alone() -> None:
    buffer = BatchBuffer(BatchConfig(max_images=1, max_wait_ms=500))
    fill(buffer, "lh")
    assert ids(buffer.take_due(0.0)) == [["h1"], ["l0"]]
    assert len(buffer) == 0 and buffer.deadline_ms() is None


def test_a_full_batch_leaves_at_once_and_a_partial_one_after_its_wait() -> None:
    buffer = BatchBuffer(BatchConfig(max_images=3, max_wait_ms=100))
    fill(buffer, "hhhhh", at_ms=1000.0)
    assert ids(buffer.take_due(1000.0)) == [["h0", "h1", "h2"]]
    assert buffer.deadline_ms() == 1100.0
    assert buffer.take_due(1099.0) == []
    assert ids(buffer.take_due(1100.0)) == [["h3", "h4"]]


def test_tiers_never_mix_and_the_highest_leaves_first() -> None:
    buffer = BatchBuffer(BatchConfig(max_images=2, max_wait_ms=50))
    fill(buffer, "llmhlh")
    assert ids(buffer.take_due(0.0)) == [["h3", "h5"], ["l0", "l1"]]
    assert ids(buffer.take_due(50.0)) == [["m2"], ["l4"]]


def test_the_end_of_input_sends_everything_that_waits() -> None:
    buffer = BatchBuffer(BatchConfig(max_images=4, max_wait_ms=5_000))
    fill(buffer, "lmhm")
    assert buffer.take_due(1.0) == []
    assert ids(buffer.take_due(1.0, flush_all=True)) == [["h2"], ["m1", "m3"], ["l0"]]
