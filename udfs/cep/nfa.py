"""The matcher: runs a `Pattern` over events fed in event-time order (no PyFlink import).

A partial match ("run") is a plain dict, so the whole matcher state is JSON:
  {"seq": next event number, "runs": [run, ...]}
  run = {"stage": i, "count": c, "guards": [not_followed_by stage indices], "blocked": bool,
  "events": [[stage, seq, ts, event], ...]}
States saved before "blocked" existed load with blocked = False. "stage" indexes the
pattern's flat stages (`Pattern.stages`): the declared stages when there is no group.

The semantics are FlinkCEP's NFA (docs/cep.md, "Semantics"): every event is offered to every
run and to a fresh run at the first stage. A run's position (stage, count) can take the event,
ignore it (by contiguity) and proceed to the next stage without taking anything once the
stage's count allows it; from every position it proceeds to, it may take or ignore the event
too. A run that ignores the event where it could have proceeded is "blocked": like FlinkCEP's
ignore states it must take another event at that stage before it may move on. A group's
repetitions are copies of its stages; from the first stage of a copy the run may also jump
past the rest of the group ("exits"), and an unbounded group's last copy loops back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from udfs.cep.pattern import Contiguity, Event, MatchedSoFar, Pattern, Stage, StageKind

Run = dict[str, Any]
_FRESH: Run = {"stage": 0, "count": 0, "guards": [], "blocked": False, "events": []}


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
    stage: int
    count: int
    guards: tuple[int, ...]
    blocked: bool


@dataclass
class _Expansion:
    """What one run does with one event: new runs, matches, and whether a stop fired."""

    taken: list[Run] = field(default_factory=list)
    ignored: list[Run] = field(default_factory=list)
    completed: list[Run] = field(default_factory=list)
    stopped: bool = False


class Matcher:
    """Non-deterministic automaton over one key's events. State: `snapshot()` / `state=`."""

    def __init__(self, pattern: Pattern, state: dict[str, Any] | None = None) -> None:
        plan = pattern.plan()  # validated (PatternError), cached on the pattern
        self.pattern = pattern
        self.stages: list[Stage] = plan.stages
        self.window_ms = plan.window_ms
        self.state: dict[str, Any] = state if state is not None else {"seq": 0, "runs": []}
        self._end = len(self.stages)
        self._trailing = plan.trailing
        self._succ = plan.succ
        self._names = plan.names
        self._branches = plan.branches
        # the not_followed_by stage right after each stage: it guards the stage's later events
        self._follow_guard = plan.follow_guard

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the state: plain dicts and lists, safe to JSON-encode."""
        return copy.deepcopy(self.state)

    @property
    def idle(self) -> bool:
        return not self.state["runs"]

    # --- time ------------------------------------------------------------------------------

    def _deadline(self, run: Run) -> int | None:
        """Event time at which a run expires: the pattern's window from its first event, or
        the per-stage window of the stage it waits at from its last event."""
        deadlines = []
        if self.window_ms is not None:
            deadlines.append(int(run["events"][0][2]) + self.window_ms)
        waiting = self._waiting_at(run)
        gap = None if waiting is None else self.stages[waiting].window_ms
        if gap is not None:
            deadlines.append(int(run["events"][-1][2]) + gap)
        return min(deadlines, default=None)

    def _waiting_at(self, run: Run) -> int | None:
        """The stage whose next event the run waits for (FlinkCEP's state name)."""
        stage, count = int(run["stage"]), int(run["count"])
        if stage < len(self.stages) and self.stages[stage].is_not:
            return stage
        most = self.stages[stage].max_count
        if most is not None and count >= most:
            return self._succ[stage] if self._succ[stage] < self._end else None
        return stage

    def next_deadline_ms(self) -> int | None:
        """Event time at which the next partial match times out (for timers)."""
        deadlines = [d for run in self.state["runs"] if (d := self._deadline(run)) is not None]
        return min(deadlines, default=None)

    def advance(self, now_ms: int) -> Step:
        """Expire runs whose window has passed at event time `now_ms`. A run waiting at a
        trailing not_followed_by is then a match; any other is a timeout."""
        kept, pending, timeouts = [], [], []
        for run in self.state["runs"]:
            deadline = self._deadline(run)
            if deadline is None or now_ms < deadline:
                kept.append(run)
            elif self._waiting_at(run) == len(self.stages) - 1 and self._trailing is (
                StageKind.NOT_FOLLOWED_BY
            ):
                pending.append(run)
            else:
                timeouts.append(Timeout(self._by_stage(run), run["events"][0][2], now_ms))
        matches, kept = self._apply_skip(pending, kept)
        self.state["runs"] = kept
        return Step(matches, timeouts)

    def advance_time(self, now_ms: int) -> list[Timeout]:
        """`advance` for callers that only take timeouts; a pattern ending in
        not_followed_by completes on time, so it needs `advance`."""
        if self._trailing is StageKind.NOT_FOLLOWED_BY:
            raise TypeError("a pattern ending in not_followed_by needs Matcher.advance")
        return self.advance(now_ms).timeouts

    # --- events ----------------------------------------------------------------------------

    def process(self, event: Event, ts: int) -> Step:
        """Feed one event; events must come in non-decreasing `ts` order."""
        expired = self.advance(ts)
        seq = self.state["seq"]
        self.state["seq"] = seq + 1
        runs: list[Run] = []
        completed: list[Run] = []
        for run in [*self.state["runs"], _FRESH]:
            out = self._expand(run, event, ts, seq, fresh=run is _FRESH)
            completed.extend(out.completed)
            if not out.stopped:
                runs.extend(new for new in out.taken + out.ignored if not self._dead(new))
        matches, runs = self._apply_skip(completed, self._dedupe(runs))
        self.state["runs"] = runs
        return Step(expired.matches + matches, expired.timeouts)

    def _expand(self, run: Run, event: Event, ts: int, seq: int, fresh: bool) -> _Expansion:
        events = run["events"]
        ctx = MatchedSoFar(self._by_stage(run))
        out = _Expansion()
        blocked = bool(run.get("blocked", False))
        ignores = not fresh  # FlinkCEP's start state never ignores
        # positions to visit: (stage, count, guards, own = the run's stored position)
        todo = [(int(run["stage"]), int(run["count"]), tuple(run["guards"]), True)]
        seen: set[tuple[int, int, tuple[int, ...], bool]] = set()
        while todo:
            stage, count, guards, own = todo.pop()
            if self._branches:  # without groups the positions form a line: none comes twice
                if (stage, count, guards, own) in seen:
                    continue
                seen.add((stage, count, guards, own))
            spec = self.stages[stage]
            if spec.is_not:  # a trailing not_followed_by: wait, or stop on its event
                if spec.condition(event, ctx):
                    out.stopped = True
                elif ignores:
                    out.ignored.append(_run(stage, 0, (), True, events))
                continue
            watching = self._guards_at(stage, count, guards)
            if any(self.stages[g].condition(event, ctx) for g in watching):
                out.stopped = True
            self._take_or_ignore(
                run,
                _Position(stage, count, guards, blocked and own),
                (event, ts, seq),
                ctx,
                ignores,
                out,
            )
            if blocked and own:
                continue
            # nots passed before a stage that took nothing still apply after it (FlinkCEP's
            # transitive nots); a stage that took an event ends them
            after = guards if count == 0 else ()
            targets = [self._succ[stage]] if self._may_proceed(stage, count, event, ctx) else []
            if count == 0:
                targets += spec.exits
            for target in targets:
                self._enter(target, after, (event, ctx, events), out, todo)
        return out

    def _enter(
        self,
        stage: int,
        guards: tuple[int, ...],
        fed: tuple[Event, MatchedSoFar, list[Any]],
        out: _Expansion,
        todo: list[tuple[int, int, tuple[int, ...], bool]],
    ) -> None:
        """Proceed into `stage` without taking the event: through a not_next (if the event is
        not its), past a not_followed_by (which then guards), or to the stage itself."""
        event, ctx, events = fed
        if stage >= self._end:
            return
        spec = self.stages[stage]
        if spec.kind is StageKind.NOT_NEXT:
            if spec.condition(event, ctx):
                out.stopped = True
            elif self._succ[stage] >= self._end:  # FlinkCEP: ignoring into the final state
                out.completed.append(_run(stage, 0, (), False, events))
            else:
                todo.append((self._succ[stage], 0, guards, False))
        elif spec.kind is StageKind.NOT_FOLLOWED_BY and self._succ[stage] < self._end:
            todo.append((self._succ[stage], 0, (*guards, stage), False))
        else:
            todo.append((stage, 0, guards, False))

    def _guards_at(self, stage: int, count: int, guards: tuple[int, ...]) -> tuple[int, ...]:
        """not_followed_by stages watching this position: those passed before the stage took
        anything, and the one right after it once it has taken an event."""
        if count == 0:
            return guards
        follow = self._follow_guard.get(stage)
        return (follow,) if follow is not None else ()

    def _may_proceed(self, stage: int, count: int, event: Event, ctx: MatchedSoFar) -> bool:
        """Whether the position may move on to the next stage on this event. A greedy stage
        does so only for an event it can neither take nor ignore, or one that a following
        stage takes (FlinkCEP's greedy proceed condition)."""
        spec = self.stages[stage]
        if not spec.can_leave(count) or _stopped_in_group(spec, count, event, ctx):
            return False
        if not _is_greedy(spec, count):
            return True
        if self._takes(spec, event, ctx):
            return False
        return not self._ignorable(spec, count, event, ctx) or self._following_takes(
            stage, event, ctx
        )

    def _following_takes(self, stage: int, event: Event, ctx: MatchedSoFar) -> bool:
        """Whether a stage after this one takes the event (up to the next mandatory one)."""
        for spec in self.stages[stage + 1 :]:
            if spec.is_not:
                continue
            if self._takes(spec, event, ctx):
                return True
            if not spec.optional:
                return False
        return False

    def _ignorable(self, spec: Stage, count: int, event: Event, ctx: MatchedSoFar) -> bool:
        """The ignore edge of a position: by contiguity, and never on the stop condition."""
        contiguity = spec.entry if count == 0 else spec.loop
        if contiguity is Contiguity.STRICT:
            return False
        if count > 0 and spec.until is not None and spec.until(event, ctx):
            return False
        if spec.group_until is not None and spec.group_until(event, ctx):
            return False
        return contiguity is Contiguity.ANY or not spec.condition(event, ctx)

    @staticmethod
    def _takes(spec: Stage, event: Event, ctx: MatchedSoFar) -> bool:
        """The take condition: the stage's condition, and not its (or its group's) stop
        condition."""
        if spec.until is not None and spec.until(event, ctx):
            return False
        if spec.group_until is not None and spec.group_until(event, ctx):
            return False
        return spec.condition(event, ctx)

    def _take_or_ignore(
        self,
        run: Run,
        at: _Position,
        fed: tuple[Event, int, int],
        ctx: MatchedSoFar,
        ignores: bool,
        out: _Expansion,
    ) -> None:
        """The take and ignore edges of one position for the event `fed` = (event, ts, seq)."""
        event, ts, seq = fed
        spec = self.stages[at.stage]
        if spec.max_count is not None and at.count >= spec.max_count:
            return
        events = run["events"]
        contiguity = spec.entry if at.count == 0 else spec.loop
        adjacent = not events or seq == events[-1][1] + 1
        if (contiguity is not Contiguity.STRICT or adjacent) and self._takes(spec, event, ctx):
            new = _run(
                at.stage, at.count + 1, (), False, [*events, [at.stage, seq, ts, dict(event)]]
            )
            out.taken.append(new)
            if self._completes(at.stage, at.count + 1, event, ctx):
                out.completed.append(new)
        if ignores and self._ignorable(spec, at.count, event, ctx):
            # ignoring where it could move on blocks the run (FlinkCEP's ignore state has no
            # proceed edge), except at a greedy stage and where a group's repetition begins
            # (FlinkCEP: that state ignores into itself and keeps its proceed edge)
            first = at.count == 0
            could = spec.can_leave(at.count) or (first and bool(spec.exits))
            free = _is_greedy(spec, at.count) or (first and spec.repeat_head)
            blocked = at.blocked or (could and not free)
            out.ignored.append(_run(at.stage, at.count, at.guards, blocked, events))

    def _completes(self, stage: int, count: int, event: Event, ctx: MatchedSoFar) -> bool:
        """Whether the final state is reached from here without taking another event, with
        proceed conditions judged on the event just taken (as FlinkCEP does after a take)."""
        todo, seen = [(stage, count)], set()
        while todo:
            stage, count = todo.pop()
            if stage >= self._end:
                return True
            if (stage, count) in seen:
                continue
            seen.add((stage, count))
            spec = self.stages[stage]
            if spec.is_not:
                negated = spec.kind is StageKind.NOT_NEXT and spec.condition(event, ctx)
                if not negated and self._succ[stage] < self._end:
                    todo.append((self._succ[stage], 0))
                continue
            if self._may_proceed(stage, count, event, ctx):
                todo.append((self._succ[stage], 0))
            if count == 0:
                todo += [(target, 0) for target in spec.exits]
        return False

    def _dead(self, run: Run) -> bool:
        """A run at a last stage that can take nothing more has nothing left to do."""
        spec = self.stages[run["stage"]]
        return (
            self._succ[run["stage"]] >= self._end
            and not spec.is_not
            and spec.max_count is not None
            and run["count"] >= spec.max_count
        )

    def _dedupe(self, runs: list[Run], matches: bool = False) -> list[Run]:
        """One run per position and events taken, each event with the name of the stage that
        took it (repetitions of a group are copies of the same stages, so two runs may differ
        only in which copy took an event); completed runs: one per events and names."""
        seen: set[str] = set()
        out: list[Run] = []
        for run in runs:
            taken = [[e[1], self._names[e[0]]] for e in run["events"]]
            where = [
                run["stage"],
                run["count"],
                run["guards"],
                bool(run.get("blocked", False)),
            ]
            key = json.dumps(taken if matches else [*where, taken])
            if key not in seen:
                seen.add(key)
                out.append(run)
        return out

    def _by_stage(self, run: Run) -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = {}
        for stage, _seq, _ts, event in run["events"]:
            out.setdefault(self.stages[stage].name, []).append(event)
        return out

    # --- after-match skip ----------------------------------------------------------------

    def _apply_skip(self, completed: list[Run], runs: list[Run]) -> tuple[list[Match], list[Run]]:
        matches: list[Match] = []
        pending = sorted(
            self._dedupe(completed, matches=True), key=lambda r: [e[1] for e in r["events"]]
        )
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
            in_stage = [e[1] for e in run["events"] if self.stages[e[0]].name == skip.stage]
            if in_stage:
                target = in_stage[0] if skip.kind == "first" else in_stage[-1]
                return lambda start: start < target
        return lambda start: False


def _stopped_in_group(spec: Stage, count: int, event: Event, ctx: MatchedSoFar) -> bool:
    """The event of the group's `until` stops a move from a stage that could take more: its
    proceed edge is inside the group (a full stage's run is already at the next state)."""
    if spec.group_until is None or (spec.max_count is not None and count >= spec.max_count):
        return False
    return spec.group_until(event, ctx)


def _is_greedy(spec: Stage, count: int) -> bool:
    """A greedy stage that can still take events."""
    return spec.greedy and (spec.max_count is None or count < spec.max_count)


def _run(stage: int, count: int, guards: tuple[int, ...], blocked: bool, events: list[Any]) -> Run:
    return {
        "stage": stage,
        "count": count,
        "guards": list(guards),
        "blocked": blocked,
        "events": events,
    }
