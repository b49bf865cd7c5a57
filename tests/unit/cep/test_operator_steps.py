"""The pattern operator's layout (udfs/patterns/slots.py, `TrafficCep.advance_step`): timers
per slot and step give the same alerts and timeouts as a timer per fact time and per match
deadline, whatever the step."""

from __future__ import annotations

import heapq
import json
from typing import Any

import pytest

from tests.unit.cep.test_traffic_patterns import _ts
from tests.unit.cep.traffic_helpers import (
    config,
    crossing,
    crosswalk_frame,
    group_frame,
    verdict,
    window,
    wrong_way_frame,
)
from udfs.cep.buffer import DictStore
from udfs.patterns import facts, slots
from udfs.patterns.engine import EngineOutput, TrafficCep, new_core

CAMERA = "cam-1"


def scene() -> list[dict[str, Any]]:
    """Facts of every pattern, a timeout alert (crosswalk) and a signal-free red-light run."""
    messages = [crossing(0, 1), crossing(3, 2), group_frame(4, 0.5), verdict(6, "high")]
    messages += [window(0, 0.7), window(10, 0.8), crossing(12, 3), window(20, 0.9)]
    messages += [wrong_way_frame(8 + i * 0.2, 9, -30.0) for i in range(6)]
    messages += [crosswalk_frame(2 + i, 5, 0.3) for i in range(23)]
    messages += [group_frame(40 + i * 0.5, 0.4) for i in range(30)]  # near misses, cooldowns
    messages.sort(key=_ts)
    cfg = config()
    return [
        f.as_event() for src, raw in messages for f in facts.from_message(src, raw, cfg.facts)  # type: ignore[arg-type]
    ]


def per_fact_timers(cep: TrafficCep, events: list[dict[str, Any]]) -> EngineOutput:
    """The earlier operator: a timer at every fact time and at each next match deadline."""
    store, core, out = DictStore(), new_core(), EngineOutput()
    for event in events:
        assert cep.ingest(store, core, event)
    timers = sorted({int(e["ts_ms"]) for e in events})
    heapq.heapify(timers)
    fired: set[int] = set()
    while timers:
        t = heapq.heappop(timers)
        if t in fired:
            continue
        fired.add(t)
        step = cep.advance(store, core, CAMERA, t)
        out.alerts += step.alerts
        out.timeouts += step.timeouts
        deadline = cep.next_deadline_ms(core)
        if deadline is not None and deadline > t:
            heapq.heappush(timers, deadline)
    return out


def per_step_timers(cep: TrafficCep, events: list[dict[str, Any]], step_ms: int) -> EngineOutput:
    """The slot operator's order of work: one wake-up per step with facts or a deadline."""
    by_step: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for event in events:
        ts = int(event["ts_ms"])
        by_step.setdefault(slots.step_end(ts, step_ms), []).append((ts, event))
    steps = sorted(by_step)
    core, out, done = new_core(), EngineOutput(), set()
    while steps:
        until = heapq.heappop(steps)
        if until in done:
            continue
        done.add(until)
        step = cep.advance_step(core, CAMERA, by_step.get(until, []), until)
        out.alerts += step.alerts
        out.timeouts += step.timeouts
        deadline = cep.next_deadline_ms(core)
        if deadline is not None and deadline > until:
            heapq.heappush(steps, slots.step_end(deadline, step_ms))
    return out


@pytest.mark.parametrize("step_ms", [1, 200, 1000, 7000, 60_000])
def test_a_step_changes_when_results_come_never_what_they_are(step_ms: int) -> None:
    cep, events = TrafficCep(config()), scene()
    expected = per_fact_timers(cep, events)
    got = per_step_timers(cep, events, step_ms)
    assert len({a.pattern for a in expected.alerts}) >= 5 and expected.timeouts
    assert [a.alert_id for a in got.alerts] == [a.alert_id for a in expected.alerts]
    assert [t.model_dump() for t in got.timeouts] == [t.model_dump() for t in expected.timeouts]


def test_slots_are_stable_and_in_range() -> None:
    assert slots.slot_of("cam-1", 64) == 2865850432 % 64  # CRC-32 of b"cam-1"
    assert {slots.slot_of(f"cam-{i}", 8) for i in range(200)} == set(range(8))


def test_a_step_ends_at_the_last_millisecond_of_its_tumbling_window() -> None:
    assert [slots.step_end(t, 1000) for t in (0, 999, 1000, 1999)] == [999, 999, 1999, 1999]
    assert slots.step_end(1_700_000_000_123, 1) == 1_700_000_000_123


def test_due_work_takes_steps_up_to_the_timer_and_leaves_later_ones() -> None:
    fact = {"camera_id": "cam-2", "ts_ms": 1500, "kind": "near_miss"}
    entries = [
        (slots.fact_key(2000, "a1"), json.dumps([fact])),
        (slots.fact_key(3000, "a2"), json.dumps([{**fact, "ts_ms": 2500}])),
        (slots.wake_key(2000, "cam-9"), ""),
        (slots.wake_key(1000, "cam-3"), ""),
    ]
    work = slots.due_work(entries, 2000, json.loads)
    assert work.facts == {"cam-2": [(1500, fact)]}
    assert work.woken == {"cam-9", "cam-3"}
    assert work.cameras() == ["cam-2", "cam-3", "cam-9"]
    assert sorted(work.keys) == sorted(k for k, _ in entries if not k.startswith("3000"))
