"""ByteTrack on any detector's boxes: stable ids across a panned clip, velocities in px/s.

supervision's ByteTrack needs no torch: these run in the lean install.
"""

from __future__ import annotations

import pytest

from detector.models import RawDetection
from detector.tracking import NEW_TRACK_MIN_CONFIDENCE, make_tracker


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


def test_a_newcomer_is_unconfirmed_on_its_first_frame():
    """ByteTrack confirms a track born after the first frame on its second frame."""
    tracker = make_tracker("bytetrack")
    tracker.update(clip(1, 0)[0], 0)
    extra = RawDetection("person", 0.9, 10, 400, 40, 470)
    first = tracker.update([*clip(1, 0)[0], extra], 1000)
    second = tracker.update([*clip(1, 0)[0], extra], 2000)
    assert next(t for t in first if t.detection.x1 == 10).track_id is None
    confirmed = next(t for t in second if t.detection.x1 == 10)
    assert confirmed.track_id is not None
    assert confirmed.velocity_px_s is None  # no earlier confirmed position to measure from


@pytest.mark.parametrize("score", [0.12, 0.3])
def test_a_weaker_box_continues_its_track(score):
    """0.12: ByteTrack's second (low-score) association; 0.3: the first, score-weighted one."""
    tracker = make_tracker("bytetrack")
    car = RawDetection("car", 0.9, 100, 100, 200, 160)
    (first,) = tracker.update([car], 0)
    weak = RawDetection("car", score, 104, 100, 204, 160)
    (continued,) = tracker.update([weak], 1000)
    assert continued.track_id == first.track_id
    assert continued.velocity_px_s == pytest.approx((4.0, 0.0))


@pytest.mark.parametrize("score", [0.12, NEW_TRACK_MIN_CONFIDENCE - 0.05])
def test_a_box_below_the_new_track_confidence_never_starts_a_track(score):
    tracker = make_tracker("bytetrack")
    car = RawDetection("car", 0.9, 100, 100, 200, 160)
    stranger = RawDetection("car", score, 600, 300, 700, 360)
    for f in range(4):
        out = tracker.update([car, stranger], f * 1000)
        assert next(t for t in out if t.detection.x1 == 600).track_id is None
    assert next(t for t in out if t.detection.x1 == 100).track_id is not None


def test_cameras_number_their_tracks_independently():
    """One tracker per camera; a second camera's tracker does not disturb the first's ids."""
    a, b = make_tracker("bytetrack"), make_tracker("bytetrack")
    frames = clip(4, 5)
    ids_a = [sorted(t.track_id or 0 for t in a.update(frames[0], 0))]
    b.update(frames[0], 0)
    for f in range(1, 4):
        b.update(frames[f], f * 1000)
        ids_a.append(sorted(t.track_id or 0 for t in a.update(frames[f], f * 1000)))
    assert ids_a == [[1, 2, 3]] * 4


def test_a_lost_track_is_dropped_after_the_buffer():
    tracker = make_tracker("bytetrack", track_buffer=2)
    car = RawDetection("car", 0.9, 100, 100, 200, 160)
    (first,) = tracker.update([car], 0)
    assert tracker.update([], 1000) == [] and tracker.update([], 2000) == []
    (back,) = tracker.update([car], 3000)  # within the buffer: the same track
    assert back.track_id == first.track_id
    for f in range(4, 8):
        tracker.update([], f * 1000)
    tracker.update([car], 8000)
    (again,) = tracker.update([car], 9000)
    assert again.track_id not in (None, first.track_id)


def test_only_bytetrack_is_known():
    with pytest.raises(ValueError, match="unknown tracker 'iou'"):
        make_tracker("iou")
