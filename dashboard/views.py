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
from functools import cached_property
from typing import Any

from contract import redis_keys
from dashboard import incidents, units

SERIES_POINTS = 30  # windows per camera sparkline
MAX_CAMERAS = 1000  # cameras in one snapshot: the page pages through them
RECENT_ITEMS = 50  # verdicts in one snapshot
MAX_ALERT_GROUPS = 200  # camera/pattern groups in one snapshot, most severe and newest first
PICTURE_CANDIDATES = 3  # newest verdicts per camera looked at for its picture
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# Fields of a key-pool health entry that are never shown, whatever the writer put there.
_SECRET_HINTS = ("secret", "token", "password", "api_key", "apikey", "authorization")
_SECRET_EXACT = frozenset({"key", "value", "credential", "credentials"})

# Live channel -> message type on the WebSocket.
CHANNEL_TYPES: dict[str, str] = {
    redis_keys.CHANNEL_STATS: "stats",
    redis_keys.CHANNEL_ALERTS: "alert",
    redis_keys.CHANNEL_RISK: "risk",
    redis_keys.CHANNEL_INCIDENTS: "incident",
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


def same_origin(origin: str | None, host: str) -> bool:
    """True without an Origin header (not a browser's cross-site request) or when the Origin
    names this server's own host and port."""
    if origin is None:
        return True
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and rest == host


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


def series_point(stats: dict[str, Any]) -> list[Any]:
    """A window as the sparkline needs it: [start ms, end ms, vehicles, congestion index].
    Four numbers instead of the whole WindowStats keeps a 1,000-camera snapshot small."""
    return [stats.get("window_start_ms"), stats.get("window_end_ms"), stats.get("vehicles"),
            stats.get("congestion_index")]  # fmt: skip


@dataclass
class RedisView:
    """What the server read from Redis for one snapshot (raw values, decoded here)."""

    latest: dict[str, bytes | None] = field(default_factory=dict)  # camera -> stats:latest
    series: dict[str, list[bytes]] = field(default_factory=dict)  # camera -> oldest..newest
    verdicts: dict[str, list[bytes]] = field(default_factory=dict)  # camera -> newest first
    alerts: list[bytes] = field(default_factory=list)  # newest first
    risks: list[bytes] = field(default_factory=list)  # newest first
    incidents: list[bytes | None] = field(default_factory=list)  # open, newest first
    actions: list[bytes | None] = field(default_factory=list)  # the same incidents' actions
    incident_keys: bool = False  # any incident key exists: the incident stage is running
    crops_stored: set[str] = field(default_factory=set)  # sha256 with a crop in Redis
    keypool: RedisHash = field(default_factory=dict)

    @cached_property
    def alert_groups(self) -> list[dict[str, Any]]:
        """The alerts grouped once (500 alerts parsed), for the crops and the snapshot."""
        return incidents.RecentAlerts.from_raw(self.alerts).groups()[:MAX_ALERT_GROUPS]

    def crop_candidates(self) -> list[str]:
        """Every crop the snapshot may show, so the server checks them in one round trip."""
        docs = [*self.risks, *(v for vs in self.verdicts.values() for v in vs)]
        shas = [d.get("crop_sha256") for d in map(decode_json, docs) if d]
        return [*(s for s in shas if isinstance(s, str)), *incidents.incident_crops(self.incidents),
                *(g["crop_sha256"] for g in self.alert_groups if g["crop_sha256"])]  # fmt: skip


def camera_picture(candidates: Iterable[tuple[int, str | None]], stored: set[str]) -> str | None:
    """The newest stored crop among (time, sha) candidates: the camera's picture in the grid."""
    kept = [(t, sha) for t, sha in candidates if sha and sha in stored]
    return max(kept)[1] if kept else None


def _camera(camera: str, view: RedisView, mine: list[dict[str, Any]]) -> dict[str, Any]:
    """One camera of the grid; `mine` are its open incidents."""
    points = [d for d in map(decode_json, view.series.get(camera, [])) if d is not None]
    verdicts = [d for d in map(decode_json, view.verdicts.get(camera, [])) if d is not None]
    candidates = [(v.get("captured_at_ms") or 0, v.get("crop_sha256")) for v in verdicts]
    candidates += [(i["updated_at_ms"], i["crop_sha256"]) for i in mine]
    return {
        "camera_id": camera,
        "latest": decode_json(view.latest[camera]),
        "series": [series_point(p) for p in points[-SERIES_POINTS:]],
        "picture": camera_picture(candidates, view.crops_stored),
        "open_incidents": len(mine),
    }


def build_snapshot(
    view: RedisView, now_ms: int, rates: Mapping[str, float | None] | None = None
) -> dict[str, Any]:
    """The first message a (re)connecting client gets: everything it needs to draw the page."""
    found = (incidents.incident_view(raw, action, view.crops_stored)
             for raw, action in zip(view.incidents, view.actions, strict=True))  # fmt: skip
    open_incidents = incidents.sort_incidents(i for i in found if i and i["status"] == "open")
    by_camera: dict[str, list[dict[str, Any]]] = {}
    for doc in open_incidents:
        by_camera.setdefault(doc["camera_id"], []).append(doc)
    cameras = [_camera(c, view, by_camera.get(c, [])) for c in sorted(view.latest)[:MAX_CAMERAS]]
    risks = [d for d in map(decode_json, view.risks[:RECENT_ITEMS]) if d is not None]
    return {
        "type": "snapshot",
        "server_time_ms": now_ms,
        "incidents_source": "incidents" if view.incident_keys else "alerts",
        "incidents": open_incidents,
        "alert_groups": incidents.with_crop_flags(view.alert_groups, view.crops_stored),
        "cameras": cameras,
        "risks": [with_crop_flag(r, r.get("crop_sha256") in view.crops_stored) for r in risks],
        "keypool": units.keypool_rows(public_keypool(view.keypool), now_ms, rates or {}),
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
    keypool: RedisHash,
    latest: Iterable[bytes | None],
    now_ms: int,
    rates: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """Periodic message: key-pool health (no pub/sub for it) and the pipeline lag."""
    docs = [d for d in map(decode_json, latest) if d is not None]
    return {
        "type": "health",
        "server_time_ms": now_ms,
        "keypool": units.keypool_rows(public_keypool(keypool), now_ms, rates or {}),
        "lag_ms": pipeline_lag_ms(docs, now_ms),
    }
