"""A near miss: one close approach whose time to collision is under `max_ttc_s`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, Pattern
from udfs.patterns.catalogue.base import FactNeeds, PatternKind, tracks


class NearMiss(PatternKind):
    type: Literal["near_miss"] = Field(description="Time to collision under a threshold.")
    max_ttc_s: float = Field(default=1.0, gt=0, description="Time to collision under this.")

    def needs(self) -> FactNeeds:
        return FactNeeds(frozenset({"close_approach"}))

    def _close(self, fact: Event) -> bool:
        return fact.get("value") is not None and float(fact["value"]) < self.max_ttc_s

    def pattern(self) -> Pattern:
        return Pattern.begin("approach").where(self._close)

    def describe(self, match: Match) -> str:
        return (
            f"near miss: time to collision {match.events['approach'][0].get('value')} s "
            f"(tracks {tracks(match)})"
        )
