"""Group patterns (FlinkCEP's GroupPattern): scenarios ported from FlinkCEP's own
`flink-cep/src/test/java/org/apache/flink/cep/nfa/GroupITCase.java`, one test per Java test
(named in each docstring), expected matches copied from its `comparePatterns` lists."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.unit.cep.helpers import named
from tests.unit.cep.reference import Reference
from udfs.cep.nfa import Matcher
from udfs.cep.pattern import Event, Pattern, PatternError

P = Pattern.begin


def feed_in_order(pattern: Pattern, names: str, state_round_trip: bool = False) -> list[str]:
    """Each match as its events' names in time order (a group's events of every repetition
    are reported under the inner stages' names, so stage order is not time order). Checks
    on the way that the brute-force reference finds the same matches."""
    matcher = Matcher(pattern)
    seen = names.split()
    out: list[str] = []
    for i, name in enumerate(seen):
        if state_round_trip:  # what a restore from a checkpoint does, before every event
            matcher = Matcher(pattern, json.loads(json.dumps(matcher.state)))
        out += [" ".join(seen[s] for s in m.seqs) for m in matcher.process({"n": name}, i).matches]
    stream: list[tuple[Event, int]] = [({"n": name}, i) for i, name in enumerate(seen)]
    reference = [" ".join(seen[s] for s in m.seqs) for m in Reference(pattern, stream).matches()]
    assert sorted(reference) == sorted(out)
    return sorted(out)


def ab() -> Pattern:
    """The group used by most GroupITCase tests: (a followedBy b), stages middle1, middle2."""
    return P("middle1").where(named("a")).followed_by("middle2").where(named("b"))


def c_then(group_pattern: Pattern) -> Pattern:
    return P("start").where(named("c")).followed_by(group_pattern)


def end_d(pattern: Pattern) -> Pattern:
    return pattern.followed_by("end").where(named("d"))


C_AB_AB_D = "c a1 b1 a2 b2 d"
C_AB_AB_AB_D = "c a1 b1 a2 b2 a3 b3 d"


def test_group_followed_by_times() -> None:
    """testGroupFollowedByTimes: c (a b){2} d."""
    pattern = end_d(c_then(ab()).times(2))
    assert feed_in_order(pattern, C_AB_AB_D) == ["c a1 b1 a2 b2 d"]


def test_group_followed_by_optional() -> None:
    """testGroupFollowedByOptional: c (a b)? d over c a1 a2 b d."""
    pattern = end_d(c_then(ab()).optional())
    assert feed_in_order(pattern, "c a1 a2 b d") == sorted(["c d", "c a1 b d"])


def test_followed_by_group_times_optional() -> None:
    """testFollowedByGroupTimesOptional: c (a b){2}? d over c a d."""
    pattern = end_d(c_then(ab()).times(2).optional())
    assert feed_in_order(pattern, "c a d") == ["c d"]


def test_group_followed_by_one_or_more() -> None:
    """testGroupFollowedByOneOrMore: c (a b)+ d."""
    pattern = end_d(c_then(ab()).one_or_more())
    assert feed_in_order(pattern, C_AB_AB_D) == sorted(["c a1 b1 d", "c a1 b1 a2 b2 d"])


def test_group_followed_by_zero_or_more() -> None:
    """testGroupFollowedByZeroOrMore: c (a b)* d."""
    pattern = end_d(c_then(ab()).one_or_more().optional())
    assert feed_in_order(pattern, C_AB_AB_D) == sorted(["c d", "c a1 b1 d", "c a1 b1 a2 b2 d"])


def test_group_followed_by_one_or_more_with_until_condition() -> None:
    """testGroupFollowedByOneOrMoreWithUntilCondition: c (a b)+ until d, then d; afterwards
    no partial match is left (FlinkCEP: only its start state)."""
    pattern = end_d(c_then(ab()).one_or_more().until(named("d")))
    assert feed_in_order(pattern, C_AB_AB_D) == sorted(["c a1 b1 d", "c a1 b1 a2 b2 d"])
    matcher = Matcher(pattern)
    for i, name in enumerate(C_AB_AB_D.split()):
        matcher.process({"n": name}, i)
    assert matcher.idle


def test_group_until_stops_a_repetition_midway() -> None:
    """From NFACompiler (no GroupITCase case): the stages of a group with `until` neither take
    nor skip its event, so a repetition begun before it dies (a1 b1 a2 d b2 d2 has no
    a2 b2), while the group may still end at it."""
    pattern = end_d(c_then(ab()).one_or_more().until(named("d")))
    assert feed_in_order(pattern, "c a1 b1 a2 d1 b2 d2") == ["c a1 b1 d1"]


def c_any(group_pattern: Pattern) -> Pattern:
    return P("start").where(named("c")).followed_by_any(group_pattern)


def test_group_followed_by_any_times_combinations() -> None:
    """testGroupFollowedByAnyTimesCombinations: c any (a b){2}.allowCombinations() d."""
    pattern = end_d(c_any(ab()).times(2).allow_combinations())
    assert feed_in_order(pattern, C_AB_AB_AB_D) == sorted(
        ["c a1 b1 a2 b2 d", "c a1 b1 a3 b3 d", "c a2 b2 a3 b3 d"]
    )


def test_group_followed_by_any_times_optional() -> None:
    """testGroupFollowedByAnyTimesOptional: c any (a b){2}? d (relaxed between repetitions:
    no a1 b1 a3 b3)."""
    pattern = end_d(c_any(ab()).times(2).optional())
    assert feed_in_order(pattern, C_AB_AB_AB_D) == sorted(
        ["c d", "c a1 b1 a2 b2 d", "c a2 b2 a3 b3 d"]
    )


def test_group_followed_by_any_one_or_more() -> None:
    """testGroupFollowedByAnyOneOrMore: c any (a b)+ d."""
    pattern = end_d(c_any(ab()).one_or_more())
    assert feed_in_order(pattern, C_AB_AB_AB_D) == sorted(
        [
            "c a1 b1 d",
            "c a2 b2 d",
            "c a3 b3 d",
            "c a1 b1 a2 b2 d",
            "c a2 b2 a3 b3 d",
            "c a1 b1 a2 b2 a3 b3 d",
        ]
    )


def test_group_next_zero_or_more() -> None:
    """testGroupNextZeroOrMore: c next (a b)*.consecutive() d."""
    pattern = end_d(P("start").where(named("c")).next(ab()).one_or_more().optional().consecutive())
    assert feed_in_order(pattern, C_AB_AB_AB_D) == sorted(
        ["c d", "c a1 b1 d", "c a1 b1 a2 b2 d", "c a1 b1 a2 b2 a3 b3 d"]
    )


def test_group_not_followed_by() -> None:
    """testGroupNotFollowedBy: c any (a b) notFollowedBy d, followedBy e."""
    pattern = c_any(ab()).not_followed_by("not").where(named("d"))
    pattern = pattern.followed_by("end").where(named("e"))
    assert feed_in_order(pattern, "c a1 b1 d a2 b2 e") == ["c a2 b2 e"]


def test_group_not_next() -> None:
    """testGroupNotNext: c any (a b) notNext d, followedBy e."""
    pattern = c_any(ab()).not_next("not").where(named("d"))
    pattern = pattern.followed_by("end").where(named("e"))
    assert feed_in_order(pattern, "c a1 b1 d a2 b2 e") == ["c a2 b2 e"]


def bc() -> Pattern:
    return P("middle2").where(named("b")).followed_by("middle3").where(named("c"))


def test_group_nest() -> None:
    """testGroupNest: d (a (b c)*)? e."""
    inner = P("middle1").where(named("a")).followed_by(bc()).one_or_more().optional()
    pattern = P("start").where(named("d")).followed_by(inner).optional()
    pattern = pattern.followed_by("end").where(named("e"))
    assert feed_in_order(pattern, "d a1 b1 c1 b2 c2 e") == sorted(
        ["d e", "d a1 e", "d a1 b1 c1 e", "d a1 b1 c1 b2 c2 e"]
    )


NEST_EVENTS = "d a1 b1 c1 b2 c2 b3 c3 a2 b4 c4 b5 c5 b6 c6 e"


def nest_times(consecutive: bool) -> Pattern:
    inner = P("middle1").where(named("a")).followed_by(bc()).times(3)
    if consecutive:
        inner.consecutive()
    pattern = P("start").where(named("d")).followed_by_any(inner).times(0, 2)
    if consecutive:
        pattern.consecutive()
    return pattern.followed_by("end").where(named("e"))


def test_group_nest_times() -> None:
    """testGroupNestTimes: d any (a (b c){3}){0,2} e."""
    assert feed_in_order(nest_times(False), NEST_EVENTS) == sorted(
        [
            "d e",
            "d a1 b1 c1 b2 c2 b3 c3 e",
            "d a2 b4 c4 b5 c5 b6 c6 e",
            "d a1 b1 c1 b2 c2 b3 c3 a2 b4 c4 b5 c5 b6 c6 e",
        ]
    )


def test_group_nest_times_consecutive() -> None:
    """testGroupNestTimesConsecutive: the same, both groups consecutive, and an event that
    breaks the second a's (b c) run."""
    events = NEST_EVENTS.replace("c4 b5", "c4 x b5")
    assert feed_in_order(nest_times(True), events) == sorted(["d e", "d a1 b1 c1 b2 c2 b3 c3 e"])


def test_group_begin() -> None:
    """testGroupBegin: (a b){1,2} d."""
    pattern = end_d(P(ab()).times(1, 2))
    assert feed_in_order(pattern, "a1 b1 a2 b2 d") == sorted(
        ["a1 b1 d", "a2 b2 d", "a1 b1 a2 b2 d"]
    )


def test_group_starts_with_optional_pattern() -> None:
    """testGroupStartsWithOptionalPattern: a next (b? next c) next d over a c d."""
    inner = P("middle1").where(named("b")).optional().next("middle2").where(named("c"))
    pattern = P("start").where(named("a")).next(inner).next("d").where(named("d"))
    assert feed_in_order(pattern, "a c d") == ["a c d"]


def test_followed_by_optional_group_pattern() -> None:
    """testFollowedByOptionalGroupPattern: a followedBy (b next c)? next d over a d1 d2."""
    inner = P("middle1").where(named("b")).next("middle2").where(named("c"))
    pattern = P("start").where(named("a")).followed_by(inner).optional()
    pattern = pattern.next("d").where(named("d"))
    assert feed_in_order(pattern, "a d1 d2") == ["a d1"]


def test_events_are_keyed_by_the_inner_stage_names() -> None:
    """As FlinkCEP: the match map has one entry per inner stage, with every repetition's
    events in order; there is no entry for the group itself."""
    pattern = end_d(c_then(ab()).times(2))
    matcher = Matcher(pattern)
    found = []
    for i, name in enumerate(C_AB_AB_D.split()):
        found += matcher.process({"n": name}, i).matches
    (match,) = found
    assert {k: [e["n"] for e in v] for k, v in match.events.items()} == {
        "start": ["c"],
        "middle1": ["a1", "a2"],
        "middle2": ["b1", "b2"],
        "end": ["d"],
    }


def test_group_state_survives_json_round_trips() -> None:
    """Runs inside (nested, looping) groups are plain JSON like the rest: restoring before
    every event gives the same matches."""
    inner = P("middle1").where(named("a")).followed_by(bc()).one_or_more().optional()
    pattern = P("start").where(named("d")).followed_by(inner).one_or_more()
    pattern = pattern.followed_by("end").where(named("e"))
    events = "d a1 b1 c1 b2 c2 a2 e"
    assert feed_in_order(pattern, events, state_round_trip=True) == feed_in_order(pattern, events)
    assert "d a1 b1 c1 b2 c2 a2 e" in feed_in_order(pattern, events)


def reuse_after_adding() -> Pattern:
    pair = ab()
    pattern = c_then(pair)
    pair.followed_by("start")
    return pattern


@pytest.mark.parametrize(
    "build",
    [
        lambda: c_then(ab()).greedy(),  # FlinkCEP: "Option not applicable to group pattern"
        lambda: c_then(ab()).where(named("a")),  # FlinkCEP: no where clause on a group
        lambda: c_then(ab()).times(2).until(named("d")),  # until needs a looping group
        lambda: c_then(P("x").followed_by(ab())).one_or_more().until(named("d")),  # not here
        lambda: end_d(c_then(ab()).times(2)).followed_by(P("middle1")),  # a name used twice
        lambda: reuse_after_adding(),  # the same, the group's pattern grown after it was added
        lambda: c_then(P("x").where(named("a")).not_next("n")),  # a group ending negative
        lambda: c_then(ab()).one_or_more().not_followed_by("n").followed_by("e"),
        lambda: c_then(P("x").where(named("a")).one_or_more().greedy()).followed_by("e"),
        lambda: c_then(P("x").optional()).followed_by("e"),  # a group with nothing mandatory
        lambda: c_then(ab()).consecutive(),  # consecutive needs a looping group
    ],
)
def test_unsupported_group_shapes_are_rejected(build: Callable[[], Pattern]) -> None:
    with pytest.raises(PatternError):
        build().validate()


def test_a_repetition_that_ignored_an_event_may_still_end_the_group() -> None:
    """Not from GroupITCase but from NFACompiler.createLoopingGroupPatternState: the first
    state of a group's looping copy ignores into itself and keeps its proceed edge, so after
    c a1 b1 the partial match skips d1 there and a2 at `end`, and still takes d2. A looping
    stage's ignore state has no proceed edge, so `c a+ d` gives no such match."""
    group = end_d(c_then(ab()).one_or_more())
    assert feed_in_order(group, "c a1 b1 d1 a2 d2") == sorted(["c a1 b1 d1", "c a1 b1 d2"])
    stage = P("start").where(named("c")).followed_by("middle1").where(named("a")).one_or_more()
    assert feed_in_order(end_d(stage), "c a1 d1 a2 d2") == sorted(["c a1 d1", "c a1 a2 d2"])


def test_partial_group_matches_time_out_by_inner_names() -> None:
    """A run inside a group times out like any other; its events are reported by the inner
    stages' names. A `within` given to the group's own pattern counts too (the smallest wins,
    as FlinkCEP's compiler takes the minimum over every pattern it compiles)."""
    pattern = end_d(c_then(ab().within(3)).times(2))
    matcher = Matcher(pattern)
    for i, name in enumerate(["c", "a1", "b1"]):
        assert not matcher.process({"n": name}, i).matches
    assert matcher.next_deadline_ms() == 3
    (timeout,) = matcher.advance(3).timeouts
    assert {k: [e["n"] for e in v] for k, v in timeout.events.items()} == {
        "start": ["c"],
        "middle1": ["a1"],
        "middle2": ["b1"],
    }
    assert matcher.idle


def test_flattened_stages_follow_changes_to_the_pattern() -> None:
    """`Pattern.stages` is cached (a Matcher is made per event); a change to the pattern or
    to a group's pattern after a Matcher was made shows in the next one."""
    pair = ab()
    pattern = end_d(c_then(pair).times(2))
    assert feed_in_order(pattern, "c a1 b1 a2 b2 d") == ["c a1 b1 a2 b2 d"]
    pair.followed_by("middle3").where(named("x"))
    assert feed_in_order(pattern, "c a1 b1 a2 b2 d") == []
    assert feed_in_order(pattern, "c a1 b1 x1 a2 b2 x2 d") == ["c a1 b1 x1 a2 b2 x2 d"]
    pattern.within(3)
    assert feed_in_order(pattern, "c a1 b1 x1 a2 b2 x2 d") == []
