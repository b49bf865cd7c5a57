"""Every event is a valid `DetectionEvent`, written exactly as `to_json()` writes it."""

from __future__ import annotations

import cv2
import numpy as np

from contract import sha256_hex
from simulator import SimConfig, camera_ids
from tests.unit.simulator.conftest import Result, run


def test_events_validate_and_match_to_json_bytes(busy: Result, busy_events) -> None:
    assert len(busy_events) == 6 * 600
    for (key, value), event in zip(busy.messages, busy_events, strict=True):
        assert event.to_json() == value
        assert key == event.key


def test_events_carry_scene_facts(busy_events) -> None:
    objects = [o for e in busy_events for o in e.objects]
    classes = {o.class_name for o in objects}
    assert {"car", "person", "bus", "truck", "motorcycle", "bicycle"} <= classes
    zones = {z for o in objects for z in o.zones}
    assert {"lane_1", "lane_2", "lane_3", "crosswalk", "wrong_way"} <= zones
    assert any("stop_line" in o.crossed_lines for o in objects)
    assert {e.signal_state for e in busy_events} == {"green", "yellow", "red"}
    assert all(o.track_id is not None for o in objects)
    assert sum(o.velocity_px_s is not None for o in objects) > 0.8 * len(objects)


def test_boxes_stay_in_frame_and_velocity_is_the_displacement(busy_events) -> None:
    last: dict[tuple[str, int], tuple[int, float, float]] = {}
    checked = 0
    for e in busy_events:
        for o in e.objects:
            b = o.box
            assert 0 <= b.x1 < b.x2 <= 640 and 0 <= b.y1 < b.y2 <= 480
            cx, cy = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2
            prev = last.get((e.camera_id, o.track_id))
            if prev and prev[0] == e.frame_id - 1:  # 1 fps: velocity = displacement per frame
                vx, vy = o.velocity_px_s
                assert abs(vx - (cx - prev[1])) < 0.11 and abs(vy - (cy - prev[2])) < 0.11
                assert abs(vx) < 200 and abs(vy) < 250
                checked += 1
            last[(e.camera_id, o.track_id)] = (e.frame_id, cx, cy)
    assert checked > 1000


def test_group_crops_are_small_jpegs_with_their_hash(busy_events) -> None:
    groups = [g for e in busy_events for g in e.groups]
    assert groups
    for g in groups[:200]:
        raw = g.crop.decoded()
        assert len(raw) < 1000
        assert g.crop_sha256 == sha256_hex(raw)
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[:2] == (24, 32)
    assert any(g.features.time_to_collision_s is not None for g in groups)


def test_no_crops_option_leaves_groups_without_images() -> None:
    out = run(SimConfig(cameras=2, duration_s=120, crops="none"))
    events = out.events()
    assert any(e.groups for e in events)
    assert all(g.crop is None and g.crop_sha256 is None for e in events for g in e.groups)


def test_event_time_starts_at_start_and_rises_per_camera() -> None:
    cfg = SimConfig(cameras=3, fps=2, duration_s=5, start_ms=1_000_000)
    events = run(cfg).events()
    assert len(events) == 3 * 10
    assert {e.camera_id for e in events} == set(camera_ids(cfg))
    assert all(1_000_000 <= e.captured_at_ms < 1_000_000 + 5_000 for e in events)
    times = [e.captured_at_ms for e in events]
    assert times == sorted(times)
    per_camera = [e.frame_id for e in events if e.camera_id == "cam-0000"]
    assert per_camera == list(range(10))


def test_count_mode_makes_exactly_count_events() -> None:
    assert len(run(SimConfig(cameras=7, count=50)).messages) == 50
