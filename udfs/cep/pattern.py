"""Declaring patterns in the spirit of FlinkCEP's `Pattern` API (no PyFlink import).

A pattern is a chain of stages. Each stage has a condition, a quantifier (how many events
it takes) and a contiguity that says how it attaches to the stage before it. Conditions are
Python callables, so patterns are rebuilt from code/config on restore; only matcher state
(plain JSON) is persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Self

Event = Mapping[str, Any]


class Contiguity(StrEnum):
    """How a taken event must relate to the previous one taken by the same partial match."""

    STRICT = "strict"  # the very next event (next / consecutive)
    RELAXED = "relaxed"  # first matching event, others skipped (followed_by, loop default)
    ANY = "any"  # every matching event, branching (followed_by_any / allow_combinations)


class WithinType(StrEnum):
    """What `within` bounds (FlinkCEP's WithinType)."""

    FIRST_AND_LAST = "first_and_last"  # first to last event of the match (the default)
    PREVIOUS_AND_CURRENT = "previous_and_current"  # the event before this stage's to its own


class StageKind(StrEnum):
    NORMAL = "normal"
    NOT_NEXT = "not_next"
    NOT_FOLLOWED_BY = "not_followed_by"


class MatchedSoFar:
    """What an iterative condition sees: the events the partial match has taken, by stage."""

    def __init__(self, by_stage: Mapping[str, list[Event]]) -> None:
        self._by_stage = by_stage

    def events(self, stage: str) -> list[Event]:
        return list(self._by_stage.get(stage, ()))

    def all(self) -> list[Event]:
        return [event for events in self._by_stage.values() for event in events]


Condition = Callable[[Event, MatchedSoFar], bool]


def _always(event: Event, ctx: MatchedSoFar) -> bool:
    return True


@dataclass(frozen=True)
class SkipStrategy:
    """After-match skip strategy: which other partial matches a found match discards."""

    kind: Literal["no_skip", "skip_past_last_event", "skip_to_next", "first", "last"]
    stage: str | None = None


def no_skip() -> SkipStrategy:
    return SkipStrategy("no_skip")


def skip_past_last_event() -> SkipStrategy:
    return SkipStrategy("skip_past_last_event")


def skip_to_next() -> SkipStrategy:
    return SkipStrategy("skip_to_next")


def skip_to_first(stage: str) -> SkipStrategy:
    return SkipStrategy("first", stage)


def skip_to_last(stage: str) -> SkipStrategy:
    return SkipStrategy("last", stage)


@dataclass
class Stage:
    """One named step of a pattern. `max_count` None means unbounded."""

    name: str
    entry: Contiguity
    kind: StageKind = StageKind.NORMAL
    condition: Condition = _always
    min_count: int = 1
    max_count: int | None = 1
    loop: Contiguity = Contiguity.RELAXED
    optional: bool = False  # zero events, or min_count..max_count (FlinkCEP's optional())
    greedy: bool = False  # may not move on while it can take the event (FlinkCEP's greedy())
    until: Condition | None = None  # stop condition of a looping stage
    window_ms: int | None = None  # within(ms, PREVIOUS_AND_CURRENT) on this stage

    def can_leave(self, taken: int) -> bool:
        """Whether a partial match that took ``taken`` events here may move on."""
        return taken >= self.min_count or (taken == 0 and self.optional)

    @property
    def is_not(self) -> bool:
        return self.kind is not StageKind.NORMAL

    @property
    def loops(self) -> bool:
        return self.max_count is None or self.max_count > 1


class PatternError(ValueError):
    """A pattern that cannot be matched as declared (raised while building)."""


class Pattern:
    """Fluent builder: `Pattern.begin("a").where(f).times(3).followed_by("b")...`."""

    def __init__(self, first: Stage, skip: SkipStrategy) -> None:
        self.stages: list[Stage] = [first]
        self.window_ms: int | None = None
        self.skip_strategy = skip

    @classmethod
    def begin(cls, name: str, skip: SkipStrategy | None = None) -> Self:
        return cls(Stage(name, Contiguity.RELAXED), skip or no_skip())

    def _add(self, name: str, entry: Contiguity, kind: StageKind = StageKind.NORMAL) -> Pattern:
        if any(stage.name == name for stage in self.stages):
            raise PatternError(f"stage name {name!r} used twice")
        self.stages.append(Stage(name, entry, kind))
        return self

    def next(self, name: str) -> Pattern:
        return self._add(name, Contiguity.STRICT)

    def followed_by(self, name: str) -> Pattern:
        return self._add(name, Contiguity.RELAXED)

    def followed_by_any(self, name: str) -> Pattern:
        return self._add(name, Contiguity.ANY)

    def not_next(self, name: str) -> Pattern:
        return self._add(name, Contiguity.STRICT, StageKind.NOT_NEXT)

    def not_followed_by(self, name: str) -> Pattern:
        return self._add(name, Contiguity.RELAXED, StageKind.NOT_FOLLOWED_BY)

    @property
    def _last(self) -> Stage:
        return self.stages[-1]

    def where(self, condition: Callable[[Event], bool]) -> Pattern:
        """AND a simple (single-event) condition onto the current stage."""
        return self.where_iterative(lambda event, _ctx: condition(event))

    def where_iterative(self, condition: Condition) -> Pattern:
        """AND a condition that also sees the events this partial match has taken so far."""
        previous = self._last.condition
        if previous is _always:
            self._last.condition = condition
        else:
            self._last.condition = lambda e, c: previous(e, c) and condition(e, c)
        return self

    def or_where(self, condition: Callable[[Event], bool]) -> Pattern:
        previous = self._last.condition
        self._last.condition = lambda e, c: previous(e, c) or condition(e)
        return self

    def _quantify(self, low: int, high: int | None) -> Pattern:
        stage = self._last
        if stage.is_not:
            raise PatternError(f"{stage.name}: a negative stage takes no quantifier")
        if low < 0 or (high is not None and (high < max(low, 1))):
            raise PatternError(f"{stage.name}: bad quantifier ({low}, {high})")
        stage.min_count, stage.max_count = low, high
        return self

    def times(self, low: int, high: int | None = -1) -> Pattern:
        """times(n): exactly n; times(n, m): n to m events."""
        return self._quantify(low, low if high == -1 else high)

    def one_or_more(self) -> Pattern:
        return self._quantify(1, None)

    def times_or_more(self, low: int) -> Pattern:
        return self._quantify(low, None)

    def optional(self) -> Pattern:
        """The stage may take no event at all; if it takes any, its quantifier holds, as in
        FlinkCEP: times(2).optional() is zero or exactly two events, never one."""
        if self._last.is_not:
            raise PatternError(f"{self._last.name}: a negative stage cannot be optional")
        self._last.optional = True
        return self

    def consecutive(self) -> Pattern:
        """Events taken by a looping stage must follow each other directly."""
        return self._loop(Contiguity.STRICT)

    def allow_combinations(self) -> Pattern:
        """A looping stage may skip matching events (every combination is a match)."""
        return self._loop(Contiguity.ANY)

    def _loop(self, contiguity: Contiguity) -> Pattern:
        if not self._last.loops:
            raise PatternError(f"{self._last.name}: only looping stages take this option")
        self._last.loop = contiguity
        return self

    def greedy(self) -> Pattern:
        """The looping stage takes as many events as it can: while an event satisfies its
        condition the partial match does not move on to the next stage with it."""
        if not self._last.loops:
            raise PatternError(f"{self._last.name}: greedy() needs a looping quantifier")
        self._last.greedy = True
        return self

    def until(self, condition: Callable[[Event], bool]) -> Pattern:
        """Stop condition of a one_or_more/times_or_more stage: an event that satisfies it
        ends the loop (the stage takes no more events after it)."""
        return self.until_iterative(lambda event, _ctx: condition(event))

    def until_iterative(self, condition: Condition) -> Pattern:
        """`until` with a condition that also sees the events taken so far."""
        if self._last.max_count is not None:
            raise PatternError(f"{self._last.name}: until() needs one_or_more/times_or_more")
        previous = self._last.until
        self._last.until = (
            condition if previous is None else lambda e, c: previous(e, c) or condition(e, c)
        )
        return self

    def within(
        self, duration_ms: int, within_type: WithinType = WithinType.FIRST_AND_LAST
    ) -> Pattern:
        """FIRST_AND_LAST: first and last event of a match lie less than `duration_ms` apart
        (several calls: the smallest wins, as in FlinkCEP). PREVIOUS_AND_CURRENT: the event
        this stage takes lies less than `duration_ms` after the event taken before it."""
        if duration_ms <= 0:
            raise PatternError("within() needs a positive duration")
        if within_type is WithinType.PREVIOUS_AND_CURRENT:
            if self._last.kind is StageKind.NOT_NEXT:
                raise PatternError(f"{self._last.name}: not_next takes no within")
            self._last.window_ms = duration_ms
        else:
            self.window_ms = min(duration_ms, self.window_ms or duration_ms)
        return self

    def skip(self, strategy: SkipStrategy) -> Pattern:
        self.skip_strategy = strategy
        return self

    def validate(self) -> Pattern:
        """Reject the shapes FlinkCEP rejects (see docs/cep.md)."""
        if self.stages[0].is_not:
            raise PatternError("a pattern cannot begin with a negative stage")
        for before, stage in zip(self.stages, self.stages[1:], strict=False):
            if stage.is_not and before.is_not:
                raise PatternError(f"{stage.name}: two negative stages in a row")
            if stage.is_not and before.optional:
                raise PatternError(f"{stage.name}: a negative stage cannot follow an optional one")
        last = self._last
        if last.kind is StageKind.NOT_FOLLOWED_BY and not (self.window_ms or last.window_ms):
            raise PatternError("a pattern can end with not_followed_by only with within()")
        normal = [stage for stage in self.stages if not stage.is_not]
        if normal[-1].greedy:
            raise PatternError(f"{normal[-1].name}: the last stage cannot be greedy")
        if all(stage.can_leave(0) for stage in normal):
            raise PatternError("a pattern needs at least one mandatory stage")
        names = {stage.name for stage in self.stages}
        if self.skip_strategy.stage is not None and self.skip_strategy.stage not in names:
            raise PatternError(f"skip strategy names unknown stage {self.skip_strategy.stage}")
        return self
