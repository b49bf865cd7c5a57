"""Groups of nearby road users, their crops and geometric risk features (pure numpy).

Two road users belong together when the gap between their boxes is under
``proximity`` times the smaller box's size: closeness relative to size, so a pedestrian
next to a bus groups at the same apparent scale as one next to a car far away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from contract import MAX_INLINE_CROP_BYTES, Box, DetectedObject, Group, GroupFeatures, sha256_hex
from contract.models import VEHICLE_CLASSES
from detector.crops import CropStore, InlineCrops

if TYPE_CHECKING:
    from cv2.typing import MatLike

ROAD_USERS = VEHICLE_CLASSES | {"person", "bicycle"}


def box_gap(a: Box, b: Box) -> float:
    """Distance between two boxes' edges in pixels (0 when they overlap)."""
    dx = max(0.0, max(a.x1, b.x1) - min(a.x2, b.x2))
    dy = max(0.0, max(a.y1, b.y1) - min(a.y2, b.y2))
    return math.hypot(dx, dy)


def _size(box: Box) -> float:
    return max(1.0, min(box.x2 - box.x1, box.y2 - box.y1))


def group_indices(objects: Sequence[DetectedObject], proximity: float = 1.0) -> list[list[int]]:
    """Connected components of 'close' road users; singletons are not groups."""
    idx = [i for i, o in enumerate(objects) if o.class_name in ROAD_USERS]
    parent = {i: i for i in idx}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n, i in enumerate(idx):
        for j in idx[n + 1 :]:
            a, b = objects[i].box, objects[j].box
            if box_gap(a, b) <= proximity * min(_size(a), _size(b)):
                parent[find(i)] = find(j)
    components: dict[int, list[int]] = {}
    for i in idx:
        components.setdefault(find(i), []).append(i)
    return [sorted(c) for c in components.values() if len(c) >= 2]


def union_box(boxes: Sequence[Box]) -> Box:
    return Box(
        x1=min(b.x1 for b in boxes),
        y1=min(b.y1 for b in boxes),
        x2=max(b.x2 for b in boxes),
        y2=max(b.y2 for b in boxes),
    )


def features(
    members: Sequence[DetectedObject], zones_crosswalk: str = "crosswalk"
) -> GroupFeatures:
    """Closest pedestrian-vehicle gap, its closing speed and the time to collision."""
    peds = [m for m in members if m.class_name == "person"]
    cars = [m for m in members if m.class_name in VEHICLE_CLASSES]
    in_crosswalk = any(zones_crosswalk in m.zones for m in members)
    if not peds or not cars:
        return GroupFeatures(in_crosswalk=in_crosswalk)
    ped, car = min(
        ((p, c) for p in peds for c in cars), key=lambda pc: box_gap(pc[0].box, pc[1].box)
    )
    gap = box_gap(ped.box, car.box)
    closing = _closing_speed(ped, car)
    ttc = gap / closing if closing and closing > 0 else None
    return GroupFeatures(
        min_ped_vehicle_distance_px=round(gap, 2),
        closing_speed_px_s=round(closing, 2) if closing is not None else None,
        time_to_collision_s=round(ttc, 3) if ttc is not None else None,
        in_crosswalk=in_crosswalk,
    )


def _closing_speed(a: DetectedObject, b: DetectedObject) -> float | None:
    """Rate at which the centres approach, from the tracks' velocities."""
    if a.velocity_px_s is None or b.velocity_px_s is None:
        return None
    ax, ay = (a.box.x1 + a.box.x2) / 2, (a.box.y1 + a.box.y2) / 2
    bx, by = (b.box.x1 + b.box.x2) / 2, (b.box.y1 + b.box.y2) / 2
    dist = math.hypot(bx - ax, by - ay) or 1.0
    ux, uy = (bx - ax) / dist, (by - ay) / dist  # unit vector a -> b
    rvx, rvy = b.velocity_px_s[0] - a.velocity_px_s[0], b.velocity_px_s[1] - a.velocity_px_s[1]
    return -(rvx * ux + rvy * uy)


def encode_crop(frame_bgr: MatLike, box: Box, max_side: int = 256) -> bytes:
    """JPEG of the box region, downscaled and re-compressed until under the inline cap."""
    import cv2

    h, w = frame_bgr.shape[:2]
    x1, y1 = int(max(0, box.x1)), int(max(0, box.y1))
    x2, y2 = int(min(w, math.ceil(box.x2))), int(min(h, math.ceil(box.y2)))
    crop = frame_bgr[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
    scale = min(1.0, max_side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(
            crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale)))
        )
    for quality in (85, 70, 50, 30):
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) <= MAX_INLINE_CROP_BYTES:
            return buf.tobytes()
    raise ValueError("crop does not fit the inline cap even at quality 30")


def build_groups(
    frame_bgr: MatLike,
    objects: Sequence[DetectedObject],
    proximity: float = 1.0,
    crops: CropStore | None = None,
) -> list[Group]:
    """Groups with their crop (inline by default), its hash and the risk features."""
    store = crops or InlineCrops()
    groups = []
    for n, members in enumerate(group_indices(objects, proximity)):
        box = union_box([objects[i].box for i in members])
        jpeg = encode_crop(frame_bgr, box)
        sha = sha256_hex(jpeg)
        groups.append(
            Group(
                group_id=f"g{n}",
                member_indices=tuple(members),
                box=box,
                crop=store.put(jpeg, sha),
                crop_sha256=sha,
                features=features([objects[i] for i in members]),
            )
        )
    return groups
