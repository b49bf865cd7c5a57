"""Group alerts into incidents per camera, in event time. Plain Python; state is JSON.

An alert is taken in event-time order once the watermark passes its `end_ms` (its time,
below): it joins an incident of its camera, place and kind whose quiet period has not ended
by then (its deadline: last alert's time + the kind's quiet period; with `same_tracks`, one
that shares a track or names none; the most recently updated if several), or opens one. An
incident closes when the watermark passes its deadline plus `lateness_s`; the close is
stamped with the deadline, not with the watermark that happened to reach it, and every
change is a new revision: so a replay of the same alerts gives the same incidents,
revisions included, however the watermark advanced. An alert that arrives behind the
watermark (a high-verdict alert from a slow LLM call, a match completed late) is taken at
once; up to `lateness_s` late, it still finds the incident it belongs to.

State per camera: {"watermark": int | None, "pending": [alert JSON], "open": [Incident JSON]}.
"""

from __future__ import annotations

import hashlib
from typing import Any

from contract import Evidence, Incident, TrafficAlert
from udfs.incidents.config import IncidentConfig, SituationKind

MAX_ALERT_IDS, MAX_TRACKS, MAX_EVIDENCE = 32, 64, 16  # Incident's bounds
_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def new_state() -> dict[str, Any]:
    return {"watermark": None, "pending": [], "open": []}


def incident_id(camera_id: str, place: str, kind: str, opening: TrafficAlert) -> str:
    """Deterministic: camera, place, kind and the opening alert (its start time and id, so
    two incidents opened at one instant by different alerts differ)."""
    body = "|".join((camera_id, place, kind, str(opening.start_ms), opening.alert_id))
    return "inc-" + hashlib.sha256(body.encode()).hexdigest()[:32]


def _order(alert: dict[str, Any]) -> tuple[int, int, str]:
    return int(alert["end_ms"]), int(alert["start_ms"]), str(alert["alert_id"])


class IncidentEngine:
    """The incident rules of one configuration; stateless itself, state is passed in."""

    def __init__(self, cfg: IncidentConfig) -> None:
        self.cfg = cfg

    def add(self, state: dict[str, Any], alert: TrafficAlert) -> list[Incident]:
        """Buffer an alert until the watermark passes it; one behind the watermark is taken
        now (its changes are returned)."""
        watermark = state["watermark"]
        if watermark is None or alert.end_ms > watermark:
            state["pending"].append(alert.model_dump(mode="json", exclude_none=True))
            return []
        return [self._take(state, alert)]

    def advance(self, state: dict[str, Any], watermark: int) -> list[Incident]:
        """Take every buffered alert and close every quiet incident up to `watermark`, in
        event-time order (a close due at the same instant as an alert comes first)."""
        changes: list[Incident] = []
        state["pending"].sort(key=_order)
        while True:
            due = state["pending"][0] if state["pending"] else None
            due_at = int(due["end_ms"]) if due is not None else None
            close_at, index = self._next_close(state)
            if (
                close_at is not None
                and close_at <= watermark
                and (due_at is None or close_at <= due_at)
            ):
                changes.append(self._close(state, index))
            elif due is not None and due_at is not None and due_at <= watermark:
                state["pending"].pop(0)
                changes.append(self._take(state, TrafficAlert.model_validate(due)))
            else:
                break
        if state["watermark"] is None or watermark > state["watermark"]:
            state["watermark"] = watermark
        return changes

    def next_timer(self, state: dict[str, Any]) -> int | None:
        """When `advance` next has work: the earliest buffered alert or close deadline."""
        times = [int(a["end_ms"]) for a in state["pending"]]
        close_at, _ = self._next_close(state)
        if close_at is not None:
            times.append(close_at)
        return min(times, default=None)

    def _deadline(self, doc: dict[str, Any]) -> int:
        """When an incident's quiet period ends: no alert at or after it joins."""
        return int(doc["updated_at_ms"]) + self.cfg.quiet_ms(doc["kind"])

    def _next_close(self, state: dict[str, Any]) -> tuple[int | None, int]:
        """When the next close is decided (deadline + lateness), and which incident."""
        lateness = int(self.cfg.lateness_s * 1000)
        due = [
            (self._deadline(doc) + lateness, doc["incident_id"], i)
            for i, doc in enumerate(state["open"])
        ]
        if not due:
            return None, -1
        at, _id, index = min(due)
        return at, index

    def _close(self, state: dict[str, Any], index: int) -> Incident:
        doc = state["open"].pop(index)
        current = Incident.model_validate(doc)
        update = {"revision": current.revision + 1, "status": "closed"}
        return current.model_copy(update={**update, "closed_at_ms": self._deadline(doc)})

    def _take(self, state: dict[str, Any], alert: TrafficAlert) -> Incident:
        kind, rule = self.cfg.kind_of(alert.pattern)
        index = self._joins(state, alert, kind, rule)
        if index is None:
            incident = _opened(alert, kind, rule.place)
            state["open"].append(incident.model_dump(mode="json", exclude_none=True))
            return incident
        incident = _updated(Incident.model_validate(state["open"][index]), alert)
        state["open"][index] = incident.model_dump(mode="json", exclude_none=True)
        return incident

    def _joins(
        self, state: dict[str, Any], alert: TrafficAlert, kind: str, rule: SituationKind
    ) -> int | None:
        """Index of the open incident the alert belongs to, or None."""
        found: list[tuple[int, str, int]] = []
        for i, doc in enumerate(state["open"]):
            if (doc["camera_id"], doc["kind"], doc["place"]) != (alert.camera_id, kind, rule.place):
                continue
            if alert.end_ms >= self._deadline(doc):
                continue
            tracks = set(doc.get("track_ids") or ())
            if rule.same_tracks and tracks and alert.track_ids and not tracks & {*alert.track_ids}:
                continue
            found.append((int(doc["updated_at_ms"]), doc["incident_id"], i))
        return max(found)[2] if found else None


def _opened(alert: TrafficAlert, kind: str, place: str) -> Incident:
    return Incident(
        schema_version=1,
        incident_id=incident_id(alert.camera_id, place, kind, alert),
        revision=1,
        camera_id=alert.camera_id,
        place=place,
        kind=kind,
        severity=alert.severity,
        status="open",
        opened_at_ms=alert.start_ms,
        updated_at_ms=alert.end_ms,
        alert_count=1,
        patterns=(alert.pattern,),
        alert_ids=(alert.alert_id,),
        track_ids=alert.track_ids[-MAX_TRACKS:],
        evidence=alert.evidence[-MAX_EVIDENCE:],
        description=_describe(kind, place, 1, alert),
    )


def _updated(incident: Incident, alert: TrafficAlert) -> Incident:
    """One more alert: bounded lists keep the newest entries."""
    count = incident.alert_count + 1
    severity = max(incident.severity, alert.severity, key=_SEVERITY.__getitem__)
    patterns = tuple(dict.fromkeys((*incident.patterns, alert.pattern)))
    tracks = tuple(dict.fromkeys((*incident.track_ids, *alert.track_ids)))
    return incident.model_copy(
        update={
            "revision": incident.revision + 1,
            "severity": severity,
            "updated_at_ms": max(incident.updated_at_ms, alert.end_ms),
            "alert_count": count,
            "patterns": patterns,
            "alert_ids": (*incident.alert_ids, alert.alert_id)[-MAX_ALERT_IDS:],
            "track_ids": tracks[-MAX_TRACKS:],
            "evidence": _merge_evidence(incident.evidence, alert.evidence),
            "description": _describe(incident.kind, incident.place, count, alert),
        }
    )


def _merge_evidence(old: tuple[Evidence, ...], new: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    """Newest last, one per frame and group, at most MAX_EVIDENCE."""
    merged: dict[tuple[int, str | None], Evidence] = {}
    for item in (*old, *new):
        merged.pop((item.frame_id, item.group_id), None)
        merged[(item.frame_id, item.group_id)] = item
    return tuple(sorted(merged.values(), key=lambda e: e.captured_at_ms))[-MAX_EVIDENCE:]


def _describe(kind: str, place: str, count: int, latest: TrafficAlert) -> str:
    head = f"{kind} at {place}: {count} alert{'s' if count > 1 else ''}; latest: "
    return (head + latest.description)[:500]
