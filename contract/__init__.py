"""The event contract shared by the detector and the job: topics, types, schemas."""

from contract.codec import ContractError, dead_letter, parse
from contract.models import (
    MAX_INLINE_CROP_BYTES,
    VEHICLE_CLASSES,
    Box,
    CropRef,
    DeadLetter,
    DetectedObject,
    DetectionEvent,
    FrameSize,
    Group,
    GroupFeatures,
    InlineCrop,
    RiskAssessment,
    TrafficAlert,
    WindowStats,
    sha256_hex,
)

__all__ = [
    "MAX_INLINE_CROP_BYTES",
    "VEHICLE_CLASSES",
    "Box",
    "ContractError",
    "CropRef",
    "DeadLetter",
    "DetectedObject",
    "DetectionEvent",
    "FrameSize",
    "Group",
    "GroupFeatures",
    "InlineCrop",
    "RiskAssessment",
    "TrafficAlert",
    "WindowStats",
    "dead_letter",
    "parse",
    "sha256_hex",
]
