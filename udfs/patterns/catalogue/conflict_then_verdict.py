"""A pedestrian-vehicle conflict, then a risk verdict of at least `min_level` within `within_s`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, MatchedSoFar, Pattern, skip_past_last_event
from udfs.patterns.catalogue.base import RISK_LEVELS, FactNeeds, PatternKind, kind_is, tracks


class ConflictThenVerdict(PatternKind):
    type: Literal["conflict_then_verdict"] = Field(description="Conflict, then a high verdict.")
    within_s: float = Field(default=30.0, gt=0, description="Verdict under this after conflict.")
    min_level: Literal["medium", "high"] = Field(default="high", description="Verdict level.")
    same_group: bool = Field(default=False, description="Verdict must be for that very group.")

    def needs(self) -> FactNeeds:
        """Verdicts of `min_level` and above: the job drops the others before Python."""
        levels = RISK_LEVELS[RISK_LEVELS.index(self.min_level) :]
        return FactNeeds(frozenset({"conflict", "risk_verdict"}), verdict_levels=frozenset(levels))

    def pattern(self) -> Pattern:
        levels = self.needs().verdict_levels

        def verdict_of_conflict(fact: Event, ctx: MatchedSoFar) -> bool:
            if fact.get("kind") != "risk_verdict" or str(fact.get("label")) not in levels:
                return False
            return not self.same_group or fact.get("ref") == ctx.events("conflict")[0].get("ref")

        return (
            Pattern.begin("conflict", skip_past_last_event())
            .where(kind_is("conflict"))
            .followed_by("verdict")
            .where_iterative(verdict_of_conflict)
            .within(int(self.within_s * 1000))
        )

    def describe(self, match: Match) -> str:
        return (
            f"pedestrian-vehicle conflict followed by a {self.min_level}+ risk verdict "
            f"(tracks {tracks(match)})"
        )
