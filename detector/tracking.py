"""Trackers: ultralytics' ByteTrack on any model's boxes, and a greedy IoU fallback.

Both give each box a stable track id and the track's velocity in pixels per second of
event time (box centre displacement since the track's previous frame over the elapsed
time), so sampling rates and dropped frames do not distort speeds. ByteTrack is used when
ultralytics is installed; otherwise the IoU tracker stands in and the service says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from detector.models import RawDetection, iou, yolo_environment

log = logging.getLogger("traffic-detector.tracking")


@dataclass
class _Track:
    track_id: int
    box: RawDetection
    last_ms: int
    missed: int = 0


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


class IouTracker:
    """Greedy matching by IoU within a class; unmatched boxes start new tracks."""

    name = "iou"

    def __init__(self, min_iou: float = 0.3, max_missed: int = 3) -> None:
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._min_iou = min_iou
        self._max_missed = max_missed

    def update(self, boxes: list[RawDetection], now_ms: int) -> list[TrackedDetection]:
        out: list[TrackedDetection] = []
        free = list(self._tracks)
        for box in sorted(boxes, key=lambda b: b.confidence, reverse=True):
            candidates = [t for t in free if t.box.class_name == box.class_name]
            best = max(candidates, key=lambda t: iou(t.box, box), default=None)
            if best is not None and iou(best.box, box) >= self._min_iou:
                free.remove(best)
                out.append(TrackedDetection(box, best.track_id, self._velocity(best, box, now_ms)))
                best.box, best.last_ms, best.missed = box, now_ms, 0
            else:
                track = _Track(self._next_id, box, now_ms)
                self._next_id += 1
                self._tracks.append(track)
                out.append(TrackedDetection(box, track.track_id, None))
        for track in free:
            track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self._max_missed]
        return out

    @staticmethod
    def _velocity(track: _Track, box: RawDetection, now_ms: int) -> tuple[float, float] | None:
        dt = (now_ms - track.last_ms) / 1000
        if dt <= 0:
            return None
        (x0, y0), (x1, y1) = _centre(track.box), _centre(box)
        return round((x1 - x0) / dt, 2), round((y1 - y0) / dt, 2)


class _Boxes:
    """The results-like view BYTETracker reads: xywh, xyxy, conf, cls, boolean indexing."""

    def __init__(
        self,
        xyxy: npt.NDArray[np.float32],
        conf: npt.NDArray[np.float32],
        cls: npt.NDArray[np.float32],
    ) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        self.xywh = np.column_stack(
            [(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
             xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]]
        ) if len(xyxy) else np.zeros((0, 4), np.float32)  # fmt: skip

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: Any) -> _Boxes:
        return _Boxes(self.xyxy[mask], self.conf[mask], self.cls[mask])


class ByteTracker:
    """ultralytics' BYTETracker fed with any detector's boxes.

    Create every camera's tracker before frames flow: BYTETracker's constructor resets
    ultralytics' process-wide id counter.
    """

    name = "bytetrack"

    def __init__(self, track_buffer: int = 30, match_thresh: float = 0.8) -> None:
        yolo_environment()
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = SimpleNamespace(
            track_high_thresh=0.25, track_low_thresh=0.1, new_track_thresh=0.25,
            track_buffer=track_buffer, match_thresh=match_thresh, fuse_score=True,
        )  # fmt: skip
        self._tracker = BYTETracker(args)
        self._classes: dict[str, int] = {}
        self._last: dict[int, tuple[tuple[float, float], int]] = {}  # id -> (centre, ms)

    def update(self, boxes: list[RawDetection], now_ms: int) -> list[TrackedDetection]:
        xyxy = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], np.float32).reshape(-1, 4)
        conf = np.array([b.confidence for b in boxes], np.float32)
        cls = np.array([self._classes.setdefault(b.class_name, len(self._classes)) for b in boxes])
        rows = self._tracker.update(_Boxes(xyxy, conf, cls.astype(np.float32)))
        ids: dict[int, int] = {int(row[7]): int(row[4]) for row in rows}
        out = []
        for i, box in enumerate(boxes):
            track_id = ids.get(i)
            out.append(TrackedDetection(box, track_id, self._velocity(track_id, box, now_ms)))
        live = set(ids.values())
        self._last = {t: v for t, v in self._last.items() if t in live or now_ms - v[1] < 60_000}
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
    """ByteTrack when asked for and ultralytics is importable; else the IoU tracker."""
    if kind == "bytetrack":
        try:
            return ByteTracker(track_buffer, match_thresh)
        except ImportError as err:
            log.warning(
                "ByteTrack unavailable (ultralytics not installed: pip install "
                "'traffic-risk[yolo]'); using the IoU tracker",
                extra={"error": str(err)},
            )
    return IouTracker(max_missed=track_buffer)
