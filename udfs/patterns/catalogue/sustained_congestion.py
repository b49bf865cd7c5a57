"""Congestion that lasts: `windows` back-to-back windows with a congestion index at least
`min_congestion_index`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, MatchedSoFar, Pattern, skip_past_last_event
from udfs.patterns.catalogue.base import FactNeeds, PatternKind


def _adjacent(fact: Event, ctx: MatchedSoFar) -> bool:
    """The window starts where the previous one taken ended (refs are "start-end")."""
    taken = ctx.events("jam")
    return not taken or str(taken[-1]["ref"]).split("-")[1] == str(fact["ref"]).split("-")[0]


class SustainedCongestion(PatternKind):
    type: Literal["sustained_congestion"] = Field(description="Consecutive congested windows.")
    windows: int = Field(default=3, ge=1, description="Back-to-back windows needed.")
    min_congestion_index: float = Field(
        default=0.6, ge=0, le=1, description="WindowStats.congestion_index at least this."
    )

    def needs(self) -> FactNeeds:
        """Windows under the threshold need not become facts: a run needs back-to-back
        windows, so a dropped window breaks it as a window under the threshold would."""
        return FactNeeds(frozenset({"window"}), min_congestion_index=self.min_congestion_index)

    def _congested(self, fact: Event) -> bool:
        return float(fact.get("value", 0.0)) >= self.min_congestion_index

    def pattern(self) -> Pattern:
        if self.windows == 1:
            return Pattern.begin("jam").where(self._congested)
        return (
            Pattern.begin("jam", skip_past_last_event())
            .where(self._congested)
            .where_iterative(_adjacent)
            .times(self.windows)
            .consecutive()
        )

    def describe(self, match: Match) -> str:
        return (
            f"{self.windows} consecutive windows with congestion index >= "
            f"{self.min_congestion_index:g}"
        )
