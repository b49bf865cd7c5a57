"""What a detector would report about the simulated road users in one frame.

Boxes are rounded to 0.1 px like a real detector's output; velocity is the box centre's
displacement since the previous frame (as a tracker estimates it); zones and line crossings
follow the detector's rules (`detector/scene.py`): the ground point is the bottom centre of
the box, a crossing is the ground point moving through the line between two frames.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from simulator.plan import Script
from simulator.scene import MIN_WRONG_WAY_SPEED_PX_S, Layout

_CROSSWALK = ("crosswalk",)


@dataclass(slots=True)
class Agent:
    track_id: int
    cls: str
    kind: str  # vehicle | crosser | walker
    lane: str | None
    gx: float
    gy: float
    direction: int  # vehicles/walkers: +-1 along y; crossers: +-1 along x
    speed: float  # px/s at scale 1
    conf: float
    w0: float
    h0: float
    runner: bool = False
    script: Script | None = None
    prev: tuple[float, float, float] | None = None  # last reported centre x, y, ground y


@dataclass(slots=True)
class Seen:
    """An agent as the detector would report it in this frame."""

    track_id: int
    cls: str
    conf: float
    box: tuple[float, float, float, float]
    velocity: tuple[float, float] | None
    zones: tuple[str, ...]
    crossed: tuple[str, ...]


@dataclass(slots=True)
class Frame:
    t: float
    signal: str
    seen: list[Seen] = field(default_factory=list)


def report(
    agents: list[Agent], lay: Layout, fps: float, rng: random.Random, t: float, state: str
) -> Frame:
    """The agents as the detector would report them: boxes, velocity, zones, crossings."""
    frame = Frame(t, state)
    inv_dt, rnd = fps, rng.random
    width, height, stop_y = lay.width, lay.height, lay.stop_y
    seen = frame.seen
    for a in agents:  # the hottest loop of the simulator: plain comparisons, few calls
        ay, ax = a.gy, a.gx
        s = 0.45 + 0.55 * (0.0 if ay < 0 else (height if ay > height else ay)) / height
        half, h = a.w0 * s / 2, a.h0 * s
        x1, x2, y1 = ax - half, ax + half, ay - h
        x1 = 0.0 if x1 < 0 else x1
        x2 = width if x2 > width else x2
        y1 = 0.0 if y1 < 0 else y1
        y2 = height if ay > height else ay
        if x2 - x1 < 2 or y2 - y1 < 2:
            a.prev = None
            continue
        box = (
            int(x1 * 10 + 0.5) / 10,
            int(y1 * 10 + 0.5) / 10,
            int(x2 * 10 + 0.5) / 10,
            int(y2 * 10 + 0.5) / 10,
        )
        gx, gy = (box[0] + box[2]) / 2, box[3]
        cy = (box[1] + gy) / 2
        velocity = None
        crossed: tuple[str, ...] = ()
        if a.prev is not None:
            pcx, pcy, pgy = a.prev
            velocity = (_tenths((gx - pcx) * inv_dt), _tenths((cy - pcy) * inv_dt))
            if (pgy > stop_y) != (gy > stop_y) or pgy == stop_y:
                crossed = _crossed(lay, pcx, pgy, gx, gy)
        a.prev = (gx, cy, gy)
        conf = int((a.conf + (rnd() - 0.5) * 0.06) * 100 + 0.5) / 100
        zones = _zones(lay, gx, gy, velocity)
        seen.append(Seen(a.track_id, a.cls, conf, box, velocity, zones, crossed))
    return frame


def _crossed(lay: Layout, x0: float, y0: float, x1: float, y1: float) -> tuple[str, ...]:
    """`stop_line` when the ground point moved through it (the detector's rule)."""
    d0, d1 = y0 - lay.stop_y, y1 - lay.stop_y
    if d1 == 0 or (d0 != 0 and (d0 > 0) == (d1 > 0)):
        return ()
    f = d0 / (d0 - d1)
    x = x0 + f * (x1 - x0)
    return ("stop_line",) if lay.stop_x1 <= x <= lay.stop_x2 else ()


def _zones(lay: Layout, gx: float, gy: float, v: tuple[float, float] | None) -> tuple[str, ...]:
    """Zone names in the detector's order: crosswalk, lane, `wrong_way`."""
    cw = lay.cw_x1 <= gx <= lay.cw_x2 and lay.cw_y1 <= gy <= lay.cw_y2
    lane = lay.lane_at(gx)
    if lane is None:
        return _CROSSWALK if cw else ()
    if (
        v is not None
        and v[1] * lane.direction < 0
        and v[0] * v[0] + v[1] * v[1] >= MIN_WRONG_WAY_SPEED_PX_S**2
    ):
        return ("crosswalk", lane.name, "wrong_way") if cw else (lane.name, "wrong_way")
    return ("crosswalk", lane.name) if cw else (lane.name,)


def _tenths(x: float) -> float:
    """``round(x, 1)`` without its cost (ties may round differently; only speed matters)."""
    return math.floor(x * 10 + 0.5) / 10 + 0.0
