"""Ground truth agrees with the events, in both directions (recall and precision 1)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from contract import DetectionEvent
from simulator import FaultConfig, IncidentLabel, SimConfig
from tests.unit.simulator.conftest import BUSY, Result, run

TTC = BUSY.near_miss_ttc_s


def _by_camera(events: list[DetectionEvent]) -> dict[str, list[DetectionEvent]]:
    out: dict[str, list[DetectionEvent]] = defaultdict(list)
    for e in events:
        out[e.camera_id].append(e)
    return out


def _labels(result: Result, kind: str) -> list[IncidentLabel]:
    return [x for x in result.labels if x.kind == kind]


def _min_ttc_s(label: IncidentLabel) -> float:
    value = label.details["min_ttc_s"]
    assert not isinstance(value, str), value
    return value


def test_every_kind_is_staged(busy: Result) -> None:
    kinds = {x.kind for x in busy.labels}
    assert kinds == {"red_light_run", "near_miss", "wrong_way", "congestion"}
    assert all(x.injected for x in busy.labels)


def test_red_light_runs_are_exactly_red_crossings(busy: Result, busy_events) -> None:
    crossings = {
        (e.camera_id, e.captured_at_ms, o.track_id)
        for e in busy_events
        if e.signal_state == "red"
        for o in e.objects
        if "stop_line" in o.crossed_lines
    }
    labelled = {(x.camera_id, x.end_ms, x.track_ids[0]) for x in _labels(busy, "red_light_run")}
    assert len(labelled) >= 20
    assert labelled == crossings


def test_near_misses_have_ttc_under_threshold(busy: Result, busy_events) -> None:
    cams = _by_camera(busy_events)
    labels = _labels(busy, "near_miss")
    assert len(labels) >= 10
    for label in labels:
        ttcs = [
            g.features.time_to_collision_s
            for e in cams[label.camera_id]
            if label.start_ms <= e.captured_at_ms <= label.end_ms
            for g in e.groups
            if {e.objects[i].track_id for i in g.member_indices} >= set(label.track_ids)
            and g.features.time_to_collision_s is not None
        ]
        assert min(ttcs) == _min_ttc_s(label) < TTC
        classes = {
            o.class_name
            for e in cams[label.camera_id]
            for o in e.objects
            if o.track_id in label.track_ids
        }
        assert "person" in classes and classes & {"car", "truck", "bus", "motorcycle"}


def test_every_low_ttc_group_is_labelled(busy: Result, busy_events) -> None:
    spans = defaultdict(list)
    for x in _labels(busy, "near_miss"):
        spans[x.camera_id].append((x.start_ms, x.end_ms, set(x.track_ids)))
    for e in busy_events:
        for g in e.groups:
            ttc = g.features.time_to_collision_s
            if ttc is None or ttc >= TTC:
                continue
            tracks = {e.objects[i].track_id for i in g.member_indices}
            assert any(
                a <= e.captured_at_ms <= b and ids <= tracks for a, b, ids in spans[e.camera_id]
            )


def test_wrong_way_tracks_move_against_their_lane(busy: Result, busy_events) -> None:
    cams = _by_camera(busy_events)
    labels = _labels(busy, "wrong_way")
    assert len(labels) >= 5
    for label in labels:
        seen = [
            o
            for e in cams[label.camera_id]
            if label.start_ms <= e.captured_at_ms <= label.end_ms
            for o in e.objects
            if o.track_id == label.track_ids[0]
        ]
        assert seen and all("wrong_way" in o.zones for o in seen)
        assert all(o.velocity_px_s is not None and o.velocity_px_s[1] < 0 for o in seen)
        assert all("lane_3" in o.zones for o in seen)  # lane_3 runs down
    flagged = {
        (e.camera_id, o.track_id) for e in busy_events for o in e.objects if "wrong_way" in o.zones
    }
    assert flagged == {(x.camera_id, x.track_ids[0]) for x in labels}


def test_congestion_periods_are_dense_and_slow(busy: Result, busy_events) -> None:
    cams = _by_camera(busy_events)
    labels = _labels(busy, "congestion")
    assert labels

    def density(events: list[DetectionEvent]) -> float:
        lanes = ("lane_1", "lane_2")
        count = sum(1 for e in events for o in e.objects if any(z in o.zones for z in lanes))
        return count / max(1, len(events))

    for label in labels:
        events = cams[label.camera_id]
        inside = [e for e in events if label.start_ms <= e.captured_at_ms <= label.end_ms]
        outside = [e for e in events if not label.start_ms - 60_000 <= e.captured_at_ms]
        assert inside and label.track_ids
        if outside:
            assert density(inside) > density(outside)


@pytest.mark.parametrize("fps", [5.0])
def test_truth_holds_at_higher_frame_rates(fps: float) -> None:
    result = run(SimConfig(cameras=2, fps=fps, duration_s=150, seed=11, incidents=BUSY))
    events = result.events()
    red = {
        (e.camera_id, o.track_id)
        for e in events
        if e.signal_state == "red"
        for o in e.objects
        if "stop_line" in o.crossed_lines
    }
    assert red == {(x.camera_id, x.track_ids[0]) for x in _labels(result, "red_light_run")}
    pairs = _labels(result, "near_miss")
    assert pairs and all(_min_ttc_s(x) < TTC for x in pairs)


def test_idle_camera_is_silent_during_its_label() -> None:
    faults = FaultConfig(idle_cameras=1, idle_at_s=30, idle_for_s=40)
    result = run(SimConfig(cameras=3, duration_s=120, seed=2, faults=faults))
    (idle,) = _labels(result, "camera_idle")
    times = [e.captured_at_ms for e in result.events() if e.camera_id == idle.camera_id]
    assert not [t for t in times if idle.start_ms <= t < idle.end_ms]
    assert len(times) == 120 - 40 == 120 - result.report.idle_suppressed
    assert idle.end_ms - idle.start_ms == 40_000
