"""Configuration of the traffic patterns (flink-conf/patterns.yaml), validated by pydantic.

Every model forbids unknown fields, so a typo names the bad field instead of being ignored.
Each entry of `patterns:` is the model of its kind in `udfs.patterns.catalogue`, chosen by
`type`; nothing here names a kind. Field meanings are documented in docs/cep.md.
"""

from __future__ import annotations

import operator
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from udfs.patterns.catalogue import KINDS, PatternKind

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
    """How contract messages become traffic facts (udfs/patterns/facts.py)."""

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
    crosswalk_zone: str = Field(
        default="crosswalk",
        description="Zone of the crosswalk: tracked vehicles in it become `crosswalk_vehicle`.",
    )


# The `type`-keyed union of every kind in the catalogue (one module each).
if TYPE_CHECKING:
    PatternConfig = PatternKind
else:
    PatternConfig = Annotated[reduce(operator.or_, KINDS.values()), Field(discriminator="type")]


class VerdictAlerts(_Config):
    """High-risk verdicts are alerts of their own (`high_risk_verdict`, from the risk stage)."""

    cooldown_s: float = Field(
        default=10.0,
        ge=0,
        description="Let a camera's high-verdict alert through only if no other one let "
        "through starts less than this away (0: every high verdict alerts).",
    )


class OperatorLayout(_Config):
    """How the pattern operator keys cameras and steps time (udfs/patterns/slots.py)."""

    key_slots: int = Field(
        default=64,
        ge=1,
        le=32768,
        description="Cameras are keyed into this many slots (one state write and one timer "
        "per slot and step, not per camera and fact); at least the parallelism, and it "
        "caps how far the pattern stage spreads. A change drops partial matches on restore.",
    )
    step_ms: int = Field(
        default=1000,
        ge=1,
        description="Event-time step of the operator's timers: alerts come out up to this "
        "much later, never different (a per-fact-timer replay inside each step).",
    )


class CepConfig(_Config):
    """The `cep:` section of flink-conf/patterns.yaml."""

    facts: FactRules = Field(default_factory=FactRules, description="Fact derivation rules.")
    verdict_alerts: VerdictAlerts = Field(
        default_factory=VerdictAlerts, description="The `high_risk_verdict` alerts' cooldown."
    )
    patterns: tuple[PatternConfig, ...] = Field(description="Active traffic patterns.")
    operator: OperatorLayout = Field(
        default_factory=OperatorLayout, description="Key slots and timer step of the operator."
    )

    def verdict_levels(self) -> frozenset[str]:
        """Risk levels some pattern waits for: other verdicts need not become facts."""
        needs = [p.needs() for p in self.patterns]
        return frozenset(
            level for n in needs if "risk_verdict" in n.kinds for level in n.verdict_levels
        )

    def min_congestion_index(self) -> float | None:
        """Lowest congestion index a pattern counts; windows below it need not become facts.
        None: no pattern reads windows."""
        needs = [p.needs() for p in self.patterns]
        return min((n.min_congestion_index for n in needs if "window" in n.kinds), default=None)

    @model_validator(mode="after")
    def _unique_names(self) -> CepConfig:
        names = [p.name for p in self.patterns]
        names += [p.on_timeout.name for p in self.patterns if p.on_timeout is not None]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pattern names used twice (on_timeout names included): {dupes}")
        return self


def load(path: str | Path) -> CepConfig:
    """Read and validate the `cep:` section; pydantic's error names any bad field."""
    doc = yaml.safe_load(Path(path).read_text())
    if not isinstance(doc, dict) or "cep" not in doc:
        raise ValueError(f"{path}: expected a top-level `cep:` section")
    return CepConfig.model_validate(doc["cep"])
