"""Which waiting tasks go out together in one LLM request, and when: pure logic, times passed in.

Tasks wait per tier (a batch never mixes tiers, so a tier's pacing wait and admission stay its
own). A batch leaves as soon as `batch.max_images` tasks of one tier wait, or when the oldest
of them has waited `batch.max_wait_ms`; batches leave highest tier first, so a flood of low
tasks never gets a key lease before a waiting high one. With `max_images` 1 every task leaves
at once, alone: no batching and no wait.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from udfs.risk.config import TIERS, BatchConfig, Tier
from udfs.risk.records import RiskTask


@dataclass(frozen=True)
class Waiting:
    """One task waiting for its batch: its id in the operator's state and since when."""

    call_id: str
    task: RiskTask
    since_ms: float


class BatchBuffer:
    """Tasks of one key-pool slot waiting to be batched."""

    def __init__(self, cfg: BatchConfig) -> None:
        self.cfg = cfg
        self.queues: dict[Tier, deque[Waiting]] = {tier: deque() for tier in TIERS}

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def add(self, call_id: str, task: RiskTask, now_ms: float) -> None:
        self.queues[task.tier].append(Waiting(call_id, task, now_ms))

    def take_due(self, now_ms: float, flush_all: bool = False) -> list[list[Waiting]]:
        """Batches to send now, highest tier first: each full one, then the rest of a tier
        whose oldest task has waited long enough (everything with `flush_all`)."""
        n, out = self.cfg.max_images, []
        for tier in TIERS:
            queue = self.queues[tier]
            while len(queue) >= n or (queue and (flush_all or self._expired(queue[0], now_ms))):
                out.append([queue.popleft() for _ in range(min(n, len(queue)))])
        return out

    def _expired(self, first: Waiting, now_ms: float) -> bool:
        return now_ms - first.since_ms >= self.cfg.max_wait_ms

    def deadline_ms(self) -> float | None:
        """When the oldest waiting task is due; None when nothing waits."""
        firsts = [q[0].since_ms for q in self.queues.values() if q]
        return min(firsts) + self.cfg.max_wait_ms if firsts else None
