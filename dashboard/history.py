"""The camera page: one camera's last hour of windows, verdicts and incidents. Pure.

"Last hour" ends at the camera's newest window when that is older than now, so a camera
that stopped reporting still shows the hour before it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dashboard import incidents, views

HOUR_MS = 3_600_000
MAX_CAMERA_INCIDENTS = 50  # newest incident ids of a camera looked at


def window_of_interest(newest_end_ms: int | None, now_ms: int) -> tuple[int, int]:
    """(from, to) epoch ms of the hour the page shows."""
    end = now_ms if newest_end_ms is None else min(now_ms, newest_end_ms)
    return end - HOUR_MS, end


@dataclass
class CameraRead:
    """Raw Redis values for one camera's page."""

    camera_id: str
    from_ms: int
    to_ms: int
    windows: list[bytes] = field(default_factory=list)  # stats:series in the hour, oldest first
    verdicts: list[bytes] = field(default_factory=list)  # risk:latest in the hour, newest first
    incidents: list[bytes | None] = field(default_factory=list)  # incident docs, newest first
    actions: list[bytes | None] = field(default_factory=list)
    crops_stored: set[str] = field(default_factory=set)

    def crop_candidates(self) -> list[str]:
        shas = [d.get("crop_sha256") for d in map(views.decode_json, self.verdicts) if d]
        return [*(s for s in shas if isinstance(s, str)), *incidents.incident_crops(self.incidents)]


def _in_hour(doc: dict[str, Any], read: CameraRead) -> bool:
    """Open incidents always; closed ones when they changed within the hour."""
    return bool(doc["status"] == "open" or doc["updated_at_ms"] >= read.from_ms)


def camera_page(read: CameraRead) -> dict[str, Any]:
    """What `/api/camera?id=` answers: the newest picture, the hour's windows (full
    WindowStats), verdicts with crop flags, incidents (with actions), newest first except the
    windows (for the chart)."""
    windows = [d for d in map(views.decode_json, read.windows) if d is not None]
    verdicts = [d for d in map(views.decode_json, read.verdicts) if d is not None]
    found: Iterable[dict[str, Any] | None] = (
        incidents.incident_view(raw, action, read.crops_stored)
        for raw, action in zip(read.incidents, read.actions, strict=True)
    )
    mine = [d for d in found if d is not None and d["camera_id"] == read.camera_id]
    candidates = [(v.get("captured_at_ms") or 0, v.get("crop_sha256")) for v in verdicts]
    candidates += [(d["updated_at_ms"], d["crop_sha256"]) for d in mine]
    return {
        "camera_id": read.camera_id,
        "picture": views.camera_picture(candidates, read.crops_stored),
        "from_ms": read.from_ms,
        "to_ms": read.to_ms,
        "windows": [w for w in windows if w.get("camera_id") == read.camera_id],
        "verdicts": [
            views.with_crop_flag(v, v.get("crop_sha256") in read.crops_stored)
            for v in verdicts
            if v.get("camera_id") == read.camera_id
        ],
        "incidents": sorted(
            (d for d in mine if _in_hour(d, read)), key=lambda d: -int(d["updated_at_ms"])
        ),
    }
