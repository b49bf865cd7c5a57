"""Hand-built contract messages and a pure harness around `TrafficCep` (no JVM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract import TrafficAlert
from tests.factories import detection_dict
from udfs.cep.buffer import DictStore
from udfs.patterns import facts
from udfs.patterns.config import CepConfig, load
from udfs.patterns.engine import CepTimeout, TrafficCep, new_core

T0 = 1_700_000_000_000
CONFIG = Path(__file__).resolve().parents[3] / "flink-conf" / "patterns.yaml"


def config() -> CepConfig:
    return load(CONFIG)


def vehicle(track: int, **extra: Any) -> dict[str, Any]:
    return {
        "class_name": "car",
        "confidence": 0.9,
        "track_id": track,
        "box": {"x1": 10, "y1": 20, "x2": 110, "y2": 90},
        **extra,
    }


def person() -> dict[str, Any]:
    return {"class_name": "person", "confidence": 0.9, "box": {"x1": 1, "y1": 2, "x2": 9, "y2": 30}}


def frame(at_s: float, objects: list[dict[str, Any]], **extra: Any) -> str:
    doc = detection_dict(
        captured_at_ms=int(T0 + at_s * 1000), frame_id=int(at_s * 10), objects=objects, **extra
    )
    doc.setdefault("groups", [])
    return json.dumps(doc)


def crossing(at_s: float, track: int, signal: str | None = "red") -> tuple[str, str]:
    return "detection", frame(
        at_s, [vehicle(track, crossed_lines=["stop_line"])], groups=[], signal_state=signal
    )


def group_frame(
    at_s: float, ttc: float | None, distance: float | None = None, crop: str | None = None
) -> tuple[str, str]:
    features: dict[str, Any] = {}
    if ttc is not None:
        features["time_to_collision_s"] = ttc
    if distance is not None:
        features["min_ped_vehicle_distance_px"] = distance
    group = {
        "group_id": "g0",
        "member_indices": [0, 1],
        "box": {"x1": 1, "y1": 2, "x2": 110, "y2": 90},
        "features": features,
    }
    if crop is not None:
        group["crop_sha256"] = crop
    return "detection", frame(at_s, [vehicle(3), person()], groups=[group])


def verdict(
    at_s: float, level: str, frame_id: int = 1, crop: str | None = None
) -> tuple[str, str]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "camera_id": "cam-1",
        "frame_id": frame_id,
        "group_id": "g0",
        "captured_at_ms": int(T0 + at_s * 1000),
        "risk_level": level,
        "reason": "test",
        "confidence": 0.9,
        "source": "llm",
    }
    if crop is not None:
        doc["crop_sha256"] = crop
    return "risk", json.dumps(doc)


def window(start_s: int, index: float, length_s: int = 10) -> tuple[str, str]:
    doc = {
        "schema_version": 1,
        "camera_id": "cam-1",
        "window_start_ms": T0 + start_s * 1000,
        "window_end_ms": T0 + (start_s + length_s) * 1000,
        "frames": 10,
        "objects": 50,
        "vehicles": 50,
        "pedestrians": 0,
        "distinct_tracks": 10,
        "mean_vehicles_per_frame": 5.0,
        "peak_vehicles_per_frame": 6,
        "congestion_index": index,
    }
    return "window", json.dumps(doc)


def signal(at_s: float, state: str) -> tuple[str, str]:
    doc = {
        "schema_version": 1,
        "camera_id": "cam-1",
        "changed_at_ms": int(T0 + at_s * 1000),
        "state": state,
    }
    return "signal", json.dumps(doc)


def wrong_way_frame(at_s: float, track: int, vy: float, lane: str = "lane_3") -> tuple[str, str]:
    obj = vehicle(track, velocity_px_s=[0.0, vy], zones=[lane])
    return "detection", frame(at_s, [obj], groups=[])


class Harness:
    """Feeds messages in the given (arrival) order; watermark = max seen - bound."""

    def __init__(self, cfg: CepConfig | None = None, bound_ms: int = 5000) -> None:
        self.cfg = cfg or config()
        self.cep = TrafficCep(self.cfg)
        self.store, self.core, self.bound_ms = DictStore(), new_core(), bound_ms
        self.alerts: list[TrafficAlert] = []
        self.timeouts: list[CepTimeout] = []
        self.max_seen = 0

    def feed(self, messages: list[tuple[str, str]]) -> Harness:
        for source, raw in messages:
            for fact in facts.from_message(source, raw, self.cfg.facts):  # type: ignore[arg-type]
                assert self.cep.ingest(self.store, self.core, fact.as_event())
                self.max_seen = max(self.max_seen, fact.ts_ms)
            self.advance(self.max_seen - self.bound_ms)
        return self

    def advance(self, watermark: int) -> None:
        out = self.cep.advance(self.store, self.core, "cam-1", watermark)
        self.alerts += out.alerts
        self.timeouts += out.timeouts

    def flush(self) -> Harness:
        self.advance(self.max_seen + 10**7)
        return self

    def patterns(self) -> list[str]:
        return [a.pattern for a in self.alerts]


def crosswalk_frame(at_s: float, track: int, speed: float) -> tuple[str, str]:
    """A tracked car in the crosswalk moving at `speed` px/s."""
    obj = vehicle(track, velocity_px_s=[0.0, -speed], zones=["crosswalk"])
    return "detection", frame(at_s, [obj], groups=[])
