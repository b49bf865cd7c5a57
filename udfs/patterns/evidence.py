"""Evidence of an alert: the frames (and group crops) of the facts it matched.

Plain Python over fact events (`udfs.patterns.facts.Fact.as_event`), so the catalogue can
use it without importing the fact rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from contract import Evidence

MAX_EVIDENCE = 16  # TrafficAlert.evidence holds at most this many
_SHA256 = re.compile("[0-9a-f]{64}")


def is_sha256(text: str | None) -> bool:
    return text is not None and _SHA256.fullmatch(text) is not None


def evidence(camera_id: str, events: Iterable[Mapping[str, Any]]) -> tuple[Evidence, ...]:
    """The frames (and group crops) of matched facts, oldest first, one per frame and group,
    the newest `MAX_EVIDENCE` kept. Facts that name no frame (windows, signals, facts saved
    before frames were named) give none."""
    found: dict[tuple[int, str | None], Evidence] = {}
    for fact in sorted(events, key=lambda f: (int(f["ts_ms"]), f.get("frame_id") or 0)):
        frame = fact.get("frame_id")
        if frame is None:
            continue
        key = (int(frame), fact.get("group_id"))
        seen = found.get(key)
        tracks = {*(seen.track_ids if seen else ()), *fact.get("track_ids", ())}
        crop = fact.get("crop_sha256")
        found[key] = Evidence(
            camera_id=camera_id,
            frame_id=int(frame),
            captured_at_ms=int(fact["ts_ms"]),
            group_id=fact.get("group_id"),
            crop_sha256=crop if is_sha256(crop) else (seen.crop_sha256 if seen else None),
            track_ids=tuple(sorted(tracks)),
        )
    return tuple(found.values())[-MAX_EVIDENCE:]
