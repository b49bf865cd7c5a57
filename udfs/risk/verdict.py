"""The prompt sent with each crop and the validation of the model's JSON answer.

Protocol-neutral: each provider (`udfs.risk.providers`) wraps the prompt in its own request
and hands the model's text to `parse_content`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contract.models import RiskLevel
from udfs.risk.rules import Signals

SYSTEM_PROMPT = (
    "You are a traffic-safety analyst. You see one cropped camera image of nearby road users. "
    "Answer ONLY with a JSON object: "
    '{"risk_level": "none"|"low"|"medium"|"high", "risk_types": [short snake_case strings such '
    'as "near_miss", "red_light", "pedestrian_conflict", "wrong_way"], "reason": "<one short '
    'sentence>", "confidence": <number 0..1>}.'
)

BATCH_SYSTEM_PROMPT = (
    "You are a traffic-safety analyst. You see several cropped camera images of nearby road "
    "users, numbered from 0 in the order given, each after its own detector context. Assess "
    "each image on its own. Answer ONLY with a JSON object: "
    '{"verdicts": [one object per image: {"index": <image number>, "risk_level": "none"|"low"|'
    '"medium"|"high", "risk_types": [short snake_case strings such as "near_miss", '
    '"red_light", "pedestrian_conflict", "wrong_way"], "reason": "<one short sentence>", '
    '"confidence": <number 0..1>}]}.'
)
BATCH_TEXT = "Assess each of the following {n} images by its index."


class LlmVerdict(BaseModel):
    """What the model must answer; extra keys are ignored, missing or bad ones are an error."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    risk_level: RiskLevel = Field(description="Assessed risk.")
    risk_types: tuple[str, ...] = Field(default=(), description="Kinds of risk seen.")
    reason: str = Field(min_length=1, description="Short reason.")
    confidence: float = Field(ge=0, le=1, description="Model confidence.")

    @field_validator("risk_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("reason")
    @classmethod
    def _short(cls, value: str) -> str:
        return value.strip()[:450]


class MalformedAnswer(ValueError):
    """The model's answer is not a valid verdict; retried once, then the fallback is used."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def user_text(signals: Signals, camera_id: str) -> str:
    """Context the detector knows that the image alone may not show."""
    ttc = "unknown" if signals.ttc_s is None else f"{signals.ttc_s:.1f} s"
    return (
        f"Camera {camera_id}. Detector: {signals.vehicles} vehicle(s), {signals.pedestrians} "
        f"pedestrian(s), estimated time to collision {ttc}, signal "
        f"{'red' if signals.red_signal else 'not red'}, "
        f"{'in' if signals.in_crosswalk else 'not in'} crosswalk. Assess the collision risk."
    )


def context_key(signals: Signals) -> str:
    """The detector context of `user_text` (camera aside) as a short cache-key part: the same
    crop with a different time to collision or signal is a different question."""
    ttc = "na" if signals.ttc_s is None else f"{signals.ttc_s:.1f}"
    red, crosswalk = int(signals.red_signal), int(signals.in_crosswalk)
    return f"v{signals.vehicles}p{signals.pedestrians}t{ttc}r{red}c{crosswalk}"


def _json_object(content: str) -> Any:
    """The one JSON object in the model's text (```json fences and prose around tolerated)."""
    match = _FENCE.search(content)
    text = match.group(1) if match else content
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise MalformedAnswer("no JSON object in the answer")
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"answer is not JSON: {exc.msg}") from exc


def parse_content(content: str) -> LlmVerdict:
    """Model text -> verdict; tolerates ```json fences and prose around one JSON object."""
    try:
        return LlmVerdict.model_validate(_json_object(content))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MalformedAnswer(f"bad verdict field {first['loc']}: {first['msg']}") from exc


def parse_batch_content(content: str, images: int) -> tuple[LlmVerdict | None, ...]:
    """Model text -> one verdict per image by its index; None where the answer has no valid
    verdict for that image (missing, duplicated index, bad field). An answer with no valid
    verdict at all is malformed as a whole."""
    body = _json_object(content)
    entries = body.get("verdicts") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise MalformedAnswer("batch answer has no verdicts list")
    found: dict[int, LlmVerdict | None] = {}
    for entry in entries:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < images:
            continue
        try:
            verdict: LlmVerdict | None = LlmVerdict.model_validate(entry)
        except ValidationError:
            verdict = None
        found[index] = None if index in found else verdict  # a repeated index is ambiguous
    out = tuple(found.get(i) for i in range(images))
    if not any(out):
        raise MalformedAnswer("no valid verdict in the batch answer")
    return out
