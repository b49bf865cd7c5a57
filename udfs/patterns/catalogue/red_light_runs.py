"""Repeated red-light runs at one camera: `count` runs within `within_s`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Pattern, skip_past_last_event
from udfs.patterns.catalogue.base import FactNeeds, PatternKind, kind_is, new_track, tracks


class RedLightRuns(PatternKind):
    type: Literal["red_light_runs"] = Field(description="N red-light runs at one camera.")
    count: int = Field(default=3, ge=1, description="Runs needed.")
    within_s: float = Field(default=60.0, gt=0, description="First to last run under this.")
    distinct_tracks: bool = Field(default=True, description="Each run by a different track.")

    def needs(self) -> FactNeeds:
        return FactNeeds(frozenset({"red_light_run"}))

    def pattern(self) -> Pattern:
        pattern = (
            Pattern.begin("run", skip_past_last_event())
            .where(kind_is("red_light_run"))
            .times(self.count)
            .within(int(self.within_s * 1000))
        )
        if self.distinct_tracks:
            pattern.where_iterative(new_track("run"))
        return pattern

    def describe(self, match: Match) -> str:
        return f"{self.count} red-light runs within {self.within_s:g} s (tracks {tracks(match)})"
