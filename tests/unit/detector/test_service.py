"""The service end to end with a stand-in model and publisher: cameras fail alone,
corrupt frames are counted, scene and signal reach the events, annotated video written."""

from __future__ import annotations

import cv2
import numpy as np
from cv2.typing import MatLike

from contract import DetectionEvent, parse
from detector.config import parse_config
from detector.models import Detector, RawDetection
from detector.service import DetectorService


class Scripted(Detector):
    """A car and a pedestrian moving down the image, 15 px per frame."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
        y = 60 + 15 * self.calls
        self.calls += 1
        return [RawDetection("car", 0.9, 100, y, 160, y + 50),
                RawDetection("person", 0.8, 170, y, 190, y + 50)]  # fmt: skip


class Collecting:
    """Publisher double: keeps what it is given."""

    delivered = dropped = 0

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def publish(self, camera: str, key: bytes, value: bytes) -> None:
        self.sent.append((camera, key, value))

    def poll(self, timeout_s: float = 0.0) -> None:
        pass

    def close(self, timeout_s: float = 30.0) -> int:
        self.delivered = len(self.sent)
        return 0


def config(tmp_path, folder):
    return parse_config({
        "cameras": [
            {"id": "good", "source": str(folder), "scene": {
                "stop_line": [[0, 120], [320, 120]],
                "lanes": [{"name": "lane_a", "polygon": [[0, 0], [320, 0], [320, 240], [0, 240]],
                           "direction": [0, 1]}],
                "traffic_light": {"x1": 285, "y1": 5, "x2": 315, "y2": 45}}},
            {"id": "missing", "source": str(tmp_path / "nope.mp4")},
        ],
        "tracker": {"type": "bytetrack"},
        "metrics_port": None,
        "start_ms": 1_000,
        "annotate_dir": str(tmp_path / "out"),
    })  # fmt: skip


def test_service_runs_good_cameras_and_reports_bad_ones(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(4):
        frame = np.full((240, 320, 3), 30, np.uint8)
        frame[10:40, 290:310] = (0, 0, 255)  # a lit red lamp
        cv2.imwrite(str(folder / f"f{i}.png"), frame)
    (folder / "f2b.png").write_bytes(b"corrupt")
    publisher = Collecting()
    service = DetectorService(
        config(tmp_path, folder),
        quiet=True,
        model=Scripted(),
        publisher=publisher,
    )
    result = service.run()

    assert result.cameras["good"].frames == 4 and result.cameras["good"].error is None
    assert "no such file" in (result.cameras["missing"].error or "")
    events = [parse(DetectionEvent, v) for _, _, v in publisher.sent]
    assert [k for _, k, _ in publisher.sent] == [b"good"] * 4
    assert [e.captured_at_ms for e in events] == [
        1000,
        2000,
        3000,
        5000,
    ]  # f2b: skipped, its time slot too
    assert all(e.signal_state == "red" for e in events)
    cars = [next(o for o in e.objects if o.class_name == "car") for e in events]
    assert len({c.track_id for c in cars}) == 1
    assert [c.crossed_lines for c in cars] == [(), ("stop_line",), (), ()]
    assert cars[1].zones == ("lane_a",) and cars[1].velocity_px_s == (0.0, 15.0)
    assert events[0].groups and events[0].groups[0].crop is not None

    registry = service.metrics.registry
    assert (
        registry.get_sample_value(
            "traffic_detector_frames_dropped_total", {"camera": "good", "reason": "corrupt"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "traffic_detector_detections_total", {"camera": "good", "class": "car"}
        )
        == 4
    )
    assert (tmp_path / "out" / "good.mp4").stat().st_size > 0
