"""What one risk result adds to the stage's metrics, as plain counts (no PyFlink).

PyFlink's metric group has counters, gauges, meters and distributions (min/max/mean, no
percentiles), so LLM latency is a Prometheus-style histogram made of counters: one counter per
upper bound `le` (cumulative, ms), which `histogram_quantile` reads for p50/p95/p99. The
top bound is `Inf` (Flink's reporter turns `+` in label values into `_`; Prometheus parses
`Inf` as +Inf). Tokens and spend are counted per key from the attempts the provider answered.
"""

from __future__ import annotations

from collections import Counter

from udfs.risk.records import ANSWERED, RiskResult

LATENCY_BUCKETS_MS: tuple[int, ...] = (50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000, 60000)
LE_LABELS: tuple[str, ...] = (*(str(b) for b in LATENCY_BUCKETS_MS), "Inf")

# (metric, key id, label) -> amount; label: the outcome of `requests`, the bound of `latency`.
Increments = Counter[tuple[str, str, str]]


def latency_labels(latency_ms: float) -> list[str]:
    """The `le` labels one observation increments (every bound at or above it)."""
    return [str(b) for b in LATENCY_BUCKETS_MS if latency_ms <= b] + ["Inf"]


def increments(result: RiskResult, usd_per_1k_tokens: float) -> Increments:
    """Per HTTP attempt of the result: a request by outcome; for answered ones the tokens,
    the spend (micro-USD, counters are integers) and the attempt's latency."""
    out: Increments = Counter()
    for attempt in result.attempts:
        out[("requests", attempt.key_id, attempt.outcome)] += 1
        if attempt.outcome not in ANSWERED:
            continue
        out[("tokens", attempt.key_id, "")] += attempt.tokens
        out[("spend_microusd", attempt.key_id, "")] += round(
            attempt.tokens * usd_per_1k_tokens * 1000
        )
        if attempt.latency_ms is not None:
            for le in latency_labels(attempt.latency_ms):
                out[("latency", attempt.key_id, le)] += 1
    return out
