"""Turning the SQL stage's rows into contract messages (pure functions, no PyFlink)."""

from __future__ import annotations

import calendar
from datetime import datetime

from contract import DeadLetter, WindowStats, dead_letter, topics


def epoch_ms(value: datetime | int) -> int:
    """Window bounds come from SQL as naive UTC datetimes (the job runs in UTC)."""
    if isinstance(value, int):
        return value
    return calendar.timegm(value.utctimetuple()) * 1000 + value.microsecond // 1000


def window_stats(
    camera_id: str,
    window_start: datetime | int,
    window_end: datetime | int,
    frames: int,
    objects: int,
    vehicles: int,
    pedestrians: int,
    distinct_tracks: int,
    peak_vehicles_per_frame: int | None,
) -> WindowStats:
    return WindowStats(
        schema_version=1,
        camera_id=camera_id,
        window_start_ms=epoch_ms(window_start),
        window_end_ms=epoch_ms(window_end),
        frames=frames,
        objects=objects,
        vehicles=vehicles,
        pedestrians=pedestrians,
        distinct_tracks=distinct_tracks,
        mean_vehicles_per_frame=round(vehicles / frames, 4) if frames else 0.0,
        peak_vehicles_per_frame=peak_vehicles_per_frame or 0,
    )


def rejected_detection(
    payload: bytes,
    reason: str,
    partition: int | None,
    offset: int | None,
    source_topic: str = topics.DETECTION_RESULTS,
) -> DeadLetter:
    return dead_letter(
        bytes(payload),
        reason,
        source_topic=source_topic,
        stage="late" if reason.startswith("late") else "parse",
        partition=partition,
        offset=offset,
    )
