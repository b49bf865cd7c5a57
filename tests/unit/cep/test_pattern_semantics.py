"""Pattern semantics, table-driven; expected matches follow FlinkCEP's documentation examples."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.cep.helpers import feed, named
from udfs.cep.pattern import (
    Pattern,
    PatternError,
    WithinType,
    no_skip,
    skip_past_last_event,
    skip_to_first,
    skip_to_last,
    skip_to_next,
)

P = Pattern.begin


def c_a_plus_b(modifier: Callable[[Pattern], Pattern]) -> Pattern:
    """FlinkCEP docs: begin(c).followedBy(a).oneOrMore()[.modifier].followedBy(b)."""
    pattern = P("start").where(named("c")).followed_by("middle").where(named("a")).one_or_more()
    return modifier(pattern).followed_by("end").where(named("b"))


CONTIGUITY = [
    # FlinkCEP docs, "a b" over "a c b1 b2"
    ("next", P("x").where(named("a")).next("y").where(named("b")), "a c b1 b2", []),
    (
        "followed_by",
        P("x").where(named("a")).followed_by("y").where(named("b")),
        "a c b1 b2",
        ["a b1"],
    ),
    (
        "followed_by_any",
        P("x").where(named("a")).followed_by_any("y").where(named("b")),
        "a c b1 b2",
        ["a b1", "a b2"],
    ),
    ("next adjacent", P("x").where(named("a")).next("y").where(named("b")), "a b1 b2", ["a b1"]),
]

QUANTIFIERS = [
    ("times(2)", P("x").where(named("a")).times(2), "a1 b a2 a3", ["a1 a2", "a2 a3"]),
    (
        "times(2,3)",
        P("x").where(named("a")).times(2, 3),
        "a1 a2 a3",
        ["a1 a2", "a1 a2 a3", "a2 a3"],
    ),
    ("one_or_more", P("x").where(named("a")).one_or_more(), "a1 a2", ["a1", "a1 a2", "a2"]),
    (
        "times_or_more(2)",
        P("x").where(named("a")).times_or_more(2),
        "a1 a2 a3",
        ["a1 a2", "a1 a2 a3", "a2 a3"],
    ),
    (
        "optional taken",
        P("x")
        .where(named("a"))
        .followed_by("y")
        .where(named("b"))
        .optional()
        .followed_by("z")
        .where(named("c")),
        "a b c",
        ["a b c", "a c"],
    ),
    (
        "optional absent",
        P("x")
        .where(named("a"))
        .followed_by("y")
        .where(named("b"))
        .optional()
        .followed_by("z")
        .where(named("c")),
        "a d c",
        ["a c"],
    ),
    # FlinkCEP: times(2).optional() means zero or exactly two, never one
    (
        "times(2).optional: one taken is not enough",
        P("x").where(named("a")).times(2).optional().followed_by("y").where(named("b")),
        "a1 b",
        ["b"],
    ),
    (
        "times(2).optional: zero or two",
        P("x").where(named("a")).times(2).optional().followed_by("y").where(named("b")),
        "a1 a2 b",
        ["a1 a2 b", "b"],
    ),
    (
        "times(2).consecutive",
        P("x").where(named("a")).times(2).consecutive(),
        "a1 b a2 a3",
        ["a2 a3"],
    ),
    # FlinkCEP docs, consecutive(): "C D A1 A2 A3 D A4 B"
    (
        "consecutive docs",
        c_a_plus_b(lambda p: p.consecutive()),
        "c d a1 a2 a3 d a4 b",
        ["c a1 b", "c a1 a2 b", "c a1 a2 a3 b"],
    ),
    (
        "relaxed loop docs",
        c_a_plus_b(lambda p: p),
        "c d a1 a2 a3 d a4 b",
        ["c a1 b", "c a1 a2 b", "c a1 a2 a3 b", "c a1 a2 a3 a4 b"],
    ),
    # FlinkCEP docs, allowCombinations()
    (
        "allow_combinations docs",
        c_a_plus_b(lambda p: p.allow_combinations()),
        "c d a1 a2 a3 d a4 b",
        [
            "c a1 b",
            "c a1 a2 b",
            "c a1 a2 a3 b",
            "c a1 a2 a3 a4 b",
            "c a1 a2 a4 b",
            "c a1 a3 b",
            "c a1 a3 a4 b",
            "c a1 a4 b",
        ],
    ),
]

NEGATION = [
    (
        "not_next ok",
        P("x").where(named("a")).not_next("n").where(named("b")).followed_by("y").where(named("c")),
        "a d c",
        ["a c"],
    ),
    (
        "not_next hit",
        P("x").where(named("a")).not_next("n").where(named("b")).followed_by("y").where(named("c")),
        "a b c",
        [],
    ),
    (
        "not_next later b is fine",
        P("x").where(named("a")).not_next("n").where(named("b")).followed_by("y").where(named("c")),
        "a d b c",
        ["a c"],
    ),
    (
        "not_followed_by ok",
        P("x")
        .where(named("a"))
        .not_followed_by("n")
        .where(named("b"))
        .followed_by("y")
        .where(named("c")),
        "a d c",
        ["a c"],
    ),
    (
        "not_followed_by hit",
        P("x")
        .where(named("a"))
        .not_followed_by("n")
        .where(named("b"))
        .followed_by("y")
        .where(named("c")),
        "a d b c",
        [],
    ),
    (
        "not_followed_by after c",
        P("x")
        .where(named("a"))
        .not_followed_by("n")
        .where(named("b"))
        .followed_by("y")
        .where(named("c")),
        "a c b",
        ["a c"],
    ),
]


def b_plus_c(strategy_name: str) -> Pattern:
    """FlinkCEP docs skip table: pattern `b+ c` over "b1 b2 b3 c"."""
    strategies = {
        "no_skip": no_skip(),
        "skip_to_next": skip_to_next(),
        "skip_past_last_event": skip_past_last_event(),
        "skip_to_first[b]": skip_to_first("b"),
        "skip_to_last[b]": skip_to_last("b"),
    }
    return (
        P("b", strategies[strategy_name])
        .where(named("b"))
        .one_or_more()
        .next("c")
        .where(named("c"))
    )


SKIPS = [
    ("no_skip", ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
    ("skip_to_next", ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
    ("skip_past_last_event", ["b1 b2 b3 c"]),
    ("skip_to_first[b]", ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
    ("skip_to_last[b]", ["b1 b2 b3 c", "b3 c"]),
]


@pytest.mark.parametrize(("name", "pattern", "events", "expected"), CONTIGUITY + NEGATION)
def test_contiguity_and_negation(name: str, pattern: Pattern, events: str, expected: list[str]):
    assert sorted(feed(pattern, events)) == sorted(expected), name


@pytest.mark.parametrize(("name", "pattern", "events", "expected"), QUANTIFIERS)
def test_quantifiers(name: str, pattern: Pattern, events: str, expected: list[str]) -> None:
    assert sorted(feed(pattern, events)) == sorted(expected), name


@pytest.mark.parametrize(("strategy", "expected"), SKIPS)
def test_skip_strategies_on_flink_docs_table(strategy: str, expected: list[str]) -> None:
    assert feed(b_plus_c(strategy), "b1 b2 b3 c") == expected


def test_skip_past_last_event_makes_runs_disjoint() -> None:
    pattern = P("x", skip_past_last_event()).where(named("a")).times(2)
    assert feed(pattern, "a1 a2 a3 a4 a5") == ["a1 a2", "a3 a4"]


def test_skip_to_next_drops_other_matches_from_same_start() -> None:
    pattern = P("x", skip_to_next()).where(named("a")).times(2, 3)
    assert feed(pattern, "a1 a2 a3") == ["a1 a2", "a2 a3"]


def test_iterative_condition_sees_taken_events() -> None:
    """Each next `a` must be larger than the sum of the ones taken so far."""
    pattern = (
        P("x")
        .where(named("a"))
        .where_iterative(
            lambda e, ctx: int(e["n"][1:]) > sum(int(p["n"][1:]) for p in ctx.events("x"))
        )
        .times(3)
        .consecutive()
    )
    assert feed(pattern, "a1 a2 a4 a5 a9") == ["a1 a2 a4"]


def test_within_bounds_the_span() -> None:
    pattern = P("x").where(named("a")).followed_by("y").where(named("b")).within(2500)
    # 1 s apart: a1@0 b@2 -> 2 s ok; a0@0 .. b@3 -> 3 s too long
    assert feed(pattern, "a1 x b1") == ["a1 b1"]
    assert feed(pattern, "a1 x x b1") == []


def test_or_where() -> None:
    pattern = P("x").where(named("a")).or_where(named("b"))
    assert feed(pattern, "a1 c b1") == ["a1", "b1"]


@pytest.mark.parametrize(
    "build",
    [
        lambda: P("x").not_next("n").where(named("b")).not_followed_by("m").followed_by("y"),
        lambda: P("x").optional().not_next("n").followed_by("y"),
        lambda: P("x").where(named("a")).one_or_more().greedy(),
        lambda: P("x").where(named("a")).times(1).greedy(),
        lambda: P("x").where(named("a")).times(2).until(named("b")),
        lambda: P("x").where(named("a")).not_next("n").within(10, WithinType.PREVIOUS_AND_CURRENT),
        lambda: P("x").where(named("a")).not_followed_by("n").where(named("b")).validate(),
        lambda: P("x").where(named("a")).followed_by("x"),
        lambda: P("x").where(named("a")).consecutive(),
        lambda: P("x").where(named("a")).optional().validate(),
        lambda: P("x").times(0),
        lambda: P("x", skip_to_first("nope")).validate(),
    ],
)
def test_unsupported_shapes_are_rejected(build: Callable[[], Pattern]) -> None:
    with pytest.raises(PatternError):
        build().validate()
