"""A small greedy IoU tracker: stable ids for the skeleton detector.

Good enough for slow sampled streams (1 frame/s of panned stills); the detector service
issue replaces it with ultralytics' ByteTrack for real traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.models import RawDetection, iou


@dataclass
class _Track:
    track_id: int
    box: RawDetection
    last_ms: int
    missed: int = 0


@dataclass(frozen=True)
class TrackedDetection:
    detection: RawDetection
    track_id: int
    velocity_px_s: tuple[float, float] | None


def _centre(box: RawDetection) -> tuple[float, float]:
    return (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2


class IouTracker:
    """Greedy matching by IoU within a class; unmatched boxes start new tracks."""

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
