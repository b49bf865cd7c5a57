"""`high_risk_verdict` alerts: their evidence and their cooldown (arrival order)."""

from __future__ import annotations

import random

import pytest

from contract import RiskAssessment
from udfs.patterns.config import CepConfig
from udfs.patterns.cooldown import LATENESS_MS, admit
from udfs.risk.records import alert_for_verdict


def verdict(crop: str | None) -> RiskAssessment:
    doc = {"schema_version": 1, "camera_id": "cam-1", "frame_id": 42, "group_id": "g3",
           "captured_at_ms": 1_700_000_000_000, "crop_sha256": crop, "risk_level": "high",
           "risk_types": ["near_miss"], "reason": "bus close to people", "confidence": 0.8,
           "source": "llm"}  # fmt: skip
    return RiskAssessment.model_validate(doc)


@pytest.mark.parametrize("crop", ["ab" * 32, None, "not-a-hash"])
def test_a_high_verdict_alert_carries_its_frame_group_and_crop(crop: str | None) -> None:
    alert = alert_for_verdict(verdict(crop))
    assert alert is not None
    [evidence] = alert.evidence
    assert (evidence.camera_id, evidence.frame_id, evidence.group_id) == ("cam-1", 42, "g3")
    assert evidence.captured_at_ms == alert.start_ms
    assert evidence.crop_sha256 == (crop if crop == "ab" * 32 else None)


def admitted(starts: list[int], cooldown_ms: int) -> list[int]:
    kept: list[int] = []
    return [s for s in starts if admit(kept, s, cooldown_ms)]


def test_in_order_the_cooldown_is_the_patterns_rule() -> None:
    """Suppressed when it starts within the cooldown after the last alert let through."""
    rng = random.Random(11)
    for _ in range(200):
        starts = sorted(rng.randrange(0, 120_000, 500) for _ in range(rng.randrange(1, 30)))
        cooldown = rng.choice([0, 1000, 10_000, 30_000])
        expected: list[int] = []
        for s in starts:
            if not expected or s >= expected[-1] + cooldown:
                expected.append(s)
        assert admitted(starts, cooldown) == expected


def test_out_of_order_alerts_are_judged_against_both_sides() -> None:
    assert admitted([11_000, 0, 4_000, 21_000, 15_000], 10_000) == [11_000, 0, 21_000]
    assert admitted([5, 5, 3], 0) == [5, 5, 3]  # no cooldown: every one


def test_kept_state_stays_bounded() -> None:
    kept: list[int] = []
    for s in range(0, 3_600_000, 20_000):
        assert admit(kept, s, 10_000)
    assert max(kept) - min(kept) <= 10_000 + LATENESS_MS
    assert len(kept) <= (10_000 + LATENESS_MS) // 20_000 + 1


def test_the_cooldown_is_configured_beside_the_patterns() -> None:
    assert CepConfig.model_validate({"patterns": []}).verdict_alerts.cooldown_s == 10
    cfg = CepConfig.model_validate({"patterns": [], "verdict_alerts": {"cooldown_s": 0}})
    assert cfg.verdict_alerts.cooldown_s == 0
    with pytest.raises(ValueError, match="cooldown_s"):
        CepConfig.model_validate({"patterns": [], "verdict_alerts": {"cooldown_s": -1}})
