"""Annotated video of what the model saw: boxes, track ids, zones, lines and the signal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contract import DetectionEvent
from detector.config import Scene

if TYPE_CHECKING:
    from cv2.typing import MatLike

COLOURS = {
    "person": (0, 200, 255),
    "bicycle": (255, 200, 0),
    "traffic light": (200, 200, 200),
}
VEHICLE_COLOUR = (0, 220, 0)
SIGNAL_BGR = {"red": (0, 0, 255), "yellow": (0, 220, 255), "green": (0, 200, 0)}


def draw(frame_bgr: MatLike, event: DetectionEvent, scene: Scene) -> MatLike:
    """A copy of the frame with the event and the scene drawn on it."""
    import cv2

    out = frame_bgr.copy()
    polys = [(scene.crosswalk, "crosswalk")] if scene.crosswalk else []
    polys += [(z.polygon, z.name) for z in (*scene.zones, *scene.lanes)]
    for polygon, name in polys:
        pts = np.array(polygon, np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, (255, 128, 0), 1)
        cv2.putText(out, name, tuple(pts[0, 0]), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 128, 0), 1)
    lines = [(scene.stop_line, "stop_line")] if scene.stop_line else []
    lines += [(line.points, line.name) for line in scene.lines]
    for (a, b), _name in lines:
        cv2.line(out, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (0, 0, 255), 2)
    for obj in event.objects:
        colour = COLOURS.get(obj.class_name, VEHICLE_COLOUR)
        box = obj.box
        cv2.rectangle(out, (int(box.x1), int(box.y1)), (int(box.x2), int(box.y2)), colour, 2)
        label = f"{obj.class_name} #{obj.track_id if obj.track_id is not None else '-'}"
        tags = [*obj.zones, *(f">{line}" for line in obj.crossed_lines)]
        if tags:
            label += " " + ",".join(tags)
        cv2.putText(out, label, (int(box.x1), max(10, int(box.y1) - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)  # fmt: skip
    if event.signal_state is not None:
        colour = SIGNAL_BGR.get(event.signal_state, (128, 128, 128))
        cv2.putText(out, f"signal: {event.signal_state}", (8, 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)  # fmt: skip
        if scene.traffic_light:
            r = scene.traffic_light
            cv2.rectangle(out, (r.x1, r.y1), (r.x2, r.y2), colour, 1)
    return out


class VideoOut:
    """An MP4 (mp4v) per camera; opened on the first frame, at the sampling rate."""

    def __init__(self, path: Path, fps: float) -> None:
        self._path, self._fps = path, fps
        self._writer: object | None = None

    def write(self, image: MatLike) -> None:
        import cv2

        if self._writer is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            height, width = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self._path), fourcc, self._fps, (width, height))
        self._writer.write(image)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()  # type: ignore[attr-defined]
