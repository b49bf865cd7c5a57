"""Traffic facts: the small records the patterns consume, derived from contract messages by
pure functions. Facts are what the watermark buffer and the matcher state hold, so they stay
small (no crops, no boxes: a crop is referenced by its SHA-256) and JSON-friendly
(`as_event`). A fact read from a frame names it (`frame_id`, and `group_id`/`crop_sha256`
for a group's facts), so an alert can list its evidence (`evidence` below).

Kinds (see docs/cep.md):
- `signal`: a controller signal change (label = state).
- `stop_line_crossing`: a vehicle crossed the stop line (label = the camera's own signal
  reading); becomes `red_light_run` once joined with the signal state that applied.
- `wrong_way`: a tracked vehicle moving against its lane's allowed direction (lane, value = speed).
- `conflict`: a pedestrian-vehicle group under the conflict rule (value = ttc, ref = frame/group).
- `close_approach`: a group whose time to collision is under `facts.max_ttc_s` (value = ttc).
- `crosswalk_vehicle`: a tracked vehicle in the crosswalk zone with a velocity (value = speed).
- `risk_verdict`: an LLM/heuristic verdict (label = risk level, ref = frame/group).
- `window`: one window's statistics (value = congestion index, ref = "start-end").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract import (
    VEHICLE_CLASSES,
    ContractError,
    DetectionEvent,
    RiskAssessment,
    WindowStats,
    parse,
)
from udfs.patterns.config import FactRules
from udfs.patterns.evidence import is_sha256
from udfs.patterns.signals import SignalChange, effective_signal
from udfs.patterns.slots import slot_of

FactKind = Literal[
    "signal",
    "stop_line_crossing",
    "red_light_run",
    "wrong_way",
    "conflict",
    "close_approach",
    "crosswalk_vehicle",
    "risk_verdict",
    "window",
]
Source = Literal["detection", "window", "risk", "signal"]
# Order among facts with the same timestamp: a signal change applies to events at its instant,
# and a verdict (same event time as its frame) comes after the frame's facts.
_RANK: dict[str, int] = {"signal": 0, "risk_verdict": 2, "window": 3}
# Road users bound by the signal at the stop line: vehicles, and cyclists riding on the road.
SIGNAL_BOUND_CLASSES = VEHICLE_CLASSES | {"bicycle"}


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FactKind = Field(description="What happened.")
    camera_id: str = Field(min_length=1, description="Camera (the CEP key).")
    ts_ms: int = Field(ge=0, description="Event time, epoch ms.")
    track_ids: tuple[int, ...] = Field(default=(), description="Tracks involved.")
    lane: str | None = Field(default=None, description="Lane zone, for wrong_way.")
    label: str | None = Field(default=None, description="Signal state or risk level.")
    value: float | None = Field(default=None, description="ttc, speed or congestion index.")
    ref: str | None = Field(default=None, description="frame/group, or window bounds.")
    frame_id: int | None = Field(default=None, ge=0, description="Frame it was read from.")
    group_id: str | None = Field(default=None, description="Group of that frame, if any.")
    crop_sha256: str | None = Field(
        default=None, description="SHA-256 of the group's crop (Redis `crop:<sha256>`)."
    )

    def as_event(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def rank(event: dict[str, Any] | Any) -> int:
    """Tie-break for facts at one timestamp (see `udfs.cep.buffer.order_key`)."""
    return _RANK.get(str(event.get("kind")), 1)


def from_signal(change: SignalChange) -> Fact:
    return Fact(
        kind="signal", camera_id=change.camera_id, ts_ms=change.changed_at_ms, label=change.state
    )


def from_window(stats: WindowStats) -> Fact:
    """Stamped at the window's last millisecond, its event time in Flink."""
    return Fact(
        kind="window",
        camera_id=stats.camera_id,
        ts_ms=max(stats.window_end_ms - 1, stats.window_start_ms),
        value=stats.congestion_index,
        ref=f"{stats.window_start_ms}-{stats.window_end_ms}",
    )


@dataclass(frozen=True)
class WindowFacts:
    """The windows the pattern stage counts, made into facts where the WindowStats is made
    (`udfs.windows.flink`): those at `min_congestion` or above (`CepConfig.
    min_congestion_index`), on the camera's key slot of the pattern operator."""

    min_congestion: float
    key_slots: int = 1

    def of(self, stats: WindowStats) -> tuple[int, str] | None:
        """(key slot, JSON list of the window's fact), or None below the threshold."""
        index = stats.congestion_index
        if index is None or index < self.min_congestion:
            return None
        fact = [from_window(stats).as_event()]
        return slot_of(stats.camera_id, self.key_slots), json.dumps(fact, separators=(",", ":"))


def from_risk(verdict: RiskAssessment) -> Fact:
    return Fact(
        kind="risk_verdict",
        camera_id=verdict.camera_id,
        ts_ms=verdict.captured_at_ms,
        label=verdict.risk_level,
        ref=f"{verdict.frame_id}/{verdict.group_id}",
        frame_id=verdict.frame_id,
        group_id=verdict.group_id,
        crop_sha256=verdict.crop_sha256 if is_sha256(verdict.crop_sha256) else None,
    )


def from_detection(event: DetectionEvent, rules: FactRules) -> list[Fact]:
    """All facts of one frame: crossings, wrong-way observations, conflicts, close approaches."""
    return [
        *_crossings(event, rules),
        *_wrong_way(event, rules),
        *_in_crosswalk(event, rules),
        *_groups(event, rules),
    ]


def _crossings(event: DetectionEvent, rules: FactRules) -> list[Fact]:
    return [
        Fact(
            kind="stop_line_crossing",
            camera_id=event.camera_id,
            ts_ms=event.captured_at_ms,
            track_ids=(obj.track_id,) if obj.track_id is not None else (),
            label=event.signal_state,
            frame_id=event.frame_id,
        )
        for obj in event.objects
        if obj.class_name in SIGNAL_BOUND_CLASSES and rules.stop_line in obj.crossed_lines
    ]


def lane_direction(rules: FactRules, camera_id: str, lane: str) -> tuple[float, float] | None:
    """The camera's own entry wins over the `*` default."""
    for key in (camera_id, "*"):
        direction = rules.lane_directions.get(key, {}).get(lane)
        if direction is not None:
            return direction
    return None


def _wrong_way(event: DetectionEvent, rules: FactRules) -> list[Fact]:
    out: list[Fact] = []
    for obj in event.objects:
        if obj.class_name not in VEHICLE_CLASSES or obj.track_id is None:
            continue
        if obj.velocity_px_s is None:
            continue
        vx, vy = obj.velocity_px_s
        speed = math.hypot(vx, vy)
        if speed < max(rules.wrong_way_min_speed_px_s, 1e-9):
            continue
        for lane in obj.zones:
            direction = lane_direction(rules, event.camera_id, lane)
            if direction is not None and vx * direction[0] + vy * direction[1] < 0:
                out.append(
                    Fact(
                        kind="wrong_way",
                        camera_id=event.camera_id,
                        ts_ms=event.captured_at_ms,
                        track_ids=(obj.track_id,),
                        lane=lane,
                        value=round(speed, 3),
                        frame_id=event.frame_id,
                    )
                )
                break
    return out


def _in_crosswalk(event: DetectionEvent, rules: FactRules) -> list[Fact]:
    """Tracked vehicles in the crosswalk, with their speed (stopped or moving: the pattern
    decides). Without a velocity a track's speed is unknown: no fact."""
    return [
        Fact(
            kind="crosswalk_vehicle",
            camera_id=event.camera_id,
            ts_ms=event.captured_at_ms,
            track_ids=(obj.track_id,),
            lane=rules.crosswalk_zone,
            value=round(math.hypot(*obj.velocity_px_s), 3),
            frame_id=event.frame_id,
        )
        for obj in event.objects
        if obj.class_name in VEHICLE_CLASSES
        and obj.track_id is not None
        and obj.velocity_px_s is not None
        and rules.crosswalk_zone in obj.zones
    ]


def _groups(event: DetectionEvent, rules: FactRules) -> list[Fact]:
    out: list[Fact] = []
    for group in event.groups:
        members = [event.objects[i] for i in group.member_indices]
        tracks = tuple(sorted({m.track_id for m in members if m.track_id is not None}))
        ttc = group.features.time_to_collision_s
        base = Fact(
            kind="conflict",
            camera_id=event.camera_id,
            ts_ms=event.captured_at_ms,
            track_ids=tracks,
            value=ttc,
            ref=f"{event.frame_id}/{group.group_id}",
            frame_id=event.frame_id,
            group_id=group.group_id,
            crop_sha256=group.crop_sha256,
        )
        if _is_conflict(members, group.features, rules):
            out.append(base)
        if ttc is not None and ttc < rules.max_ttc_s:
            out.append(base.model_copy(update={"kind": "close_approach"}))
    return out


def _is_conflict(members: list[Any], features: Any, rules: FactRules) -> bool:
    classes = {m.class_name for m in members}
    if "person" not in classes or not classes & VEHICLE_CLASSES:
        return False
    rule = rules.conflict
    ttc, distance = features.time_to_collision_s, features.min_ped_vehicle_distance_px
    return (
        (ttc is not None and ttc <= rule.max_ttc_s)
        or (distance is not None and distance <= rule.max_distance_px)
        or (rule.in_crosswalk and features.in_crosswalk)
    )


def red_light_run(crossing: dict[str, Any], joined_signal: str | None) -> dict[str, Any] | None:
    """A crossing made while the applicable light was red, as a `red_light_run` fact."""
    if effective_signal(crossing.get("label"), joined_signal) != "red":
        return None
    return {**crossing, "kind": "red_light_run", "label": "red"}


def from_message(source: Source, raw: str | bytes, rules: FactRules) -> list[Fact]:
    """One message of an input topic -> its facts (raises ContractError when invalid)."""
    if source == "detection":
        return from_detection(parse(DetectionEvent, raw), rules)
    if source == "window":
        return [from_window(parse(WindowStats, raw))]
    if source == "risk":
        return [from_risk(parse(RiskAssessment, raw))]
    try:
        return [from_signal(SignalChange.model_validate_json(raw))]
    except ValueError as exc:
        raise ContractError(f"signal: {exc}") from exc
