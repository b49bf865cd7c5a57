"""Human units: what an operator reads instead of the writers' raw numbers."""

from __future__ import annotations

import pytest

from dashboard import units

NOW = 1_796_396_349_000  # 2026-12-04 14:59:09 UTC


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (-5, "0 s"), (0, "0 s"), (400, "0 s"), (12_400, "12 s"), (12_500, "13 s"),
     (59_600, "1 min"), (65_000, "1 min 5 s"), (725_000, "12 min"), (3_600_000, "1 h"),
     (4_200_000, "1 h 10 min"),
     (11 * 3_600_000 + 60_000, "11 h"), (90_000_000, "1 d 1 h"), (30 * 86_400_000, "30 d")],
)  # fmt: skip
def test_duration(ms, text):
    assert units.duration(ms) == text


@pytest.mark.parametrize(
    ("usd", "text"),
    [(None, "-"), (0, "$0.00"), (0.004, "<$0.01"), (0.9743199999999856, "$0.97"),
     (0.005, "$0.01"), (1234.5, "$1,234.50")],
)  # fmt: skip
def test_money_in_cents(usd, text):
    assert units.money(usd) == text


def test_rates_per_minute():
    assert [units.rate(r) for r in (None, 0.25, 9.94, 9.96, 42.5)] == [
        "-", "0.3/min", "9.9/min", "10/min", "43/min"]  # fmt: skip
    assert units.per_minute(30, 60_000) == 30 and units.per_minute(5, 0) is None
    meter = units.RateMeter(window_ms=60_000)
    assert meter.per_minute("k") is None
    for t in range(0, 120_001, 2_000):  # 1 request every 2 s = 30/min
        meter.observe("k", t, t // 2_000)
    assert meter.per_minute("k") == pytest.approx(30)
    assert meter.samples["k"][0][0] >= 60_000 - 2_000  # older samples fall out
    meter.observe("k", 122_000, 3)  # counter reset (job restarted): start over
    assert meter.per_minute("k") is None
    assert meter.all_per_minute() == {"k": None}


def test_key_health_at_a_glance():
    health = units.key_health
    assert health({"cooldown_until_ms": NOW + 12_157.88}, NOW) == ("cooling", "cooling down 12 s")
    assert health({"cooldown_until_ms": NOW - 1}, NOW) == ("ok", "ok")
    assert health({"spend_usd": 5.0, "daily_spend_cap_usd": 5.0}, NOW)[0] == "exhausted"
    assert health({"exhausted": True, "cooldown_until_ms": NOW + 9}, NOW)[0] == "exhausted"
    assert health({"consecutive_errors": 3}, NOW) == ("failing", "failing: 3 errors in a row")
    assert health({"consecutive_errors": "3", "cooldown_until_ms": "x"}, NOW) == ("ok", "ok")


def test_keypool_rows_hide_internals():
    entry = {"key_id": "openai-1", "tat_req_ms": 1796396361157.8848, "tat_tok_ms": 1.5,
             "cooldown_until_ms": NOW + 61_000, "day": "2026-12-04",
             "spend_usd": 0.9743199999999856, "requests": 120, "rate_limited": 2, "errors": 1,
             "consecutive_errors": 0}  # fmt: skip
    (row,) = units.keypool_rows([entry], NOW, {"openai-1": 3.0})
    assert row == {"key_id": "openai-1", "health": "cooling", "status": "cooling down 1 min 1 s",
                   "spend": "$0.97", "requests_per_min": "3.0/min", "requests": 120,
                   "rate_limited": 2, "errors": 1}  # fmt: skip
    (stale,) = units.keypool_rows([{**entry, "day": "2026-12-03"}], NOW, {})
    assert (stale["spend"], stale["requests_per_min"]) == ("$0.00", "-")  # a new day: no spend
