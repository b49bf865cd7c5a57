"""Pure parts of the dashboard: snapshot assembly, live messages, token check.

No I/O here: the server reads Redis and hands the raw values in, so the rules (what is
shown, what is never shown, how lag is computed) are tested without any service.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import redis_keys

SERIES_POINTS = 30  # windows per camera chart
MAX_CAMERAS = 100  # cameras in one snapshot (the page is a live view, not a report)
RECENT_ITEMS = 50  # alerts and verdicts in one snapshot
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# Fields of a key-pool health entry that are never shown, whatever the writer put there.
_SECRET_HINTS = ("secret", "token", "password", "api_key", "apikey", "authorization")
_SECRET_EXACT = frozenset({"key", "value", "credential", "credentials"})

# Live channel -> message type on the WebSocket.
CHANNEL_TYPES: dict[str, str] = {
    redis_keys.CHANNEL_STATS: "stats",
    redis_keys.CHANNEL_ALERTS: "alert",
    redis_keys.CHANNEL_RISK: "risk",
}

# A Redis hash as a client returns it: bytes, or str with `decode_responses`.
RedisHash = Mapping[bytes, bytes] | Mapping[str, str]


def token_ok(expected: str | None, authorization: str | None, query_token: str | None) -> bool:
    """True when no token is configured, or the request carries it (bearer or ?token=).

    Constant-time comparison so the token cannot be guessed byte by byte from timings.
    """
    if not expected:
        return True
    offered = query_token or ""
    if authorization and authorization.lower().startswith("bearer "):
        offered = authorization[7:].strip()
    return hmac.compare_digest(offered.encode(), expected.encode())


def decode_json(raw: bytes | str | None) -> dict[str, Any] | None:
    """A JSON object from Redis, or None for anything else (the page never sees garbage)."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_EXACT or any(hint in lowered for hint in _SECRET_HINTS)


def public_keypool(raw: RedisHash) -> list[dict[str, Any]]:
    """`keypool:health` hash -> list of entries with their key id, secret-looking fields removed.

    The pool writes only public ids and health numbers; this is the second fence.
    """
    entries = []
    for key_id, value in raw.items():
        name = key_id.decode() if isinstance(key_id, bytes) else key_id
        doc = decode_json(value) or {}
        clean = {k: v for k, v in doc.items() if not is_secret_field(k) and _scalar(v)}
        entries.append({**clean, "key_id": name})
    return sorted(entries, key=lambda e: str(e["key_id"]))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def with_crop_flag(verdict: dict[str, Any], stored: bool) -> dict[str, Any]:
    """Mark whether the verdict's crop can be fetched from `/crop/<sha>`."""
    sha = verdict.get("crop_sha256")
    available = stored and isinstance(sha, str) and SHA256_RE.match(sha) is not None
    return {**verdict, "crop_available": bool(available)}


def pipeline_lag_ms(latest: Iterable[dict[str, Any]], now_ms: int) -> int | None:
    """Wall clock minus the newest window end seen: how far the live view trails reality."""
    ends = [s["window_end_ms"] for s in latest if isinstance(s.get("window_end_ms"), int)]
    return max(0, now_ms - max(ends)) if ends else None


@dataclass
class RedisView:
    """What the server read from Redis for one snapshot (raw values, decoded here)."""

    latest: dict[str, bytes | None] = field(default_factory=dict)  # camera -> stats:latest
    series: dict[str, list[bytes]] = field(default_factory=dict)  # camera -> oldest..newest
    alerts: list[bytes] = field(default_factory=list)  # newest first
    risks: list[bytes] = field(default_factory=list)  # newest first
    crops_stored: set[str] = field(default_factory=set)  # sha256 with a crop in Redis
    keypool: RedisHash = field(default_factory=dict)


def build_snapshot(view: RedisView, now_ms: int) -> dict[str, Any]:
    """The first message a (re)connecting client gets: everything it needs to draw the page."""
    cameras: list[dict[str, Any]] = []
    for camera in sorted(view.latest)[:MAX_CAMERAS]:
        latest = decode_json(view.latest[camera])
        points = [d for d in map(decode_json, view.series.get(camera, [])) if d is not None]
        cameras.append({"camera_id": camera, "latest": latest, "series": points[-SERIES_POINTS:]})
    risks = [d for d in map(decode_json, view.risks[:RECENT_ITEMS]) if d is not None]
    return {
        "type": "snapshot",
        "server_time_ms": now_ms,
        "cameras": cameras,
        "alerts": [d for d in map(decode_json, view.alerts[:RECENT_ITEMS]) if d is not None],
        "risks": [with_crop_flag(r, r.get("crop_sha256") in view.crops_stored) for r in risks],
        "keypool": public_keypool(view.keypool),
        "lag_ms": pipeline_lag_ms((c["latest"] for c in cameras if c["latest"]), now_ms),
    }


def live_message(channel: str, raw: bytes | str, now_ms: int) -> dict[str, Any] | None:
    """A pub/sub message -> WebSocket message; None for unknown channels or bad JSON."""
    kind = CHANNEL_TYPES.get(channel)
    doc = decode_json(raw)
    if kind is None or doc is None:
        return None
    return {"type": kind, "server_time_ms": now_ms, "data": doc}


def health_message(
    keypool: RedisHash, latest: Iterable[bytes | None], now_ms: int
) -> dict[str, Any]:
    """Periodic message: key-pool health (no pub/sub for it) and the pipeline lag."""
    docs = [d for d in map(decode_json, latest) if d is not None]
    return {
        "type": "health",
        "server_time_ms": now_ms,
        "keypool": public_keypool(keypool),
        "lag_ms": pipeline_lag_ms(docs, now_ms),
    }
