"""Each traffic pattern against hand-built event sequences, positive and negative."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from tests.unit.cep.traffic_helpers import (
    T0,
    Harness,
    crossing,
    crosswalk_frame,
    group_frame,
    signal,
    verdict,
    window,
    wrong_way_frame,
)
from udfs.patterns.config import CepConfig

RED = "red_light_runs_3_in_60s"
CONFLICT = "conflict_then_high_verdict_30s"
JAM = "sustained_congestion_3_windows"
WRONG = "wrong_way_driving"
NEAR = "near_miss_ttc_1s"
BLOCKED = "crosswalk_blocked_20s"


def test_three_red_light_runs_within_60s_alert_once() -> None:
    h = Harness().feed([crossing(0, 1), crossing(20, 2), crossing(50, 3), crossing(55, 4)])
    h.flush()
    assert h.patterns() == [RED]
    alert = h.alerts[0]
    assert (alert.start_ms, alert.end_ms, alert.track_ids) == (T0, T0 + 50_000, (1, 2, 3))
    assert alert.severity == "critical"


@pytest.mark.parametrize(
    "messages",
    [
        [crossing(0, 1), crossing(30, 2), crossing(60, 3)],  # span of 60 s is too long
        [crossing(0, 1), crossing(10, 2), crossing(20, 3, signal="green")],
        [crossing(0, 1), crossing(10, 1), crossing(20, 1)],  # one track, three crossings
    ],
)
def test_red_light_runs_negative(messages: list[tuple[str, str]]) -> None:
    h = Harness().feed(messages).flush()
    assert h.patterns() == []


def test_two_red_light_runs_time_out_to_side_output() -> None:
    h = Harness().feed([crossing(0, 1), crossing(10, 2)]).flush()
    assert h.alerts == []
    assert {(t.pattern, t.start_ms) for t in h.timeouts} >= {(RED, T0)}
    assert max(t.matched["run"] for t in h.timeouts if t.pattern == RED) == 2


def test_red_light_runs_out_of_order_give_the_same_alert() -> None:
    ordered = Harness().feed([crossing(0, 1), crossing(2, 2), crossing(4, 3)]).flush()
    shuffled = Harness().feed([crossing(4, 3), crossing(0, 1), crossing(2, 2)]).flush()
    assert [a.alert_id for a in shuffled.alerts] == [a.alert_id for a in ordered.alerts]
    assert len(ordered.alerts) == 1


def test_signal_feed_fills_in_for_cameras_without_a_light() -> None:
    messages = [
        signal(-5, "green"),
        signal(1, "red"),
        crossing(0, 1, signal=None),  # green applied at 0 s
        crossing(1, 2, signal=None),  # the change at exactly 1 s applies
        crossing(2, 3, signal=None),
        crossing(3, 4, signal=None),
    ]
    h = Harness().feed(messages).flush()
    assert [a.track_ids for a in h.alerts] == [(2, 3, 4)]


def test_conflict_then_high_verdict() -> None:
    h = Harness().feed([group_frame(0, ttc=2.0), verdict(0, "high"), verdict(12, "high")])
    assert h.flush().patterns().count(CONFLICT) == 1


@pytest.mark.parametrize(
    "messages",
    [
        [group_frame(0, ttc=2.0), verdict(40, "high")],  # too late
        [group_frame(0, ttc=2.0), verdict(5, "medium")],  # not high
        [group_frame(0, ttc=None, distance=200.0), verdict(5, "high")],  # no conflict
        [verdict(0, "high"), group_frame(1, ttc=2.0)],  # verdict before conflict
    ],
)
def test_conflict_then_verdict_negative(messages: list[tuple[str, str]]) -> None:
    assert CONFLICT not in Harness().feed(messages).flush().patterns()


def test_three_consecutive_congested_windows() -> None:
    h = Harness().feed([window(0, 0.7), window(10, 0.8), window(20, 0.9), window(30, 0.1)])
    assert h.flush().patterns() == [JAM]
    assert (h.alerts[0].start_ms, h.alerts[0].end_ms) == (T0 + 9_999, T0 + 29_999)


@pytest.mark.parametrize(
    "messages",
    [
        [window(0, 0.7), window(10, 0.2), window(20, 0.9), window(30, 0.9)],  # broken run
        [window(0, 0.7), window(10, 0.8), window(30, 0.9)],  # a window is missing
    ],
)
def test_congestion_negative(messages: list[tuple[str, str]]) -> None:
    assert Harness().feed(messages).flush().patterns() == []


def test_wrong_way_after_n_frames_once_per_track() -> None:
    # lane_3 allows +y; vy < 0 is against it. 10 frames of track 7, 5 of track 8 (interleaved)
    messages = [wrong_way_frame(i * 0.2, 7, -40.0) for i in range(10)]
    messages += [wrong_way_frame(0.1 + i * 0.2, 8, -40.0, lane="lane_3") for i in range(5)]
    messages.sort(key=lambda m: json.loads(m[1])["captured_at_ms"])
    h = Harness().feed(messages).flush()
    assert sorted(a.track_ids for a in h.alerts) == [(7,), (8,)]


@pytest.mark.parametrize(
    "messages",
    [
        [wrong_way_frame(i * 0.2, 7, 40.0) for i in range(10)],  # with the lane
        [wrong_way_frame(i * 0.2, 7, -2.0) for i in range(10)],  # too slow: jitter
        [wrong_way_frame(i * 0.2, 7, -40.0) for i in range(4)],  # too few frames
        [wrong_way_frame(i * 2.0, 7, -40.0) for i in range(5)],  # spread over 8 s
    ],
)
def test_wrong_way_negative(messages: list[tuple[str, str]]) -> None:
    assert Harness().feed(messages).flush().patterns() == []


def test_near_miss_with_cooldown() -> None:
    h = Harness().feed([group_frame(0, 0.5), group_frame(1, 0.4), group_frame(20, 0.8)])
    alerts = [a for a in h.flush().alerts if a.pattern == NEAR]
    assert [a.start_ms for a in alerts] == [T0, T0 + 20_000]


def test_alerts_list_the_frames_groups_and_crops_they_matched() -> None:
    crop = "cd" * 32
    h = Harness().feed([group_frame(0, ttc=2.0, crop=crop), verdict(0, "high", frame_id=0)])
    [alert] = [a for a in h.flush().alerts if a.pattern == CONFLICT]
    assert [(e.frame_id, e.group_id, e.crop_sha256, e.track_ids) for e in alert.evidence] == [
        (0, "g0", crop, (3,))
    ]  # the conflict's group and the verdict of that group: one piece of evidence
    runs = Harness().feed([crossing(0, 1), crossing(20, 2), crossing(50, 3)]).flush()
    assert [(e.frame_id, e.captured_at_ms, e.group_id, e.track_ids) for e in
            runs.alerts[0].evidence] == [
        (0, T0, None, (1,)), (200, T0 + 20_000, None, (2,)), (500, T0 + 50_000, None, (3,))
    ]  # fmt: skip


def test_a_vehicle_stopped_in_the_crosswalk_alerts_when_not_cleared_in_time() -> None:
    """The pattern's timeout is the alert (`timed_out`); one per vehicle and cooldown."""
    stuck = [crosswalk_frame(s, 7, 0.5) for s in range(0, 45)]  # 45 s, never moves on
    h = Harness().feed(stuck).flush()
    alerts = [a for a in h.alerts if a.pattern == BLOCKED]
    assert [(a.start_ms, a.end_ms) for a in alerts] == [(T0, T0), (T0 + 30_000, T0 + 30_000)]
    first = alerts[0]
    assert first.timed_out and first.severity == "warning" and first.track_ids == (7,)
    assert [e.frame_id for e in first.evidence] == [0]
    assert "not cleared within 20 s" in first.description
    assert not [a for a in h.alerts if a.pattern == "crosswalk_stop_20s"]


@pytest.mark.parametrize(
    ("messages", "blocked"),
    [
        ([crosswalk_frame(s, 7, 0.5) for s in range(10)] + [crosswalk_frame(12, 7, 40.0)], []),
        ([crosswalk_frame(s, 7, 30.0) for s in range(40)], []),  # moving through, slowly
        # track 7 stops and is never seen moving (tracker lost it): it times out; 8 moves on
        ([crosswalk_frame(0, 7, 0.5), crosswalk_frame(25, 8, 0.5), crosswalk_frame(26, 8, 9.0)],
         [(7,)]),
    ],
)  # fmt: skip
def test_only_a_vehicle_not_cleared_in_time_alerts(
    messages: list[tuple[str, str]], blocked: list[tuple[int, ...]]
) -> None:
    h = Harness().feed(messages).flush()
    assert [a.track_ids for a in h.alerts if a.pattern == BLOCKED] == blocked


def test_on_timeout_names_must_be_unique_too() -> None:
    doc = {"patterns": [{"type": "near_miss", "name": "n"},
                        {"type": "blocked_crosswalk", "name": "b",
                         "on_timeout": {"name": "n", "description": "x"}}]}  # fmt: skip
    with pytest.raises(ValidationError, match="twice"):
        CepConfig.model_validate(doc)


def test_near_miss_negative() -> None:
    h = Harness().feed([group_frame(0, 1.5), group_frame(1, None, distance=5.0)]).flush()
    assert NEAR not in h.patterns()


def test_all_patterns_survive_shuffle_and_state_round_trip() -> None:
    messages = [crossing(0, 1), crossing(3, 2), group_frame(4, 0.5), verdict(6, "high")]
    messages += [window(0, 0.7), window(10, 0.8), crossing(12, 3), window(20, 0.9)]
    messages += [wrong_way_frame(8 + i * 0.2, 9, -30.0) for i in range(6)]
    messages += [crosswalk_frame(2 + i, 5, 0.3) for i in range(23)]  # a timeout alert too
    messages.sort(key=lambda m: _ts(m))
    expected = Harness().feed(messages).flush()
    assert set(expected.patterns()) == {RED, CONFLICT, JAM, WRONG, NEAR, BLOCKED}

    rng = random.Random(3)
    arrivals = sorted(messages, key=lambda m: _ts(m) + rng.uniform(0, 4000))
    first = Harness().feed(arrivals[:20])
    second = Harness()
    second.store.data = json.loads(json.dumps(first.store.data))
    second.core = json.loads(json.dumps(first.core))
    second.max_seen, second.alerts = first.max_seen, list(first.alerts)
    second.feed(arrivals[20:]).flush()
    assert sorted(a.alert_id for a in second.alerts) == sorted(a.alert_id for a in expected.alerts)


def _ts(message: tuple[str, str]) -> int:
    doc = json.loads(message[1])
    for field in ("captured_at_ms", "changed_at_ms"):
        if field in doc:
            return int(doc[field])
    return int(doc["window_end_ms"]) - 1


def test_config_forbids_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="colour"):
        CepConfig.model_validate({"patterns": [{"type": "near_miss", "name": "n", "colour": 1}]})
    with pytest.raises(ValidationError, match="twice"):
        CepConfig.model_validate(
            {"patterns": [{"type": "near_miss", "name": "n"}, {"type": "wrong_way", "name": "n"}]}
        )


def test_state_of_a_removed_pattern_is_dropped() -> None:
    h = Harness().feed([crossing(0, 1)])
    h.advance(h.max_seen + 1)
    assert any(k.startswith(RED) for k in h.core["nfa"])
    near_only = CepConfig.model_validate({"patterns": [{"type": "near_miss", "name": "n"}]})
    restored = Harness(near_only)
    restored.core = h.core
    restored.feed([group_frame(70, 0.5)]).flush()
    assert restored.patterns() == ["n"] and restored.core["nfa"] == {}


def test_verdict_levels_are_those_a_pattern_waits_for() -> None:
    from tests.unit.cep.traffic_helpers import config

    assert config().verdict_levels() == frozenset({"high"})
    doc = config().model_dump()
    doc["patterns"] = [p for p in doc["patterns"] if p["type"] != "conflict_then_verdict"]
    assert CepConfig.model_validate(doc).verdict_levels() == frozenset()


def test_windows_under_the_congestion_threshold_need_not_be_facts() -> None:
    """Dropping them changes no alert: a run needs back-to-back windows."""
    from tests.unit.cep.traffic_helpers import config

    cfg = config()
    assert cfg.min_congestion_index() == 0.6
    jam = [window(0, 0.7), window(10, 0.7), window(20, 0.1), window(30, 0.7), window(40, 0.7)]
    kept = [w for w in jam if json.loads(w[1])["congestion_index"] >= 0.6]
    assert Harness(cfg).feed(jam).flush().patterns() == []
    assert Harness(cfg).feed(kept).flush().patterns() == []
    run = [*jam, window(50, 0.7)]
    kept_run = [w for w in run if json.loads(w[1])["congestion_index"] >= 0.6]
    assert Harness(cfg).feed(run).flush().patterns() == [JAM]
    assert Harness(cfg).feed(kept_run).flush().patterns() == [JAM]
