"""Grouping, features, cross-class merging and tracking: pure functions, table-driven."""

from __future__ import annotations

import numpy as np
import pytest

from contract import Box, DetectedObject, InlineCrop
from contract.models import ObjectClass
from detector.grouping import box_gap, build_groups, features, group_indices
from detector.models import RawDetection, merge_cross_class
from detector.tracking import make_tracker


def o(
    cls: ObjectClass, x1: float, y1: float, x2: float, y2: float, v=None, zones=()
) -> DetectedObject:
    return DetectedObject(
        class_name=cls,
        confidence=0.9,
        box=Box(x1=x1, y1=y1, x2=x2, y2=y2),
        velocity_px_s=v,
        zones=zones,
    )


@pytest.mark.parametrize(
    ("a", "b", "gap"),
    [
        ((0, 0, 10, 10), (5, 5, 20, 20), 0.0),
        ((0, 0, 10, 10), (13, 0, 20, 10), 3.0),
        ((0, 0, 10, 10), (13, 14, 20, 20), 5.0),
    ],
)
def test_box_gap(a, b, gap):
    assert box_gap(
        Box(x1=a[0], y1=a[1], x2=a[2], y2=a[3]), Box(x1=b[0], y1=b[1], x2=b[2], y2=b[3])
    ) == pytest.approx(gap)


def test_groups_are_relative_to_size_and_skip_traffic_lights_and_singletons():
    objects = [
        o("car", 0, 0, 100, 50),  # 0: near the person (gap 20 < 30 = person width)
        o("person", 120, 0, 150, 80),  # 1
        o("car", 1000, 1000, 1100, 1050),  # 2: alone
        o("traffic light", 105, 0, 115, 30),  # 3: never grouped
        o("bus", 400, 0, 600, 100),  # 4: far from everyone
    ]
    assert group_indices(objects) == [[0, 1]]


def test_ttc_from_closing_velocities():
    car = o("car", 0, 0, 100, 50, v=(20.0, 0.0))
    ped = o("person", 150, 10, 180, 40, v=(-5.0, 0.0), zones=("crosswalk",))
    f = features([car, ped])
    assert f.min_ped_vehicle_distance_px == 50.0
    assert f.closing_speed_px_s == pytest.approx(25.0)
    assert f.time_to_collision_s == pytest.approx(2.0)
    assert f.in_crosswalk is True


def test_no_ttc_when_moving_apart_or_untracked():
    assert (
        features(
            [o("car", 0, 0, 10, 10, v=(-5, 0)), o("person", 20, 0, 30, 10, v=(5, 0))]
        ).time_to_collision_s
        is None
    )
    assert (
        features([o("car", 0, 0, 10, 10), o("person", 20, 0, 30, 10)]).time_to_collision_s is None
    )


def test_build_groups_makes_capped_jpeg_crops_with_hashes():
    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    objects = [o("car", 10, 10, 300, 200), o("person", 310, 20, 360, 200)]
    (group,) = build_groups(frame, objects)
    assert isinstance(group.crop, InlineCrop)
    jpeg = group.crop.decoded()
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) <= 64 * 1024
    from contract import sha256_hex

    assert group.crop_sha256 == sha256_hex(jpeg)
    assert group.box == Box(x1=10, y1=10, x2=360, y2=200)


def r(cls: str, conf: float, x1: float, x2: float) -> RawDetection:
    return RawDetection(cls, conf, x1, 0, x2, 100)


def test_cross_class_merge_keeps_best_vehicle_box_but_not_people():
    boxes = [r("car", 0.9, 0, 100), r("truck", 0.6, 2, 101), r("person", 0.8, 0, 100)]
    kept = merge_cross_class(boxes, 0.6)
    assert [b.class_name for b in kept] == ["car", "person"]


def test_tracker_keeps_ids_and_measures_velocity():
    tracker = make_tracker("bytetrack")
    first = tracker.update([r("car", 0.9, 0, 100), r("person", 0.9, 300, 330)], 0)
    second = tracker.update([r("car", 0.9, 10, 110), r("person", 0.9, 300, 330)], 1000)
    ids_first = {t.detection.class_name: t.track_id for t in first}
    ids_second = {t.detection.class_name: t.track_id for t in second}
    assert ids_first == ids_second
    car = next(t for t in second if t.detection.class_name == "car")
    assert car.velocity_px_s == (10.0, 0.0)
    third = tracker.update([r("car", 0.9, 500, 600)], 2000)  # jumped: a new, unconfirmed track
    assert third[0].track_id is None
    fourth = tracker.update([r("car", 0.9, 505, 605)], 3000)
    assert fourth[0].track_id not in (None, *ids_first.values())
