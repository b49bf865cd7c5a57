"""Frames in, detection events out: model -> tracker -> objects -> groups -> event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contract import Box, DetectedObject, DetectionEvent, FrameSize
from detector.grouping import build_groups
from detector.models import Detector
from detector.tracking import IouTracker


@dataclass
class CameraPipeline:
    """Per-camera state (the tracker) around a shared model."""

    camera_id: str
    model: Detector
    proximity: float = 1.0
    tracker: IouTracker = field(default_factory=IouTracker)

    def process(self, frame_bgr: np.ndarray, frame_id: int, captured_at_ms: int) -> DetectionEvent:
        height, width = frame_bgr.shape[:2]
        tracked = self.tracker.update(self.model.detect(frame_bgr), captured_at_ms)
        objects = tuple(
            DetectedObject(
                class_name=t.detection.class_name,  # type: ignore[arg-type]
                confidence=round(t.detection.confidence, 4),
                box=Box(
                    x1=round(t.detection.x1, 1),
                    y1=round(t.detection.y1, 1),
                    x2=round(t.detection.x2, 1),
                    y2=round(t.detection.y2, 1),
                ),
                track_id=t.track_id,
                velocity_px_s=t.velocity_px_s,
            )
            for t in tracked
        )
        return DetectionEvent(
            schema_version=1,
            camera_id=self.camera_id,
            frame_id=frame_id,
            captured_at_ms=captured_at_ms,
            frame=FrameSize(width=width, height=height),
            objects=objects,
            groups=tuple(build_groups(frame_bgr, objects, self.proximity)),
            detector=self.model.name,
        )


def image_folder(folder: Path) -> Iterator[np.ndarray]:
    """Frames of an image folder in name order (jpg/png)."""
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not files:
        raise FileNotFoundError(f"no .jpg/.png frames in {folder}")
    for path in files:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"unreadable image {path}")
        yield frame


def video_file(path: Path, sample_fps: float) -> Iterator[np.ndarray]:
    """Frames of a video file (or RTSP/HTTP URL) sampled down to ``sample_fps``."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    native = capture.get(cv2.CAP_PROP_FPS) or sample_fps
    every = max(1, round(native / sample_fps))
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % every == 0:
                yield frame
            index += 1
    finally:
        capture.release()
