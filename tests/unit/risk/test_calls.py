from __future__ import annotations

import asyncio
import time

from udfs.risk.calls import CallsInFlight


def wait_until(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_results_are_taken_per_key_and_only_once() -> None:
    calls: CallsInFlight[int, str] = CallsInFlight()
    try:
        for slot, call_id in ((0, "a"), (1, "b"), (0, "c")):

            async def answer(call_id: str = call_id) -> str:
                await asyncio.sleep(0.01)
                return call_id.upper()

            assert calls.start(slot, call_id, answer)
        wait_until(lambda: calls.in_flight() == 0)
        assert sorted(calls.take(0)) == [("a", "A"), ("c", "C")]
        assert calls.take(0) == []
        assert calls.take(1) == [("b", "B")]
    finally:
        calls.close()


def test_a_running_call_is_not_started_twice() -> None:
    calls: CallsInFlight[int, int] = CallsInFlight()
    release = asyncio.Event()
    try:

        async def slow() -> int:
            await release.wait()
            return 1

        assert calls.start(0, "x", slow)
        assert calls.running("x") and calls.in_flight(0) == 1 and calls.in_flight(1) == 0
        assert not calls.start(0, "x", slow)
        assert not calls.wait_below(1, timeout_s=0.05)  # backpressure holds while x runs
        assert calls.run_on_loop(lambda: _set(release), timeout_s=2) is True
        assert calls.wait_below(1, timeout_s=2)
        wait_until(lambda: calls.take(0) == [("x", 1)] or False)
    finally:
        calls.close()


async def _set(event: asyncio.Event) -> bool:
    event.set()
    return True


def test_a_failed_call_leaves_the_running_set_without_a_result() -> None:
    calls: CallsInFlight[int, int] = CallsInFlight()
    try:

        async def broken() -> int:
            raise RuntimeError("boom")

        assert calls.start(0, "x", broken)
        wait_until(lambda: calls.in_flight() == 0)
        assert calls.take(0) == []
    finally:
        calls.close()


def test_wait_idle_waits_for_one_keys_calls_only() -> None:
    calls: CallsInFlight[int, int] = CallsInFlight()
    try:

        async def quick() -> int:
            await asyncio.sleep(0.05)
            return 1

        async def slow() -> int:
            await asyncio.sleep(5)
            return 2

        calls.start(0, "quick", quick)
        calls.start(1, "slow", slow)
        assert calls.wait_idle(0, timeout_s=2)
        assert calls.take(0) == [("quick", 1)]
        assert not calls.wait_idle(1, timeout_s=0.05)
    finally:
        calls.close()
