"""Declaring patterns in the spirit of FlinkCEP's `Pattern` API (no PyFlink import).

A pattern is a chain of stages. Each stage has a condition, a quantifier (how many events
it takes) and a contiguity that says how it attaches to the stage before it. A group (a
pattern given to `begin`/`next`/`followed_by`/`followed_by_any`) is one element of the chain
with a quantifier of its own. Conditions are Python callables, so patterns are rebuilt from
code/config on restore; only matcher state (plain JSON) is persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal, Self, cast

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
    # set by flattening groups (`Pattern.stages`): where a partial match goes on from here
    # (None: the next stage), the stages after the group it may jump to before taking an event
    # here, and whether this stage begins a repeat of a group (ignoring here does not block)
    succ: int | None = None
    exits: tuple[int, ...] = ()
    repeat_head: bool = False
    group_until: Condition | None = None  # `until` of the group this stage is a copy from

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


@dataclass
class Group:
    """A pattern sequence taken as one element (FlinkCEP's GroupPattern), with a quantifier:
    each repetition takes the whole sequence again; its events are reported under the inner
    stages' names."""

    body: Pattern
    entry: Contiguity
    min_count: int = 1
    max_count: int | None = 1
    loop: Contiguity = Contiguity.RELAXED  # how a repetition attaches to the one before it
    optional: bool = False
    until: Condition | None = None  # stop condition of a looping group (FlinkCEP: every
    # stage of the group takes, ignores and moves on within the group only without it)
    kind: StageKind = StageKind.NORMAL
    window_ms: int | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return f"({' '.join(_names(self.body.elements))})"

    @property
    def is_not(self) -> bool:
        return False

    @property
    def loops(self) -> bool:
        return self.max_count is None or self.max_count > 1

    def mandatory(self) -> bool:
        return not self.optional and any(_mandatory(e) for e in self.body.elements)


Element = Stage | Group


def _names(elements: list[Element]) -> list[str]:
    out: list[str] = []
    for element in elements:
        out += _names(element.body.elements) if isinstance(element, Group) else [element.name]
    return out


def _mandatory(element: Element) -> bool:
    if isinstance(element, Group):
        return element.mandatory()
    return not element.is_not and not element.can_leave(0)


class Pattern:
    """Fluent builder: `Pattern.begin("a").where(f).times(3).followed_by("b")...`; a stage
    may be a group: `Pattern.begin("c").followed_by(Pattern.begin("a").next("b")).times(2)`."""

    def __init__(self, first: Element, skip: SkipStrategy) -> None:
        self.elements: list[Element] = [first]
        self.has_groups = isinstance(first, Group)  # elements are only added by the builder
        self.window_ms: int | None = None
        self.skip_strategy = skip
        self._version = 0  # bumped by every builder call: `plan()` is cached per version
        self._plan: tuple[tuple[int, ...], Plan] | None = None

    @classmethod
    def begin(cls, name: str | Pattern, skip: SkipStrategy | None = None) -> Self:
        return cls(_element(name, Contiguity.RELAXED), skip or no_skip())

    def _add(
        self, name: str | Pattern, entry: Contiguity, kind: StageKind = StageKind.NORMAL
    ) -> Pattern:
        element = _element(name, entry, kind)
        taken = set(_names(self.elements))
        for other in _names([element]):
            if other in taken:
                raise PatternError(f"stage name {other!r} used twice")
        self.elements.append(element)
        self.has_groups = self.has_groups or isinstance(element, Group)
        return self._changed()

    def next(self, name: str | Pattern) -> Pattern:
        return self._add(name, Contiguity.STRICT)

    def followed_by(self, name: str | Pattern) -> Pattern:
        return self._add(name, Contiguity.RELAXED)

    def followed_by_any(self, name: str | Pattern) -> Pattern:
        return self._add(name, Contiguity.ANY)

    def not_next(self, name: str) -> Pattern:
        return self._add(name, Contiguity.STRICT, StageKind.NOT_NEXT)

    def not_followed_by(self, name: str) -> Pattern:
        return self._add(name, Contiguity.RELAXED, StageKind.NOT_FOLLOWED_BY)

    def _changed(self) -> Pattern:
        self._version += 1
        return self

    def _versions(self) -> tuple[int, ...]:
        """This pattern's version and its groups' patterns' (which may change after)."""
        out: tuple[int, ...] = (self._version,)
        for element in self.elements:
            if isinstance(element, Group):
                out += element.body._versions()
        return out

    @property
    def _last(self) -> Element:
        return self.elements[-1]

    def _stage(self, option: str) -> Stage:
        """The current element, which must be a stage: a group takes no `option`."""
        last = self._last
        if isinstance(last, Group):
            raise PatternError(f"{last.name}: a group takes no {option}")
        return last

    def where(self, condition: Callable[[Event], bool]) -> Pattern:
        """AND a simple (single-event) condition onto the current stage."""
        return self.where_iterative(lambda event, _ctx: condition(event))

    def where_iterative(self, condition: Condition) -> Pattern:
        """AND a condition that also sees the events this partial match has taken so far."""
        stage = self._stage("condition")
        previous = stage.condition
        if previous is _always:
            stage.condition = condition
        else:
            stage.condition = lambda e, c: previous(e, c) and condition(e, c)
        return self._changed()

    def or_where(self, condition: Callable[[Event], bool]) -> Pattern:
        stage = self._stage("condition")
        previous = stage.condition
        stage.condition = lambda e, c: previous(e, c) or condition(e)
        return self._changed()

    def _quantify(self, low: int, high: int | None) -> Pattern:
        element = self._last
        if element.is_not:
            raise PatternError(f"{element.name}: a negative stage takes no quantifier")
        if low < 0 or (high is not None and (high < max(low, 1))):
            raise PatternError(f"{element.name}: bad quantifier ({low}, {high})")
        if isinstance(element, Group) and low == 0:  # FlinkCEP: times(0, m) = optional 1..m
            element.optional, low = True, 1
        element.min_count, element.max_count = low, high
        return self._changed()

    def times(self, low: int, high: int | None = -1) -> Pattern:
        """times(n): exactly n; times(n, m): n to m events (of a group: repetitions)."""
        return self._quantify(low, low if high == -1 else high)

    def one_or_more(self) -> Pattern:
        return self._quantify(1, None)

    def times_or_more(self, low: int) -> Pattern:
        return self._quantify(low, None)

    def optional(self) -> Pattern:
        """The stage may take no event at all; if it takes any, its quantifier holds, as in
        FlinkCEP: times(2).optional() is zero or exactly two, never one."""
        if self._last.is_not:
            raise PatternError(f"{self._last.name}: a negative stage cannot be optional")
        self._last.optional = True
        return self._changed()

    def consecutive(self) -> Pattern:
        """Events taken by a looping stage must follow each other directly (a looping group:
        each repetition begins right after the previous one's last event)."""
        return self._loop(Contiguity.STRICT)

    def allow_combinations(self) -> Pattern:
        """A looping stage may skip matching events (every combination is a match)."""
        return self._loop(Contiguity.ANY)

    def _loop(self, contiguity: Contiguity) -> Pattern:
        if not self._last.loops:
            raise PatternError(f"{self._last.name}: only looping stages take this option")
        self._last.loop = contiguity
        return self._changed()

    def greedy(self) -> Pattern:
        """The looping stage takes as many events as it can: while an event satisfies its
        condition the partial match does not move on to the next stage with it."""
        stage = self._stage("greedy()")  # FlinkCEP: "Option not applicable to group pattern"
        if not stage.loops:
            raise PatternError(f"{stage.name}: greedy() needs a looping quantifier")
        stage.greedy = True
        return self._changed()

    def until(self, condition: Callable[[Event], bool]) -> Pattern:
        """Stop condition of a one_or_more/times_or_more stage: an event that satisfies it
        ends the loop (the stage takes no more events after it)."""
        return self.until_iterative(lambda event, _ctx: condition(event))

    def until_iterative(self, condition: Condition) -> Pattern:
        """`until` with a condition that also sees the events taken so far. On a looping
        group: no stage of the group takes or skips its event, nor moves on to another stage
        of the group with it; the group may still end there (FlinkCEP's NFACompiler)."""
        element = self._last
        if element.max_count is not None:
            raise PatternError(f"{element.name}: until() needs one_or_more/times_or_more")
        previous = element.until
        element.until = (
            condition if previous is None else lambda e, c: previous(e, c) or condition(e, c)
        )
        return self._changed()

    def within(
        self, duration_ms: int, within_type: WithinType = WithinType.FIRST_AND_LAST
    ) -> Pattern:
        """FIRST_AND_LAST: first and last event of a match lie less than `duration_ms` apart
        (several calls: the smallest wins, as in FlinkCEP). PREVIOUS_AND_CURRENT: the event
        this stage takes lies less than `duration_ms` after the event taken before it."""
        if duration_ms <= 0:
            raise PatternError("within() needs a positive duration")
        if within_type is WithinType.PREVIOUS_AND_CURRENT:
            stage = self._stage("within(PREVIOUS_AND_CURRENT)")
            if stage.kind is StageKind.NOT_NEXT:
                raise PatternError(f"{stage.name}: not_next takes no within")
            stage.window_ms = duration_ms
        else:
            self.window_ms = min(duration_ms, self.window_ms or duration_ms)
        return self._changed()

    def skip(self, strategy: SkipStrategy) -> Pattern:
        self.skip_strategy = strategy
        return self._changed()

    @property
    def stages(self) -> list[Stage]:
        """The stages the matcher runs: the elements with every group flattened into copies
        of its stages, one per repetition (FlinkCEP's compiler does the same); an unbounded
        group's last copy loops back to its own first stage. Without groups: the stages as
        declared, in order (no copies: they are what the builder made)."""
        if not self.has_groups:
            return cast(list[Stage], list(self.elements))
        return _Flattener().run(self.elements)

    def plan(self) -> Plan:
        """The validated pattern as the matcher runs it, cached until the pattern (or a
        group's pattern) changes: a Matcher is made per event."""
        versions = self._versions()
        if self._plan is None or self._plan[0] != versions:
            self._plan = (versions, Plan.of(self.validate()))
        return self._plan[1]

    @property
    def smallest_window_ms(self) -> int | None:
        """`within` of this pattern and of the patterns of its groups: the smallest wins."""
        if not self.has_groups:
            return self.window_ms
        windows = [self.window_ms] + [
            element.body.smallest_window_ms
            for element in self.elements
            if isinstance(element, Group)
        ]
        return min((w for w in windows if w is not None), default=None)

    def validate(self) -> Pattern:
        """Reject the shapes FlinkCEP rejects (see docs/cep.md)."""
        _check_sequence(self.elements, outer=True)
        last = self._last
        window = self.smallest_window_ms
        if last.kind is StageKind.NOT_FOLLOWED_BY and not (window or last.window_ms):
            raise PatternError("a pattern can end with not_followed_by only with within()")
        if not any(_mandatory(element) for element in self.elements):
            raise PatternError("a pattern needs at least one mandatory stage")
        if self.skip_strategy.stage is not None and self.skip_strategy.stage not in _names(
            self.elements
        ):
            raise PatternError(f"skip strategy names unknown stage {self.skip_strategy.stage}")
        if self.has_groups:
            names = _names(self.elements)  # a group's pattern may have grown since it was added
            for name in {n for n in names if names.count(n) > 1}:
                raise PatternError(f"stage name {name!r} used twice")
            _check_groups(self.elements)
        return self


@dataclass(frozen=True)
class Plan:
    """What the matcher needs of a pattern, computed once: the flat stages, where each goes on
    to (`succ`, len(stages) = the end), their names, the window, the not_followed_by stage
    that guards each stage's later events, and the kind of a trailing negative stage."""

    stages: list[Stage]
    succ: list[int]
    names: list[str]
    window_ms: int | None
    follow_guard: dict[int, int]
    trailing: StageKind | None
    branches: bool  # groups: a run's moves branch (exits, loops)

    @classmethod
    def of(cls, pattern: Pattern) -> Plan:
        stages = pattern.stages
        end = len(stages)
        succ = [i + 1 if s.succ is None else s.succ for i, s in enumerate(stages)]
        return cls(
            stages=stages,
            succ=succ,
            names=[stage.name for stage in stages],
            window_ms=pattern.smallest_window_ms,
            follow_guard={
                i: n
                for i, n in enumerate(succ)
                if n < end and stages[n].kind is StageKind.NOT_FOLLOWED_BY
            },
            trailing=stages[-1].kind if stages[-1].is_not else None,
            branches=pattern.has_groups,
        )


def _element(name: str | Pattern, entry: Contiguity, kind: StageKind = StageKind.NORMAL) -> Element:
    if isinstance(name, Pattern):
        return Group(name, entry)
    return Stage(name, entry, kind)


def _check_sequence(elements: list[Element], outer: bool) -> None:
    """Rules for one sequence of elements: the whole pattern's or a group's."""
    where = "a pattern" if outer else "a group"
    if elements[0].is_not:
        raise PatternError(f"{where} cannot begin with a negative stage")
    for before, element in pairwise(elements):
        if element.is_not and before.is_not:
            raise PatternError(f"{element.name}: two negative stages in a row")
        if element.is_not and before.optional:
            raise PatternError(f"{element.name}: a negative stage cannot follow an optional one")
    normal = [element for element in elements if not element.is_not]
    if outer and isinstance(normal[-1], Stage) and normal[-1].greedy:
        raise PatternError(f"{normal[-1].name}: the last stage cannot be greedy")


def _check_groups(elements: list[Element]) -> None:
    """What group patterns support here (docs/cep.md, "Where it differs")."""
    for i, element in enumerate(elements):
        later = elements[i + 1 :]
        if isinstance(element, Stage):
            if element.window_ms is not None:
                raise PatternError(
                    f"{element.name}: within(PREVIOUS_AND_CURRENT) in a pattern with groups"
                )
            if element.greedy:
                for after in later:
                    if isinstance(after, Group):
                        raise PatternError(f"{element.name}: a greedy stage before a group")
                    if _mandatory(after):
                        break
            continue
        body = element.body.elements
        _check_sequence(body, outer=False)
        if body[-1].is_not:
            raise PatternError(f"{element.name}: a group cannot end with a negative stage")
        if not any(_mandatory(inner) for inner in body):
            raise PatternError(f"{element.name}: a group needs a mandatory stage")
        if any(isinstance(inner, Stage) and inner.greedy for inner in body):
            raise PatternError(f"{element.name}: greedy stages in a group are not supported")
        if element.until is not None and any(isinstance(inner, Group) for inner in body):
            raise PatternError(f"{element.name}: until() on a group that holds a group")
        once = element.min_count == element.max_count == 1 and not element.optional
        last = body[-1]
        if (
            later
            and later[0].is_not
            and not (once and _mandatory(last) and isinstance(last, Stage))
        ):
            raise PatternError(
                f"{later[0].name}: a negative stage may follow only a group taken once that"
                " ends in a mandatory stage"
            )
        _check_groups(body)


class _Flattener:
    """Turns elements into flat stages. A group's repetitions are copies of its stages: the
    first copy attaches to what comes before by the group's contiguity, later ones by its loop
    contiguity; a copy past the group's minimum (and the first copy of an optional group) may
    be jumped over to the stage after the group; an unbounded group ends in a copy whose last
    stage goes back to its own first stage."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []
        self.succ: list[int | None] = []
        self.exits: list[list[int]] = []
        self.repeat: list[bool] = []

    def run(self, elements: list[Element]) -> list[Stage]:
        self._point(self._sequence(elements, None), len(self.stages))
        return [
            replace(stage, succ=succ, exits=tuple(exits), repeat_head=repeat)
            for stage, succ, exits, repeat in zip(
                self.stages, self.succ, self.exits, self.repeat, strict=True
            )
        ]

    def _point(self, loose: list[tuple[int, bool]], target: int) -> None:
        """Point the loose ends (stage, is an exit) at `target`."""
        for index, is_exit in loose:
            if is_exit:
                self.exits[index].append(target)
            else:
                self.succ[index] = target

    def _sequence(
        self, elements: list[Element], entry: Contiguity | None, until: Condition | None = None
    ) -> list[tuple[int, bool]]:
        """Append a sequence; returns its loose ends (to point at what follows it)."""
        loose: list[tuple[int, bool]] = []
        for i, element in enumerate(elements):
            self._point(loose, len(self.stages))
            first = entry if i == 0 and entry is not None else element.entry
            if isinstance(element, Stage):
                self.stages.append(replace(element, entry=first, group_until=until))
                self.succ.append(None)
                self.exits.append([])
                self.repeat.append(False)
                loose = [(len(self.stages) - 1, False)]
            else:
                loose = self._group(element, first)
        return loose

    def _group(self, group: Group, entry: Contiguity) -> list[tuple[int, bool]]:
        out: list[tuple[int, bool]] = []
        loose: list[tuple[int, bool]] = []
        copies = max(group.min_count, 1) if group.max_count is None else group.max_count
        for copy in range(1, copies + 1):
            self._point(loose, len(self.stages))
            head = len(self.stages)
            loose = self._sequence(
                group.body.elements, entry if copy == 1 else group.loop, group.until
            )
            if copy > 1:
                self.repeat[head] = True
            if (copy == 1 and group.optional) or copy > group.min_count:
                out.append((head, True))
        if group.max_count is None:  # the looping copy
            self._point(loose, len(self.stages))
            head = len(self.stages)
            self._point(self._sequence(group.body.elements, group.loop, group.until), head)
            self.repeat[head] = True
            out.append((head, True))
            return out
        return out + loose
