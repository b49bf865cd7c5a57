"""What every peer computes, in plain Python: the job's per-camera tumbling windows (the same
fields as `udfs.windows.sql` + `udfs.windows.stats`), Flink's per-partition watermark, and the
job's heuristic verdicts (`udfs.risk.rules.heuristic_verdict`) for every group.

Semantics follow the job: a window [start, start + W) of a camera closes once the smallest
watermark over the partitions that carry data passes its end (watermark = the partition's
largest event time minus the bound); an event whose window is already closed is late and
counted, not used (the job dead-letters it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contract import VEHICLE_CLASSES, DetectionEvent, RiskAssessment, WindowStats, parse
from contract.codec import ContractError
from udfs.risk.rules import heuristic_verdict
from udfs.windows.sql import CLASS_COLUMNS
from udfs.windows.stats import CongestionModel, window_stats


@dataclass
class WindowAccumulator:
    """One camera's window: what the SQL aggregation reads from its frames and objects."""

    frame_ids: set[int] = field(default_factory=set)
    objects: int = 0
    tracks: set[int] = field(default_factory=set)
    peak_vehicles: int = 0
    speed_sum: float = 0.0
    speeds: int = 0
    crossings: list[str] = field(default_factory=list)
    per_class: dict[str, int] = field(default_factory=dict)

    def add(self, doc: dict[str, Any]) -> None:
        """One accepted event (the contract's JSON, already parsed)."""
        self.frame_ids.add(doc["frame_id"])
        vehicles = 0
        for obj in doc["objects"]:
            cls = obj["class_name"]
            self.objects += 1
            self.per_class[cls] = self.per_class.get(cls, 0) + 1
            if obj.get("track_id") is not None:
                self.tracks.add(obj["track_id"])
            vehicle = cls in VEHICLE_CLASSES
            vehicles += vehicle
            velocity = obj.get("velocity_px_s")
            if vehicle and velocity is not None:
                self.speed_sum += math.hypot(velocity[0], velocity[1])
                self.speeds += 1
            crossed = obj.get("crossed_lines") or ()
            if crossed:
                self.crossings.append("|".join(obj.get("zones") or ()) + ">" + "|".join(crossed))
        self.peak_vehicles = max(self.peak_vehicles, vehicles)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable form, for peers that keep windows in their own state store."""
        return {
            "frames": sorted(self.frame_ids), "objects": self.objects,
            "tracks": sorted(self.tracks), "peak": self.peak_vehicles,
            "speed_sum": self.speed_sum, "speeds": self.speeds,
            "crossings": self.crossings, "per_class": self.per_class,
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WindowAccumulator:
        return cls(
            set(state["frames"]), state["objects"], set(state["tracks"]), state["peak"],
            state["speed_sum"], state["speeds"], list(state["crossings"]),
            dict(state["per_class"]),
        )  # fmt: skip

    def stats(
        self, camera_id: str, start_ms: int, end_ms: int, congestion: CongestionModel
    ) -> WindowStats:
        return window_stats(
            camera_id, start_ms, end_ms, len(self.frame_ids), self.objects, len(self.tracks),
            self.peak_vehicles, self.speed_sum / self.speeds if self.speeds else None,
            ";".join(self.crossings) or None,
            *(self.per_class.get(name, 0) for name in CLASS_COLUMNS),
            congestion=congestion,
        )  # fmt: skip


@dataclass
class Output:
    """What one batch of records produced."""

    windows: list[WindowStats] = field(default_factory=list)
    verdicts: list[RiskAssessment] = field(default_factory=list)


@dataclass
class PeerCore:
    """Windows and verdicts over records of any number of partitions; feed it in arrival order."""

    window_s: int = 10
    bound_s: float = 2.0
    congestion: CongestionModel = field(default_factory=CongestionModel)
    # window start -> camera -> accumulator: tumbling windows are aligned, so every camera's
    # window of one start closes at the same watermark
    open: dict[int, dict[str, WindowAccumulator]] = field(default_factory=dict)
    partition_max_ms: dict[int, int] = field(default_factory=dict)
    closed_until: dict[str, int] = field(default_factory=dict)  # camera -> end of last closed
    events: int = 0
    late: int = 0
    invalid: int = 0

    def add(self, records: Iterable[tuple[int, bytes | None]]) -> Output:
        """Records as (partition, value); returns the windows they closed and their verdicts."""
        out = Output()
        window_ms = self.window_s * 1000
        for partition, value in records:
            self.events += 1
            doc = _json(value)
            if doc is None:
                self.invalid += 1
                continue
            camera, ts = doc["camera_id"], doc["captured_at_ms"]
            start = ts - ts % window_ms
            if start + window_ms <= self.closed_until.get(camera, -1):
                self.late += 1
                continue
            by_camera = self.open.setdefault(start, {})
            if camera not in by_camera:
                by_camera[camera] = WindowAccumulator()
            by_camera[camera].add(doc)
            if doc.get("groups"):
                out.verdicts.extend(_verdicts(value))
            if ts > self.partition_max_ms.get(partition, -1):
                self.partition_max_ms[partition] = ts
        out.windows = self.close_due()
        return out

    def watermark_ms(self) -> int | None:
        """Smallest per-partition watermark (partitions without data yet hold nothing)."""
        if not self.partition_max_ms:
            return None
        return min(self.partition_max_ms.values()) - int(self.bound_s * 1000)

    def close_due(self) -> list[WindowStats]:
        """Every open window whose end the watermark has reached, oldest first."""
        mark = self.watermark_ms()
        if mark is None:
            return []
        window_ms = self.window_s * 1000
        closed = []
        for start in sorted(s for s in self.open if s + window_ms <= mark):
            end = start + window_ms
            for camera, acc in sorted(self.open.pop(start).items()):
                closed.append(acc.stats(camera, start, end, self.congestion))
                self.closed_until[camera] = max(self.closed_until.get(camera, -1), end)
        return closed


def _json(value: bytes | None) -> dict[str, Any] | None:
    """The event's JSON when it has the fields the windows read; else None (counted)."""
    if value is None:
        return None
    try:
        doc = json.loads(value)
        if isinstance(doc, dict) and isinstance(doc.get("captured_at_ms"), int):
            return doc
    except ValueError:
        pass
    return None


def verdicts_of(doc: dict[str, Any]) -> list[RiskAssessment]:
    """One heuristic verdict per group of an already decoded event (a JSON-deserialising
    peer such as Quix Streams hands over dicts)."""
    try:
        event = DetectionEvent.model_validate(doc)
    except ValueError:
        return []
    return [heuristic_verdict(event, group) for group in event.groups]


def _verdicts(value: bytes | None) -> list[RiskAssessment]:
    """One heuristic verdict per group, from the contract-parsed event (as the job's risk
    stage parses it)."""
    try:
        event = parse(DetectionEvent, value)
    except ContractError:
        return []
    return [heuristic_verdict(event, group) for group in event.groups]
