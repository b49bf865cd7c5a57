from __future__ import annotations

import asyncio

from udfs.risk.config import SchedulerConfig
from udfs.risk.scheduler import AsyncTierGate, TierScheduler


def test_low_flood_leaves_reserved_capacity_for_high() -> None:
    sched = TierScheduler(SchedulerConfig(max_in_flight=10, low_share=0.5, medium_share=0.8))
    admitted_low = [t for t in range(1000) if sched.submit(t, "low")]
    assert len(admitted_low) == 5  # low may hold half
    assert sched.waiting == 995
    assert sched.submit(5000, "high")  # high runs at once, not behind 995 lows
    assert all(sched.submit(6000 + i, "medium") for i in range(3))  # low + medium <= 8
    assert not sched.submit(6003, "medium")
    assert sched.submit(5001, "high")  # the last slot is still high's
    assert not sched.submit(5002, "high")  # capacity 10 reached


def test_release_admits_highest_tier_first() -> None:
    sched = TierScheduler(SchedulerConfig(max_in_flight=2, low_share=0.5, medium_share=1.0))
    assert sched.submit(1, "low")
    assert sched.submit(2, "high")
    for t in range(10, 20):
        assert not sched.submit(t, "low")
    assert not sched.submit(99, "high")
    assert sched.release("high") == [99]  # the waiting high jumps the ten lows
    assert sched.release("high") == []  # low already holds its one slot
    assert sched.release("low") == [10]  # then FIFO within low


def test_waiting_high_blocks_new_low_arrivals() -> None:
    sched = TierScheduler(SchedulerConfig(max_in_flight=1, low_share=1.0, medium_share=1.0))
    assert sched.submit(1, "low")
    assert not sched.submit(2, "high")
    assert not sched.submit(3, "low")
    assert sched.release("low") == [2]


def test_async_gate_bounds_in_flight_and_serves_high_first() -> None:
    async def scenario() -> tuple[int, list[str]]:
        gate = AsyncTierGate(SchedulerConfig(max_in_flight=2, low_share=0.5, medium_share=1.0))
        order: list[str] = []
        peak = 0

        async def job(name: str, tier: str) -> None:
            nonlocal peak
            async with gate.slot(tier):  # type: ignore[arg-type]
                peak = max(peak, gate.core.in_flight)
                order.append(name)
                await asyncio.sleep(0.01)

        lows = [asyncio.create_task(job(f"low{i}", "low")) for i in range(6)]
        await asyncio.sleep(0)
        highs = [asyncio.create_task(job(f"high{i}", "high")) for i in range(2)]
        await asyncio.gather(*lows, *highs)
        return peak, order

    peak, order = asyncio.run(scenario())
    assert peak <= 2
    assert set(order[:3]) == {"low0", "high0", "high1"}
    assert len(order) == 8
