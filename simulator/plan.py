"""Incident schedule of one camera, drawn up front from its seed (pure Python).

Incidents are placed in the signal cycle where they make sense: red-light runs early in a
red phase, near misses and wrong-way drivers in the middle of a green phase (when no
pedestrian crosses legally), congestion anywhere. Scripted road users follow keyframes
``(t, x, y)`` of their ground point; between keyframes they move in straight lines.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulator.config import IncidentConfig
from simulator.scene import SIZES, SPEEDS, Layout, Signal

Key = tuple[float, float, float]  # (local seconds, ground x, ground y)


@dataclass(frozen=True, slots=True)
class Script:
    """Keyframes of one scripted road user; afterwards it drives on or leaves the scene."""

    cls: str
    lane: str | None
    keys: tuple[Key, ...]
    then: str  # "natural" | "despawn"
    speed: float  # px/s at scale 1, used once it drives on naturally


@dataclass(frozen=True, slots=True)
class Planned:
    kind: str  # red_light_run | near_miss | wrong_way | congestion
    at: float  # trigger, local seconds, on a tick
    start: float  # reservation start: no natural spawns in `lane` from here...
    end: float  # ...until here (for congestion: the period's end)
    lane: str | None
    scripts: tuple[Script, ...] = ()


def on_tick(t: float, fps: float) -> float:
    """The first tick time at or after ``t``."""
    return math.ceil(t * fps - 1e-9) / fps


def _chance(rate_per_hour: float, seconds: float) -> float:
    return min(1.0, rate_per_hour * seconds / 3600.0)


def plan_camera(
    rng: random.Random,
    signal: Signal,
    cfg: IncidentConfig,
    layout: Layout,
    span_s: float,
    fps: float,
    idle: tuple[float, float] | None,
) -> list[Planned]:
    """All incidents of one camera in trigger order; none overlaps its idle span."""
    jams = _congestion(rng, cfg, span_s, fps)
    out: list[Planned] = list(jams)
    cycle = signal.cycle
    for g0 in signal.green_starts(span_s):
        red0 = g0 + signal.green + signal.yellow
        if rng.random() < _chance(cfg.red_light_per_hour, cycle):
            at = on_tick(red0 + rng.uniform(0.3, 1.5), fps)
            out.append(Planned("red_light_run", at, at, at + 6, rng.choice(("lane_1", "lane_2"))))
        u = rng.random()
        p_nm = _chance(cfg.near_miss_per_hour, cycle)
        p_ww = _chance(cfg.wrong_way_per_hour, cycle)
        if p_nm + p_ww > 1:  # one green phase stages at most one of the two
            p_nm, p_ww = p_nm / (p_nm + p_ww), p_ww / (p_nm + p_ww)
        if u < p_nm:
            tc = on_tick(g0 + rng.uniform(9.0, signal.green - 4.0), fps)
            out.append(_near_miss(rng, layout, tc, fps))
        elif u < p_nm + p_ww:
            ts = on_tick(g0 + rng.uniform(2.0, signal.green - 8.0), fps)
            out.append(_wrong_way(rng, layout, ts))
    return sorted((p for p in out if _fits(p, span_s, idle, jams)), key=lambda p: (p.at, p.kind))


def _fits(p: Planned, span_s: float, idle: tuple[float, float] | None, jams: list[Planned]) -> bool:
    if p.start < 0 or p.at >= span_s:
        return False
    if idle and p.start - 2 < idle[1] and p.end + 2 > idle[0]:
        return False
    if p.kind in ("near_miss", "wrong_way"):
        return not any(p.start - 5 < j.end and p.end + 5 > j.start for j in jams)
    return True


def _congestion(
    rng: random.Random, cfg: IncidentConfig, span_s: float, fps: float
) -> list[Planned]:
    expected = cfg.congestion_per_hour * span_s / 3600.0
    count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
    jams: list[Planned] = []
    for _ in range(count):
        c0 = on_tick(rng.uniform(0.0, max(0.0, span_s - cfg.congestion_s / 2)), fps)
        c1 = on_tick(c0 + cfg.congestion_s, fps)
        if all(c1 < j.start or c0 > j.end for j in jams):
            jams.append(Planned("congestion", c0, c0, c1, None))
    return jams


def _near_miss(rng: random.Random, layout: Layout, tc: float, fps: float) -> Planned:
    """A pedestrian steps into `lane_1` on green; a car brakes just short of them."""
    k, sk = layout.size_k, layout.speed_k
    lane_x = layout.lanes[0].centre
    ped_x = lane_x + rng.uniform(-4.0, 4.0) * k
    ped_y = layout.cw_y1 + 0.6 * (layout.cw_y2 - layout.cw_y1)
    gap = rng.uniform(3.0, 10.0) * k
    car_v = rng.uniform(45.0, 90.0) * sk
    ped_v = rng.uniform(35.0, 55.0) * sk
    h0 = SIZES["car"][1] * k
    car_y = (ped_y + gap + 0.45 * h0) / (1 - 0.55 * h0 / layout.height)
    ts = tc - (layout.height - car_y) / car_v
    side = layout.cw_x1 - 0.01 * layout.width
    tp = tc - (ped_x - side) / ped_v
    back = tc + 1.0 + (ped_x - layout.walk_left) / ped_v
    car = Script(
        "car",
        "lane_1",
        (
            (ts, lane_x, layout.height),
            (tc, lane_x, car_y),
            (tc + 0.5, lane_x, car_y - 1.5 * k),
            (tc + 2.5, lane_x, car_y - 1.5 * k),
        ),
        "natural",
        rng.uniform(*SPEEDS["car"]),
    )
    ped = Script(
        "person",
        None,
        (
            (tp, side, ped_y),
            (tc, ped_x, ped_y),
            (tc + 1.0, ped_x, ped_y),
            (back, layout.walk_left, ped_y),
        ),
        "despawn",
        0.0,
    )
    at = on_tick(min(ts, tp), fps)
    return Planned("near_miss", at, at - 8.0, tc + 6.0, "lane_1", (car, ped))


def _wrong_way(rng: random.Random, layout: Layout, ts: float) -> Planned:
    """A vehicle drives up `lane_3`, against its downward direction."""
    lane = layout.lanes[2]
    v = rng.uniform(70.0, 120.0) * layout.speed_k
    top = 0.08 * layout.height
    end = ts + (layout.height - top) / v
    cls = "car" if rng.random() < 0.8 else "motorcycle"
    script = Script(
        cls, "lane_3", ((ts, lane.centre, layout.height), (end, lane.centre, top)), "despawn", 0.0
    )
    return Planned("wrong_way", ts, ts - 7.0, end + 1.0, "lane_3", (script,))
