from __future__ import annotations

from typing import Any

import pytest

from tests.unit.risk.helpers import CAR, PERSON, event_with
from udfs.risk import rules
from udfs.risk.config import FilterRules, TierRules

FILTER_TABLE: list[tuple[str, list[dict[str, Any]], dict[str, Any], str | None, bool, bool]] = [
    # name, objects, features, signal, crop, expected needs_llm
    ("one car alone", [CAR], {}, None, True, False),
    ("two vehicles", [CAR, CAR], {}, None, True, True),
    ("pedestrian and car", [CAR, PERSON], {}, None, True, True),
    ("pedestrian alone", [PERSON], {}, None, True, False),
    ("pedestrian alone in crosswalk", [PERSON], {"in_crosswalk": True}, None, True, True),
    ("one car, short ttc", [CAR], {"time_to_collision_s": 2.0}, None, True, True),
    ("one car, long ttc", [CAR], {"time_to_collision_s": 9.0}, None, True, False),
    ("one car, red signal", [CAR], {}, "red", True, True),
    ("one car, green signal", [CAR], {}, "green", True, False),
    ("two vehicles without crop", [CAR, CAR], {}, None, False, False),
]


@pytest.mark.parametrize(
    ("objects", "features", "signal", "crop", "expected"),
    [row[1:] for row in FILTER_TABLE],
    ids=[row[0] for row in FILTER_TABLE],
)
def test_filter_rules_table(objects, features, signal, crop, expected) -> None:
    event, group = event_with(objects, features, signal, crop)
    assert rules.needs_llm(rules.signals(event, group), FilterRules()) is expected


def test_filter_rules_are_configurable() -> None:
    event, group = event_with([PERSON])
    sig = rules.signals(event, group)
    assert not rules.needs_llm(sig, FilterRules())
    assert rules.needs_llm(sig, FilterRules(any_pedestrian=True))
    two, g2 = event_with([CAR, CAR])
    assert not rules.needs_llm(rules.signals(two, g2), FilterRules(min_vehicles=3))


TIER_TABLE = [
    ("imminent ttc", [CAR, PERSON], {"time_to_collision_s": 1.0}, None, "high"),
    ("pedestrian very close", [CAR, PERSON], {"min_ped_vehicle_distance_px": 5.0}, None, "high"),
    ("red over crosswalk", [CAR], {"in_crosswalk": True}, "red", "high"),
    ("closing ttc", [CAR, CAR], {"time_to_collision_s": 2.5}, None, "medium"),
    ("mixed users", [CAR, PERSON], {"min_ped_vehicle_distance_px": 80.0}, None, "medium"),
    ("two cars far apart", [CAR, CAR], {}, None, "low"),
]


@pytest.mark.parametrize(
    ("objects", "features", "signal", "expected"),
    [row[1:] for row in TIER_TABLE],
    ids=[row[0] for row in TIER_TABLE],
)
def test_tiers_table(objects, features, signal, expected) -> None:
    event, group = event_with(objects, features, signal)
    assert rules.tier(rules.signals(event, group), TierRules()) == expected


def test_heuristic_verdict_marks_source_and_tier() -> None:
    event, group = event_with([CAR, PERSON], {"time_to_collision_s": 1.0}, "red")
    verdict = rules.heuristic_verdict(event, group, "fallback", "high", "LLM down")
    assert verdict.source == "fallback"
    assert verdict.tier == "high"
    assert verdict.risk_level == "high"
    assert "near_miss" in verdict.risk_types
    assert verdict.reason.endswith("(LLM down)")
    quiet, g = event_with([CAR, CAR])
    assert rules.heuristic_verdict(quiet, g).risk_level == "none"
