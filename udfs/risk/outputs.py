"""What one risk verdict becomes, decided where the verdict is made (plain Python).

A verdict leaves the risk stage as up to three records: its own (the risk topic and the
Redis views), a `high_risk_verdict` alert when it is high, and a pattern fact when some
pattern waits for its level. Made by the operator that produced the verdict, the three cross
into the JVM once, instead of the verdict crossing back into three Python operators that
each re-read it (at 1,500 cameras those three took ~1.3 s of busy time per second per subtask,
more than the source chain; docs/performance.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from contract import RiskAssessment
from udfs.patterns import facts
from udfs.patterns.slots import slot_of
from udfs.risk.records import alert_for_verdict


class VerdictRecords(NamedTuple):
    own: tuple[str, str]  # (camera id, verdict JSON)
    alert: tuple[str, str] | None  # (camera id, TrafficAlert JSON) of a high verdict
    facts: tuple[int, str] | None  # (key slot, JSON list of one fact) for the pattern stage


@dataclass(frozen=True)
class VerdictOutputs:
    """`fact_levels`: the risk levels some pattern waits for (`CepConfig.verdict_levels`);
    `key_slots`: the pattern operator's slots (`cep.operator.key_slots`), so the fact lands
    on its camera's slot."""

    fact_levels: frozenset[str] = frozenset()
    key_slots: int = 1

    def of(self, verdict: RiskAssessment) -> VerdictRecords:
        own = (verdict.camera_id, verdict.to_json().decode())
        alert = alert_for_verdict(verdict)
        fact_row = None
        if verdict.risk_level in self.fact_levels:
            fact = [facts.from_risk(verdict).as_event()]
            slot = slot_of(verdict.camera_id, self.key_slots)
            fact_row = (slot, json.dumps(fact, separators=(",", ":")))
        return VerdictRecords(
            own, None if alert is None else (alert.camera_id, alert.to_json().decode()), fact_row
        )
