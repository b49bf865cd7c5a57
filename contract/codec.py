"""Parsing wire bytes into contract types, with one clear reason when they are bad."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import TypeVar

from pydantic import ValidationError

from contract.models import DeadLetter, _Message

M = TypeVar("M", bound=_Message)


class ContractError(ValueError):
    """A message that does not satisfy the contract; ``reason`` is safe to publish."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse(model: type[M], raw: bytes | str | None) -> M:
    """Validate ``raw`` JSON as ``model`` or raise ContractError naming the first bad field.

    ``None`` is a Kafka record without a value (a tombstone): never a message."""
    if raw is None:
        raise ContractError("null value: the record has no value (a tombstone)")
    try:
        # strict: a JSON integer is not a string or a float, as in the JSON Schema
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "<message>"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ContractError(f"{where}: {first['msg']}{more}") from None


# A dead letter keeps at most this much of its original by default: enough to read what
# went wrong, small enough that the dead letter always fits the producer's request limit.
DEAD_LETTER_MAX_ORIGINAL_BYTES = 64 * 1024


def dead_letter(
    raw: bytes | None,
    reason: str,
    *,
    source_topic: str,
    stage: str,
    reason_code: str = "parse",
    partition: int | None = None,
    offset: int | None = None,
    max_original_bytes: int = DEAD_LETTER_MAX_ORIGINAL_BYTES,
) -> DeadLetter:
    """Wrap rejected bytes untouched (cut to ``max_original_bytes``) with their size and hash,
    so they can be inspected, matched to the source record and replayed."""
    kept = raw[:max_original_bytes] if raw is not None else None
    return DeadLetter(
        schema_version=1,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        reason=reason[:1000],
        reason_code=reason_code,
        stage=stage,
        original_b64=base64.b64encode(kept).decode() if kept is not None else None,
        original_size_bytes=len(raw) if raw is not None else 0,
        original_kept_bytes=len(kept) if kept is not None else 0,
        original_sha256=hashlib.sha256(raw).hexdigest() if raw is not None else None,
        rejected_at_ms=int(time.time() * 1000),
    )
