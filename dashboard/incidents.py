"""Incidents and grouped alerts as the page shows them: pure functions, no I/O.

The job's incident stage writes `Incident` revisions to Redis; until it does (or when a
deployment runs without it), the page groups the recent alerts by camera and pattern, so a
pattern that fires every second is one line with a count, not a scrolling wall.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract import ContractError, Evidence, Incident, IncidentAction, TrafficAlert, parse

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
MAX_OPEN_INCIDENTS = 200  # open incidents in one snapshot, newest first
ALERT_GROUP_SOURCE = 500  # newest alerts grouped (Redis keeps 500: redis_keys.RECENT_MAX)


def parsed(model: type[Any], raw: bytes | str | None) -> Any | None:
    """A contract message, or None for anything that is not one (the page never sees it)."""
    try:
        return parse(model, raw)
    except ContractError:
        return None


def newest_crop(evidence: Iterable[Evidence]) -> str | None:
    """SHA-256 of the newest evidence frame that has a crop: the picture an operator sees."""
    with_crop = [e for e in evidence if e.crop_sha256]
    if not with_crop:
        return None
    return max(with_crop, key=lambda e: e.captured_at_ms).crop_sha256


def action_view(raw: bytes | str | None, incident_id: str) -> dict[str, Any] | None:
    """The operator's latest action on this incident, if a valid one is stored."""
    action = parsed(IncidentAction, raw)
    if action is None or action.incident_id != incident_id:
        return None
    return {"action": action.action, "actor": action.actor, "note": action.note,
            "at_ms": action.at_ms}  # fmt: skip


def incident_view(
    raw: bytes | str | None, action_raw: bytes | str | None = None, crops: set[str] | None = None
) -> dict[str, Any] | None:
    """`incident:<id>` JSON (+ its action) -> what the page draws; None when not an Incident."""
    incident = parsed(Incident, raw)
    if incident is None:
        return None
    sha = newest_crop(incident.evidence)
    doc = incident.model_dump(mode="json", exclude={"evidence", "alert_ids", "track_ids"})
    return {
        **doc,
        "crop_sha256": sha,
        "crop_available": sha is not None and sha in (crops or set()),
        "action": action_view(action_raw, incident.incident_id),
    }


def incident_crops(raws: Iterable[bytes | str | None]) -> list[str]:
    """The crop each incident would show, so the server can ask Redis which are still kept."""
    found = (parsed(Incident, raw) for raw in raws)
    shas = (newest_crop(incident.evidence) for incident in found if incident is not None)
    return [sha for sha in shas if sha]


def sort_incidents(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then the most recently updated; acknowledged ones after the rest."""

    def rank(doc: dict[str, Any]) -> tuple[int, int, int]:
        acked = doc.get("action") is not None
        return (int(acked), -SEVERITY_RANK[doc["severity"]], -int(doc["updated_at_ms"]))

    return sorted(items, key=rank)


def group_key(camera_id: str, pattern: str) -> str:
    return f"{camera_id}\x1f{pattern}"  # unit separator: cannot occur in either part by chance


class RecentAlerts:
    """The newest `limit` alerts by id, grouped by camera and pattern on demand.

    The snapshot builds one from `alerts:recent`; the server keeps one fed by the live
    channel, so a live alert updates its group with the same rule the snapshot used."""

    def __init__(self, limit: int = ALERT_GROUP_SOURCE) -> None:
        self.limit = limit
        self.alerts: dict[str, TrafficAlert] = {}

    @classmethod
    def from_raw(
        cls, raws: Iterable[bytes | str | None], limit: int = ALERT_GROUP_SOURCE
    ) -> RecentAlerts:
        recent = cls(limit)
        for raw in raws:
            recent.add_raw(raw)
        return recent

    def add_raw(self, raw: bytes | str | None) -> TrafficAlert | None:
        """Keep a valid alert (a replay of a known id changes nothing); None if invalid."""
        alert: TrafficAlert | None = parsed(TrafficAlert, raw)
        if alert is None:
            return None
        self.alerts[alert.alert_id] = alert
        if len(self.alerts) > self.limit:
            oldest = min(self.alerts.values(), key=lambda a: (a.end_ms, a.alert_id))
            del self.alerts[oldest.alert_id]
        return alert

    def group(self, camera_id: str, pattern: str) -> dict[str, Any] | None:
        members = [a for a in self.alerts.values()
                   if a.camera_id == camera_id and a.pattern == pattern]  # fmt: skip
        return alert_group(members) if members else None

    def groups(self) -> list[dict[str, Any]]:
        by_key: dict[str, list[TrafficAlert]] = {}
        for alert in self.alerts.values():
            by_key.setdefault(group_key(alert.camera_id, alert.pattern), []).append(alert)
        return sort_groups(alert_group(members) for members in by_key.values())


def alert_group(members: list[TrafficAlert]) -> dict[str, Any]:
    """One line for the alerts of one camera and pattern: count, first and last seen, the
    highest severity, the newest alert's text and the newest crop among their evidence."""
    newest = max(members, key=lambda a: (a.end_ms, a.alert_id))
    return {
        "group_id": group_key(newest.camera_id, newest.pattern),
        "camera_id": newest.camera_id,
        "pattern": newest.pattern,
        "severity": max((a.severity for a in members), key=SEVERITY_RANK.__getitem__),
        "count": len(members),
        "first_seen_ms": min(a.start_ms for a in members),
        "last_seen_ms": newest.end_ms,
        "newest_alert_id": newest.alert_id,
        "description": newest.description,
        "crop_sha256": newest_crop(e for a in members for e in a.evidence),
    }


def sort_groups(groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda g: (-SEVERITY_RANK[g["severity"]], -g["last_seen_ms"]))


def with_crop_flags(docs: list[dict[str, Any]], crops: set[str]) -> list[dict[str, Any]]:
    """Mark which `crop_sha256` can still be fetched from `/crop/<sha>` (crops expire)."""
    return [{**d, "crop_available": d.get("crop_sha256") in crops} for d in docs]

