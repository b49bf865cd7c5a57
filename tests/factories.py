"""Builders of valid contract messages for tests; override only what a test is about."""

from __future__ import annotations

import base64
from typing import Any

from contract import DetectionEvent, sha256_hex

# A real 8x8 grey JPEG (282 bytes, no risk marker): the stub LLM server decodes every crop.
CROP_BYTES = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRT"
    "c4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDAREAAhEBAxEB/8QAFAABAAAAAAAAAAAAAAAAAAAAAP/EABQQ"
    "AQAAAAAAAAAAAAAAAAAAAAD/xAAUAQEAAAAAAAAAAAAAAAAAAAAA/8QAFBEBAAAAAAAAAAAAAAAAAAAAAP/aAAwDAQAC"
    "EQMRAD8AA//Z"
)


def detection_dict(**overrides: Any) -> dict[str, Any]:
    """A valid detection event as a plain dict (the JSON shape on the wire)."""
    event: dict[str, Any] = {
        "schema_version": 1,
        "camera_id": "cam-1",
        "frame_id": 7,
        "captured_at_ms": 1_700_000_000_000,
        "frame": {"width": 640, "height": 480},
        "objects": [
            {
                "class_name": "car",
                "confidence": 0.9,
                "track_id": 3,
                "box": {"x1": 10, "y1": 20, "x2": 110, "y2": 90},
            },
            {
                "class_name": "person",
                "confidence": 0.8,
                "box": {"x1": 120, "y1": 30, "x2": 150, "y2": 120},
            },
        ],
        "groups": [
            {
                "group_id": "g0",
                "member_indices": [0, 1],
                "box": {"x1": 10, "y1": 20, "x2": 150, "y2": 120},
                "crop": {
                    "kind": "inline",
                    "media_type": "image/jpeg",
                    "data_b64": base64.b64encode(CROP_BYTES).decode(),
                },
                "crop_sha256": sha256_hex(CROP_BYTES),
                "features": {"min_ped_vehicle_distance_px": 10.0, "time_to_collision_s": 1.5},
            },
        ],
        "signal_state": "red",
        "detector": "test",
    }
    event.update(overrides)
    return event


def detection(**overrides: Any) -> DetectionEvent:
    return DetectionEvent.model_validate(detection_dict(**overrides))
