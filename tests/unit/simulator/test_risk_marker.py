"""The risk marker in simulator crops: drawn exactly on the near-miss groups of the truth rule."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from contract import InlineCrop
from simulator.crops import marker_seen
from tests.unit.simulator.conftest import Result


def test_the_marker_is_on_exactly_the_groups_under_the_near_miss_ttc(busy: Result) -> None:
    marked = unmarked = 0
    for event in busy.events():
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
    assert busy.report.labels["near_miss"] > 0
