"""Tier-aware admission of LLM calls: pure logic plus a thin asyncio wrapper.

Capacity is `max_in_flight`; tier low may hold at most `low_share` of it and medium at most
`medium_share`, so the rest is reserved for higher tiers. Waiting calls are admitted highest
tier first (FIFO within a tier). A flood of low calls can therefore never occupy the slots a
high call needs, and a high call never queues behind low ones.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from udfs.risk.config import TIERS, SchedulerConfig, Tier

_RANK: dict[Tier, int] = {t: i for i, t in enumerate(TIERS)}


class TierScheduler:
    """Decides which ticket runs; callers hand in tickets and get back the admitted ones."""

    def __init__(self, cfg: SchedulerConfig) -> None:
        n = cfg.max_in_flight
        self.capacity = n
        self.limits: dict[Tier, int] = {
            "high": n,
            "medium": max(1, math.floor(n * cfg.medium_share)),
            "low": max(1, math.floor(n * cfg.low_share)),
        }
        self.running: dict[Tier, int] = dict.fromkeys(TIERS, 0)
        self._waiting: list[tuple[int, int, int, Tier]] = []  # (rank, seq, ticket, tier)
        self._seq = itertools.count()

    @property
    def in_flight(self) -> int:
        return sum(self.running.values())

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _fits(self, tier: Tier) -> bool:
        """Tier t may run while all calls of tier t and lower stay within t's limit."""
        if self.in_flight >= self.capacity:
            return False
        rank = _RANK[tier]
        used = sum(c for t, c in self.running.items() if _RANK[t] >= rank)
        return used < self.limits[tier]

    def submit(self, ticket: int, tier: Tier) -> bool:
        """True: admitted now. False: queued until a release admits it."""
        if not self._waiting_at_or_above(tier) and self._fits(tier):
            self.running[tier] += 1
            return True
        heapq.heappush(self._waiting, (_RANK[tier], next(self._seq), ticket, tier))
        return False

    def _waiting_at_or_above(self, tier: Tier) -> bool:
        return any(rank <= _RANK[tier] for rank, _, _, _ in self._waiting)

    def release(self, tier: Tier) -> list[int]:
        """A call of `tier` finished; returns the tickets admitted now (highest tier first)."""
        self.running[tier] -= 1
        admitted: list[int] = []
        skipped: list[tuple[int, int, int, Tier]] = []
        while self._waiting:
            item = heapq.heappop(self._waiting)
            if self._fits(item[3]):
                self.running[item[3]] += 1
                admitted.append(item[2])
            else:
                skipped.append(item)
        for item in skipped:
            heapq.heappush(self._waiting, item)
        return admitted


class AsyncTierGate:
    """asyncio wrapper: `async with gate.slot(tier): ...` waits for admission."""

    def __init__(self, cfg: SchedulerConfig) -> None:
        self.core = TierScheduler(cfg)
        self._futures: dict[int, asyncio.Future[None]] = {}
        self._tickets = itertools.count()

    @asynccontextmanager
    async def slot(self, tier: Tier) -> AsyncIterator[None]:
        ticket = next(self._tickets)
        if not self.core.submit(ticket, tier):
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._futures[ticket] = future
            try:
                await future
            except asyncio.CancelledError:
                self._abandon(ticket, tier, future)
                raise
        try:
            yield
        finally:
            self._release(tier)

    def _release(self, tier: Tier) -> None:
        for ticket in self.core.release(tier):
            future = self._futures.pop(ticket, None)
            if future is not None and not future.done():
                future.set_result(None)

    def _abandon(self, ticket: int, tier: Tier, future: asyncio.Future[None]) -> None:
        """A cancelled waiter: give back its slot if it had just been admitted."""
        self._futures.pop(ticket, None)
        if future.done() and not future.cancelled():
            self._release(tier)
        else:
            self.core._waiting = [w for w in self.core._waiting if w[2] != ticket]
            heapq.heapify(self.core._waiting)
