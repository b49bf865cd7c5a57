"""How alerts become incidents: the `incidents:` section of flink-conf/patterns.yaml.

Each situation kind names the patterns whose alerts belong to it, where at the camera it
happens (`place`) and how long it must stay quiet before its incident closes. A pattern no
kind names is a kind of its own at the `camera` place. Field meanings: docs/cep.md
("Incidents").
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CAMERA = "camera"  # the place of a situation that concerns the whole view


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SituationKind(_Config):
    """One kind of situation and the patterns whose alerts report it."""

    patterns: tuple[str, ...] = Field(
        min_length=1, description="Alert patterns (their `name`, or `high_risk_verdict`)."
    )
    place: str = Field(
        default=CAMERA,
        min_length=1,
        max_length=128,
        description="Where at the camera: the zone or line the patterns watch (e.g. "
        "`stop_line`, `crosswalk`), or `camera` for the whole view.",
    )
    same_tracks: bool = Field(
        default=False,
        description="An alert joins an open incident only if they share a track (when both "
        "name tracks): two road users at one place are two incidents.",
    )
    quiet_s: float | None = Field(
        default=None,
        gt=0,
        description="Close the incident this long (event time) after its last alert; "
        "default: the section's `quiet_s`.",
    )


class IncidentConfig(_Config):
    """The `incidents:` section: situation kinds and the default quiet period."""

    quiet_s: float = Field(
        default=30.0, gt=0, description="Default quiet period before an incident closes (s)."
    )
    lateness_s: float = Field(
        default=60.0,
        ge=0,
        description="An incident's close is decided this long (event time) after its quiet "
        "period ends, so an alert up to this late (a verdict from a slow LLM call) still "
        "joins it; the close is stamped at the end of the quiet period all the same.",
    )
    kinds: dict[str, SituationKind] = Field(
        default_factory=dict,
        description="Situation kind (the incident's `kind`, at most 64 characters) -> its "
        "patterns, place, track rule and quiet period.",
    )

    @model_validator(mode="after")
    def _one_kind_per_pattern(self) -> IncidentConfig:
        seen: dict[str, str] = {}
        for kind, rule in self.kinds.items():
            if not 0 < len(kind) <= 64:
                raise ValueError(f"kind name {kind!r}: 1 to 64 characters")
            for pattern in rule.patterns:
                if pattern in seen:
                    raise ValueError(
                        f"pattern {pattern!r} is in kinds {seen[pattern]!r} and {kind!r}"
                    )
                seen[pattern] = kind
        return self

    def kind_of(self, pattern: str) -> tuple[str, SituationKind]:
        """The kind an alert of `pattern` reports: its configured kind, or a kind named like
        the pattern at the camera place."""
        for kind, rule in self.kinds.items():
            if pattern in rule.patterns:
                return kind, rule
        return pattern[:64], SituationKind(patterns=(pattern,))

    def quiet_ms(self, kind: str) -> int:
        rule = self.kinds.get(kind)
        quiet = rule.quiet_s if rule is not None and rule.quiet_s is not None else self.quiet_s
        return int(quiet * 1000)


def load(path: str | Path) -> IncidentConfig:
    """The `incidents:` section of a patterns file (defaults when it has none)."""
    doc = yaml.safe_load(Path(path).read_text())
    section = doc.get("incidents") if isinstance(doc, dict) else None
    return IncidentConfig.model_validate(section or {})
