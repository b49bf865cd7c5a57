"""How the pattern operator groups cameras into key slots and time into steps (plain Python).

PyFlink writes keyed state back to the JVM once per key and bundle, a synchronous round trip
each. Keyed by camera, every camera with a fact in a bundle cost one (measured ~300 µs a
fact, docs/cep.md "Operator layout"); keyed by slot, a slot's cameras share one. Likewise a
timer per fact time became a timer per slot and step: the operator wakes once per `step_ms`
of event time for each slot with work due, and `TrafficCep.advance_step` replays inside the
step exactly the advances per-fact timers would have made.

Pending state of a slot is one map; its keys sort nothing (MapState has no range scans), so
each names its step first and a timer takes the entries of its step and earlier:
- `<step end>|f|<unique id>` -> a JSON list of facts (written without a read);
- `<step end>|w|<camera>` -> "" (a camera whose partial match times out within that step).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any


def slot_of(camera_id: str, slots: int) -> int:
    """Stable across processes and restarts (unlike `hash`), so a camera keeps its slot."""
    return zlib.crc32(camera_id.encode()) % slots


def step_end(ts_ms: int, step_ms: int) -> int:
    """The last millisecond of the step [k * step_ms, (k + 1) * step_ms) holding `ts_ms`: the
    time of the step's timer, and of SQL's TUMBLE window of the same length firing."""
    return ts_ms - ts_ms % step_ms + step_ms - 1


def fact_key(step: int, unique: str) -> str:
    return f"{step}|f|{unique}"


def wake_key(step: int, camera_id: str) -> str:
    return f"{step}|w|{camera_id}"


@dataclass
class DueWork:
    """What a slot's timer at `until` takes out of its pending map."""

    facts: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    woken: set[str] = field(default_factory=set)
    keys: list[str] = field(default_factory=list)  # to remove from the map

    def cameras(self) -> list[str]:
        """In a fixed order, so a replay emits alerts in the same order."""
        return sorted(self.facts.keys() | self.woken)


def due_work(entries: list[tuple[str, str]], until: int, decode: Any) -> DueWork:
    """Entries of a slot's pending map -> those of steps ending at or before `until`, facts
    decoded with `decode` (JSON text -> fact dict with `camera_id` and `ts_ms`)."""
    work = DueWork()
    for key, raw in entries:
        step, kind, rest = key.split("|", 2)
        if int(step) > until:
            continue
        work.keys.append(key)
        if kind == "w":
            work.woken.add(rest)
            continue
        for fact in decode(raw):
            work.facts.setdefault(str(fact["camera_id"]), []).append((int(fact["ts_ms"]), fact))
    return work
