"""Numbers as an operator reads them: durations, money, rates, key health. Pure functions.

The writers store machine values (epoch ms, float dollars, cumulative counters); the page
must never print `cooldown_until_ms 1796396361157.8848`. Times of day are formatted in the
browser, which knows the operator's time zone; everything else is formatted here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FAILING_AFTER_ERRORS = 3  # consecutive errors after which a key shows as failing
RATE_WINDOW_MS = 60_000  # requests per minute are measured over the last minute


def duration(ms: float | None) -> str:
    """`12 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`; `-` when unknown, `0 s` when negative."""
    if ms is None:
        return "-"
    seconds = max(0, half_up(ms / 1000))
    if seconds < 60:
        return f"{seconds} s"
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60),
                                      ("min", 60, "s", 1)):  # fmt: skip
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            part = rest // sub_size
            return f"{whole} {unit} {part} {sub}" if part and whole < 10 else f"{whole} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def money(usd: float | None) -> str:
    """US dollars rounded to cents; a tiny non-zero amount shows as `<$0.01`, not `$0.00`."""
    if usd is None:
        return "-"
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def rate(per_minute: float | None) -> str:
    """`12/min`, `0.5/min`; `-` when not measured yet."""
    if per_minute is None:
        return "-"
    tenths = half_up(per_minute * 10)
    return f"{tenths / 10:.1f}/min" if tenths < 100 else f"{half_up(per_minute)}/min"


def half_up(value: float) -> int:
    """Round half up, as JavaScript's Math.round (Python's round() rounds half to even)."""
    return math.floor(value + 0.5)


def per_minute(count: float, span_ms: float) -> float | None:
    """A count over a span as a rate per minute (None for an empty span)."""
    return count * 60_000 / span_ms if span_ms > 0 else None


class RateMeter:
    """Per-minute rates of cumulative counters (the key pool's `requests`), from samples the
    server takes every few seconds; a counter that goes down (job restarted) starts over."""

    def __init__(self, window_ms: int = RATE_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self.samples: dict[str, deque[tuple[int, float]]] = {}

    def observe(self, name: str, at_ms: int, value: float) -> None:
        samples = self.samples.setdefault(name, deque())
        if samples and value < samples[-1][1]:
            samples.clear()
        samples.append((at_ms, value))
        while len(samples) > 2 and samples[1][0] <= at_ms - self.window_ms:
            samples.popleft()

    def per_minute(self, name: str) -> float | None:
        samples = self.samples.get(name)
        if not samples or len(samples) < 2:
            return None
        (t0, v0), (t1, v1) = samples[0], samples[-1]
        return per_minute(v1 - v0, t1 - t0)

    def all_per_minute(self) -> dict[str, float | None]:
        return {name: self.per_minute(name) for name in self.samples}


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def key_health(entry: Mapping[str, Any], now_ms: int) -> tuple[str, str]:
    """(state, text): `exhausted`, `cooling`, `failing` or `ok`, with what it means."""
    spend, cap = _number(entry.get("spend_usd")), _number(entry.get("daily_spend_cap_usd"))
    if entry.get("exhausted") is True or (spend is not None and cap is not None and spend >= cap):
        return "exhausted", "exhausted: daily spend cap reached"
    cooldown = _number(entry.get("cooldown_until_ms"))
    if cooldown is not None and cooldown > now_ms:
        return "cooling", f"cooling down {duration(cooldown - now_ms)}"
    errors = _number(entry.get("consecutive_errors")) or 0
    if errors >= FAILING_AFTER_ERRORS:
        return "failing", f"failing: {int(errors)} errors in a row"
    return "ok", "ok"


def spend_today(entry: Mapping[str, Any], now_ms: int) -> float | None:
    """The key's spend for today (UTC, as the pool counts); a stale day means nothing yet."""
    spend = _number(entry.get("spend_usd"))
    day = entry.get("day")
    today = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d")
    if spend is not None and isinstance(day, str) and day and day != today:
        return 0.0
    return spend


def keypool_rows(
    entries: list[dict[str, Any]], now_ms: int, rates: Mapping[str, float | None]
) -> list[dict[str, Any]]:
    """The key-pool table: key id, health at a glance, spend in cents, requests per minute.
    Only these derived fields go to the page; the pool's internals stay on the server."""
    rows = []
    for entry in entries:
        state, text = key_health(entry, now_ms)
        counts = {k: int(v) for k in ("requests", "rate_limited", "errors")
                  if (v := _number(entry.get(k))) is not None}  # fmt: skip
        rows.append({
            "key_id": entry["key_id"], "health": state, "status": text,
            "spend": money(spend_today(entry, now_ms)),
            "requests_per_min": rate(rates.get(entry["key_id"])), **counts,
        })  # fmt: skip
    return rows
