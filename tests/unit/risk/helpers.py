"""Builders shared by the risk-stage unit tests."""

from __future__ import annotations

from typing import Any

from contract import DetectionEvent, Group
from tests.factories import detection_dict
from udfs.risk.config import RiskConfig

CAR = {"class_name": "car", "confidence": 0.9, "box": {"x1": 0, "y1": 0, "x2": 10, "y2": 10}}
PERSON = {"class_name": "person", "confidence": 0.9, "box": {"x1": 20, "y1": 0, "x2": 30, "y2": 10}}


def event_with(
    objects: list[dict[str, Any]],
    features: dict[str, Any] | None = None,
    signal: str | None = None,
    crop: bool = True,
) -> tuple[DetectionEvent, Group]:
    """A one-group event whose group holds all `objects`."""
    base = detection_dict()
    group = dict(base["groups"][0])
    group["member_indices"] = list(range(len(objects)))
    group["features"] = features or {}
    if not crop:
        group.pop("crop")
        group.pop("crop_sha256")
    base.update(objects=objects, groups=[group], signal_state=signal)
    event = DetectionEvent.model_validate(base)
    return event, event.groups[0]


def risk_config(**llm: Any) -> RiskConfig:
    return RiskConfig.model_validate({"llm": {"base_url": "http://127.0.0.1:1/v1", **llm}})
