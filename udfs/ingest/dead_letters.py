"""Ingest stage logic: the dead letter of a record the SQL check refused (no PyFlink)."""

from __future__ import annotations

from contract import DeadLetter, dead_letter, topics
from contract.codec import DEAD_LETTER_MAX_ORIGINAL_BYTES

# Reason code -> the `stage` of the dead letter and its counter (`dead_letters_<stage>`).
STAGE_OF_REASON: dict[str, str] = {
    "null_value": "parse",
    "parse": "parse",
    "contract": "parse",
    "oversized": "oversized",
    "clock": "clock",
    "late": "late",
}


def rejected_detection(
    payload: bytes | None,
    reason: str,
    reason_code: str,
    partition: int | None,
    offset: int | None,
    source_topic: str = topics.DETECTION_RESULTS,
    max_original_bytes: int = DEAD_LETTER_MAX_ORIGINAL_BYTES,
) -> DeadLetter:
    """The dead letter of a record the SQL check refused (see udfs.ingest.sql.checked_sql)."""
    return dead_letter(
        bytes(payload) if payload is not None else None,
        reason,
        source_topic=source_topic,
        stage=STAGE_OF_REASON.get(reason_code, "parse"),
        reason_code=reason_code,
        partition=partition,
        offset=offset,
        max_original_bytes=max_original_bytes,
    )
