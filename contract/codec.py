"""Parsing wire bytes into contract types, with one clear reason when they are bad."""

from __future__ import annotations

import base64
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


def parse(model: type[M], raw: bytes | str) -> M:
    """Validate ``raw`` JSON as ``model`` or raise ContractError naming the first bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "<message>"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ContractError(f"{where}: {first['msg']}{more}") from None


def dead_letter(
    raw: bytes,
    reason: str,
    *,
    source_topic: str,
    stage: str,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """Wrap rejected bytes untouched, so they can be inspected and replayed."""
    return DeadLetter(
        schema_version=1,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        reason=reason[:1000],
        stage=stage,
        original_b64=base64.b64encode(raw).decode(),
        rejected_at_ms=int(time.time() * 1000),
    )
