"""A brute-force reference for udfs.cep, written from docs/cep.md's rules, not from the NFA.

It enumerates every assignment of a subsequence of the events to the pattern's stages and
keeps those the rules allow: quantifiers, conditions, how the skipped events between two
taken ones were ignored (contiguity, blocked ignores, greedy), not-stages, windows, and
finally the after-match skip strategy over the order in which matches are emitted. Only for
a handful of events: it is exponential.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from udfs.cep.pattern import Contiguity, Event, MatchedSoFar, Pattern, Stage, StageKind

Taken = list[tuple[int, int]]  # (event index, stage index), in event order


@dataclass(frozen=True)
class RefMatch:
    seqs: tuple[int, ...]
    emitted: tuple[int, int]  # (event index, 0 = before the event / 1 = after it)


class Reference:
    def __init__(self, pattern: Pattern, events: list[tuple[Event, int]]) -> None:
        self.stages = pattern.stages
        self.window = pattern.window_ms
        self.skip = pattern.skip_strategy
        self.events = events
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

    def takes(self, stage: int, index: int, taken: Taken) -> bool:
        until = self.stages[stage].until
        if until is not None and until(self.events[index][0], self.ctx(taken, index)):
            return False
        return self.cond(stage, index, taken)

    @staticmethod
    def greedy_now(spec: Stage, count: int) -> bool:
        return spec.greedy and (spec.max_count is None or count < spec.max_count)

    def may_leave(self, stage: int, count: int, index: int, taken: Taken) -> bool:
        spec = self.stages[stage]
        if not (count >= spec.min_count or (count == 0 and spec.optional)):
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

    def path(self, stage: int, count: int, target: int, index: int, taken: Taken) -> bool:
        """Whether (stage, count) may proceed to `target`'s entry on event `index`."""
        if not self.may_leave(stage, count, index, taken):
            return False
        for m in range(stage + 1, target):
            spec = self.stages[m]
            if spec.kind is StageKind.NOT_NEXT and self.cond(m, index, taken):
                return False
            if spec.kind is StageKind.NORMAL and not self.may_leave(m, 0, index, taken):
                return False
        return True

    def ignores(self, stage: int, count: int, index: int, taken: Taken) -> bool:
        spec = self.stages[stage]
        contiguity = spec.entry if count == 0 else spec.loop
        if contiguity is Contiguity.STRICT:
            return False
        until = spec.until
        if count > 0 and until is not None and until(self.events[index][0], self.ctx(taken, index)):
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
            if n == 0 and not spec.optional:
                return False
            if n and (n < spec.min_count or (spec.max_count is not None and n > spec.max_count)):
                return False
        return True

    def gap_ok(self, taken: Taken, k: int) -> bool:
        """Taken event k-1 (p) to taken event k (q): how the run got from p's stage to q's."""
        (p, s), (q, t) = taken[k - 1], taken[k]
        c = sum(1 for _, st in taken[:k] if st == s)
        skipped = list(range(p + 1, q))
        if not skipped:
            if t != s and not self.path(s, c, t, q, taken):
                return False
            return self.in_window(p, q, self.resident_window(s, c))
        x1 = skipped[0]
        if not self.in_window(p, x1, self.resident_window(s, c)):
            return False
        # where the skipped events were ignored: q's own stage, or a greedy stage before it
        for r in range(s, t + 1):
            if self.stages[r].is_not:
                continue
            count_r = c if r == s else 0
            if r > s and not self.path(s, c, r, x1, taken):
                continue
            if r < t and not self.greedy_now(self.stages[r], count_r):
                continue  # a non-greedy stage that ignored is blocked: q must be its own
            if not all(self.ignores(r, count_r, x, taken) for x in skipped):
                continue
            if r < t and not self.path(r, count_r, t, q, taken):
                continue
            if self.in_window(p, q, self.stages[r].window_ms):
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

    def assignments(self) -> Iterator[Taken]:
        def grow(start: int, low: int, taken: Taken) -> Iterator[Taken]:
            if taken:
                yield taken
            for index in range(start, len(self.events)):
                for stage in self.normal:
                    if stage >= low:
                        yield from grow(index + 1, stage, [*taken, (index, stage)])

        yield from grow(0, 0, [])

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
            stage = next(i for i, s in enumerate(self.stages) if s.name == self.skip.stage)
            in_stage = [i for i, s in taken if s == stage]
            if in_stage:
                return start < (in_stage[0] if kind == "first" else in_stage[-1])
        return False
