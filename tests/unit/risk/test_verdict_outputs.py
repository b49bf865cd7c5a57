"""A verdict's records, made where the verdict is (udfs.risk.outputs): the same alert and the
same pattern fact the separate operators made from the verdict's JSON before."""

from __future__ import annotations

import json

import pytest

from contract import RiskAssessment, TrafficAlert, parse
from udfs.patterns import facts
from udfs.patterns.config import FactRules
from udfs.patterns.slots import slot_of
from udfs.risk.outputs import VerdictOutputs
from udfs.risk.records import alert_for_verdict


def verdict(level: str, camera: str = "cam-7") -> RiskAssessment:
    return RiskAssessment.model_validate(
        {"schema_version": 1, "camera_id": camera, "frame_id": 41, "group_id": "g2",
         "captured_at_ms": 1_700_000_000_123, "crop_sha256": "ab" * 32, "risk_level": level,
         "risk_types": ["near_miss"], "reason": "close pass", "confidence": 0.8,
         "source": "heuristic"}
    )  # fmt: skip


PATTERNS_WAIT_FOR_HIGH = VerdictOutputs(fact_levels=frozenset({"high"}), key_slots=64)


def test_its_own_record_is_the_verdict_keyed_by_camera():
    made = verdict("low")
    own = PATTERNS_WAIT_FOR_HIGH.of(made).own
    assert own[0] == "cam-7" and parse(RiskAssessment, own[1]) == made


def test_a_high_verdict_becomes_its_alert_and_a_fact_on_its_cameras_slot():
    made = verdict("high")
    records = PATTERNS_WAIT_FOR_HIGH.of(made)
    assert records.alert is not None
    assert records.alert[0] == "cam-7"
    assert parse(TrafficAlert, records.alert[1]) == alert_for_verdict(made)
    assert records.facts is not None
    slot, found = records.facts
    assert slot == slot_of("cam-7", 64)
    # the fact the pattern stage made from the verdict's JSON message
    from_message = facts.from_message("risk", records.own[1], FactRules())
    assert json.loads(found) == [f.as_event() for f in from_message]


@pytest.mark.parametrize("level", ["low", "medium"])
def test_other_levels_raise_no_alert(level: str):
    assert PATTERNS_WAIT_FOR_HIGH.of(verdict(level)).alert is None


def test_a_fact_only_for_the_levels_a_pattern_waits_for():
    assert PATTERNS_WAIT_FOR_HIGH.of(verdict("medium")).facts is None
    none_wait = VerdictOutputs()
    assert none_wait.of(verdict("high")).facts is None
    both = VerdictOutputs(fact_levels=frozenset({"medium", "high"}), key_slots=8)
    assert both.of(verdict("medium", "cam-x")).facts is not None
    assert both.of(verdict("medium", "cam-x")).facts[0] == slot_of("cam-x", 8)  # type: ignore[index]
