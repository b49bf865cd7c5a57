from __future__ import annotations

import pytest

from udfs.risk.providers import VisionRequest
from udfs.risk.providers.openai_compatible import chat_body, parse_completion
from udfs.risk.verdict import SYSTEM_PROMPT, MalformedAnswer, parse_content

VALID = (
    '{"risk_level": "High", "risk_types": ["near_miss"], "reason": " close ", "confidence": 0.7}'
)


@pytest.mark.parametrize(
    "content",
    [
        VALID,
        f"```json\n{VALID}\n```",
        f"Here you go:\n```\n{VALID}\n```\nStay safe.",
        f"Verdict: {VALID}",
    ],
    ids=["bare", "json fence", "plain fence with prose", "prose prefix"],
)
def test_valid_answers_parse(content: str) -> None:
    verdict = parse_content(content)
    assert verdict.risk_level == "high"
    assert verdict.risk_types == ("near_miss",)
    assert verdict.reason == "close"
    assert verdict.confidence == 0.7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("no json here", "no JSON object"),
        ('{"risk_level": "high", "reason": "x", "confidence": 0.5', "no JSON object"),
        ("{risk_level: high}", "not JSON"),
        ('{"risk_level": "extreme", "reason": "x", "confidence": 0.5}', "risk_level"),
        ('{"risk_level": "low", "reason": "x", "confidence": 1.5}', "confidence"),
        ('{"risk_level": "low", "confidence": 0.5}', "reason"),
    ],
)
def test_malformed_answers_are_named(content: str, message: str) -> None:
    with pytest.raises(MalformedAnswer, match=message):
        parse_content(content)


def test_completion_body_and_usage() -> None:
    body = {"choices": [{"message": {"content": VALID}}], "usage": {"total_tokens": 812}}
    verdict, tokens = parse_completion(body)
    assert (verdict.risk_level, tokens) == ("high", 812)
    assert parse_completion({"choices": [{"message": {"content": VALID}}]})[1] == 0
    bad: object
    for bad in ({}, {"choices": []}, {"choices": [{"message": {"content": None}}]}, []):
        with pytest.raises(MalformedAnswer):
            parse_completion(bad)


def test_chat_body_sends_image_as_data_url() -> None:
    body = chat_body("qwen-vl-plus", VisionRequest(SYSTEM_PROMPT, "ctx", ("QUJD",)), 100)
    parts = body["messages"][1]["content"]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("qwen-vl-plus", 100, 0)
    assert parts[0] == {"type": "text", "text": "ctx"}
    assert parts[1]["image_url"]["url"] == "data:image/jpeg;base64,QUJD"
    assert len(parts) == 2
    assert "risk_level" in body["messages"][0]["content"]
