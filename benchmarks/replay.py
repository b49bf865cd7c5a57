"""Pre-rendered simulator load, replayed on the wall clock.

The simulator makes a few thousand events/s on this machine, short of the 5,000 cameras a scale
run must offer while the job shares the same two cores. So the benchmark renders one loop of
the simulator's default mix (groups, zones, crossings, signals, inline crops) once, cached on
disk, and a replayer sends it paced at 1 frame/s per camera: each record is split around its
two time fields (`frame_id`, `captured_at_ms`), so sending costs a byte join and a
`produce()`, and event time is the wall clock at which a frame is due. Every loop continues the
frame ids and times, so the job sees one endless stream.

    .venv/bin/python -m benchmarks.replay --cameras 5000 --seconds 30 --bootstrap 127.0.0.1:9092 \
        --topic bench-replay
"""

from __future__ import annotations

import argparse
import bisect
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Producer

from simulator.config import SimConfig
from simulator.engine import simulate
from simulator.sinks import producer_config
from stack.paths import REPO

CACHE = REPO / ".stack" / "bench-cache"
SLICE_MS = 100  # the replayer sends each 100 ms slice of due records together
_FRAME_ID, _CAPTURED = b'"frame_id":', b'"captured_at_ms":'


@dataclass(frozen=True)
class Rendered:
    """One loop of every camera's frames in event-time order, split around the time fields."""

    cameras: int
    loop_s: int
    prefix: str
    keys: list[bytes]
    heads: list[bytes]  # up to and including '"frame_id":'
    tails: list[bytes]  # from the ',' after the captured_at_ms number to the end
    due_ms: list[int]  # event time within the loop (tick * 1000 + camera offset)
    groups: int

    def __len__(self) -> int:
        return len(self.keys)


def split(value: bytes) -> tuple[bytes, int, bytes]:
    """(head, captured_at_ms, tail) of one simulator record."""
    head_end = value.index(_FRAME_ID) + len(_FRAME_ID)
    at = value.index(_CAPTURED, head_end) + len(_CAPTURED)
    end = value.index(b",", at)
    return value[:head_end], int(value[at:end]), value[end:]


def render(cameras: int, loop_s: int, prefix: str, seed: int = 1) -> Rendered:
    """Run the simulator once (event time from 0) and keep its records split for replay."""
    config = SimConfig(
        cameras=cameras, duration_s=loop_s, start_ms=0, seed=seed, camera_prefix=prefix
    )
    run = simulate(config)
    keys: list[bytes] = []
    heads: list[bytes] = []
    tails: list[bytes] = []
    due: list[int] = []
    for key, value in run:
        head, captured_ms, tail = split(value)
        keys.append(key)
        heads.append(head)
        tails.append(tail)
        due.append(captured_ms)
    if due != sorted(due):
        raise ValueError("simulator output is not in event-time order")
    return Rendered(cameras, loop_s, prefix, keys, heads, tails, due, run.report.groups)


def load_or_render(
    cameras: int, loop_s: int, prefix: str, progress: Callable[[str], None] = print
) -> Rendered:
    """The rendered loop from the cache, rendering it first if it is not there."""
    path = CACHE / f"render-v1-{prefix}-{cameras}x{loop_s}s.pickle"
    if path.exists():
        with path.open("rb") as f:
            cached: Rendered = pickle.load(f)
        return cached
    started = time.monotonic()
    progress(f"rendering {cameras:,} cameras x {loop_s} s of the simulator's default mix ...")
    rendered = render(cameras, loop_s, prefix)
    progress(
        f"rendered {len(rendered):,} records ({rendered.groups:,} groups) in "
        f"{time.monotonic() - started:.0f} s; cached at {path.relative_to(REPO)}"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        pickle.dump(rendered, f, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    return rendered


def record(rendered: Rendered, i: int, loop: int, captured_at_ms: int) -> bytes:
    """Record ``i`` of the rendered loop as sent in loop number ``loop`` (frame ids go on)."""
    frame_id = loop * rendered.loop_s + rendered.due_ms[i] // 1000
    times = b"%d,%s%d" % (frame_id, _CAPTURED, captured_at_ms)
    return b"".join((rendered.heads[i], times, rendered.tails[i]))


@dataclass
class ReplayLog:
    """What was really offered: per slice, when it was due and when its last record left."""

    start_ms: int = 0
    sent: int = 0
    due_ms: list[int] = field(default_factory=list)
    sent_ms: list[int] = field(default_factory=list)
    delivery_errors: int = 0

    def sent_by(self, event_ms: int) -> int | None:
        """Wall time by which the slice holding event time ``event_ms`` had been sent (None:
        never sent)."""
        i = bisect.bisect_right(self.due_ms, event_ms) - 1
        if i < 0 or event_ms >= self.due_ms[i] + SLICE_MS:
            return None
        return self.sent_ms[i]

    def max_behind_ms(self) -> int:
        """How far the replayer itself fell behind its schedule (0 = load fully offered)."""
        return max((s - d for d, s in zip(self.due_ms, self.sent_ms, strict=True)), default=0)


def replay(
    rendered: Rendered,
    producer: Producer,
    topic: str,
    seconds: float,
    stop: Callable[[], bool] = lambda: False,
    log: ReplayLog | None = None,
) -> ReplayLog:
    """Send ``seconds`` of frames paced on the wall clock, looping the rendered records.

    Event time = the wall time a frame is due, starting at the next whole second; a slice
    sent late keeps its event time (as a camera's would) and the log records how late."""
    log = log or ReplayLog()
    loop_ms = rendered.loop_s * 1000
    start_ms = (int(time.time() * 1000) // 1000 + 1) * 1000
    log.start_ms = start_ms
    end_ms = start_ms + int(seconds * 1000)
    n, i, loop = len(rendered), 0, 0

    def failed(err: object, _msg: object) -> None:
        if err is not None:
            log.delivery_errors += 1

    slice_end = start_ms + SLICE_MS
    while slice_end <= end_ms and not stop():
        wait = (slice_end - SLICE_MS) / 1000 - time.time()
        if wait > 0:
            time.sleep(wait)
        # Every record due before the slice's end, across loop boundaries.
        while True:
            if i == n:
                i, loop = 0, loop + 1
            due = start_ms + loop * loop_ms + rendered.due_ms[i]
            if due >= slice_end:
                break
            value = record(rendered, i, loop, due)
            while True:
                try:
                    producer.produce(topic, value, rendered.keys[i], on_delivery=failed)
                    break
                except BufferError:
                    producer.poll(0.05)
            i += 1
            log.sent += 1
        producer.poll(0)
        log.due_ms.append(slice_end - SLICE_MS)
        log.sent_ms.append(int(time.time() * 1000))
        slice_end += SLICE_MS
    producer.flush(30)
    return log


def make_producer(bootstrap: str) -> Producer:
    """The simulator's producer settings with a short linger: latency matters here."""
    return Producer(producer_config(bootstrap, linger_ms=5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=1000, help="cameras at 1 frame/s")
    parser.add_argument("--seconds", type=float, default=30, help="wall seconds to send")
    parser.add_argument("--loop-s", type=int, default=120, help="event seconds rendered")
    parser.add_argument("--prefix", default="rp-", help="camera id prefix")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    args = parser.parse_args(argv)
    rendered = load_or_render(args.cameras, args.loop_s, args.prefix)
    log = replay(rendered, make_producer(args.bootstrap), args.topic, args.seconds)
    rate = log.sent / args.seconds
    print(
        f"sent {log.sent:,} records in {args.seconds:.0f} s ({rate:,.0f}/s offered for "
        f"{args.cameras:,} cameras); replayer at most {log.max_behind_ms()} ms behind; "
        f"{log.delivery_errors} delivery errors"
    )
    return 1 if log.delivery_errors else 0


if __name__ == "__main__":
    sys.exit(main())
