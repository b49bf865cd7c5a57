"""Ground-truth labels, taken from what each emitted frame shows (never from intent).

A label is written only for what the stream really contains: a red-light run is a track
whose ground point crossed the stop line in a frame whose signal is red; a near miss is a
pedestrian-vehicle pair whose group TTC is under the threshold; wrong-way driving is a track
in a lane zone moving against it. Congestion periods and silent cameras come from the plan.
Incidents the world planned but could not stage (a lane was busy) get no label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.frames import GroupFact
from simulator.observe import Frame

Kind = Literal["red_light_run", "near_miss", "wrong_way", "congestion", "camera_idle"]
CONGESTED_LANES = ("lane_1", "lane_2")
# Moments of one pair under the TTC threshold this close together are one near miss.
NEAR_MISS_MERGE_MS = 1500


class IncidentLabel(BaseModel):
    """One ground-truth incident; one JSON line in the truth file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind = Field(description="What happened.")
    camera_id: str = Field(description="Camera that saw it.")
    start_ms: int = Field(description="Event time of its first frame (inclusive).")
    end_ms: int = Field(description="Event time of its last frame (inclusive).")
    track_ids: tuple[int, ...] = Field(default=(), description="Tracks involved.")
    injected: bool = Field(description="Staged on purpose (false: arose by itself).")
    details: dict[str, float | int | str] = Field(
        default_factory=dict, description="Kind-specific facts, e.g. `min_ttc_s`."
    )


@dataclass
class _Open:
    start: int
    last: int
    tracks: set[int] = field(default_factory=set)
    value: float = float("inf")
    frames: int = 0


class CameraLabeller:
    """Follows one camera's emitted frames and closes labels as incidents end."""

    def __init__(
        self,
        camera_id: str,
        ttc_s: float,
        congestion: list[tuple[int, int]],
        injected: set[int],
    ) -> None:
        self.camera_id, self.ttc_s = camera_id, ttc_s
        self.injected = injected
        self._jams = sorted(congestion)
        self._jam: _Open | None = None
        self._near: dict[tuple[int, int], _Open] = {}
        self._wrong: dict[int, _Open] = {}
        self._prev_ms: int | None = None
        self.out: list[IncidentLabel] = []

    def observe(self, t_ms: int, frame: Frame, groups: list[GroupFact]) -> None:
        prev = self._prev_ms if self._prev_ms is not None else t_ms
        wrong_now: set[int] = set()
        for s in frame.seen:
            if "stop_line" in s.crossed and frame.signal == "red":
                self._label("red_light_run", prev, t_ms, {s.track_id}, {"signal_state": "red"})
            if "wrong_way" in s.zones:
                wrong_now.add(s.track_id)
                span = self._wrong.setdefault(s.track_id, _Open(t_ms, t_ms))
                span.last = t_ms
                span.frames += 1
        for track in [t for t in self._wrong if t not in wrong_now]:
            self._close_wrong(track)
        near_now: set[tuple[int, int]] = set()
        for g in groups:
            if g.pair is not None and g.ttc is not None and g.ttc < self.ttc_s:
                near_now.add(g.pair)
                span = self._near.setdefault(g.pair, _Open(t_ms, t_ms))
                span.last, span.value = t_ms, min(span.value, g.ttc)
                span.frames += 1
        for pair in [p for p in self._near if p not in near_now]:
            if t_ms - self._near[pair].last > NEAR_MISS_MERGE_MS:
                self._close_near(pair)
        self._congestion(t_ms, frame)
        self._prev_ms = t_ms

    def _congestion(self, t_ms: int, frame: Frame) -> None:
        while self._jams and t_ms >= self._jams[0][1]:
            self._jams.pop(0)
            self._close_jam()
        if not self._jams or t_ms < self._jams[0][0]:
            return
        if self._jam is None:
            self._jam = _Open(t_ms, t_ms)
        self._jam.last = t_ms
        self._jam.frames += 1
        for s in frame.seen:
            if s.cls != "person" and any(lane in s.zones for lane in CONGESTED_LANES):
                self._jam.tracks.add(s.track_id)

    def _close_jam(self) -> None:
        if self._jam is not None:
            jam, self._jam = self._jam, None
            self._label("congestion", jam.start, jam.last, jam.tracks, {"frames": jam.frames})

    def _close_wrong(self, track: int) -> None:
        span = self._wrong.pop(track)
        self._label("wrong_way", span.start, span.last, {track}, {"frames": span.frames})

    def _close_near(self, pair: tuple[int, int]) -> None:
        span = self._near.pop(pair)
        details: dict[str, float | int | str] = {"min_ttc_s": span.value, "frames": span.frames}
        self._label("near_miss", span.start, span.last, set(pair), details)

    def _label(
        self,
        kind: Kind,
        start: int,
        end: int,
        tracks: set[int],
        details: dict[str, float | int | str],
    ) -> None:
        injected = kind == "congestion" or bool(tracks & self.injected)
        self.out.append(
            IncidentLabel(
                kind=kind,
                camera_id=self.camera_id,
                start_ms=start,
                end_ms=end,
                track_ids=tuple(sorted(tracks)),
                injected=injected,
                details=details,
            )
        )

    def finish(self) -> list[IncidentLabel]:
        """Close whatever is still open at the end of the run; returns all new labels."""
        for track in list(self._wrong):
            self._close_wrong(track)
        for pair in list(self._near):
            self._close_near(pair)
        self._close_jam()
        out, self.out = self.out, []
        return out

    def take(self) -> list[IncidentLabel]:
        out, self.out = self.out, []
        return out
