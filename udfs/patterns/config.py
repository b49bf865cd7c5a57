"""Configuration of the traffic patterns (flink-conf/patterns.yaml), validated by pydantic.

Every model forbids unknown fields, so a typo names the bad field instead of being ignored.
Field meanings are documented in docs/cep.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["info", "warning", "critical"]
Direction = tuple[float, float]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConflictRule(_Config):
    """When a detector group counts as a pedestrian-vehicle conflict."""

    max_ttc_s: float = Field(default=3.0, gt=0, description="Time to collision at most this.")
    max_distance_px: float = Field(
        default=40.0, ge=0, description="Or pedestrian-vehicle distance at most this (pixels)."
    )
    in_crosswalk: bool = Field(default=True, description="Or a member stands in the crosswalk.")


class FactRules(_Config):
    """How contract messages become traffic facts (udfs/cep/facts.py)."""

    stop_line: str = Field(default="stop_line", description="Line whose crossing on red counts.")
    lane_directions: dict[str, dict[str, Direction]] = Field(
        default_factory=dict,
        description="camera id (or `*` for all) -> lane zone -> allowed direction (dx, dy) in "
        "image coordinates; a vehicle whose velocity points against it is wrong-way.",
    )
    wrong_way_min_speed_px_s: float = Field(
        default=5.0, ge=0, description="Slower tracks are never wrong-way (jitter)."
    )
    conflict: ConflictRule = Field(default_factory=ConflictRule, description="Conflict rule.")
    max_ttc_s: float = Field(
        default=3.0, gt=0, description="Groups with a time to collision under this become facts."
    )


class _Pattern(_Config):
    name: str = Field(min_length=1, description="Alert `pattern` field; unique.")
    severity: Severity = Field(default="warning", description="Alert severity.")
    cooldown_s: float = Field(
        default=0.0, ge=0, description="Suppress alerts of the same partition this long after one."
    )


class RedLightRuns(_Pattern):
    type: Literal["red_light_runs"] = Field(description="N red-light runs at one camera.")
    count: int = Field(default=3, ge=1, description="Runs needed.")
    within_s: float = Field(default=60.0, gt=0, description="First to last run under this.")
    distinct_tracks: bool = Field(default=True, description="Each run by a different track.")


class ConflictThenVerdict(_Pattern):
    type: Literal["conflict_then_verdict"] = Field(description="Conflict, then a high verdict.")
    within_s: float = Field(default=30.0, gt=0, description="Verdict under this after conflict.")
    min_level: Literal["medium", "high"] = Field(default="high", description="Verdict level.")
    same_group: bool = Field(default=False, description="Verdict must be for that very group.")


class SustainedCongestion(_Pattern):
    type: Literal["sustained_congestion"] = Field(description="Consecutive congested windows.")
    windows: int = Field(default=3, ge=1, description="Back-to-back windows needed.")
    min_congestion_index: float = Field(
        default=0.6, ge=0, le=1, description="WindowStats.congestion_index at least this."
    )


class WrongWay(_Pattern):
    type: Literal["wrong_way"] = Field(description="A track moving against its lane.")
    min_frames: int = Field(default=5, ge=1, description="Frames against the lane needed.")
    within_s: float = Field(default=5.0, gt=0, description="Those frames lie within this span.")


class NearMiss(_Pattern):
    type: Literal["near_miss"] = Field(description="Time to collision under a threshold.")
    max_ttc_s: float = Field(default=1.0, gt=0, description="Time to collision under this.")


PatternConfig = Annotated[
    RedLightRuns | ConflictThenVerdict | SustainedCongestion | WrongWay | NearMiss,
    Field(discriminator="type"),
]


class CepConfig(_Config):
    """The `cep:` section of flink-conf/patterns.yaml."""

    facts: FactRules = Field(default_factory=FactRules, description="Fact derivation rules.")
    patterns: tuple[PatternConfig, ...] = Field(description="Active traffic patterns.")

    def verdict_levels(self) -> frozenset[str]:
        """Risk levels some pattern waits for: other verdicts need not become facts."""
        levels: set[str] = set()
        for pattern in self.patterns:
            if isinstance(pattern, ConflictThenVerdict):
                levels |= {"high"} if pattern.min_level == "high" else {"medium", "high"}
        return frozenset(levels)

    def min_congestion_index(self) -> float | None:
        """Lowest index a congestion pattern counts; windows below it need not become facts
        (the pattern requires back-to-back windows, so a dropped window breaks a run as a
        window under the threshold would). None: no pattern reads windows."""
        found = [
            p.min_congestion_index for p in self.patterns if isinstance(p, SustainedCongestion)
        ]
        return min(found, default=None)

    @model_validator(mode="after")
    def _unique_names(self) -> CepConfig:
        names = [p.name for p in self.patterns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pattern names used twice: {dupes}")
        return self


def load(path: str | Path) -> CepConfig:
    """Read and validate the `cep:` section; pydantic's error names any bad field."""
    doc = yaml.safe_load(Path(path).read_text())
    if not isinstance(doc, dict) or "cep" not in doc:
        raise ValueError(f"{path}: expected a top-level `cep:` section")
    return CepConfig.model_validate(doc["cep"])
