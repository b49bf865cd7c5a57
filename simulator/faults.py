"""Delivery faults on the generated stream: disorder, lateness, duplicates, bad messages.

Events arrive in event-time order; a held-back event is released once the stream has moved
``delay`` ms past it, so its lateness (newest event time already sent minus its own) is at
most ``delay``. Malformed messages are inserted so that, at any point, their count is
exactly ``floor(malformed_share * messages so far)``.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from simulator.config import FaultConfig

MALFORMED_KINDS = ("truncated_json", "missing_field", "bad_value", "wrong_version")
Message = tuple[bytes, bytes]


@dataclass
class FaultCounts:
    """What the injector did, and the disorder the output really shows."""

    held_within_bound: int = 0
    held_beyond_bound: int = 0
    held_late: int = 0
    out_of_order_within_bound: int = 0  # measured: 0 < lateness <= bound
    out_of_order_beyond_bound: int = 0  # measured: lateness > bound
    max_lateness_ms: int = 0
    duplicates: int = 0
    oversized: int = 0
    malformed: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = dict(vars(self))
        out["malformed"] = dict(sorted(self.malformed.items()))
        out["malformed_total"] = sum(self.malformed.values())
        return out


class FaultInjector:
    def __init__(self, cfg: FaultConfig, rng: random.Random) -> None:
        self.cfg, self.rng = cfg, rng
        self.counts = FaultCounts()
        self._share = Fraction(str(cfg.malformed_share))
        self._held: list[tuple[int, int, int, bytes, bytes]] = []  # release, seq, t, key, value
        self._seq = 0
        self._newest = -1
        self._good = 0
        self._bad = 0
        self._cut = (
            cfg.out_of_order_share,
            cfg.out_of_order_share + cfg.beyond_bound_share,
            cfg.out_of_order_share + cfg.beyond_bound_share + cfg.late_share,
        )
        self.active = any(
            (self._cut[2], cfg.duplicate_share, cfg.malformed_share, cfg.oversized_share)
        )

    @property
    def messages(self) -> int:
        return self._good + self._bad

    def push(self, key: bytes, value: bytes, t_ms: int) -> Iterator[Message]:
        """Messages to send now for one generated event (possibly none, possibly several)."""
        while self._held and self._held[0][0] < t_ms:
            _, _, t, k, v = heapq.heappop(self._held)
            yield from self._send(k, v, t)
        u = self.rng.random()
        bound = self.cfg.out_of_order_bound_ms
        if u < self._cut[2]:
            if u < self._cut[0]:
                delay = self.rng.randint(1, bound)
                self.counts.held_within_bound += 1
            elif u < self._cut[1]:
                delay = self.rng.randint(bound + 1, 2 * bound)
                self.counts.held_beyond_bound += 1
            else:
                delay = self.cfg.late_delay_ms
                self.counts.held_late += 1
            self._seq += 1
            heapq.heappush(self._held, (t_ms + delay, self._seq, t_ms, key, value))
            return
        yield from self._send(key, value, t_ms)

    def flush(self) -> Iterator[Message]:
        """Release everything still held back, in release order."""
        while self._held:
            _, _, t, k, v = heapq.heappop(self._held)
            yield from self._send(k, v, t)

    def _send(self, key: bytes, value: bytes, t_ms: int) -> Iterator[Message]:
        lateness = self._newest - t_ms
        if lateness > 0:
            if lateness <= self.cfg.out_of_order_bound_ms:
                self.counts.out_of_order_within_bound += 1
            else:
                self.counts.out_of_order_beyond_bound += 1
            self.counts.max_lateness_ms = max(self.counts.max_lateness_ms, lateness)
        self._newest = max(self._newest, t_ms)
        yield from self._good_one(key, value)
        if self.cfg.duplicate_share and self.rng.random() < self.cfg.duplicate_share:
            self.counts.duplicates += 1
            yield from self._good_one(key, value)
        if self.cfg.oversized_share and self.rng.random() < self.cfg.oversized_share:
            self.counts.oversized += 1
            yield from self._good_one(key, oversized(value, self.cfg.oversized_bytes))

    def _good_one(self, key: bytes, value: bytes) -> Iterator[Message]:
        self._good += 1
        yield key, value
        while self._share and self._bad + 1 <= self._share * (self.messages + 1):
            kind = MALFORMED_KINDS[self._bad % len(MALFORMED_KINDS)]
            self._bad += 1
            self.counts.malformed[kind] += 1
            yield key, malformed(value, kind)


def malformed(value: bytes, kind: str) -> bytes:
    """A broken variant of a valid event: not JSON, or JSON that breaks the contract."""
    if kind == "truncated_json":
        return value[: max(1, len(value) // 2)]
    if kind == "missing_field":
        return value.replace(b'"schema_version":1,', b"", 1)
    if kind == "bad_value":
        head, _, tail = value.partition(b'"frame_id":')
        return head + b'"frame_id":-1' + tail[tail.index(b",") :]
    if kind == "wrong_version":
        return value.replace(b'"schema_version":1', b'"schema_version":99', 1)
    raise ValueError(f"unknown malformed kind {kind}")


def oversized(value: bytes, size: int) -> bytes:
    """The same frame with its objects repeated until the message is over ``size`` bytes."""
    event = json.loads(value)
    objects = event["objects"] or [_filler()]
    unit = len(json.dumps(objects, separators=(",", ":")))
    repeat = size // max(1, unit) + 1
    while True:
        event["objects"] = objects * repeat
        out = json.dumps(event, separators=(",", ":")).encode()
        if len(out) > size:
            return out
        repeat *= 2


def _filler() -> dict[str, object]:
    return {
        "class_name": "car",
        "confidence": 0.5,
        "box": {"x1": 0.0, "y1": 0.0, "x2": 10.0, "y2": 10.0},
    }
