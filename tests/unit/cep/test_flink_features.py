"""FlinkCEP features beyond the basic tables: examples from FlinkCEP's documentation and the
behaviour its own tests pin down (greedy, until, trailing nots, per-stage within, timeouts)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.unit.cep.helpers import feed, named, render
from udfs.cep.nfa import Matcher
from udfs.cep.pattern import Event, Pattern, WithinType, no_skip, skip_to_first, skip_to_next

P = Pattern.begin


def one_of(letters: str) -> Callable[[Event], bool]:
    return lambda event: str(event["n"])[0] in letters


def run(pattern: Pattern, names: str, flush: bool = True) -> list[tuple[str, str]]:
    """(event at which it was emitted, match), events 1 s apart; `end` = the final flush."""
    matcher = Matcher(pattern)
    out: list[tuple[str, str]] = []
    for i, name in enumerate(names.split()):
        out += [(name, render(m.events)) for m in matcher.process({"n": name}, i * 1000).matches]
    if flush:
        out += [("end", render(m.events)) for m in matcher.advance(10**9).matches]
    return out


def test_until_docs_example() -> None:
    """Docs: (a+ until b) over a1 c a2 b a3 gives {a1 a2} {a1} {a2} {a3}."""
    pattern = P("x").where(named("a")).one_or_more().until(named("b"))
    assert sorted(feed(pattern, "a1 c a2 b a3")) == ["a1", "a1 a2", "a2", "a3"]


def test_until_applies_to_the_first_event_too() -> None:
    """FlinkCEP's take condition is `condition and not until` from the first event on."""
    assert feed(c_a_star_d(until="aX"), "c aX a1 a2 d") == ["c d"]


def greedy_docs(skip: Event | None = None) -> Pattern:
    """Docs: (a | b | c) (b | c) c+.greedy d."""
    return (
        P("s1", skip_to_first("c") if skip else no_skip())
        .where(one_of("abc"))
        .followed_by("s2")
        .where(one_of("bc"))
        .followed_by("c")
        .where(named("c"))
        .one_or_more()
        .greedy()
        .followed_by("d")
        .where(named("d"))
    )


def test_greedy_docs_example_no_skip() -> None:
    assert feed(greedy_docs(), "a b c1 c2 c3 d") == ["a b c1 c2 c3 d", "b c1 c2 c3 d", "c1 c2 c3 d"]


def test_greedy_docs_example_skip_to_first() -> None:
    assert feed(greedy_docs({"skip": 1}), "a b c1 c2 c3 d") == ["a b c1 c2 c3 d", "c1 c2 c3 d"]


def c_a_star_d(until: str | None = None, optional_d: bool = False) -> Pattern:
    """c a* d with a greedy a* (FlinkCEP's GreedyITCase); then e if `optional_d`."""
    pattern = P("c").where(named("c")).followed_by("a").where(named("a")).one_or_more()
    pattern.optional().greedy()
    if until:
        pattern.until(named(until))
    pattern.followed_by("d").where(named("d"))
    if optional_d:
        pattern.optional().followed_by("e").where(named("e"))
    return pattern


def test_greedy_takes_as_many_as_it_can() -> None:
    """As FlinkCEP's GreedyITCase: c a* d (greedy) takes every a, dummies in between or not."""
    assert feed(c_a_star_d(), "c x a1 x a2 x a3 d") == ["c a1 a2 a3 x d".replace(" x", "")]
    assert feed(c_a_star_d(), "c a1 a2 x d") == ["c a1 a2 d"]
    assert feed(c_a_star_d(), "c x d") == ["c d"]
    plain = (
        P("c").where(named("c")).followed_by("a").where(named("a")).one_or_more().optional()
    ).followed_by("d")
    assert sorted(feed(plain.where(named("d")), "c a1 a2 d")) == ["c a1 a2 d", "c a1 d", "c d"]


def test_greedy_before_an_optional_stage() -> None:
    pattern = c_a_star_d(optional_d=True)
    assert feed(pattern, "c a1 a2 x e") == ["c a1 a2 e"]
    assert sorted(feed(pattern, "c a1 a2 d e")) == ["c a1 a2 d e", "c a1 a2 e"]


def test_skip_to_next_docs_example() -> None:
    """Docs: a b+ over a b1 b2 b3: no_skip gives three matches, skip_to_next only a b1."""

    def pattern(skip: Event | None) -> Pattern:
        start = P("a", skip_to_next() if skip else no_skip()).where(named("a"))
        return start.followed_by("b").where(named("b")).one_or_more()

    assert feed(pattern(None), "a b1 b2 b3") == ["a b1", "a b1 b2", "a b1 b2 b3"]
    assert feed(pattern({"skip": 1}), "a b1 b2 b3") == ["a b1"]


def a_any_b_plus_c(loop: str | None) -> Pattern:
    """Docs, contiguity within looping patterns: a, then any b+ (loop contiguity), then c."""
    pattern = P("a").where(named("a")).followed_by_any("b").where(named("b")).one_or_more()
    if loop:
        getattr(pattern, loop)()
    return pattern.followed_by("c").where(named("c"))


def test_loop_contiguity_docs_example_relaxed_and_combinations() -> None:
    events = "a b1 d1 b2 d2 b3 c"
    assert sorted(feed(a_any_b_plus_c(None), events)) == sorted(
        ["a b1 c", "a b1 b2 c", "a b1 b2 b3 c", "a b2 c", "a b2 b3 c", "a b3 c"]
    )
    assert sorted(feed(a_any_b_plus_c("allow_combinations"), events)) == sorted(
        ["a b1 c", "a b1 b2 c", "a b1 b3 c", "a b1 b2 b3 c", "a b2 c", "a b2 b3 c", "a b3 c"]
    )


def test_loop_contiguity_docs_example_consecutive() -> None:
    """The docs say {a b3 c}; FlinkCEP's own testStrictOneOrMore (the consecutive() example)
    shows a relaxed stage after a consecutive loop still skips events, so b1 and b2 each
    reach c too. We follow FlinkCEP's tests (docs/cep.md, "Where it differs")."""
    assert feed(a_any_b_plus_c("consecutive"), "a b1 d1 b2 d2 b3 c") == [
        "a b1 c",
        "a b2 c",
        "a b3 c",
    ]


def a_not_followed_by_b(within: int, kind: WithinType = WithinType.FIRST_AND_LAST) -> Pattern:
    return P("a").where(named("a")).not_followed_by("b").where(named("b")).within(within, kind)


def test_trailing_not_followed_by_completes_when_the_window_passes() -> None:
    """Docs: a pattern may end in notFollowedBy with within: the match is emitted once the
    window has passed without the event (at the first event or watermark after it)."""
    assert run(a_not_followed_by_b(3000), "a1 x b1 a2 x x x a3") == [("x", "a2"), ("end", "a3")]


def test_trailing_not_followed_by_previous_and_current() -> None:
    pattern = a_not_followed_by_b(2000, WithinType.PREVIOUS_AND_CURRENT)
    assert run(pattern, "a1 x x b1") == [("x", "a1")]


def test_trailing_not_followed_by_needs_advance() -> None:
    matcher = Matcher(a_not_followed_by_b(3000))
    matcher.process({"n": "a1"}, 0)
    assert [render(m.events) for m in matcher.advance(3000).matches] == ["a1"]


def test_trailing_not_next() -> None:
    """A pattern ending in notNext matches when the next event is not the negated one."""
    pattern = P("a").where(named("a")).not_next("b").where(named("b"))
    assert run(pattern, "a1 b a2 c a3") == [("c", "a2")]


def test_not_followed_by_watches_a_loop_after_its_first_event() -> None:
    """FlinkCEP puts the stop edge on every state of a looping stage after its first take."""
    pattern = (
        P("a")
        .where(named("a"))
        .one_or_more()
        .not_followed_by("n")
        .where(named("x"))
        .followed_by("c")
        .where(named("c"))
    )
    assert feed(pattern, "a1 x a2 c") == ["a2 c"]


def test_within_per_stage() -> None:
    """within(ms, PREVIOUS_AND_CURRENT) on b: b comes less than ms after the event before it."""
    pattern = (
        P("a")
        .where(named("a"))
        .followed_by("b")
        .where(named("b"))
        .within(1500, WithinType.PREVIOUS_AND_CURRENT)
        .followed_by("c")
        .where(named("c"))
    )
    assert feed(pattern, "a1 b1 x x c1") == ["a1 b1 c1"]
    assert feed(pattern, "a1 x b1 c1") == []


def test_within_smallest_wins() -> None:
    pattern = P("a").where(named("a")).within(5000).followed_by("b").where(named("b"))
    assert feed(pattern.within(2500), "a1 x x b1") == []


def test_timeout_reports_every_partial_match() -> None:
    """As FlinkCEP: a run that has matched and still loops times out like any other (the run
    that took only a1 moved on with b1: nothing of it is left)."""
    pattern = P("a").where(named("a")).followed_by("b").where(named("b")).one_or_more()
    matcher = Matcher(pattern.within(3000))
    for i, name in enumerate(["a1", "b1"]):
        matcher.process({"n": name}, i * 1000)
    assert sorted(render(t.events) for t in matcher.advance(3000).timeouts) == ["a1 b1"]


def test_state_saved_before_blocked_runs_still_loads() -> None:
    """A savepoint of the earlier layout (runs without "blocked") restores and completes."""
    pattern = P("a").where(named("a")).followed_by("b").where(named("b")).within(10_000)
    old = {
        "seq": 2,
        "runs": [
            {"stage": 1, "count": 0, "guards": [], "events": [[0, 0, 0, {"n": "a1"}]]},
        ],
    }
    matcher = Matcher(pattern, json.loads(json.dumps(old)))
    assert matcher.next_deadline_ms() == 10_000
    assert [render(m.events) for m in matcher.process({"n": "b1"}, 2000).matches] == ["a1 b1"]


# The state of `a+ !x b? c{2}` after a1 a2 y, as saved by the matcher before groups existed
# (commit 7067bfd): runs with guards and blocked runs.
STATE_BEFORE_GROUPS = """
{"seq": 3, "runs": [
{"stage": 0, "count": 2, "guards": [], "blocked": true,
 "events": [[0, 0, 0, {"n": "a1"}], [0, 1, 1000, {"n": "a2"}]]},
{"stage": 2, "count": 0, "guards": [1], "blocked": true,
 "events": [[0, 0, 0, {"n": "a1"}], [0, 1, 1000, {"n": "a2"}]]},
{"stage": 3, "count": 0, "guards": [1], "blocked": false,
 "events": [[0, 0, 0, {"n": "a1"}], [0, 1, 1000, {"n": "a2"}]]},
{"stage": 2, "count": 0, "guards": [1], "blocked": true, "events": [[0, 0, 0, {"n": "a1"}]]},
{"stage": 3, "count": 0, "guards": [1], "blocked": false, "events": [[0, 0, 0, {"n": "a1"}]]},
{"stage": 0, "count": 1, "guards": [], "blocked": true, "events": [[0, 1, 1000, {"n": "a2"}]]},
{"stage": 2, "count": 0, "guards": [1], "blocked": true, "events": [[0, 1, 1000, {"n": "a2"}]]},
{"stage": 3, "count": 0, "guards": [1], "blocked": false, "events": [[0, 1, 1000, {"n": "a2"}]]}
]}
"""


def a_plus_not_x_b_c2() -> Pattern:
    return (
        P("a")
        .where(named("a"))
        .one_or_more()
        .not_followed_by("x")
        .where(named("x"))
        .followed_by("b")
        .where(named("b"))
        .optional()
        .followed_by("c")
        .where(named("c"))
        .times(2)
        .within(20_000)
    )


def test_state_saved_before_groups_still_loads() -> None:
    """Stage indices of a pattern without groups are its declared stages, as before groups:
    the same events give the same state, and the saved state goes on as an uninterrupted run."""
    names = ["a1", "a2", "y", "b1", "c1", "c2"]
    whole = Matcher(a_plus_not_x_b_c2())
    later: list[str] = []
    for i, name in enumerate(names):
        later += [render(m.events) for m in whole.process({"n": name}, i * 1000).matches if i >= 3]
        if i == 2:
            assert whole.state == json.loads(STATE_BEFORE_GROUPS)
    restored = Matcher(a_plus_not_x_b_c2(), json.loads(STATE_BEFORE_GROUPS))
    resumed: list[str] = []
    for i, name in enumerate(names[3:], start=3):
        resumed += [render(m.events) for m in restored.process({"n": name}, i * 1000).matches]
    assert resumed == later
    assert "a1 a2 b1 c1 c2" in resumed
