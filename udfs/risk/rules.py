"""Smart filter, priority tiers and the local heuristic assessor (pure functions).

The same few signals drive all three, so a group's LLM-worthiness, its tier and its
heuristic verdict never disagree about what the detector saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import VEHICLE_CLASSES, DetectionEvent, Group, RiskAssessment
from contract.models import RiskLevel
from udfs.risk.config import FilterRules, Tier, TierRules


@dataclass(frozen=True)
class Signals:
    """What the filter, the tiers and the heuristic look at for one group."""

    vehicles: int
    pedestrians: int
    ttc_s: float | None
    distance_px: float | None
    red_signal: bool
    in_crosswalk: bool
    has_crop: bool


def signals(event: DetectionEvent, group: Group) -> Signals:
    members = [event.objects[i] for i in group.member_indices]
    features = group.features
    return Signals(
        vehicles=sum(1 for o in members if o.class_name in VEHICLE_CLASSES),
        pedestrians=sum(1 for o in members if o.class_name == "person"),
        ttc_s=features.time_to_collision_s,
        distance_px=features.min_ped_vehicle_distance_px,
        red_signal=event.signal_state == "red",
        in_crosswalk=features.in_crosswalk,
        has_crop=group.crop is not None and group.crop_sha256 is not None,
    )


def llm_reasons(s: Signals, rules: FilterRules) -> list[str]:
    """Every rule that makes this group worth an LLM call (empty: heuristic only)."""
    reasons: list[str] = []
    if s.vehicles >= rules.min_vehicles:
        reasons.append("vehicles")
    if s.pedestrians and (rules.any_pedestrian or (rules.pedestrian_with_vehicle and s.vehicles)):
        reasons.append("pedestrian")
    if s.ttc_s is not None and s.ttc_s <= rules.max_ttc_s:
        reasons.append("ttc")
    if s.distance_px is not None and s.pedestrians and s.distance_px <= rules.max_distance_px:
        reasons.append("distance")
    if rules.red_signal and s.red_signal and s.vehicles:
        reasons.append("red_signal")
    if rules.in_crosswalk and s.in_crosswalk:
        reasons.append("crosswalk")
    return reasons


def needs_llm(s: Signals, rules: FilterRules) -> bool:
    if rules.require_crop and not s.has_crop:
        return False
    return bool(llm_reasons(s, rules))


def tier(s: Signals, rules: TierRules) -> Tier:
    """high: imminent contact or red light over a crosswalk; medium: closing or mixed users."""
    if s.ttc_s is not None and s.ttc_s <= rules.high_ttc_s:
        return "high"
    if s.distance_px is not None and s.pedestrians and s.distance_px <= rules.high_distance_px:
        return "high"
    if rules.red_is_high and s.red_signal and s.in_crosswalk and s.vehicles:
        return "high"
    if s.ttc_s is not None and s.ttc_s <= rules.medium_ttc_s:
        return "medium"
    if (s.pedestrians and s.vehicles) or s.in_crosswalk or (s.red_signal and s.vehicles):
        return "medium"
    return "low"


def heuristic_level(s: Signals) -> tuple[RiskLevel, tuple[str, ...], str, float]:
    """(level, types, reason, confidence) from geometry alone: cautious, low confidence."""
    types: list[str] = []
    if s.ttc_s is not None and s.ttc_s <= 1.5:
        types.append("near_miss")
    if s.red_signal and s.vehicles and s.in_crosswalk:
        types.append("red_light")
    if s.pedestrians and s.vehicles and s.in_crosswalk:
        types.append("pedestrian_conflict")
    if types:
        return "high" if "near_miss" in types else "medium", tuple(types), _reason(s), 0.5
    if s.ttc_s is not None and s.ttc_s <= 3.0:
        return "medium", ("closing",), _reason(s), 0.4
    if s.pedestrians and s.vehicles:
        return "low", ("mixed_traffic",), _reason(s), 0.4
    return "none", (), _reason(s), 0.6


def _reason(s: Signals) -> str:
    ttc = "n/a" if s.ttc_s is None else f"{s.ttc_s:.1f}s"
    return (
        f"heuristic: {s.vehicles} vehicle(s), {s.pedestrians} pedestrian(s), ttc {ttc}, "
        f"signal {'red' if s.red_signal else 'not red'}, "
        f"{'in' if s.in_crosswalk else 'not in'} crosswalk"
    )


def heuristic_verdict(
    event: DetectionEvent,
    group: Group,
    source: str = "heuristic",
    group_tier: Tier | None = None,
    note: str | None = None,
) -> RiskAssessment:
    """The local verdict: for filtered-out groups (heuristic) or after LLM failure (fallback)."""
    level, types, reason, confidence = heuristic_level(signals(event, group))
    if note:
        reason = f"{reason} ({note})"
    return RiskAssessment(
        schema_version=1,
        camera_id=event.camera_id,
        frame_id=event.frame_id,
        group_id=group.group_id,
        captured_at_ms=event.captured_at_ms,
        crop_sha256=group.crop_sha256,
        risk_level=level,
        risk_types=types,
        reason=reason[:500],
        confidence=confidence,
        source=source,  # type: ignore[arg-type]
        tier=group_tier,
    )
