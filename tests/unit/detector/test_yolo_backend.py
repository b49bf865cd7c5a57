"""The ultralytics path with an untrained model built from its yaml (no weights needed):
the plumbing must produce valid events; accuracy is not the point."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from contract import DetectionEvent, parse
from detector.config import YoloModel
from detector.models import ROAD_USER_CLASSES, build_detector
from detector.pipeline import CameraPipeline
from detector.tracking import make_tracker

pytest.importorskip(
    "ultralytics", reason="ultralytics absent: the yolo extra is opt-in (`./dev setup --yolo`)"
)


@pytest.fixture(scope="module")
def frames() -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    return [np.roll(base, 6 * i, axis=1) for i in range(3)]


def test_yolo_from_yaml_produces_valid_events(frames):
    # An untrained net scores near zero: threshold 0 lets its boxes through.
    model = build_detector(
        YoloModel(type="yolo", weights="yolo11n.yaml", image_size=320, min_confidence=0.0,
                  max_detections=20)
    )  # fmt: skip
    assert model.name == "yolo:yolo11n"
    pipeline = CameraPipeline("cam-yolo", model, tracker=make_tracker("bytetrack"))
    events = [pipeline.process(f, i, 1_000 * i) for i, f in enumerate(frames)]
    for event in events:
        assert parse(DetectionEvent, event.to_json()) == event
        assert event.detector == "yolo:yolo11n"
    objects = [o for e in events for o in e.objects]
    assert objects, "threshold 0 should let the untrained model's boxes through"
    assert {o.class_name for o in objects} <= ROAD_USER_CLASSES
    assert all(0 <= o.box.x1 <= o.box.x2 <= 480 for o in objects)


def test_yolo_per_class_threshold_removes_a_class(frames):
    def detect(**thresholds: float) -> list[str]:
        model = build_detector(  # class names checked as in a config file
            YoloModel.model_validate({
                "type": "yolo", "weights": "yolo11n.yaml", "image_size": 320,
                "min_confidence": 0.0, "max_detections": 20, "class_thresholds": thresholds,
            })
        )  # fmt: skip
        return [d.class_name for d in model.detect(frames[0])]

    everything = detect()
    assert everything
    top = everything[0]
    without = detect(**{top: 1.0})
    assert top not in without
    assert len(without) == len([c for c in everything if c != top])
