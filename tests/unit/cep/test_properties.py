"""Property tests: the NFA against the brute-force reference (tests/unit/cep/reference.py) over
random small patterns and short event streams, skip strategies and windows included, and
over random group patterns (groups of up to two elements, nested up to two deep)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.unit.cep.reference import Reference
from udfs.cep import pattern as cep
from udfs.cep.nfa import Matcher
from udfs.cep.pattern import Event, Pattern, PatternError, WithinType

LETTERS = "abc"
letters = st.sets(st.sampled_from(LETTERS), min_size=1, max_size=2).map(
    lambda s: "".join(sorted(s))
)


def has(letters: str) -> Callable[[Event], bool]:
    return lambda event: event["n"] in letters


@st.composite
def stage_specs(draw: st.DrawFn, first: bool, grouped: bool = False) -> dict[str, Any]:
    """One stage's plan; `grouped`: for a pattern with groups (fewer optional and negative
    stages, and no greedy stages or per-stage windows, which are not offered with groups)."""
    quantifier = draw(st.sampled_from(["one", "times", "range", "one_or_more", "times_or_more"]))
    nots = [None] * (4 if grouped else 2) + ["not_next", "not_followed_by"]
    return {
        "cond": draw(letters),
        "entry": None
        if first
        else draw(st.sampled_from(["next", "followed_by", "followed_by_any"])),
        "quantifier": quantifier,
        "n": draw(st.integers(1, 2)),
        "optional": draw(st.integers(0, 3)) == 0 if grouped else draw(st.booleans()),
        "loop": draw(st.sampled_from([None, "consecutive", "allow_combinations"])),
        "greedy": not grouped and draw(st.integers(0, 3)) == 0,
        "until": draw(st.none() | letters)
        if quantifier in ("one_or_more", "times_or_more")
        else None,
        "not": None if first else draw(st.sampled_from(nots)),
        "not_cond": draw(letters),
        "gap_ms": None if grouped else draw(st.none() | st.integers(1, 4)),
    }


class Drawn(Pattern):
    """A drawn pattern that shows how it was built when hypothesis reports it."""

    text = ""

    def __repr__(self) -> str:
        return self.text


def skip_strategy(kind: str, target: str) -> cep.SkipStrategy:
    return {
        "no": cep.no_skip(),
        "next": cep.skip_to_next(),
        "past": cep.skip_past_last_event(),
        "first": cep.skip_to_first(target),
        "last": cep.skip_to_last(target),
    }[kind]


def within_and_validate(draw: st.DrawFn, pattern: Pattern) -> None:
    """Maybe a window on the whole pattern; then FlinkCEP's checks (PatternError)."""
    if draw(st.booleans()):
        pattern.within(draw(st.integers(1, 6)) * 1000)
    pattern.validate()


@st.composite
def patterns(draw: st.DrawFn) -> Drawn:
    specs = [draw(stage_specs(first=i == 0)) for i in range(draw(st.integers(1, 3)))]
    skip = draw(st.sampled_from(["no", "next", "past", "first", "last"]))
    names = [f"s{i}" for i in range(len(specs))]
    target = draw(st.sampled_from(names))
    pattern = Drawn.begin(names[0], skip_strategy(skip, target))
    try:
        for i, spec in enumerate(specs):
            if i:
                if spec["not"]:
                    getattr(pattern, spec["not"])(f"n{i}").where(has(spec["not_cond"]))
                getattr(pattern, spec["entry"])(names[i])
            build(pattern, spec)
        trailing = draw(st.sampled_from([None, None, "not_next", "not_followed_by"]))
        if trailing:
            getattr(pattern, trailing)("end").where(has(draw(letters)))
            if trailing == "not_followed_by" and draw(st.booleans()):
                pattern.within(draw(st.integers(1, 4)) * 1000, WithinType.PREVIOUS_AND_CURRENT)
        within_and_validate(draw, pattern)
    except PatternError:
        assume(False)
    pattern.text = f"{skip}[{target}] {specs} trailing={trailing} within={pattern.window_ms}"
    return pattern


def build(pattern: Pattern, spec: dict[str, Any]) -> None:
    pattern.where(has(spec["cond"]))
    quantify(pattern, spec)


def quantify(pattern: Pattern, spec: dict[str, Any]) -> None:
    """The drawn quantifier and options, on the current stage or group."""
    quantifiers: dict[str, Callable[[], Pattern]] = {
        "one": lambda: pattern,
        "times": lambda: pattern.times(spec["n"]),
        "range": lambda: pattern.times(spec["n"], spec["n"] + 1),
        "one_or_more": pattern.one_or_more,
        "times_or_more": lambda: pattern.times_or_more(spec["n"]),
    }
    quantifiers[spec["quantifier"]]()
    if spec["optional"]:
        pattern.optional()
    if spec["loop"]:
        getattr(pattern, spec["loop"])()
    if spec["greedy"]:
        pattern.greedy()
    if spec["until"]:
        pattern.until(has(spec["until"]))
    if spec["gap_ms"]:
        pattern.within(spec["gap_ms"] * 1000, WithinType.PREVIOUS_AND_CURRENT)


events = st.lists(
    st.tuples(st.sampled_from(LETTERS), st.integers(0, 2)), min_size=1, max_size=6
).map(
    lambda pairs: [
        ({"n": letter}, 1000 * sum(step for _, step in pairs[: i + 1]))
        for i, (letter, _) in enumerate(pairs)
    ]
)


def nfa_matches(pattern: Pattern, stream: list[tuple[Event, int]]) -> list[tuple[int, ...]]:
    matcher = Matcher(pattern)
    out = []
    for event, ts in stream:
        out += [m.seqs for m in matcher.process(event, ts).matches]
    out += [m.seqs for m in matcher.advance(10**12).matches]
    return out


def examples(count: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )


@st.composite
def element_plans(draw: st.DrawFn, depth: int, first: bool, group: bool) -> dict[str, Any]:
    """A stage or a group of one or two elements (a group in a group at most), with its
    quantifier (`until` only on a group that holds no group: not offered otherwise)."""
    spec = draw(stage_specs(first, grouped=True))
    if group:
        size = draw(st.integers(1, 2))
        nested = depth < 1 and draw(st.integers(0, 2)) == 0
        if nested:
            spec["until"] = None
        spec["group"] = [
            draw(element_plans(depth + 1, first=i == 0, group=nested and i == size - 1))
            for i in range(size)
        ]
    return spec


def assemble(plans: list[dict[str, Any]], names: list[str], skip: cep.SkipStrategy) -> Drawn:
    """Build the pattern of a list of element plans; stage names s0, s1, ... in order."""
    pattern: Drawn | None = None
    for plan in plans:
        if pattern is not None and plan["not"]:
            names.append(f"s{len(names)}")
            getattr(pattern, plan["not"])(names[-1]).where(has(plan["not_cond"]))
        if "group" in plan:
            item: str | Pattern = assemble(plan["group"], names, cep.no_skip())
        else:
            names.append(f"s{len(names)}")
            item = names[-1]
        pattern = (
            Drawn.begin(item, skip) if pattern is None else getattr(pattern, plan["entry"])(item)
        )
        if "group" not in plan:
            pattern.where(has(plan["cond"]))
        quantify(pattern, plan)
    assert pattern is not None
    return pattern


@st.composite
def group_patterns(draw: st.DrawFn) -> Drawn:
    size = draw(st.integers(1, 3))
    grouped = draw(st.integers(0, size - 1))
    plans = [draw(element_plans(0, first=i == 0, group=i == grouped)) for i in range(size)]
    skip = draw(st.sampled_from(["no", "next", "past", "first", "last"]))
    names: list[str] = []
    try:
        pattern = assemble(plans, names, cep.no_skip())
        target = draw(st.sampled_from([n for n in names if not pattern_has_not(pattern, n)]))
        pattern.skip(skip_strategy(skip, target))
        within_and_validate(draw, pattern)
    except PatternError:
        assume(False)
    pattern.text = f"{skip}[{target}] {plans} within={pattern.window_ms}"
    return pattern


def pattern_has_not(pattern: Pattern, name: str) -> bool:
    return any(stage.name == name and stage.is_not for stage in pattern.stages)


@pytest.mark.parametrize("drawn", [patterns(), group_patterns()], ids=["stages", "groups"])
@examples(200)
@given(stream=events, data=st.data())
def test_nfa_equals_brute_force_reference(
    drawn: st.SearchStrategy[Drawn], stream: list[tuple[Event, int]], data: st.DataObject
) -> None:
    """Same matches, in the same emission order (which the skip strategies depend on). For
    groups the reference unrolls each group into copies of its stages; the NFA loops."""
    pattern = data.draw(drawn)
    expected = [m.seqs for m in Reference(pattern, stream).matches()]
    assert nfa_matches(pattern, stream) == expected
