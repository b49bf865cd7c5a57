"""The simulation loop: N camera worlds, tick by tick, through faults, into messages.

Output is in event-time order: each camera has a fixed offset inside the frame interval and
cameras are visited in offset order, so `captured_at_ms` never decreases unless a fault
holds an event back. Everything random comes from ``random.Random`` seeded with the run
seed and the camera index: the same config gives the same bytes.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from simulator.config import SimConfig
from simulator.crops import CropCache
from simulator.faults import FaultCounts, FaultInjector
from simulator.frames import FrameEncoder
from simulator.plan import Planned, plan_camera
from simulator.scene import Layout, Signal, layout_for
from simulator.truth import CameraLabeller, IncidentLabel
from simulator.world import CameraWorld


@dataclass
class RunReport:
    """Counts of one run (complete once the run's messages are exhausted)."""

    cameras: int = 0
    events: int = 0  # detection events generated (before faults)
    messages: int = 0  # messages emitted (after faults)
    objects: int = 0
    groups: int = 0
    idle_suppressed: int = 0
    incidents_planned: Counter[str] = field(default_factory=Counter)
    incidents_cancelled: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    faults: FaultCounts = field(default_factory=FaultCounts)
    first_event_ms: int | None = None
    last_event_ms: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            k: v
            for k, v in vars(self).items()
            if k not in ("faults", "labels", "incidents_planned")
        }
        out["incidents_planned"] = dict(sorted(self.incidents_planned.items()))
        out["labels"] = dict(sorted(self.labels.items()))
        out["faults"] = self.faults.as_dict()
        return out


@dataclass
class _Camera:
    index: int
    camera_id: str
    id_json: str
    key: bytes
    offset_ms: int
    idle: tuple[float, float] | None
    world: CameraWorld
    labeller: CameraLabeller


class Run:
    """Iterate for ``(key, value)`` messages; `labels` and `report` fill in as it goes."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.report = RunReport(cameras=config.cameras)
        self.labels: list[IncidentLabel] = []
        self._started = False

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        if self._started:
            raise RuntimeError("a Run can be iterated once; make a new one to replay")
        self._started = True
        return self._messages()

    def _messages(self) -> Iterator[tuple[bytes, bytes]]:
        cfg = self.config
        layout = layout_for(cfg.scene)
        cams = _cameras(cfg, layout, self.report, self.labels)
        faults = FaultInjector(cfg.faults, random.Random(f"{cfg.seed}/faults"))
        self.report.faults = faults.counts
        crops = CropCache(cfg.crop_variants) if cfg.crops == "inline" else None
        encoder = FrameEncoder(
            cfg.scene.width,
            cfg.scene.height,
            cfg.detector,
            crops,
            cfg.incidents.near_miss_ttc_s,
            rendered=cfg.crops == "rendered",
            sees_signal=cfg.scene.camera_sees_signal,
        )
        report, limit = self.report, cfg.count
        for k in range(_max_ticks(cfg)):
            base = cfg.start_ms + round(k * 1000 / cfg.fps)
            for cam in cams:
                frame = cam.world.step(k)
                if cam.idle and cam.idle[0] <= k / cfg.fps < cam.idle[1]:
                    report.idle_suppressed += 1
                    continue
                t_ms = base + cam.offset_ms
                value, groups = encoder.encode(cam.id_json, k, t_ms, frame, cam.index)
                cam.labeller.observe(t_ms, frame, groups)
                report.events += 1
                report.objects += len(frame.seen)
                report.groups += len(groups)
                if report.first_event_ms is None:
                    report.first_event_ms = t_ms
                report.last_event_ms = t_ms
                if faults.active:
                    yield from faults.push(cam.key, value, t_ms)
                else:
                    yield cam.key, value
                if limit is not None and report.events >= limit:
                    break
            self._collect(cams, final=False)
            if limit is not None and report.events >= limit:
                break
        yield from faults.flush()
        self._collect(cams, final=True)
        report.messages = faults.messages if faults.active else report.events
        report.incidents_cancelled = sum(c.world.cancelled for c in cams)

    def _collect(self, cams: list[_Camera], final: bool) -> None:
        for cam in cams:
            new = cam.labeller.finish() if final else cam.labeller.take()
            self.labels.extend(new)
            self.report.labels.update(label.kind for label in new)


def simulate(config: SimConfig) -> Run:
    """A run of ``config``: iterate it for messages, then read `labels` and `report`."""
    return Run(config)


def camera_ids(config: SimConfig) -> list[str]:
    width = max(4, len(str(config.cameras - 1)))
    return [f"{config.camera_prefix}{i:0{width}d}" for i in range(config.cameras)]


def _max_ticks(cfg: SimConfig) -> int:
    if cfg.count is None:
        return cfg.frames_per_camera
    return cfg.frames_per_camera * 20  # count mode: silent cameras need extra ticks


def _idle_cameras(cfg: SimConfig) -> dict[int, tuple[float, float]]:
    f = cfg.faults
    if not f.idle_cameras:
        return {}
    rng = random.Random(f"{cfg.seed}/idle")
    start = f.idle_at_s if f.idle_at_s is not None else cfg.span_s / 2
    end = start + f.idle_for_s if f.idle_for_s is not None else math.inf
    return {i: (start, end) for i in rng.sample(range(cfg.cameras), f.idle_cameras)}


def _cameras(
    cfg: SimConfig, layout: Layout, report: RunReport, labels: list[IncidentLabel]
) -> list[_Camera]:
    idle = _idle_cameras(cfg)
    cams = []
    for i, camera_id in enumerate(camera_ids(cfg)):
        rng, offset, signal = camera_clock(cfg, i)
        span = idle.get(i)
        plans = plan_camera(rng, signal, cfg.incidents, layout, cfg.span_s, cfg.fps, span)
        report.incidents_planned.update(p.kind for p in plans)
        world = CameraWorld(rng, layout, cfg.scene, signal, cfg.fps, plans)
        to_ms = _to_ms(cfg, offset)
        jams = [(to_ms(p.start), to_ms(p.end)) for p in plans if p.kind == "congestion"]
        labeller = CameraLabeller(camera_id, cfg.incidents.near_miss_ttc_s, jams, world.injected)
        if span is not None:
            labels.append(_idle_label(camera_id, span, to_ms, cfg))
            report.labels["camera_idle"] += 1
        cams.append(
            _Camera(
                i, camera_id, f'"{camera_id}"', camera_id.encode(), offset, span, world, labeller
            )
        )
    cams.sort(key=lambda c: (c.offset_ms, c.index))
    return cams


def camera_clock(cfg: SimConfig, index: int) -> tuple[random.Random, int, Signal]:
    """Camera ``index``'s random stream, its offset inside the frame interval (ms) and its
    signal; drawn first from the stream, so the controller feed (simulator.signals) can
    recompute them without running the world."""
    rng = random.Random(f"{cfg.seed}/{index}")
    offset = rng.randrange(max(1, math.floor(1000 / cfg.fps)))
    return rng, offset, Signal(cfg.scene.signal, rng.uniform(0, cfg.scene.signal.cycle_s))


def _to_ms(cfg: SimConfig, offset: int) -> Callable[[float], int]:
    return lambda s: cfg.start_ms + round(s * 1000) + offset


def _idle_label(
    camera_id: str, span: tuple[float, float], to_ms: Callable[[float], int], cfg: SimConfig
) -> IncidentLabel:
    end = min(span[1], cfg.span_s)
    return IncidentLabel(
        kind="camera_idle",
        camera_id=camera_id,
        start_ms=to_ms(span[0]),
        end_ms=to_ms(end),
        injected=True,
        details={"silent_s": round(end - span[0], 3)},
    )


__all__ = ["Planned", "Run", "RunReport", "camera_clock", "camera_ids", "simulate"]
