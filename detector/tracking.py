"""ByteTrack (supervision's `sv.ByteTrack`, numpy + scipy, no torch) on any model's boxes.

Each box gets a stable track id and the track's velocity in pixels per second of event
time (box centre displacement since the track's previous frame over the elapsed time), so
sampling rates and dropped frames do not distort speeds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from detector.models import RawDetection

# ByteTrack starts a track from a box scoring at least this (sv.ByteTrack: its activation
# threshold + 0.1), the YOLO backend's default confidence floor; lower-scoring boxes only
# continue existing tracks (ByteTrack's second, low-score association).
NEW_TRACK_MIN_CONFIDENCE = 0.25
# Seconds after which a velocity's reference point is too old to mean anything.
_VELOCITY_MEMORY_MS = 60_000


@dataclass(frozen=True)
class TrackedDetection:
    """A box with its track id (None while ByteTrack has not confirmed a new track)."""

    detection: RawDetection
    track_id: int | None
    velocity_px_s: tuple[float, float] | None


class Tracker(Protocol):
    name: str

    def update(self, boxes: list[RawDetection], now_ms: int) -> list[TrackedDetection]: ...


def _centre(box: RawDetection) -> tuple[float, float]:
    return (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2


class ByteTracker:
    """supervision's ByteTrack fed with any detector's boxes, one instance per camera.

    Class-agnostic like ByteTrack itself: SSD's car/truck flips on one vehicle keep its id.
    Ids start at 1 per tracker (supervision keeps its counters per instance).
    """

    name = "bytetrack"

    def __init__(self, track_buffer: int = 30, match_thresh: float = 0.8) -> None:
        from supervision.tracker.byte_tracker.core import ByteTrack

        with warnings.catch_warnings():
            # Deprecated since supervision 0.28 in favour of the `trackers` package, which
            # the lock cannot take yet (pyproject.toml, `detector` extra).
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            self._tracker = ByteTrack(
                track_activation_threshold=NEW_TRACK_MIN_CONFIDENCE - 0.1,
                lost_track_buffer=track_buffer,
                minimum_matching_threshold=match_thresh,
                frame_rate=30,  # lost_track_buffer counts frames as given: 30 / 30 * buffer
                minimum_consecutive_frames=1,
            )
        self._last: dict[int, tuple[tuple[float, float], int]] = {}  # id -> (centre, ms)

    def update(self, boxes: list[RawDetection], now_ms: int) -> list[TrackedDetection]:
        from supervision.detection.core import Detections

        detections = Detections(
            xyxy=np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], np.float32).reshape(-1, 4),
            confidence=np.array([b.confidence for b in boxes], np.float32),
            data={"index": np.arange(len(boxes))},
        )
        tracked = self._tracker.update_with_detections(detections)
        # Only boxes of confirmed tracks come back, each with the index we gave it.
        track_ids = tracked.tracker_id if tracked.tracker_id is not None else ()
        ids: dict[int, int] = {
            int(i): int(t) for i, t in zip(tracked.data.get("index", ()), track_ids, strict=True)
        }
        out = [
            TrackedDetection(box, ids.get(i), self._velocity(ids.get(i), box, now_ms))
            for i, box in enumerate(boxes)
        ]
        live = set(ids.values())
        self._last = {
            t: v for t, v in self._last.items() if t in live or now_ms - v[1] < _VELOCITY_MEMORY_MS
        }
        return out

    def _velocity(
        self, track_id: int | None, box: RawDetection, now_ms: int
    ) -> tuple[float, float] | None:
        if track_id is None:
            return None
        centre = _centre(box)
        previous = self._last.get(track_id)
        self._last[track_id] = (centre, now_ms)
        if previous is None or now_ms <= previous[1]:
            return None
        dt = (now_ms - previous[1]) / 1000
        return round((centre[0] - previous[0][0]) / dt, 2), round(
            (centre[1] - previous[0][1]) / dt, 2
        )


def make_tracker(
    kind: str = "bytetrack", track_buffer: int = 30, match_thresh: float = 0.8
) -> Tracker:
    """The tracker a config names (ByteTrack is the only one)."""
    if kind != "bytetrack":
        raise ValueError(f"unknown tracker {kind!r}: only 'bytetrack'")
    return ByteTracker(track_buffer, match_thresh)
