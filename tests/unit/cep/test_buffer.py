"""Event-time buffering: disorder within the bound changes nothing; timeouts; state round trip."""

from __future__ import annotations

import json
import random

import pytest

from tests.unit.cep.helpers import named, render
from udfs.cep.buffer import BufferedMatcher
from udfs.cep.pattern import Pattern, skip_past_last_event

BOUND_MS = 3000


def patterns() -> dict[str, Pattern]:
    p = Pattern.begin
    return {
        "a b within": p("x").where(named("a")).followed_by("y").where(named("b")).within(4000),
        "a{3} within skip": p("x", skip_past_last_event()).where(named("a")).times(3).within(6000),
        "a+ next b": p("x").where(named("a")).one_or_more().next("y").where(named("b")),
        "a notFollowedBy c then b": p("x")
        .where(named("a"))
        .not_followed_by("n")
        .where(named("c"))
        .followed_by("y")
        .where(named("b")),
    }


def stream(seed: int, n: int = 60) -> list[tuple[int, dict[str, str]]]:
    rng = random.Random(seed)
    ts, out = 0, []
    for i in range(n):
        ts += rng.choice((0, 500, 1000, 1500))  # equal timestamps happen too
        out.append((ts, {"n": f"{rng.choice('abcab')}{i}"}))
    return out


def run(
    pattern: Pattern, arrivals: list[tuple[int, dict[str, str]]]
) -> tuple[list[str], list[str]]:
    """Feed in arrival order with a watermark of max seen - bound; flush at the end."""
    matcher = BufferedMatcher(pattern)
    matches: list[str] = []
    timeouts: list[str] = []
    max_seen = 0
    for ts, event in arrivals:
        assert matcher.add(ts, event), "test stream must stay within the bound"
        max_seen = max(max_seen, ts)
        out = matcher.advance(max_seen - BOUND_MS)
        matches += [render(m.events) for m in out.matches]
        timeouts += [render(t.events) for t in out.timeouts]
    out = matcher.advance(max_seen + 10**9)
    return matches + [render(m.events) for m in out.matches], timeouts + [
        render(t.events) for t in out.timeouts
    ]


def shuffled(
    events: list[tuple[int, dict[str, str]]], seed: int
) -> list[tuple[int, dict[str, str]]]:
    rng = random.Random(seed)
    return sorted(events, key=lambda e: e[0] + rng.uniform(0, BOUND_MS - 1))


@pytest.mark.parametrize("name", list(patterns()))
@pytest.mark.parametrize("seed", range(5))
def test_out_of_order_within_bound_equals_ordered(name: str, seed: int) -> None:
    pattern_ordered, pattern_shuffled = patterns()[name], patterns()[name]
    events = stream(seed)
    ordered = run(pattern_ordered, events)
    disordered = run(pattern_shuffled, shuffled(events, seed + 100))
    assert ordered[0], "the stream should produce some matches"
    assert disordered == ordered


def test_late_event_is_refused() -> None:
    matcher = BufferedMatcher(patterns()["a b within"])
    assert matcher.add(5000, {"n": "a1"})
    matcher.advance(6000)
    assert not matcher.add(6000, {"n": "b1"})
    assert matcher.add(6001, {"n": "b2"})


def test_partial_match_times_out_at_watermark() -> None:
    matcher = BufferedMatcher(patterns()["a b within"])
    matcher.add(1000, {"n": "a1"})
    assert matcher.advance(2000).timeouts == []
    out = matcher.advance(5000)  # 5000 - 1000 >= 4000
    assert [render(t.events) for t in out.timeouts] == ["a1"]
    assert out.timeouts[0].start_ms == 1000
    matcher.add(5500, {"n": "b1"})
    assert matcher.advance(6000).matches == []


def test_event_completing_after_window_gives_timeout_not_match() -> None:
    matcher = BufferedMatcher(patterns()["a b within"])
    matcher.add(1000, {"n": "a1"})
    matcher.add(5000, {"n": "b1"})
    out = matcher.advance(9000)
    assert out.matches == []
    assert [render(t.events) for t in out.timeouts] == ["a1"]


@pytest.mark.parametrize("name", list(patterns()))
def test_state_survives_json_round_trip_mid_stream(name: str) -> None:
    events = shuffled(stream(7), 8)
    whole = run(patterns()[name], events)

    half = len(events) // 2
    first = BufferedMatcher(patterns()[name])
    matches: list[str] = []
    timeouts: list[str] = []
    max_seen = 0

    def feed(matcher: BufferedMatcher, part: list[tuple[int, dict[str, str]]]) -> None:
        nonlocal max_seen
        for ts, event in part:
            matcher.add(ts, event)
            max_seen = max(max_seen, ts)
            out = matcher.advance(max_seen - BOUND_MS)
            matches.extend(render(m.events) for m in out.matches)
            timeouts.extend(render(t.events) for t in out.timeouts)

    feed(first, events[:half])
    restored = BufferedMatcher(patterns()[name], json.loads(json.dumps(first.state)))
    assert restored.state["pending"], "the snapshot should hold buffered events"
    feed(restored, events[half:])
    out = restored.advance(max_seen + 10**9)
    matches.extend(render(m.events) for m in out.matches)
    timeouts.extend(render(t.events) for t in out.timeouts)
    assert (matches, timeouts) == whole


def test_a_trailing_not_followed_by_matches_when_the_watermark_passes_its_window() -> None:
    """Time, not an event, completes `a !b within 3 s`: the buffered matcher's advance must
    report that match (an `a` followed by `b` in time never matches)."""
    pattern = (
        Pattern.begin("x").where(named("a")).not_followed_by("n").where(named("b")).within(3000)
    )
    matcher = BufferedMatcher(pattern)
    for ts, name in ((0, "a1"), (1000, "b1"), (5000, "a2")):
        assert matcher.add(ts, {"n": name})
    early = matcher.advance(6000)  # a1 was cancelled by b1; a2's window is still open
    assert early.matches == [] and early.timeouts == []
    late = matcher.advance(9000)
    assert [[e["n"] for e in m.events["x"]] for m in late.matches] == [["a2"]]
