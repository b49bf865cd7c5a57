"""A track moving against its lane's direction for `min_frames` frames within `within_s`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, Pattern, skip_past_last_event
from udfs.patterns.catalogue.base import FactNeeds, PatternKind, kind_is, per_track, tracks


class WrongWay(PatternKind):
    type: Literal["wrong_way"] = Field(description="A track moving against its lane.")
    min_frames: int = Field(default=5, ge=1, description="Frames against the lane needed.")
    within_s: float = Field(default=5.0, gt=0, description="Those frames lie within this span.")

    def needs(self) -> FactNeeds:
        return FactNeeds(frozenset({"wrong_way"}))

    def partition(self, fact: Event) -> str:
        """One matcher per track: another track's frames neither help nor break a run."""
        return per_track(fact)

    def pattern(self) -> Pattern:
        return (
            Pattern.begin("against", skip_past_last_event())
            .where(kind_is("wrong_way"))
            .times(self.min_frames)
            .within(int(self.within_s * 1000))
        )

    def describe(self, match: Match) -> str:
        return (
            f"track {tracks(match)} moved against lane {match.events['against'][0].get('lane')} "
            f"for {self.min_frames} frames"
        )
