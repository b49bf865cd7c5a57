"""Run configuration of the simulator: frozen pydantic models, one description per field."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# 2024-01-01T00:00:00Z: a fixed default event-time origin, so runs replay byte-identically.
DEFAULT_START_MS = 1_704_067_200_000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalConfig(_Frozen):
    """The signal cycle of the camera's approach (northbound lanes)."""

    green_s: float = Field(default=20.0, ge=14, description="Green phase, seconds.")
    yellow_s: float = Field(default=3.0, ge=1, description="Yellow phase, seconds.")
    red_s: float = Field(default=17.0, ge=10, description="Red phase, seconds.")

    @property
    def cycle_s(self) -> float:
        return self.green_s + self.yellow_s + self.red_s


class SceneConfig(_Frozen):
    """Frame size and traffic intensity of every simulated camera."""

    width: int = Field(default=640, ge=320, le=4096, description="Frame width, pixels.")
    height: int = Field(default=480, ge=240, le=4096, description="Frame height, pixels.")
    signal: SignalConfig = Field(default_factory=SignalConfig, description="Signal cycle.")
    vehicle_gap_s: float = Field(
        default=3.5, gt=0, description="Mean seconds between vehicles entering each lane."
    )
    walker_gap_s: float = Field(
        default=8.0, gt=0, description="Mean seconds between pedestrians entering a sidewalk."
    )
    crossing_gap_s: float = Field(
        default=2.5, gt=0, description="Mean seconds between pedestrians starting to cross on red."
    )
    camera_sees_signal: bool = Field(
        default=True,
        description="The camera reads its own light (events carry `signal_state`); false: "
        "events say `unknown` and only the controller feed (`signal-states`) tells the state.",
    )


class IncidentConfig(_Frozen):
    """How often incidents are injected, per camera and hour of event time."""

    red_light_per_hour: float = Field(default=6.0, ge=0, description="Red-light runs.")
    near_miss_per_hour: float = Field(
        default=4.0, ge=0, description="Pedestrian-vehicle near misses."
    )
    wrong_way_per_hour: float = Field(default=2.0, ge=0, description="Wrong-way drivers.")
    congestion_per_hour: float = Field(default=1.0, ge=0, description="Congestion periods.")
    congestion_s: float = Field(default=120.0, gt=0, description="Length of a congestion period.")
    near_miss_ttc_s: float = Field(
        default=1.5, gt=0, description="A ped-vehicle group under this TTC is labelled a near miss."
    )


class FaultConfig(_Frozen):
    """Delivery faults applied to the stream after generation; shares are of events."""

    out_of_order_share: float = Field(
        default=0.0, ge=0, le=1, description="Events held back by at most `out_of_order_bound_ms`."
    )
    out_of_order_bound_ms: int = Field(
        default=2000, ge=1, description="Disorder bound (the job's watermark bound)."
    )
    beyond_bound_share: float = Field(
        default=0.0, ge=0, le=1, description="Events held back by 1-2x the bound."
    )
    late_share: float = Field(
        default=0.0, ge=0, le=1, description="Events held back by `late_delay_ms`."
    )
    late_delay_ms: int = Field(default=300_000, ge=1, description="Delay of late events.")
    duplicate_share: float = Field(
        default=0.0, ge=0, le=1, description="Events sent twice (as a producer retry would)."
    )
    malformed_share: float = Field(
        default=0.0, ge=0, lt=1, description="Exact share of all messages that are malformed."
    )
    oversized_share: float = Field(
        default=0.0, ge=0, le=1, description="Events also sent as an oversized copy."
    )
    oversized_bytes: int = Field(
        default=1_100_000, ge=1024, le=1_900_000, description="Size of an oversized message."
    )
    idle_cameras: int = Field(default=0, ge=0, description="Cameras that go silent.")
    idle_at_s: float | None = Field(
        default=None, ge=0, description="When they go silent, seconds; default mid-run."
    )
    idle_for_s: float | None = Field(
        default=None, gt=0, description="How long they stay silent; default to the end."
    )


class SimConfig(_Frozen):
    """A whole run: cameras, rate, length, seed, scene, incidents and faults."""

    cameras: int = Field(default=10, ge=1, le=10_000, description="Number of cameras.")
    fps: float = Field(default=1.0, gt=0, le=30, description="Events per second per camera.")
    duration_s: float | None = Field(
        default=None, gt=0, description="Event-time length of the run; or give `count`."
    )
    count: int | None = Field(default=None, ge=1, description="Total detection events to make.")
    start_ms: int = Field(default=DEFAULT_START_MS, ge=0, description="Event time of frame 0.")
    seed: int = Field(default=0, ge=0, description="Seed: equal seeds give identical runs.")
    camera_prefix: str = Field(
        default="cam-", pattern=r"^[A-Za-z0-9_.:-]{0,64}$", description="Camera id prefix."
    )
    detector: str = Field(
        default="traffic-sim", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="`detector` field."
    )
    crops: Literal["inline", "none", "rendered"] = Field(
        default="inline",
        description="Groups carry tiny inline JPEG crops (cached per class mix and variant), "
        "none, or crops rendered anew every frame from the group's geometry with sensor noise "
        "(no two frames share bytes, as on live video).",
    )
    crop_variants: int = Field(
        default=8, ge=1, le=1024, description="Distinct crops per class combination."
    )
    scene: SceneConfig = Field(default_factory=SceneConfig, description="Scene of each camera.")
    incidents: IncidentConfig = Field(default_factory=IncidentConfig, description="Incident rates.")
    faults: FaultConfig = Field(default_factory=FaultConfig, description="Delivery faults.")

    @model_validator(mode="after")
    def _length(self) -> SimConfig:
        if (self.duration_s is None) == (self.count is None):
            raise ValueError("give exactly one of duration_s and count")
        if self.faults.idle_cameras > self.cameras:
            raise ValueError("faults.idle_cameras exceeds cameras")
        return self

    @property
    def frames_per_camera(self) -> int:
        """Ticks each camera runs (the last tick may be cut short in count mode)."""
        if self.duration_s is not None:
            return max(1, round(self.duration_s * self.fps))
        assert self.count is not None
        return math.ceil(self.count / self.cameras)

    @property
    def span_s(self) -> float:
        """Event-time length covered by the ticks."""
        return self.frames_per_camera / self.fps
