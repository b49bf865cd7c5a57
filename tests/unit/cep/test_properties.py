"""Property tests: the NFA against the brute-force reference (tests/unit/cep/reference.py) over
random small patterns and short event streams, skip strategies and windows included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
def stage_specs(draw: st.DrawFn, first: bool) -> dict[str, Any]:
    quantifier = draw(st.sampled_from(["one", "times", "range", "one_or_more", "times_or_more"]))
    return {
        "cond": draw(letters),
        "entry": None
        if first
        else draw(st.sampled_from(["next", "followed_by", "followed_by_any"])),
        "quantifier": quantifier,
        "n": draw(st.integers(1, 2)),
        "optional": draw(st.booleans()),
        "loop": draw(st.sampled_from([None, "consecutive", "allow_combinations"])),
        "greedy": draw(st.integers(0, 3)) == 0,
        "until": draw(st.none() | letters)
        if quantifier in ("one_or_more", "times_or_more")
        else None,
        "not": None
        if first
        else draw(st.sampled_from([None, None, "not_next", "not_followed_by"])),
        "not_cond": draw(letters),
        "gap_ms": draw(st.none() | st.integers(1, 4)),
    }


class Drawn(Pattern):
    """A drawn pattern that shows how it was built when hypothesis reports it."""

    text = ""

    def __repr__(self) -> str:
        return self.text


@st.composite
def patterns(draw: st.DrawFn) -> Drawn:
    specs = [draw(stage_specs(first=i == 0)) for i in range(draw(st.integers(1, 3)))]
    skip = draw(st.sampled_from(["no", "next", "past", "first", "last"]))
    names = [f"s{i}" for i in range(len(specs))]
    target = draw(st.sampled_from(names))
    strategy = {
        "no": cep.no_skip(),
        "next": cep.skip_to_next(),
        "past": cep.skip_past_last_event(),
        "first": cep.skip_to_first(target),
        "last": cep.skip_to_last(target),
    }[skip]
    pattern = Drawn.begin(names[0], strategy)
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
        if draw(st.booleans()):
            pattern.within(draw(st.integers(1, 6)) * 1000)
        pattern.validate()
    except PatternError:
        assume(False)
    pattern.text = f"{skip}[{target}] {specs} trailing={trailing} within={pattern.window_ms}"
    return pattern


def build(pattern: Pattern, spec: dict[str, Any]) -> None:
    pattern.where(has(spec["cond"]))
    quantify: dict[str, Callable[[], Pattern]] = {
        "one": lambda: pattern,
        "times": lambda: pattern.times(spec["n"]),
        "range": lambda: pattern.times(spec["n"], spec["n"] + 1),
        "one_or_more": pattern.one_or_more,
        "times_or_more": lambda: pattern.times_or_more(spec["n"]),
    }
    quantify[spec["quantifier"]]()
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


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(pattern=patterns(), stream=events)
def test_nfa_equals_brute_force_reference(
    pattern: Pattern, stream: list[tuple[Event, int]]
) -> None:
    """Same matches, in the same emission order (which the skip strategies depend on)."""
    expected = [m.seqs for m in Reference(pattern, stream).matches()]
    assert nfa_matches(pattern, stream) == expected
