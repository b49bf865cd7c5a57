"""The fixed street layout every simulated camera looks at, scaled to the frame size.

Image coordinates, y down. Three vertical lanes: `lane_1` and `lane_2` carry the signalled
approach upwards (away from the camera) over the `stop_line` and then the `crosswalk`;
`lane_3` carries traffic downwards and yields at the crosswalk. Pedestrians cross the
crosswalk on red and walk the sidewalks left and right of the road. Objects further up the
image are smaller (a simple perspective scale), so boxes look plausible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.config import SceneConfig, SignalConfig

# Class sizes (w, h) in pixels at scale 1 for a 640-pixel-wide frame, and speed ranges in
# px/s at scale 1 for a 480-pixel-high frame.
SIZES: dict[str, tuple[float, float]] = {
    "car": (64.0, 48.0),
    "truck": (80.0, 72.0),
    "bus": (84.0, 80.0),
    "motorcycle": (24.0, 40.0),
    "bicycle": (22.0, 40.0),
    "person": (20.0, 50.0),
}
SPEEDS: dict[str, tuple[float, float]] = {
    "car": (110.0, 170.0),
    "truck": (80.0, 120.0),
    "bus": (70.0, 110.0),
    "motorcycle": (120.0, 180.0),
    "bicycle": (50.0, 80.0),
    "person": (45.0, 75.0),
}
VEHICLE_MIX: tuple[tuple[str, float], ...] = (
    ("car", 0.70),
    ("truck", 0.08),
    ("bus", 0.05),
    ("motorcycle", 0.10),
    ("bicycle", 0.07),
)
MIN_WRONG_WAY_SPEED_PX_S = 5.0  # as the detector's scene default


@dataclass(frozen=True, slots=True)
class Lane:
    name: str
    x1: float
    x2: float
    direction: int  # -1: moves up the image (towards smaller y), +1: down

    @property
    def centre(self) -> float:
        return (self.x1 + self.x2) / 2


@dataclass(frozen=True, slots=True)
class Layout:
    """Pixel geometry of one frame size; built once per run by `layout_for`."""

    width: float
    height: float
    lanes: tuple[Lane, ...]
    stop_y: float
    stop_x1: float
    stop_x2: float
    cw_x1: float
    cw_x2: float
    cw_y1: float
    cw_y2: float
    yield_y: float
    walk_left: float
    walk_right: float
    size_k: float
    speed_k: float

    def scale(self, y: float) -> float:
        """Perspective: objects near the top of the frame look about half as large."""
        return 0.45 + 0.55 * min(max(y, 0.0), self.height) / self.height

    def lane_at(self, x: float) -> Lane | None:
        for lane in self.lanes:
            if lane.x1 <= x < lane.x2:
                return lane
        return None

    def in_crosswalk(self, x: float, y: float) -> bool:
        return self.cw_x1 <= x <= self.cw_x2 and self.cw_y1 <= y <= self.cw_y2

    def scene_dict(self) -> dict[str, object]:
        """The layout in the detector's scene-config shape (for docs and demos)."""
        h = self.height
        return {
            "stop_line": [[self.stop_x1, self.stop_y], [self.stop_x2, self.stop_y]],
            "crosswalk": [
                [self.cw_x1, self.cw_y1],
                [self.cw_x2, self.cw_y1],
                [self.cw_x2, self.cw_y2],
                [self.cw_x1, self.cw_y2],
            ],
            "lanes": [
                {
                    "name": lane.name,
                    "polygon": [[lane.x1, 0], [lane.x2, 0], [lane.x2, h], [lane.x1, h]],
                    "direction": [0, lane.direction],
                }
                for lane in self.lanes
            ],
        }


def layout_for(scene: SceneConfig) -> Layout:
    w, h = float(scene.width), float(scene.height)
    lanes = (
        Lane("lane_1", 0.3125 * w, 0.4375 * w, -1),
        Lane("lane_2", 0.4375 * w, 0.5625 * w, -1),
        Lane("lane_3", 0.5625 * w, 0.6875 * w, +1),
    )
    return Layout(
        width=w,
        height=h,
        lanes=lanes,
        stop_y=0.70 * h,
        stop_x1=lanes[0].x1,
        stop_x2=lanes[1].x2,
        cw_x1=0.29 * w,
        cw_x2=0.71 * w,
        cw_y1=0.415 * h,
        cw_y2=0.51 * h,
        yield_y=0.415 * h - 0.09 * h,
        walk_left=0.22 * w,
        walk_right=0.78 * w,
        size_k=w / 640.0,
        speed_k=h / 480.0,
    )


class Signal:
    """Green, yellow, red in turn; each camera starts at its own point of the cycle."""

    def __init__(self, cfg: SignalConfig, phase_s: float) -> None:
        self.green = cfg.green_s
        self.yellow = cfg.yellow_s
        self.cycle = cfg.cycle_s
        self.phase = phase_s

    def state(self, t: float) -> str:
        pos = (t + self.phase) % self.cycle
        if pos < self.green:
            return "green"
        return "yellow" if pos < self.green + self.yellow else "red"

    def changes(self, until: float) -> list[tuple[float, str]]:
        """(local time, new state) of the state at 0 and every change in (0, until)."""
        out = [(0.0, self.state(0.0))]
        for g0 in self.green_starts(until):
            for t, state in ((g0, "green"), (g0 + self.green, "yellow"),
                             (g0 + self.green + self.yellow, "red")):  # fmt: skip
                if 0.0 < t < until:
                    out.append((t, state))
        return sorted(out)

    def green_starts(self, until: float) -> list[float]:
        """Local times (may be negative) at which a green phase starts, up to ``until``."""
        first = -((self.phase) % self.cycle)
        count = math.ceil((until - first) / self.cycle) + 1
        return [first + n * self.cycle for n in range(count)]
