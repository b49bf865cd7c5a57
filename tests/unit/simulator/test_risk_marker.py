"""The risk marker in simulator crops: drawn exactly on the near-miss groups of the truth
rule, in cached crops and in crops re-rendered every frame (which never repeat)."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from contract import InlineCrop
from simulator import SimConfig
from simulator.crops import marker_seen
from tests.unit.simulator.conftest import BUSY, Result, run


def assert_marker_on_near_misses(result: Result) -> None:
    marked = unmarked = 0
    for event in result.events():
        for group in event.groups:
            assert isinstance(group.crop, InlineCrop)
            raw = base64.b64decode(group.crop.data_b64)
            img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            ttc = group.features.time_to_collision_s
            classes = {event.objects[i].class_name for i in group.member_indices}
            near_miss = ttc is not None and ttc < 1.5 and "person" in classes
            assert marker_seen(img) == near_miss, (event.camera_id, event.frame_id, group)
            marked += near_miss
            unmarked += not near_miss
    assert marked >= 5 and unmarked > 10 * marked
    assert result.report.labels["near_miss"] > 0


def test_the_marker_is_on_exactly_the_groups_under_the_near_miss_ttc(busy: Result) -> None:
    assert_marker_on_near_misses(busy)


def test_rendered_crops_carry_the_marker_too_and_never_repeat() -> None:
    result = run(SimConfig(cameras=3, duration_s=300, seed=7, crops="rendered", incidents=BUSY))
    assert_marker_on_near_misses(result)
    shas = [g.crop_sha256 for e in result.events() for g in e.groups]
    assert len(set(shas)) == len(shas)
