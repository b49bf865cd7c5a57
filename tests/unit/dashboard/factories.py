"""Contract messages for the dashboard's tests, built and validated by the contract's models."""

from __future__ import annotations

from typing import Any

from contract import Incident, IncidentAction, TrafficAlert


def evidence(camera: str, at_ms: int, sha: str | None = None) -> dict[str, Any]:
    return {"camera_id": camera, "frame_id": at_ms // 1000, "captured_at_ms": at_ms,
            "crop_sha256": sha}  # fmt: skip


def alert(alert_id: str, camera: str, pattern: str, end_ms: int, severity: str = "warning",
          crops: tuple[tuple[int, str], ...] = (), description: str = "d") -> bytes:  # fmt: skip
    return TrafficAlert.model_validate({
        "schema_version": 1, "alert_id": alert_id, "pattern": pattern, "camera_id": camera,
        "severity": severity, "start_ms": max(0, end_ms - 5_000), "end_ms": end_ms,
        "description": description, "evidence": [evidence(camera, t, s) for t, s in crops],
    }).to_json()  # fmt: skip


def incident(incident_id: str, camera: str, updated_ms: int, **changes: Any) -> bytes:
    return Incident.model_validate({
        "schema_version": 1, "incident_id": incident_id, "revision": 1, "camera_id": camera,
        "place": "crosswalk", "kind": "conflict", "severity": "critical", "status": "open",
        "opened_at_ms": max(0, updated_ms - 60_000), "updated_at_ms": updated_ms, "alert_count": 4,
        "patterns": ["near_miss"], "description": "people and cars too close", **changes,
    }).to_json()  # fmt: skip


def action(incident_id: str, what: str = "acknowledge", at_ms: int = 1) -> bytes:
    return IncidentAction.model_validate({
        "schema_version": 1, "incident_id": incident_id, "action": what, "actor": "op",
        "at_ms": at_ms,
    }).to_json()  # fmt: skip
