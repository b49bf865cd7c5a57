from __future__ import annotations

import json

import pytest

from udfs.risk.providers import VisionRequest
from udfs.risk.providers.openai_compatible import chat_body, parse_completion
from udfs.risk.verdict import SYSTEM_PROMPT, MalformedAnswer, parse_batch_content, parse_content

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
    (verdict,), tokens = parse_completion(body)
    assert verdict is not None and (verdict.risk_level, tokens) == ("high", 812)
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


def _entry(index: object, level: str = "low", **extra: object) -> dict[str, object]:
    return {"index": index, "risk_level": level, "reason": "r", "confidence": 0.5, **extra}


@pytest.mark.parametrize(
    ("entries", "levels"),
    [
        ([_entry(0, "high"), _entry(1), _entry(2, "none")], ["high", "low", "none"]),
        ([_entry(2, "high"), _entry(0)], ["low", None, "high"]),  # order free, 1 missing
        ([_entry(0), _entry(0, "high"), _entry(1)], [None, "low", None]),  # repeated: ambiguous
        ([_entry(0), _entry(3), _entry(-1), _entry(True), _entry("1")], ["low", None, None]),
        ([_entry(0), _entry(1, "severe"), {"index": 2}], ["low", None, None]),  # bad fields
    ],
    ids=["complete", "partial", "repeated index", "index out of range", "bad verdict"],
)
def test_a_batch_answer_gives_one_verdict_per_image_or_none(
    entries: list[dict[str, object]], levels: list[str | None]
) -> None:
    content = "```json\n" + json.dumps({"verdicts": entries}) + "\n```"
    verdicts = parse_batch_content(content, 3)
    assert [v.risk_level if v else None for v in verdicts] == levels


@pytest.mark.parametrize(
    "content",
    ["no json", '{"verdicts": 3}', '[{"index": 0}]', json.dumps({"verdicts": [_entry(5)]})],
)
def test_a_batch_answer_without_any_valid_verdict_is_malformed(content: str) -> None:
    with pytest.raises(MalformedAnswer):
        parse_batch_content(content, 2)


def test_a_batch_body_puts_each_image_after_its_own_context() -> None:
    request = VisionRequest(SYSTEM_PROMPT, "all", ("QQ==", "Qg=="), ("ctx a", "ctx b"))
    body = chat_body("m", request, 100)
    parts = body["messages"][1]["content"]
    assert body["max_tokens"] == 200
    assert [p.get("text") or p["image_url"]["url"][-4:] for p in parts] == [
        "all", "Image 0: ctx a", "QQ==", "Image 1: ctx b", "Qg==",
    ]  # fmt: skip
