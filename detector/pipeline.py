"""Frames in, detection events out: model -> tracker -> scene -> groups -> event."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from contract import Box, DetectedObject, DetectionEvent, FrameSize
from detector.config import Scene
from detector.crops import CropStore
from detector.grouping import build_groups
from detector.models import Detector, RawDetection
from detector.scene import SceneGeometry, ground_point
from detector.signal import signal_state
from detector.tracking import ByteTracker, TrackedDetection, Tracker

if TYPE_CHECKING:
    from cv2.typing import MatLike


@dataclass
class Timing:
    """Seconds the last frame spent in the model and in everything."""

    model_s: float = 0.0
    total_s: float = 0.0


@dataclass
class CameraPipeline:
    """Per-camera state (tracker, scene memory) around a model that cameras may share.

    ``model_lock`` serialises `process` calls into a shared model (OpenCV's net and torch
    modules are not safe to call from several threads at once); the service instead runs
    the model in its worker pool and calls `finish` with the boxes, in frame order.
    """

    camera_id: str
    model: Detector
    proximity: float = 1.0
    tracker: Tracker = field(default_factory=ByteTracker)
    scene: Scene = field(default_factory=Scene)
    crops: CropStore | None = None
    model_lock: threading.Lock = field(default_factory=threading.Lock)
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        self._geometry = SceneGeometry(self.scene)

    def process(self, frame_bgr: MatLike, frame_id: int, captured_at_ms: int) -> DetectionEvent:
        """Model and the rest in the caller's thread (the service splits them: `finish`)."""
        started = time.perf_counter()
        with self.model_lock:
            boxes = self.model.detect(frame_bgr)
        return self.finish(
            frame_bgr, frame_id, captured_at_ms, boxes, time.perf_counter() - started
        )

    def finish(
        self, frame_bgr: MatLike, frame_id: int, captured_at_ms: int,
        boxes: list[RawDetection], model_s: float,
    ) -> DetectionEvent:  # fmt: skip
        """Everything after the model; call in frame order (tracker and scene memory)."""
        started = time.perf_counter()
        height, width = frame_bgr.shape[:2]
        objects = tuple(self._object(t) for t in self.tracker.update(boxes, captured_at_ms))
        self._geometry.end_frame()
        event = DetectionEvent(
            schema_version=1,
            camera_id=self.camera_id,
            frame_id=frame_id,
            captured_at_ms=captured_at_ms,
            frame=FrameSize(width=width, height=height),
            objects=objects,
            groups=tuple(build_groups(frame_bgr, objects, self.proximity, self.crops)),
            signal_state=signal_state(frame_bgr, self.scene.traffic_light),
            detector=self.model.name,
        )
        self.timing.model_s = model_s
        self.timing.total_s = model_s + time.perf_counter() - started
        return event

    def _object(self, tracked: TrackedDetection) -> DetectedObject:
        d = tracked.detection
        point = ground_point(d.x1, d.y1, d.x2, d.y2)
        return DetectedObject(
            class_name=d.class_name,  # type: ignore[arg-type]
            confidence=round(d.confidence, 4),
            box=Box(x1=round(d.x1, 1), y1=round(d.y1, 1), x2=round(d.x2, 1), y2=round(d.y2, 1)),
            track_id=tracked.track_id,
            velocity_px_s=tracked.velocity_px_s,
            zones=self._geometry.zones_of(point, tracked.velocity_px_s),
            crossed_lines=self._geometry.crossed(tracked.track_id, point),
        )


def image_folder(folder: Path) -> Iterator[MatLike]:
    """Frames of an image folder in name order (kept for callers of the skeleton API)."""
    from detector.sources import image_folder as frames

    for frame in frames(folder, 1.0, 0, lambda _reason: None, threading.Event()):
        yield frame.image
