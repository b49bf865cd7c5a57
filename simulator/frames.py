"""A simulated frame as the detector's `DetectionEvent` JSON, written without pydantic.

Building thousands of pydantic models per second would cap the simulator's rate, so the
bytes are written directly in the exact form of `DetectionEvent.to_json()` (field order,
compact separators, `None` left out); a unit test checks `parse(...).to_json()` gives the
same bytes back. Groups and their features follow the detector's rules
(`detector/grouping.py`): boxes closer than the smaller one's size belong together.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from contract.models import VEHICLE_CLASSES
from simulator.crops import CropCache, encoded, render_scene
from simulator.observe import Frame, Seen

PROXIMITY = 1.0
ROAD_USERS = VEHICLE_CLASSES | {"person", "bicycle"}


@dataclass(frozen=True, slots=True)
class GroupFact:
    """What the ground-truth labeller needs to know about one group."""

    tracks: tuple[int, ...]
    pair: tuple[int, int] | None  # (pedestrian, vehicle) tracks of the closest pair
    ttc: float | None


def box_gap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)


def group_indices(seen: list[Seen]) -> list[list[int]]:
    """Connected components of close road users, in the detector's order.

    Same rule as `detector.grouping.group_indices`, with cheap rejections first: this is
    the simulator's hottest loop.
    """
    idx = [i for i, s in enumerate(seen) if s.cls in ROAD_USERS]
    n = len(idx)
    if n < 2:
        return []
    boxes = [seen[i].box for i in idx]
    sizes = [max(1.0, min(b[2] - b[0], b[3] - b[1])) * PROXIMITY for b in boxes]
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(n):
        ax1, ay1, ax2, ay2 = boxes[a]
        sa = sizes[a]
        for b in range(a + 1, n):
            bx1, by1, bx2, by2 = boxes[b]
            limit = sa if sa < sizes[b] else sizes[b]
            dx = bx1 - ax2 if bx1 > ax2 else (ax1 - bx2 if ax1 > bx2 else 0.0)
            if dx > limit:
                continue
            dy = by1 - ay2 if by1 > ay2 else (ay1 - by2 if ay1 > by2 else 0.0)
            if dy > limit or math.hypot(dx, dy) > limit:
                continue
            parent[find(a)] = find(b)
    components: dict[int, list[int]] = {}
    for a in range(n):
        components.setdefault(find(a), []).append(idx[a])
    return [c for c in components.values() if len(c) >= 2]


def features(members: list[Seen]) -> tuple[str, tuple[int, int] | None, float | None]:
    """GroupFeatures JSON, the closest (ped, vehicle) pair and its TTC."""
    peds = [m for m in members if m.cls == "person"]
    cars = [m for m in members if m.cls in VEHICLE_CLASSES]
    cw = "true" if any("crosswalk" in m.zones for m in members) else "false"
    if not peds or not cars:
        return '{"in_crosswalk":' + cw + "}", None, None
    ped, car = min(
        ((p, c) for p in peds for c in cars), key=lambda pc: box_gap(pc[0].box, pc[1].box)
    )
    gap = box_gap(ped.box, car.box)
    closing = _closing(ped, car)
    ttc = round(gap / closing, 3) if closing and closing > 0 else None
    parts = [f'"min_ped_vehicle_distance_px":{round(gap, 2)!r}']
    if closing is not None:
        parts.append(f'"closing_speed_px_s":{round(closing, 2) + 0.0!r}')
    if ttc is not None:
        parts.append(f'"time_to_collision_s":{ttc!r}')
    parts.append('"in_crosswalk":' + cw)
    return "{" + ",".join(parts) + "}", (ped.track_id, car.track_id), ttc


def _closing(a: Seen, b: Seen) -> float | None:
    if a.velocity is None or b.velocity is None:
        return None
    ax, ay = (a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2
    bx, by = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
    dist = math.hypot(bx - ax, by - ay) or 1.0
    ux, uy = (bx - ax) / dist, (by - ay) / dist
    rvx, rvy = b.velocity[0] - a.velocity[0], b.velocity[1] - a.velocity[1]
    return -(rvx * ux + rvy * uy)


class FrameEncoder:
    """Per-run encoder: caches crop images and the JSON of recurring zone lists."""

    def __init__(
        self,
        width: int,
        height: int,
        detector: str,
        crops: CropCache | None,
        near_miss_ttc_s: float = 1.5,
        rendered: bool = False,
        sees_signal: bool = True,
    ) -> None:
        self._frame = f'"frame":{{"width":{width},"height":{height}}}'
        self._sees_signal = sees_signal
        self._detector = json.dumps(detector)
        self._crops = crops
        self._near_miss_ttc_s = near_miss_ttc_s  # crops of such groups carry the risk marker
        self._rendered = rendered  # crops drawn anew every frame instead of cached
        self._lists: dict[tuple[str, ...], str] = {}

    def _list(self, names: tuple[str, ...]) -> str:
        text = self._lists.get(names)
        if text is None:
            text = self._lists[names] = json.dumps(list(names), separators=(",", ":"))
        return text

    def _object(self, s: Seen) -> str:
        b = s.box
        velocity = (
            "" if s.velocity is None else f',"velocity_px_s":[{s.velocity[0]!r},{s.velocity[1]!r}]'
        )
        return (
            f'{{"class_name":"{s.cls}","confidence":{s.conf!r},'
            f'"box":{{"x1":{b[0]!r},"y1":{b[1]!r},"x2":{b[2]!r},"y2":{b[3]!r}}},'
            f'"track_id":{s.track_id}{velocity},"zones":{self._list(s.zones)},'
            f'"crossed_lines":{self._list(s.crossed)}}}'
        )

    def _group(
        self, n: int, members: list[int], seen: list[Seen], salt: int, frame_id: int
    ) -> tuple[str, GroupFact]:
        ms = [seen[i] for i in members]
        x1, y1, x2, y2 = ms[0].box
        for m in ms[1:]:
            b = m.box
            x1 = b[0] if b[0] < x1 else x1
            y1 = b[1] if b[1] < y1 else y1
            x2 = b[2] if b[2] > x2 else x2
            y2 = b[3] if b[3] > y2 else y2
        feats, pair, ttc = features(ms)
        crop = ""
        # The labeller's near-miss rule (truth.CameraLabeller): such crops get the marker.
        marked = pair is not None and ttc is not None and ttc < self._near_miss_ttc_s
        if self._rendered:
            seed = (salt * 1_000_003 + frame_id * 131 + n) & 0xFFFFFFFF
            jpeg = render_scene([(m.cls, m.box) for m in ms], (x1, y1, x2, y2), marked, seed)
            b64, sha = encoded(jpeg)
        elif self._crops is not None:
            variant = (min(m.track_id for m in ms) * 2654435761 + salt) % self._crops.variants
            b64, sha = self._crops.get(tuple(m.cls for m in ms), variant, marked)
        if self._rendered or self._crops is not None:
            crop = (
                f',"crop":{{"kind":"inline","media_type":"image/jpeg","data_b64":"{b64}"}}'
                f',"crop_sha256":"{sha}"'
            )
        text = (
            f'{{"group_id":"g{n}","member_indices":[{",".join(map(str, members))}],'
            f'"box":{{"x1":{x1!r},"y1":{y1!r},"x2":{x2!r},"y2":{y2!r}}}{crop},"features":{feats}}}'
        )
        return text, GroupFact(tuple(m.track_id for m in ms), pair, ttc)

    def encode(
        self, camera_json: str, frame_id: int, t_ms: int, frame: Frame, salt: int
    ) -> tuple[bytes, list[GroupFact]]:
        """The event's wire bytes and the facts about its groups."""
        seen = frame.seen
        groups = [
            self._group(n, m, seen, salt, frame_id) for n, m in enumerate(group_indices(seen))
        ]
        text = (
            f'{{"schema_version":1,"camera_id":{camera_json},"frame_id":{frame_id},'
            f'"captured_at_ms":{t_ms},{self._frame},'
            f'"objects":[{",".join(self._object(s) for s in seen)}],'
            f'"groups":[{",".join(g[0] for g in groups)}],'
            f'"signal_state":"{frame.signal if self._sees_signal else "unknown"}",'
            f'"detector":{self._detector}}}'
        )
        return text.encode(), [g[1] for g in groups]
