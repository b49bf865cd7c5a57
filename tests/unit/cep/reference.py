"""A brute-force reference for udfs.cep, written from docs/cep.md's rules, not from the NFA.

It enumerates every assignment of a subsequence of the events to the pattern's stages and
keeps those the rules allow: quantifiers, conditions, how the skipped events between two
taken ones were ignored (contiguity, blocked ignores, greedy), not-stages, windows, and
finally the after-match skip strategy over the order in which matches are emitted. Only for
a handful of events: it is exponential.

Groups are unrolled here, not looped: a group becomes one copy of its stages per repetition,
as many as there are events when it is unbounded (every repetition takes an event), so the
stages stay in event order; a copy past the group's minimum (and the first copy of an
optional group) can be jumped over to the stage after the group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from udfs.cep.pattern import (
    Condition,
    Contiguity,
    Event,
    Group,
    MatchedSoFar,
    Pattern,
    Stage,
    StageKind,
)

Taken = list[tuple[int, int]]  # (event index, stage index), in event order


@dataclass(frozen=True)
class RefMatch:
    seqs: tuple[int, ...]
    emitted: tuple[int, int]  # (event index, 0 = before the event / 1 = after it)


class Unrolled:
    """The stages of a pattern with its groups unrolled: `exits[i]`: stages a partial match
    at stage i, having taken nothing there, may jump to; `repeat[i]`: stage i begins a second
    or later repetition (ignoring there does not block)."""

    def __init__(self, pattern: Pattern, copies: int) -> None:
        self.copies = copies
        self.stages: list[Stage] = []
        self.exits: list[set[int]] = []
        self.repeat: list[bool] = []
        self.until: list[Condition | None] = []  # `until` of the group a stage is in
        self.windows: list[int] = []
        self.sequence(pattern, None, None)

    def sequence(self, pattern: Pattern, entry: Contiguity | None, until: Condition | None) -> None:
        if pattern.window_ms is not None:
            self.windows.append(pattern.window_ms)
        for i, element in enumerate(pattern.elements):
            first = element.entry if entry is None or i else entry
            if isinstance(element, Group):
                self.group(element, first)
            else:
                self.stages.append(replace(element, entry=first))
                self.exits.append(set())
                self.repeat.append(False)
                self.until.append(until)

    def group(self, group: Group, entry: Contiguity) -> None:
        count = self.copies if group.max_count is None else group.max_count
        heads = []
        for copy in range(1, max(count, group.min_count) + 1):
            head = len(self.stages)
            self.sequence(group.body, entry if copy == 1 else group.loop, group.until)
            self.repeat[head] = copy > 1
            if (copy == 1 and group.optional) or copy > group.min_count:
                heads.append(head)
        for head in heads:
            self.exits[head].add(len(self.stages))


class Reference:
    def __init__(self, pattern: Pattern, events: list[tuple[Event, int]]) -> None:
        unrolled = Unrolled(pattern, len(events))
        self.stages = unrolled.stages
        self.exits = unrolled.exits
        self.repeat = unrolled.repeat
        self.group_until = unrolled.until
        self.grouped = any(isinstance(element, Group) for element in pattern.elements)
        self.window = min(unrolled.windows, default=None)
        self.skip = pattern.skip_strategy
        self.events = events
        self._following: dict[int | None, set[int]] = {}
        self.normal = [i for i, s in enumerate(self.stages) if not s.is_not]
        last = self.stages[-1]
        self.trailing = last.kind if last.is_not else None

    # --- helpers ---------------------------------------------------------------------------

    def ctx(self, taken: Taken, before: int) -> MatchedSoFar:
        by: dict[str, list[Event]] = {}
        for index, stage in taken:
            if index < before:
                by.setdefault(self.stages[stage].name, []).append(self.events[index][0])
        return MatchedSoFar(by)

    def cond(self, stage: int, index: int, taken: Taken) -> bool:
        return self.stages[stage].condition(self.events[index][0], self.ctx(taken, index))

    def stops(self, stage: int, index: int, taken: Taken) -> bool:
        """The event satisfies the `until` of the group the stage is in: no stage of the
        group takes it, ignores it or moves on to the group's next stage with it."""
        until = self.group_until[stage]
        return until is not None and until(self.events[index][0], self.ctx(taken, index))

    def takes(self, stage: int, index: int, taken: Taken) -> bool:
        until = self.stages[stage].until
        if until is not None and until(self.events[index][0], self.ctx(taken, index)):
            return False
        return not self.stops(stage, index, taken) and self.cond(stage, index, taken)

    @staticmethod
    def greedy_now(spec: Stage, count: int) -> bool:
        return spec.greedy and (spec.max_count is None or count < spec.max_count)

    def may_leave(self, stage: int, count: int, index: int, taken: Taken) -> bool:
        spec = self.stages[stage]
        if not (count >= spec.min_count or (count == 0 and spec.optional)):
            return False
        full = spec.max_count is not None and count >= spec.max_count
        if not full and self.stops(stage, index, taken):  # a full stage has moved on already
            return False
        if not self.greedy_now(spec, count):
            return True
        if self.takes(stage, index, taken):
            return False
        if not self.ignores(stage, count, index, taken):
            return True
        for later in self.normal:  # a greedy stage lets go of an event a later stage takes
            if later > stage and self.takes(later, index, taken):
                return True
            if later > stage and not self.stages[later].optional:
                break
        return False

    def reach(self, stage: int, count: int, index: int, taken: Taken) -> set[int]:
        """The stages (and the end, len(stages)) that (stage, count) proceeds to on event
        `index` without taking it: on when its count allows, or by a group's exit, through
        not_next stages whose event it is not and past not_followed_by stages."""
        seen: set[int] = set()
        todo = [(stage, count)]
        while todo:
            at, n = todo.pop()
            onward = [at + 1] if self.may_leave(at, n, index, taken) else []
            onward += sorted(self.exits[at]) if n == 0 else []
            for m in onward:
                if m in seen:
                    continue
                seen.add(m)
                if m >= len(self.stages):
                    continue
                spec = self.stages[m]
                if spec.kind is StageKind.NOT_NEXT and self.cond(m, index, taken):
                    continue
                if spec.is_not:
                    seen.add(m + 1)
                    if m + 1 < len(self.stages):
                        todo.append((m + 1, 0))
                else:
                    todo.append((m, 0))
        return seen

    def path(self, stage: int, count: int, target: int, index: int, taken: Taken) -> bool:
        """Whether (stage, count) may proceed to `target`'s entry on event `index`."""
        return target in self.reach(stage, count, index, taken)

    def ignores(self, stage: int, count: int, index: int, taken: Taken) -> bool:
        spec = self.stages[stage]
        contiguity = spec.entry if count == 0 else spec.loop
        if contiguity is Contiguity.STRICT:
            return False
        until = spec.until
        if count > 0 and until is not None and until(self.events[index][0], self.ctx(taken, index)):
            return False
        if self.stops(stage, index, taken):
            return False
        return contiguity is Contiguity.ANY or not self.cond(stage, index, taken)

    def resident_window(self, stage: int, count: int) -> int | None:
        spec = self.stages[stage]
        if spec.max_count is not None and count >= spec.max_count:
            stage += 1
            if stage >= len(self.stages):
                return None
        return self.stages[stage].window_ms

    def ts(self, index: int) -> int:
        return self.events[index][1]

    def in_window(self, start: int, index: int, window: int | None) -> bool:
        return window is None or self.ts(index) - self.ts(start) < window

    # --- the rules -------------------------------------------------------------------------

    def counts_ok(self, taken: Taken) -> bool:
        for stage in self.normal:
            spec = self.stages[stage]
            n = sum(1 for _, s in taken if s == stage)
            if n == 0 and not spec.optional and not self.grouped:  # groups: by the paths
                return False
            if n and (n < spec.min_count or (spec.max_count is not None and n > spec.max_count)):
                return False
        return True

    def gap_ok(self, taken: Taken, k: int) -> bool:
        """Taken event k-1 (p) to taken event k (q): how the run got from p's stage to q's.
        Each skipped event is ignored at the stage where the run waits; a run moves on from
        there only if ignoring did not block it (a greedy stage, or the first stage of a
        group's repetition, does not block)."""
        (p, s), (q, t) = taken[k - 1], taken[k]
        c = sum(1 for _, st in taken[:k] if st == s)
        waiting = {(s, c, False)}  # (stage, count, blocked)
        for x in range(p + 1, q):
            after: set[tuple[int, int, bool]] = set()
            for r, n, blocked in waiting:
                if not self.in_window(p, x, self.resident_window(r, n)):
                    continue
                onward = [] if blocked else self.reach(r, n, x, taken)
                options = [(r, n, blocked)] + [
                    (m, 0, False) for m in onward if m < len(self.stages) and m <= t
                ]
                for m, count, was in options:
                    if self.stages[m].is_not or not self.ignores(m, count, x, taken):
                        continue
                    spec = self.stages[m]
                    could = spec.can_leave(count) or (count == 0 and bool(self.exits[m]))
                    free = self.greedy_now(spec, count) or (count == 0 and self.repeat[m])
                    after.add((m, count, was or (could and not free)))
            waiting = after
        for r, n, blocked in waiting:
            if not self.in_window(p, q, self.resident_window(r, n)):
                continue
            if r == t or (not blocked and self.path(r, n, t, q, taken)):
                return True
        return False

    def first_ok(self, taken: Taken) -> bool:
        index, stage = taken[0]
        first = self.normal[0]
        return stage == first or self.path(first, 0, stage, index, taken)

    def emission(self, taken: Taken) -> tuple[int, int] | None:
        """When the match is emitted, or None if it never is."""
        last, stage = taken[-1]
        count = sum(1 for _, s in taken if s == stage)
        first = taken[0][0]
        if self.trailing is None:
            if not self.path(stage, count, len(self.stages), last, taken):
                return None
            return (last, 1) if self.in_window(first, last, self.window) else None
        y = last + 1
        alive_at_y = (
            y < len(self.events)
            and self.in_window(first, y, self.window)
            and self.in_window(last, y, self.resident_window(stage, count))
        )
        not_stage = len(self.stages) - 1
        if self.trailing is StageKind.NOT_NEXT:
            ok = alive_at_y and self.path(stage, count, not_stage + 1, y, taken)
            return (y, 1) if ok else None
        spec = self.stages[stage]
        at_max = spec.max_count is not None and count >= spec.max_count
        if at_max and self.grouped and not self.path(stage, count, not_stage, last, taken):
            return None
        if not at_max and not (
            alive_at_y
            and self.path(stage, count, not_stage, y, taken)
            and not self.cond(not_stage, y, taken)
        ):
            return None
        deadlines = []
        if self.window is not None:
            deadlines.append(self.ts(first) + self.window)
        gap = self.stages[not_stage].window_ms
        if gap is not None:
            deadlines.append(self.ts(last) + gap)
        deadline = min(deadlines)
        later = [z for z in range(last + 1, len(self.events)) if self.ts(z) >= deadline]
        return (later[0], 0) if later else (len(self.events), 0)

    def killed(self, taken: Taken, emitted: tuple[int, int]) -> bool:
        """Whether a not-stage stopped the run before it was emitted."""
        end = emitted[0]  # events before this one were processed by the run
        for n, spec in enumerate(self.stages):
            if not spec.is_not:
                continue
            s = n - 1
            at_s = [i for i, st in taken if st == s]
            if not at_s:  # a repetition of a group that the match does not have
                continue
            if spec.kind is StageKind.NOT_FOLLOWED_BY:
                later = [i for i, st in taken if st > s]
                upto = min(later[0], end - 1) if later else end - 1
                if any(self.cond(n, x, taken) for x in range(at_s[0] + 1, upto + 1)):
                    return True
            else:
                for count, e in enumerate(at_s, start=1):
                    y = e + 1
                    if y < end and self.may_leave(s, count, y, taken) and self.cond(n, y, taken):
                        return True
        return False

    # --- enumeration -----------------------------------------------------------------------

    def following(self, stage: int | None) -> set[int]:
        """Stages that may take the next event after one taken at `stage` (None: the
        first), by the pattern's shape alone: conditions and counts are checked later."""
        if stage not in self._following:
            self._following[stage] = self._shape_following(stage)
        return self._following[stage]

    def _shape_following(self, stage: int | None) -> set[int]:
        out: set[int] = set()
        if stage is None:
            todo = [0]
        else:
            spec = self.stages[stage]
            out |= {stage} if spec.max_count is None or spec.max_count > 1 else set()
            todo = [stage + 1]
        seen: set[int] = set()
        while todo:
            m = todo.pop()
            if m >= len(self.stages) or m in seen:
                continue
            seen.add(m)
            spec = self.stages[m]
            if spec.is_not:
                todo.append(m + 1)
                continue
            out.add(m)
            if spec.can_leave(0):
                todo.append(m + 1)
            todo += sorted(self.exits[m])
        return out

    def assignments(self) -> Iterator[Taken]:
        def grow(start: int, last: int | None, taken: Taken) -> Iterator[Taken]:
            if taken:
                yield taken
            for index in range(start, len(self.events)):
                for stage in sorted(self.following(last)):
                    if self.takes(stage, index, taken):
                        yield from grow(index + 1, stage, [*taken, (index, stage)])

        yield from grow(0, None, [])

    def valid(self, taken: Taken) -> tuple[int, int] | None:
        if not self.counts_ok(taken) or not self.first_ok(taken):
            return None
        if not self.in_window(taken[0][0], taken[-1][0], self.window):
            return None
        if not all(self.takes(stage, index, taken) for index, stage in taken):
            return None
        for k, (index, stage) in enumerate(taken):
            if k and stage == taken[k - 1][1]:
                spec = self.stages[stage]
                if spec.loop is Contiguity.STRICT and index != taken[k - 1][0] + 1:
                    return None
            elif (
                k and self.stages[stage].entry is Contiguity.STRICT and index != taken[k - 1][0] + 1
            ):
                return None
        if not all(self.gap_ok(taken, k) for k in range(1, len(taken))):
            return None
        emitted = self.emission(taken)
        if emitted is None or self.killed(taken, emitted):
            return None
        return emitted

    def matches(self) -> list[RefMatch]:
        """Every match in emission order, after the skip strategy."""
        found = [
            (RefMatch(tuple(i for i, _ in taken), emitted), taken)
            for taken in self.assignments()
            if (emitted := self.valid(taken)) is not None
        ]
        # one match per events and the names of the stages that took them (the copies of a
        # group's stages share their names), the earliest emitted
        first: dict[tuple[tuple[int, str], ...], tuple[RefMatch, Taken]] = {}
        for match, taken in sorted(found, key=lambda f: (f[0].emitted, f[0].seqs)):
            first.setdefault(tuple((i, self.stages[s].name) for i, s in taken), (match, taken))
        found = list(first.values())
        out: list[RefMatch] = []
        kept: list[tuple[RefMatch, Taken]] = []
        for match, taken in sorted(found, key=lambda f: (f[0].emitted, f[0].seqs)):
            if any(self.prunes(m, t, match) for m, t in kept):
                continue
            kept.append((match, taken))
            out.append(match)
        return out

    def prunes(self, by: RefMatch, taken: Taken, other: RefMatch) -> bool:
        start = other.seqs[0]
        at, phase = by.emitted
        if start > at or (phase == 0 and start == at):
            return False  # that partial match did not exist yet
        kind = self.skip.kind
        if kind == "skip_past_last_event":
            return start <= by.seqs[-1]
        if kind == "skip_to_next":
            return start <= by.seqs[0]
        if kind in ("first", "last"):
            in_stage = [i for i, s in taken if self.stages[s].name == self.skip.stage]
            if in_stage:
                return start < (in_stage[0] if kind == "first" else in_stage[-1])
        return False
