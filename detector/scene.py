"""Scene geometry per camera: zones an object is in and lines it crossed (pure Python).

An object's position is its ground point, the bottom centre of its box: where a car or a
pedestrian touches the road, which is what lines painted on the road are compared with.
A crossing is the segment from a track's previous ground point to its current one
intersecting a line, so it is counted once, on the frame where it happens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from detector.config import Lane, Line, Point, Polygon, Scene

WRONG_WAY = "wrong_way"


def ground_point(x1: float, y1: float, x2: float, y2: float) -> Point:
    return (x1 + x2) / 2, y2


def inside(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; points on an edge may fall either way."""
    x, y = point
    hit = False
    n = len(polygon)
    for i in range(n):
        (xa, ya), (xb, yb) = polygon[i], polygon[(i + 1) % n]
        if (ya > y) != (yb > y):
            x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
            if x < x_cross:
                hit = not hit
    return hit


def _side(a: Point, b: Point, p: Point) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_cross(p0: Point, p1: Point, a: Point, b: Point) -> bool:
    """Whether the movement p0 -> p1 passes through segment a-b (touching counts once).

    The start may lie on the line (it counts if the end is strictly on one side) but the
    end may not, so an object that stops on a line crosses it on the frame it leaves it.
    """
    d0, d1 = _side(a, b, p0), _side(a, b, p1)
    if d1 == 0 or (d0 != 0 and (d0 > 0) == (d1 > 0)):
        return False
    return _side(p0, p1, a) * _side(p0, p1, b) <= 0


def heading_deg(velocity: tuple[float, float]) -> float:
    """Direction of travel in image degrees: 0 = +x (right), 90 = +y (down)."""
    return math.degrees(math.atan2(velocity[1], velocity[0])) % 360


class SceneGeometry:
    """Zones and crossings for one camera; remembers each track's last ground point."""

    def __init__(self, scene: Scene) -> None:
        self._scene = scene
        self._zones: list[Polygon] = list(scene.zones)
        if scene.crosswalk:
            self._zones.append(Polygon(name="crosswalk", polygon=scene.crosswalk))
        self._lines: list[Line] = list(scene.lines)
        if scene.stop_line:
            self._lines.append(Line(name="stop_line", points=scene.stop_line))
        self._last: dict[int, tuple[Point, int]] = {}  # track -> (ground point, frame no.)
        self._frame = 0

    def zones_of(self, point: Point, velocity: tuple[float, float] | None) -> tuple[str, ...]:
        names = [z.name for z in self._zones if inside(point, z.polygon)]
        for lane in self._scene.lanes:
            if inside(point, lane.polygon):
                names.append(lane.name)
                if self._wrong_way(lane, velocity) and WRONG_WAY not in names:
                    names.append(WRONG_WAY)
        return tuple(names)

    def _wrong_way(self, lane: Lane, velocity: tuple[float, float] | None) -> bool:
        if velocity is None or math.hypot(*velocity) < self._scene.min_wrong_way_speed_px_s:
            return False
        dot = velocity[0] * lane.direction[0] + velocity[1] * lane.direction[1]
        return dot < 0

    def crossed(self, track_id: int | None, point: Point) -> tuple[str, ...]:
        """Lines crossed since this track's previous frame; remembers the new point."""
        if track_id is None:
            return ()
        previous = self._last.get(track_id, (None, 0))[0]
        self._last[track_id] = (point, self._frame)
        if previous is None:
            return ()
        return tuple(
            line.name
            for line in self._lines
            if segments_cross(previous, point, line.points[0], line.points[1])
        )

    def end_frame(self, keep_frames: int = 300) -> None:
        """Advance the frame count; forget tracks unseen for ``keep_frames`` frames."""
        self._frame += 1
        stale = [t for t, (_, seen) in self._last.items() if self._frame - seen > keep_frames]
        for track_id in stale:
            del self._last[track_id]
