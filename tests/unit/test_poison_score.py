"""The poison-pill scorer counts what it claims: each pill once, repeats, misses, codes."""

from __future__ import annotations

from contract import dead_letter
from tests.poison import Pill, score


def letter(value: bytes | None, code: str):
    return dead_letter(value, f"{code}: x", source_topic="t", stage="parse", reason_code=code)


def test_identical_pills_each_need_a_letter_of_their_own():
    pills = [Pill("empty", b"", frozenset({"parse"}))] * 3
    result = score(pills, [letter(b"", "parse")] * 2)
    assert (result["pills_dead_lettered"], result["pills_missing"]) == (2, ["empty"])
    assert result["pills_repeated"] == 0


def test_a_letter_too_many_is_a_repeat_and_a_wrong_code_is_named():
    pills = [Pill("null", None, frozenset({"null_value"})),
             Pill("big", b"x", frozenset({"oversized"}))]  # fmt: skip
    letters = [letter(None, "null_value"), letter(None, "null_value"), letter(b"x", "parse")]
    result = score(pills, letters)
    assert result["pills_dead_lettered"] == 2 and result["pills_repeated"] == 1
    assert result["pills_wrong_code"] == ["big: parse (parse: x)"]
