"""Calls in flight, on an event loop of their own, collected per key when they finish.

The risk stage's keyed operator (udfs/risk/flink.py) leases a key in its keyed state, starts
the call here and returns at once; finished calls wait in the queue of their key (the
operator's key, a key-pool slot) until the operator next runs for that key and settles them
into that key's state. Nothing is shared between operators or kept at module level: each
operator instance owns one `CallsInFlight`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class CallsInFlight(Generic[K, R]):
    """Runs coroutines on a private event loop thread; results are taken per key."""

    def __init__(self, name: str = "calls") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self._finished_any = threading.Condition(self._lock)
        self._done: dict[K, list[tuple[str, R]]] = defaultdict(list)
        self._running: dict[str, K] = {}

    def start(self, key: K, call_id: str, call: Callable[[], Awaitable[R]]) -> bool:
        """Start ``call()`` unless a call with this id is already running; True if started."""
        with self._lock:
            if call_id in self._running:
                return False
            self._running[call_id] = key

        async def run() -> R:
            return await call()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        future.add_done_callback(lambda f: self._finish(key, call_id, f))
        return True

    def _finish(self, key: K, call_id: str, future: Future[R]) -> None:
        with self._lock:
            self._running.pop(call_id, None)
            if not future.cancelled() and future.exception() is None:
                self._done[key].append((call_id, future.result()))
            self._finished_any.notify_all()

    def take(self, key: K) -> list[tuple[str, R]]:
        """(call id, result) of every call of ``key`` that finished since the last take."""
        with self._lock:
            return self._done.pop(key, [])

    def running(self, call_id: str) -> bool:
        with self._lock:
            return call_id in self._running

    def in_flight(self, key: K | None = None) -> int:
        """Calls started and not yet finished (of ``key``, or of every key)."""
        with self._lock:
            if key is None:
                return len(self._running)
            return sum(1 for k in self._running.values() if k == key)

    def wait_below(self, limit: int, timeout_s: float) -> bool:
        """Block until fewer than ``limit`` calls run (backpressure); False on timeout."""
        with self._finished_any:
            return self._finished_any.wait_for(lambda: len(self._running) < limit, timeout_s)

    def wait_idle(self, key: K, timeout_s: float) -> bool:
        """Block until no call of ``key`` runs (end of input); False on timeout."""
        with self._finished_any:
            return self._finished_any.wait_for(lambda: key not in self._running.values(), timeout_s)

    def run_on_loop(self, call: Callable[[], Awaitable[R]], timeout_s: float) -> R:
        """Run one coroutine on the calls' loop and wait for it (setup and teardown)."""

        async def run() -> R:
            return await call()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout_s)

    def close(self) -> None:
        """Stop the loop; calls still running are abandoned (their keys' state still lists
        them as pending, so a restore starts them again)."""

        def cancel_and_stop() -> None:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.call_soon(self._loop.stop)  # after the cancellations are delivered

        self._loop.call_soon_threadsafe(cancel_and_stop)
        self._thread.join(timeout=5)
