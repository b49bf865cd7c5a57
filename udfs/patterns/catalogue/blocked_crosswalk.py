"""A vehicle stopped in the crosswalk that does not clear it within `within_s`.

The meaning is in the timeout: a partial match (stopped, waiting for the same track to move
again) that times out is the alert (`on_timeout`, required here); a vehicle that moves on in
time completes the match, which alerts nothing. One matcher per track; each stopped frame
starts a run (at 1 fps, up to `within_s` runs per stopped vehicle), and the cooldown keeps
one alert per vehicle and cooldown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, MatchedSoFar, Pattern
from udfs.patterns.catalogue.base import FactNeeds, OnTimeout, PatternKind, per_track, tracks


class BlockedCrosswalk(PatternKind):
    type: Literal["blocked_crosswalk"] = Field(description="Stopped in the crosswalk too long.")
    within_s: float = Field(default=20.0, gt=0, description="Alert if not cleared within this.")
    max_stopped_speed_px_s: float = Field(
        default=2.0, ge=0, description="A vehicle this slow (or slower) counts as stopped."
    )
    on_timeout: OnTimeout = Field(description="The alert when it is not cleared in time.")

    def needs(self) -> FactNeeds:
        return FactNeeds(frozenset({"crosswalk_vehicle"}))

    def partition(self, fact: Event) -> str:
        return per_track(fact)

    def alerts_on_match(self) -> bool:
        return False  # cleared in time: nothing to report

    def _stopped(self, fact: Event) -> bool:
        speed = fact.get("value")
        return fact.get("kind") == "crosswalk_vehicle" and speed is not None and (
            float(speed) <= self.max_stopped_speed_px_s
        )

    def pattern(self) -> Pattern:
        def moving(fact: Event, ctx: MatchedSoFar) -> bool:
            return fact.get("kind") == "crosswalk_vehicle" and not self._stopped(fact)

        return (
            Pattern.begin("stopped")
            .where(self._stopped)
            .followed_by("cleared")
            .where_iterative(moving)
            .within(int(self.within_s * 1000))
        )

    def describe(self, match: Match) -> str:
        return f"vehicle {tracks(match)} cleared the crosswalk"
