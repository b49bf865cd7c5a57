"""The matcher: runs a `Pattern` over events fed in event-time order (no PyFlink import).

A partial match ("run") is a plain dict, so the whole matcher state is JSON:
  {"seq": next event number, "runs": [run, ...]}
  run = {"stage": i, "count": c, "guards": [negative stage indices], "events": [[stage, seq, ts,
  event], ...]}
Every event is considered by every run and by a fresh run at the first stage. A run can take the
event at its own stage or, once that stage has its minimum count, at a later stage (an epsilon
step). Whether the run also survives without the event depends on contiguity (docs/cep.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from udfs.cep.pattern import Contiguity, Event, MatchedSoFar, Pattern, Stage, StageKind

Run = dict[str, Any]
_FRESH: Run = {"stage": 0, "count": 0, "guards": [], "events": []}


@dataclass(frozen=True)
class Match:
    """A complete match: events per stage name in the order taken, and its time span."""

    events: dict[str, list[Event]]
    timestamps: tuple[int, ...]
    seqs: tuple[int, ...]

    @property
    def start_ms(self) -> int:
        return self.timestamps[0]

    @property
    def end_ms(self) -> int:
        return self.timestamps[-1]


@dataclass(frozen=True)
class Timeout:
    """A partial match that could no longer complete within the pattern's window."""

    events: dict[str, list[Event]]
    start_ms: int
    timed_out_at_ms: int


@dataclass(frozen=True)
class Step:
    matches: list[Match]
    timeouts: list[Timeout]


@dataclass(frozen=True)
class _Position:
    stage: int  # == len(stages): the final state
    count: int
    guards: tuple[int, ...]


class Matcher:
    """Non-deterministic automaton over one key's events. State: `snapshot()` / `state=`."""

    def __init__(self, pattern: Pattern, state: dict[str, Any] | None = None) -> None:
        self.pattern = pattern.validate()
        self.stages: list[Stage] = pattern.stages
        self.state: dict[str, Any] = state if state is not None else {"seq": 0, "runs": []}

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the state: plain dicts and lists, safe to JSON-encode."""
        return copy.deepcopy(self.state)

    @property
    def idle(self) -> bool:
        return not self.state["runs"]

    def next_deadline_ms(self) -> int | None:
        """Event time at which the oldest partial match times out (for timers)."""
        window = self.pattern.window_ms
        runs = self.state["runs"]
        if window is None or not runs:
            return None
        return min(int(run["events"][0][2]) for run in runs) + window

    def advance_time(self, now_ms: int) -> list[Timeout]:
        """Drop partial matches whose window has passed at event time `now_ms`."""
        window = self.pattern.window_ms
        if window is None:
            return []
        kept, timeouts = [], []
        for run in self.state["runs"]:
            start = run["events"][0][2]
            if now_ms - start < window:
                kept.append(run)
            elif not self._complete(run):
                timeouts.append(Timeout(self._by_stage(run), start, now_ms))
        self.state["runs"] = kept
        return timeouts

    def process(self, event: Event, ts: int) -> Step:
        """Feed one event; events must come in non-decreasing `ts` order."""
        timeouts = self.advance_time(ts)
        seq = self.state["seq"]
        self.state["seq"] = seq + 1
        runs: list[Run] = []
        completed: list[Run] = []
        for run in [*self.state["runs"], _FRESH]:
            spawned, survivor = self._step(run, event, ts, seq)
            for new in spawned:
                if self._complete(new):
                    completed.append(new)
                if not self._exhausted(new):
                    runs.append(new)
            if survivor is not None and run is not _FRESH:
                runs.append(survivor)
        matches, runs = self._apply_skip(completed, _dedupe(runs))
        self.state["runs"] = runs
        return Step(matches, timeouts)

    # --- transitions -------------------------------------------------------------------

    def _closure(self, run: Run) -> list[_Position]:
        """The run's own position and those reachable without taking an event."""
        stage, count, guards = run["stage"], run["count"], tuple(run["guards"])
        out = [_Position(stage, count, guards)]
        while stage < len(self.stages) and self.stages[stage].can_leave(count):
            stage, count = stage + 1, 0
            while stage < len(self.stages) and self.stages[stage].is_not:
                guards, stage = (*guards, stage), stage + 1
            out.append(_Position(stage, 0, guards))
        return out

    def _step(self, run: Run, event: Event, ts: int, seq: int) -> tuple[list[Run], Run | None]:
        events = run["events"]
        adjacent = not events or seq == events[-1][1] + 1
        ctx = MatchedSoFar(self._by_stage(run))
        spawned: list[Run] = []
        survivor: Run | None = None
        for pos in self._closure(run):
            if pos.stage == len(self.stages):
                continue
            stage = self.stages[pos.stage]
            if stage.max_count is not None and pos.count >= stage.max_count:
                continue
            if self._violates(pos.guards, event, ctx, adjacent):
                continue
            contiguity = stage.entry if pos.count == 0 else stage.loop
            takes = (contiguity is not Contiguity.STRICT or adjacent) and stage.condition(
                event, ctx
            )
            if takes:
                step = [pos.stage, seq, ts, dict(event)]
                spawned.append(_run(pos.stage, pos.count + 1, (), [*events, step]))
            ignorable = contiguity is Contiguity.ANY or (
                contiguity is Contiguity.RELAXED and not takes
            )
            if survivor is None and ignorable:
                survivor = _run(pos.stage, pos.count, pos.guards, events)
        return spawned, survivor

    def _violates(
        self, guards: tuple[int, ...], event: Event, ctx: MatchedSoFar, adjacent: bool
    ) -> bool:
        for index in guards:
            stage = self.stages[index]
            if stage.kind is StageKind.NOT_NEXT and not adjacent:
                continue
            if stage.condition(event, ctx):
                return True
        return False

    def _complete(self, run: Run) -> bool:
        return bool(run["events"]) and self._closure(run)[-1].stage == len(self.stages)

    def _exhausted(self, run: Run) -> bool:
        last = self.stages[-1]
        return bool(run["stage"] == len(self.stages) - 1 and run["count"] == last.max_count)

    def _by_stage(self, run: Run) -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = {}
        for stage, _seq, _ts, event in run["events"]:
            out.setdefault(self.stages[stage].name, []).append(event)
        return out

    # --- after-match skip ----------------------------------------------------------------

    def _apply_skip(self, completed: list[Run], runs: list[Run]) -> tuple[list[Match], list[Run]]:
        matches: list[Match] = []
        pending = sorted(_dedupe(completed), key=lambda r: [e[1] for e in r["events"]])
        while pending:
            run = pending.pop(0)
            match = Match(
                self._by_stage(run),
                tuple(e[2] for e in run["events"]),
                tuple(e[1] for e in run["events"]),
            )
            matches.append(match)
            prune = self._pruner(run)
            pending = [r for r in pending if not prune(r["events"][0][1])]
            runs = [r for r in runs if not prune(r["events"][0][1])]
        return matches, runs

    def _pruner(self, run: Run) -> Callable[[int], bool]:
        """Predicate on a run's first event number: True = discard (FlinkCEP's prune)."""
        skip = self.pattern.skip_strategy
        seqs = [e[1] for e in run["events"]]
        if skip.kind == "skip_past_last_event":
            return lambda start: start <= seqs[-1]
        if skip.kind == "skip_to_next":
            return lambda start: start <= seqs[0]
        if skip.kind in ("first", "last"):
            index = next(i for i, s in enumerate(self.stages) if s.name == skip.stage)
            in_stage = [e[1] for e in run["events"] if e[0] == index]
            if in_stage:
                target = in_stage[0] if skip.kind == "first" else in_stage[-1]
                return lambda start: start < target
        return lambda start: False


def _run(stage: int, count: int, guards: tuple[int, ...], events: list[Any]) -> Run:
    return {"stage": stage, "count": count, "guards": list(guards), "events": events}


def _dedupe(runs: list[Run]) -> list[Run]:
    seen: set[str] = set()
    out: list[Run] = []
    for run in runs:
        key = json.dumps([run["stage"], run["count"], run["guards"], [e[1] for e in run["events"]]])
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out
