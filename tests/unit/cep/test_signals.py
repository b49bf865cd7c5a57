"""The signal state that applies to an event: the latest change at or before its timestamp."""

from __future__ import annotations

import pytest

from udfs.patterns.signals import SignalTimeline, effective_signal


@pytest.fixture
def timeline() -> SignalTimeline:
    t = SignalTimeline()
    for ts, state in [(3000, "yellow"), (1000, "green"), (5000, "red")]:
        t.add(ts, state)
    return t


@pytest.mark.parametrize(
    ("ts", "expected"),
    [(999, None), (1000, "green"), (2999, "green"), (3000, "yellow"), (5000, "red"), (9999, "red")],
)
def test_latest_change_at_or_before(timeline: SignalTimeline, ts: int, expected: str) -> None:
    assert timeline.state_at(ts) == expected


def test_same_instant_replaces(timeline: SignalTimeline) -> None:
    timeline.add(3000, "red")
    assert timeline.state_at(3000) == "red"
    assert len(timeline.changes) == 3


def test_prune_keeps_what_later_events_need(timeline: SignalTimeline) -> None:
    timeline.prune(4000)
    assert timeline.changes == [[3000, "yellow"], [5000, "red"]]
    assert timeline.state_at(4001) == "yellow"


@pytest.mark.parametrize(
    ("observed", "joined", "expected"),
    [("red", "green", "red"), (None, "red", "red"), ("unknown", "red", "red"), (None, None, None)],
)
def test_camera_reading_wins_over_feed(observed: str, joined: str, expected: str) -> None:
    assert effective_signal(observed, joined) == expected
