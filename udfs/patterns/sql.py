"""Pattern stage, in Flink SQL: the frames a pattern may use, batched per key slot and step.

A Python function pays a fixed cost per record it receives (framing, a call, its output),
so the JVM hands the fact stage one record per slot and step of event time instead of one
per frame: the step's candidate frames of the slot's cameras, without their crops
(`fact_payload` of PARSE_DETECTION), in an event-time TUMBLE of `step_ms`. The window fires
when the watermark passes the step, which is when the pattern operator could match those
facts anyway, so the batch costs the alerts no time. KEY_SLOT is `slots.slot_of` in Java.
"""

from __future__ import annotations

CANDIDATES_VIEW = "pattern_candidates"


def candidates_sql(key_slots: int) -> str:
    """Accepted frames that may hold a fact, with their slot (over `detections_checked`)."""
    return f"""
SELECT KEY_SLOT(camera_id, {key_slots}) AS slot, fact_payload, rowtime
FROM detections_checked
WHERE reason IS NULL AND fact_candidate"""


def batches_sql(step_ms: int) -> str:
    """One row per slot and step with candidates: (slot, step's last ms, frames' JSON)."""
    return f"""
SELECT slot, EPOCH_MILLIS(window_end) - 1 AS step_end, ARRAY_AGG(fact_payload) AS frames
FROM TABLE(TUMBLE(TABLE {CANDIDATES_VIEW}, DESCRIPTOR(rowtime),
  INTERVAL '{step_ms / 1000:g}' SECOND))
GROUP BY slot, window_start, window_end"""
