"""Versioned message types for every topic, shared by the detector and the job.

The pydantic models are the source of truth; `contract/schemas/*.json` are generated from
them (``python -m contract.schemas --write``) and a unit test keeps the two identical, so
non-Python consumers can validate against the JSON Schemas without importing this package.
Every message is a JSON object whose ``schema_version`` names its version.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

# Inline crops are size-capped so one detection event stays well under Kafka's default
# 1 MiB message limit even with several groups; larger crops go by reference (claim check).
MAX_INLINE_CROP_BYTES = 64 * 1024
# Integers land in SQL BIGINT columns and Java longs: the contract says so, so a larger
# number is a contract error everywhere instead of an overflow somewhere.
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

# Rules JSON Schema cannot say are declared once here as `x-` keywords of the generated
# schema; the Python validators below read these same declarations, and the job's JVM
# check (jvm/udf ContractSchema.java) interprets the keywords from the schema file:
#   x-ordered        [[a, b], ...]: field a <= field b in the same object
#   x-index-into     "/objects": every integer is a valid index into that root array
#   x-max-decoded-bytes  n: a base64 string (standard alphabet, padded) decodes to <= n bytes
#   x-vehicle-classes    annotation only: which class names count as vehicles
BOX_ORDERED_PAIRS: tuple[tuple[str, str], ...] = (("x1", "x2"), ("y1", "y2"))
GROUP_MEMBERS_INDEX_INTO = "/objects"

ObjectClass = Literal["person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic light"]
VEHICLE_CLASSES: frozenset[str] = frozenset({"car", "motorcycle", "bus", "truck"})
# Names of zones and lines, ids within a frame: short, non-empty (they become metric labels
# and Redis hash fields).
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
SignalState = Literal["red", "yellow", "green", "unknown"]
RiskLevel = Literal["none", "low", "medium", "high"]


def _exact_int(value: Any) -> Any:
    """JSON `true` and `1.0` are not the integer 1 (pydantic's Literal[1] would take them)."""
    if isinstance(value, bool | float):
        raise ValueError("schema_version must be the JSON integer 1")
    return value


SchemaVersion1 = Annotated[Literal[1], BeforeValidator(_exact_int)]


class _Message(BaseModel):
    """Immutable, strict base: unknown fields are an error, not silently kept; NaN and
    Infinity are not numbers (JSON has neither)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, the wire form on Kafka and in Redis."""
        return self.model_dump_json(exclude_none=True).encode()


class FrameSize(_Message):
    width: int = Field(gt=0, le=INT32_MAX, description="Frame width in pixels.")
    height: int = Field(gt=0, le=INT32_MAX, description="Frame height in pixels.")


class Box(_Message):
    """Axis-aligned box in pixels of the full frame, (x1, y1) top-left."""

    model_config = ConfigDict(json_schema_extra={"x-ordered": [list(p) for p in BOX_ORDERED_PAIRS]})

    x1: float = Field(ge=0, description="Left edge in pixels.")
    y1: float = Field(ge=0, description="Top edge in pixels.")
    x2: float = Field(ge=0, description="Right edge in pixels.")
    y2: float = Field(ge=0, description="Bottom edge in pixels.")

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        for low, high in BOX_ORDERED_PAIRS:
            if getattr(self, high) < getattr(self, low):
                raise ValueError(f"box corners out of order: need {low} <= {high}")
        return self


class DetectedObject(_Message):
    class_name: ObjectClass = Field(
        description="Road-user class (COCO name).",
        json_schema_extra={"x-vehicle-classes": list[JsonValue](sorted(VEHICLE_CLASSES))},
    )
    confidence: float = Field(ge=0, le=1, description="Detector score in [0, 1].")
    box: Box = Field(description="Bounding box in frame pixels.")
    track_id: int | None = Field(
        default=None,
        ge=0,
        le=INT64_MAX,
        description="Tracker id, stable across frames; absent when untracked.",
    )
    velocity_px_s: tuple[float, float] | None = Field(
        default=None, description="Track velocity (vx, vy) in pixels per second, when tracked."
    )
    zones: tuple[Name, ...] = Field(
        default=(), description="Names of scene zones (lanes, crosswalk) the object is in."
    )
    crossed_lines: tuple[Name, ...] = Field(
        default=(), description="Names of scene lines crossed since the previous frame."
    )


class InlineCrop(_Message):
    kind: Literal["inline"] = Field(description="The crop bytes travel in the event.")
    media_type: Literal["image/jpeg"] = Field(description="Encoding of the crop bytes.")
    data_b64: str = Field(
        description="Base64 of the encoded crop, at most 64 KiB decoded.",
        json_schema_extra={
            "contentEncoding": "base64",
            "x-max-decoded-bytes": MAX_INLINE_CROP_BYTES,
        },
    )

    @field_validator("data_b64")
    @classmethod
    def _capped(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ValueError(f"crop is not valid base64: {exc}") from exc
        if len(raw) > MAX_INLINE_CROP_BYTES:
            raise ValueError(f"inline crop is {len(raw)} bytes, cap {MAX_INLINE_CROP_BYTES}")
        return value

    def decoded(self) -> bytes:
        return base64.b64decode(self.data_b64)


class CropRef(_Message):
    kind: Literal["ref"] = Field(description="The crop is stored elsewhere (claim check).")
    media_type: Literal["image/jpeg"] = Field(description="Encoding of the stored crop.")
    ref: str = Field(
        min_length=1,
        max_length=512,
        description="Where the crop lies, e.g. a Redis key `crop:<sha256>`."
    )


Crop = Annotated[InlineCrop | CropRef, Field(discriminator="kind")]


class GroupFeatures(_Message):
    """Geometric risk features the detector computes for a group."""

    min_ped_vehicle_distance_px: float | None = Field(
        default=None, ge=0, description="Closest pedestrian-to-vehicle box distance, pixels."
    )
    closing_speed_px_s: float | None = Field(
        default=None,
        description="Rate at which that distance shrinks, pixels/s (positive = closing).",
    )
    time_to_collision_s: float | None = Field(
        default=None,
        ge=0,
        description="Estimated time to collision, seconds; absent when not closing.",
    )
    in_crosswalk: bool = Field(default=False, description="A member stands in the crosswalk zone.")


class Group(_Message):
    group_id: Name = Field(description="Id unique within the frame.")
    member_indices: tuple[Annotated[int, Field(ge=0, le=INT64_MAX)], ...] = Field(
        min_length=1,
        description="Indices into the event's `objects` of the group's members.",
        json_schema_extra={"x-index-into": GROUP_MEMBERS_INDEX_INTO},
    )
    box: Box = Field(description="Union box of the members, where the crop was cut.")
    crop: Crop | None = Field(
        default=None, description="The group's image, inline or by reference."
    )
    crop_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the encoded crop bytes: the cache key of the risk stage.",
    )
    features: GroupFeatures = Field(
        default_factory=GroupFeatures, description="Geometric risk features."
    )


class DetectionEvent(_Message):
    """One analysed frame of one camera; topic `detection-results`, keyed by camera id."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    camera_id: str = Field(min_length=1, max_length=128, description="Camera identifier.")
    frame_id: int = Field(
        ge=0, le=INT64_MAX, description="Frame sequence number within the camera's stream."
    )
    captured_at_ms: int = Field(
        ge=0, le=INT64_MAX, description="Capture time, epoch milliseconds UTC: the event time."
    )
    frame: FrameSize = Field(description="Size of the analysed frame.")
    objects: tuple[DetectedObject, ...] = Field(description="Road users found in the frame.")
    groups: tuple[Group, ...] = Field(default=(), description="Groups of nearby road users.")
    signal_state: SignalState | None = Field(
        default=None, description="Traffic-light state seen by this camera, when known."
    )
    detector: str = Field(
        min_length=1,
        max_length=128,
        description="Model that produced the objects, e.g. `ssd-mobilenet-v2-coco`."
    )

    @model_validator(mode="after")
    def _members_exist(self) -> DetectionEvent:
        count = len(getattr(self, GROUP_MEMBERS_INDEX_INTO.strip("/")))
        for group in self.groups:
            bad = [i for i in group.member_indices if i >= count]
            if bad:
                raise ValueError(f"group {group.group_id} refers to missing objects {bad}")
        return self

    @property
    def key(self) -> bytes:
        """Kafka key: all frames of a camera land in one partition, in order."""
        return self.camera_id.encode()


class SignalChange(_Message):
    """The light of a camera's approach changed; topic `signal-states`, keyed by camera id.

    The feed of a traffic-signal controller, for cameras that do not see their light (or see
    it badly): the state that applies to a frame at time t is the newest change at or before
    t (udfs/patterns/signals.py). docs/contract.md maps SPaT phase states onto it."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    camera_id: str = Field(min_length=1, max_length=128, description="Camera identifier.")
    changed_at_ms: int = Field(
        ge=0, le=INT64_MAX, description="When the light changed, epoch ms (event time)."
    )
    state: SignalState = Field(description="The state from that moment on.")
    source: str = Field(
        default="controller",
        min_length=1,
        max_length=64,
        description="Feed that reported the change, e.g. `controller`, `spat`, `simulator`.",
    )
    signal_group: Name | None = Field(
        default=None,
        description="The controller's signal group (SPaT `signalGroup`) the camera's "
        "approach follows, when the feed reports one.",
    )


class WindowStats(_Message):
    """Per-camera tumbling event-time window statistics; topic `traffic-window-stats`."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    camera_id: str = Field(min_length=1, description="Camera identifier.")
    window_start_ms: int = Field(ge=0, description="Window start, epoch ms (inclusive).")
    window_end_ms: int = Field(ge=0, description="Window end, epoch ms (exclusive).")
    frames: int = Field(ge=0, description="Detection events (frames) in the window.")
    objects: int = Field(ge=0, description="Objects of all classes over all frames.")
    vehicles: int = Field(ge=0, description="Car, motorcycle, bus and truck detections.")
    pedestrians: int = Field(ge=0, description="Person detections.")
    distinct_tracks: int = Field(ge=0, description="Distinct non-null track ids.")
    mean_vehicles_per_frame: float = Field(ge=0, description="vehicles / frames.")
    peak_vehicles_per_frame: int = Field(ge=0, description="Most vehicles in one frame.")
    class_counts: dict[str, int] = Field(
        default_factory=dict, description="Detections per class over all frames (zeros omitted)."
    )
    mean_vehicle_speed_px_s: float | None = Field(
        default=None, ge=0, description="Mean speed of tracked vehicles, pixels/s; absent if none."
    )
    line_crossings: dict[str, int] = Field(
        default_factory=dict, description="Crossings per scene line (e.g. `stop_line`)."
    )
    lane_flow: dict[str, int] = Field(
        default_factory=dict,
        description="Line crossings by objects in each lane zone: the lane's flow in the window.",
    )
    congestion_index: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="0 free flow .. 1 jammed: density (mean vehicles/frame over capacity) "
        "times slowness (1 - mean speed over free-flow speed); see docs/operations.md.",
    )


class RiskAssessment(_Message):
    """A risk verdict for one group; topic `risk-assessment-results`."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    camera_id: str = Field(min_length=1, description="Camera identifier.")
    frame_id: int = Field(ge=0, description="Frame the group came from.")
    group_id: str = Field(min_length=1, description="Group within that frame.")
    captured_at_ms: int = Field(ge=0, description="Event time of the frame, epoch ms.")
    crop_sha256: str | None = Field(default=None, description="Hash of the assessed crop.")
    risk_level: RiskLevel = Field(description="Assessed risk.")
    risk_types: tuple[str, ...] = Field(default=(), description="e.g. `near_miss`, `red_light`.")
    reason: str = Field(max_length=500, description="Short human-readable reason.")
    confidence: float = Field(ge=0, le=1, description="Assessor confidence in [0, 1].")
    source: Literal["llm", "cache", "heuristic", "fallback"] = Field(
        description="Who decided: the LLM, a cached LLM verdict, the local heuristic "
        "(filtered out), or the heuristic after an LLM failure."
    )
    tier: Literal["high", "medium", "low"] | None = Field(
        default=None, description="Priority tier."
    )
    model: str | None = Field(default=None, description="LLM model name when one was used.")
    key_id: str | None = Field(
        default=None, description="Public id of the API key used (never the key itself)."
    )
    latency_ms: float | None = Field(default=None, ge=0, description="Assessment latency.")


class Evidence(_Message):
    """Where an operator can see what happened: a frame, and the group's crop when there is one.

    Crops are referenced (claim check, `crop:<sha256>` in Redis with a TTL), never inlined,
    so alerts and incidents stay small however much evidence they carry."""

    camera_id: str = Field(min_length=1, description="Camera the frame came from.")
    frame_id: int = Field(ge=0, le=INT64_MAX, description="Frame id (detector's counter).")
    captured_at_ms: int = Field(ge=0, le=INT64_MAX, description="Event time of the frame.")
    group_id: Name | None = Field(default=None, description="Group within the frame, if any.")
    crop_sha256: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="SHA-256 of the group's crop: Redis key `crop:<sha256>` while retained.",
    )
    track_ids: tuple[int, ...] = Field(default=(), description="Tracks seen in this evidence.")


class TrafficAlert(_Message):
    """A matched traffic pattern; topic `traffic-alerts`."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    alert_id: str = Field(min_length=1, description="Deterministic id: replays give the same id.")
    pattern: str = Field(min_length=1, description="Pattern name, e.g. `red_light_runs_3_in_60s`.")
    camera_id: str = Field(min_length=1, description="Camera identifier.")
    severity: Literal["info", "warning", "critical"] = Field(description="Operator severity.")
    start_ms: int = Field(ge=0, description="Event time of the first matched event.")
    end_ms: int = Field(ge=0, description="Event time of the last matched event.")
    track_ids: tuple[int, ...] = Field(default=(), description="Tracks involved.")
    description: str = Field(max_length=500, description="What happened, for humans.")
    evidence: tuple[Evidence, ...] = Field(
        default=(),
        max_length=16,
        description="Frames (and crops) of the matched events, newest last; at most 16.",
    )
    timed_out: bool = Field(
        default=False,
        description="True when the alert reports a partial match that timed out (a pattern's "
        "`on_timeout`), not a completed match.",
    )


IncidentStatus = Literal["open", "closed"]


class Incident(_Message):
    """One situation at one camera and place, grouping the alerts and verdicts that belong to
    it; topic `traffic-incidents` (keyed by camera id). Every change is a new message with the
    same `incident_id` and a higher `revision`: the newest revision is the incident's state.
    Opened by its first alert, updated by later ones, closed after a quiet period."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    incident_id: str = Field(
        min_length=1, max_length=128, description="Deterministic id: replays give the same id."
    )
    revision: int = Field(ge=1, description="1 when opened, +1 per change; last one wins.")
    camera_id: str = Field(min_length=1, max_length=128, description="Camera identifier.")
    place: str = Field(
        min_length=1,
        max_length=128,
        description="Where at the camera: a zone or line name, or `camera` for the whole view.",
    )
    kind: str = Field(
        min_length=1, max_length=64, description="Situation kind, e.g. `conflict`, `red_light`."
    )
    severity: Literal["info", "warning", "critical"] = Field(
        description="Highest severity of its alerts."
    )
    status: IncidentStatus = Field(description="`open` until the quiet period passes.")
    opened_at_ms: int = Field(ge=0, description="Event time of the first alert's first event.")
    updated_at_ms: int = Field(ge=0, description="Event time of the newest contribution.")
    closed_at_ms: int | None = Field(
        default=None, ge=0, description="Event time (watermark) at which it was closed."
    )
    alert_count: int = Field(ge=0, description="Alerts that contributed, in total.")
    patterns: tuple[str, ...] = Field(default=(), description="Distinct patterns that fired.")
    alert_ids: tuple[str, ...] = Field(
        default=(), max_length=32, description="Newest contributing alert ids; at most 32."
    )
    track_ids: tuple[int, ...] = Field(
        default=(), max_length=64, description="Tracks involved; at most 64."
    )
    evidence: tuple[Evidence, ...] = Field(
        default=(), max_length=16, description="Newest evidence, at most 16."
    )
    description: str = Field(max_length=500, description="What is happening, for humans.")


class IncidentAction(_Message):
    """An operator's action on an incident (dashboard), topic `incident-actions`, keyed by
    incident id; also kept in Redis (`incident:action:<id>`). Actions never change the job's
    incident state: they are the operator's view layered on top."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    incident_id: str = Field(min_length=1, max_length=128, description="Incident acted on.")
    action: Literal["acknowledge", "resolve"] = Field(description="What the operator did.")
    actor: str = Field(
        min_length=1, max_length=64, description="Who: the dashboard user or `dashboard`."
    )
    note: str = Field(default="", max_length=500, description="Free text from the operator.")
    at_ms: int = Field(ge=0, description="Wall-clock time of the action, epoch ms.")


class DeadLetter(_Message):
    """A message the job could not use; topic `dead-letter`. Nothing is dropped silently.

    The original travels base64-encoded and cut to the job's cap (`--dead-letter-max-original-
    bytes`), so a dead letter never outgrows the producer's limit however large the record
    was; its full size and SHA-256 identify it (the source offset finds the whole record)."""

    schema_version: SchemaVersion1 = Field(description="Contract version of this message.")
    source_topic: str = Field(description="Topic the message was read from.")
    partition: int | None = Field(default=None, description="Source partition, when known.")
    offset: int | None = Field(default=None, description="Source offset, when known.")
    reason: str = Field(description="Why it was rejected (first validation error).")
    reason_code: str = Field(
        default="parse",
        description="Machine-readable class of `reason`: `null_value`, `parse`, `contract`, "
        "`oversized`, `clock` or `late` (docs/operations.md).",
    )
    stage: str = Field(description="Pipeline stage that rejected it, e.g. `parse`.")
    original_b64: str | None = Field(
        default=None,
        description="Base64 of the original message bytes (the first `original_kept_bytes` "
        "of them), untouched; null when the record's value was null (a tombstone)."
    )
    original_size_bytes: int = Field(
        default=0, ge=0, description="Size of the whole original value in bytes."
    )
    original_kept_bytes: int = Field(
        default=0, ge=0, description="How many of those bytes `original_b64` holds."
    )
    original_sha256: str | None = Field(
        default=None, description="SHA-256 of the whole original value (hex); null for null."
    )
    rejected_at_ms: int = Field(ge=0, description="Wall-clock time of rejection, epoch ms.")


def sha256_hex(data: bytes) -> str:
    """Content hash used for crops (`Group.crop_sha256`)."""
    return hashlib.sha256(data).hexdigest()
