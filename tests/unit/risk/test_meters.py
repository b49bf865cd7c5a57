"""Metric increments of a result: requests by outcome, tokens, spend, cumulative latency."""

from __future__ import annotations

import random
from collections import Counter

from tests.factories import detection
from udfs.risk import meters, records

TASK = records.RiskTask(event=detection(), tier="high", slot=0)


def attempt(outcome: records.Outcome, key: str = "k1", **kw: object) -> records.Attempt:
    return records.Attempt.model_validate({"key_id": key, "outcome": outcome, "at_ms": 1.0, **kw})


def with_attempts(*attempts: records.Attempt) -> records.RiskResult:
    return records.fallback(TASK, "x").model_copy(update={"attempts": attempts})


def test_requests_tokens_spend_and_latency_per_key() -> None:
    result = with_attempts(
        attempt("rate_limited", "k1", status=429),
        attempt("partial", "k2", tokens=1880, latency_ms=180.0, images=3),
        attempt("ok", "k2", tokens=760, latency_ms=2500.0),
    )
    got = meters.increments(result, usd_per_1k_tokens=0.002)
    assert got[("requests", "k1", "rate_limited")] == 1
    assert got[("requests", "k2", "partial")] == got[("requests", "k2", "ok")] == 1
    assert got[("tokens", "k2", "")] == 2640 and got[("spend_microusd", "k2", "")] == 5280
    assert ("tokens", "k1", "") not in got  # a 429 used no tokens
    latency = {le: got[("latency", "k2", le)] for le in meters.LE_LABELS}
    assert latency == {"50": 0, "100": 0, "250": 1, "500": 1, "1000": 1, "2000": 1,
                       "5000": 2, "10000": 2, "20000": 2, "60000": 2, "Inf": 2}  # fmt: skip


def test_the_histogram_is_cumulative_over_many_observations() -> None:
    rng = random.Random(4)
    values = [rng.expovariate(1 / 800) for _ in range(500)]
    total: meters.Increments = Counter()
    for v in values:
        total += meters.increments(with_attempts(attempt("ok", latency_ms=v)), 0.0)
    for bound in meters.LATENCY_BUCKETS_MS:
        assert total[("latency", "k1", str(bound))] == sum(v <= bound for v in values)
    assert total[("latency", "k1", "Inf")] == len(values)
