"""Repeated pedestrian-vehicle conflicts at one camera: `count` conflicts within `within_s`.

Test-only: the whole of what adding a kind of pattern takes, besides its patterns.yaml entry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Pattern, skip_past_last_event
from udfs.patterns.catalogue.base import FactNeeds, PatternKind, kind_is, tracks


class ConflictBurst(PatternKind):
    type: Literal["conflict_burst"] = Field(description="N conflicts at one camera.")
    count: int = Field(default=3, ge=2, description="Conflicts needed.")
    within_s: float = Field(default=20.0, gt=0, description="First to last conflict under this.")

    def needs(self) -> FactNeeds:
        return FactNeeds(frozenset({"conflict"}))

    def pattern(self) -> Pattern:
        return (
            Pattern.begin("conflict", skip_past_last_event())
            .where(kind_is("conflict"))
            .times(self.count)
            .within(int(self.within_s * 1000))
        )

    def describe(self, match: Match) -> str:
        return (
            f"{self.count} pedestrian-vehicle conflicts within {self.within_s:g} s "
            f"(tracks {tracks(match)})"
        )
