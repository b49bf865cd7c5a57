"""ByteTrack on any detector's boxes: stable ids across a panned clip, velocities in px/s."""

from __future__ import annotations

import builtins

import pytest

from detector import tracking
from detector.models import RawDetection
from detector.tracking import IouTracker, make_tracker

pytest.importorskip("ultralytics", reason="ByteTrack needs the yolo extra")


def clip(frames: int, pan_px: float) -> list[list[RawDetection]]:
    """Three road users in a camera panning left by ``pan_px`` per frame."""
    out = []
    for f in range(frames):
        dx = -pan_px * f
        out.append([
            RawDetection("bus", 0.9, 100 + dx, 50, 400 + dx, 300),
            RawDetection("person", 0.8, 420 + dx, 150, 460 + dx, 280),
            RawDetection("car", 0.7, 500 + dx + 2 * f, 200, 600 + dx + 2 * f, 260),
        ])  # fmt: skip
    return out


def test_bytetrack_ids_are_stable_across_a_panned_clip():
    tracker = make_tracker("bytetrack")
    assert tracker.name == "bytetrack"
    ids: dict[str, set[int | None]] = {"bus": set(), "person": set(), "car": set()}
    last = []
    for f, boxes in enumerate(clip(12, 8)):
        last = tracker.update(boxes, f * 1000)
        for t in last:
            ids[t.detection.class_name].add(t.track_id)
    assert all(len(v) == 1 and None not in v for v in ids.values()), ids
    assert len({next(iter(v)) for v in ids.values()}) == 3
    speeds = {t.detection.class_name: t.velocity_px_s for t in last}
    assert speeds["bus"] == pytest.approx((-8.0, 0.0))
    assert speeds["car"] == pytest.approx((-6.0, 0.0))


def test_velocity_uses_event_time_not_frame_count():
    tracker = make_tracker("bytetrack")
    boxes = clip(2, 10)
    tracker.update(boxes[0], 0)
    tracked = tracker.update(boxes[1], 500)  # half a second later
    bus = next(t for t in tracked if t.detection.class_name == "bus")
    assert bus.velocity_px_s == pytest.approx((-20.0, 0.0))


def test_a_new_object_gets_a_new_id():
    tracker = make_tracker("bytetrack")
    for f, boxes in enumerate(clip(3, 0)):
        tracker.update(boxes, f * 1000)
    seen = {t.track_id for t in tracker.update(clip(1, 0)[0], 3000)}
    extra = RawDetection("car", 0.9, 10, 400, 60, 450)
    tracker.update([*clip(1, 0)[0], extra], 4000)
    out = tracker.update([*clip(1, 0)[0], extra], 5000)
    newcomer = next(t for t in out if t.detection.x1 == 10)
    assert newcomer.track_id is not None and newcomer.track_id not in seen


def test_falls_back_to_iou_tracker_without_ultralytics(monkeypatch, caplog):
    real_import = builtins.__import__

    def no_ultralytics(name, *args, **kwargs):
        if name.startswith("ultralytics"):
            raise ImportError("No module named 'ultralytics'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ultralytics)
    tracker = tracking.make_tracker("bytetrack")
    assert isinstance(tracker, IouTracker)
    assert "ByteTrack unavailable" in caplog.text
