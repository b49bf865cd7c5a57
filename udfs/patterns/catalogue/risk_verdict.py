"""A risk verdict of at least `min_level`: an alert of its own (the default `high_risk_verdict`).

Matched here rather than beside the risk stage so that it has a cooldown like every pattern
and comes in event-time order with the frame's evidence (frame, group, crop).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, Pattern
from udfs.patterns.catalogue.base import RISK_LEVELS, FactNeeds, PatternKind


class RiskVerdict(PatternKind):
    type: Literal["risk_verdict"] = Field(description="One verdict of at least a level.")
    min_level: Literal["low", "medium", "high"] = Field(
        default="high", description="Lowest risk level that alerts."
    )

    def needs(self) -> FactNeeds:
        """Verdicts of `min_level` and above: the job drops the others before Python."""
        levels = RISK_LEVELS[RISK_LEVELS.index(self.min_level) :]
        return FactNeeds(frozenset({"risk_verdict"}), verdict_levels=frozenset(levels))

    def pattern(self) -> Pattern:
        levels = self.needs().verdict_levels

        def at_level(fact: Event) -> bool:
            return fact.get("kind") == "risk_verdict" and str(fact.get("label")) in levels

        return Pattern.begin("verdict").where(at_level)

    def describe(self, match: Match) -> str:
        verdict = match.events["verdict"][0]
        return (
            f"{verdict.get('label')} risk ({verdict.get('detail') or 'unspecified'}) "
            f"at frame {verdict.get('frame_id')} group {verdict.get('group_id')}"
        )
