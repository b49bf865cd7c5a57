"""Parallel inference: N model instances, one per worker thread, results in camera order.

OpenCV DNN and torch release the GIL while they compute, so N threads that each own one
model keep N cores busy; no model instance is ever called from two threads at once (a
cv2.dnn.Net or a torch module is not safe for that). Per-camera state (tracker, scene
memory, the Kafka key's order) must see frames in capture order, whichever worker finishes
first: `Sequencer` hands each camera's results to its handler strictly by sequence number.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from detector.models import Detector, RawDetection

if TYPE_CHECKING:
    from cv2.typing import MatLike

log = logging.getLogger("traffic-detector.workers")

T = TypeVar("T")
# (boxes or None, error or None, seconds the model took)
Done = Callable[[list[RawDetection] | None, BaseException | None, float], None]


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None, cpus: int | None = None) -> int:
    """Configured worker count, or one per usable CPU; never below 1."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return workers if workers is not None else (cpus or cpu_count())


def resolve_threads(workers: int, threads: int | None, cpus: int | None = None) -> int:
    """Threads per model call: the CPUs shared out among the workers, so they do not fight."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return threads if threads is not None else max(1, (cpus or cpu_count()) // workers)


@dataclass(frozen=True)
class _Job:
    image: MatLike
    done: Done


class InferencePool:
    """Worker threads, each calling only its own model; jobs are served first in, first out.

    `close()` lets every queued job finish before the workers end, so a shutdown never
    loses a frame that was already submitted.
    """

    def __init__(self, models: Sequence[Detector]) -> None:
        if not models:
            raise ValueError("an inference pool needs at least one model")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=(m,), name=f"infer-{i}", daemon=True)
            for i, m in enumerate(models)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, image: MatLike, done: Done) -> None:
        """Queue one frame; ``done`` is called from a worker thread with the result."""
        with self._lock:
            if self._closed:
                raise RuntimeError("inference pool is closed")
            self._jobs.put(_Job(image, done))

    def close(self) -> None:
        """Finish the queued jobs, then stop and join the workers (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)  # after every job already queued
        for thread in self._threads:
            thread.join()

    def _work(self, model: Detector) -> None:
        while (job := self._jobs.get()) is not None:
            started = time.perf_counter()
            boxes: list[RawDetection] | None = None
            error: BaseException | None = None
            try:
                boxes = model.detect(job.image)
            except Exception as err:  # reported to the frame's camera, the worker goes on
                error = err
            try:
                job.done(boxes, error, time.perf_counter() - started)
            except Exception:  # a callback's bug must not kill the worker
                log.exception("inference callback failed")


class Sequencer(Generic[T]):
    """One camera's frames in flight: numbered on submission, handled in that order.

    `reserve()` blocks while ``depth`` frames are in flight (bounded memory, and with
    depth 1 a live camera keeps taking only the newest sample). `complete()` may be called
    from any thread in any order; the handler runs for one item at a time, in sequence,
    outside the lock so other workers can deposit meanwhile. `drain()` waits for the rest.
    """

    def __init__(self, handle: Callable[[T], None], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._handle = handle
        self._depth = depth
        self._cond = threading.Condition()
        self._submitted = 0
        self._handled = 0
        self._ready: dict[int, T] = {}
        self._handling = False

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._submitted - self._handled

    def reserve(self) -> int:
        """The next sequence number, once fewer than ``depth`` frames are in flight."""
        with self._cond:
            while self._submitted - self._handled >= self._depth:
                self._cond.wait()
            self._submitted += 1
            return self._submitted - 1

    def complete(self, seq: int, item: T) -> None:
        """Deposit one result; handle every result that is now next in line."""
        with self._cond:
            self._ready[seq] = item
            if self._handling:
                return  # the thread handling now will reach it
            self._handling = True
        while True:
            with self._cond:
                if self._handled not in self._ready:
                    self._handling = False
                    return
                next_item = self._ready.pop(self._handled)
            try:
                self._handle(next_item)
            except Exception:  # the handler reports its own failures; never stall the line
                log.exception("frame handler failed")
            with self._cond:
                self._handled += 1
                self._cond.notify_all()

    def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every reserved frame was handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._handled == self._submitted, timeout_s)
