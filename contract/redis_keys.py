"""Redis key layout shared by the job (writer) and the dashboard (reader).

Values are the contract's JSON (``Message.to_json()``). Writes are idempotent: the same
message written twice leaves the same state, so replays after a failure are harmless.
"""

from __future__ import annotations


# Latest window statistics of a camera: STRING holding a WindowStats JSON.
def stats_latest(camera_id: str) -> str:
    return f"stats:latest:{camera_id}"


# Bounded time series of a camera's window statistics: ZSET, score = window_start_ms,
# member = WindowStats JSON; trimmed to the newest STATS_SERIES_MAX entries.
def stats_series(camera_id: str) -> str:
    return f"stats:series:{camera_id}"


STATS_SERIES_MAX = 1440  # one day of 60 s windows
# Camera ids seen by the job: ZSET, score = end ms of the camera's newest window (only ever
# raised), so the dashboard can show the most recently active cameras of thousands.
CAMERAS_ACTIVE = "cameras:active"

# Recent alerts / verdicts: ZSET, score = event time ms, member = JSON; bounded.
ALERTS_RECENT = "alerts:recent"
RISK_RECENT = "risk:recent"
RECENT_MAX = 500


# Latest verdicts of one camera: ZSET like RISK_RECENT, bounded to RISK_PER_CAMERA_MAX.
def risk_latest(camera_id: str) -> str:
    return f"risk:latest:{camera_id}"


RISK_PER_CAMERA_MAX = 100


# Incidents (udfs/incidents): the newest revision of each, STRING Incident JSON with a TTL
# (INCIDENT_TTL_S after its last change), so closed incidents age out.
def incident(incident_id: str) -> str:
    return f"incident:{incident_id}"


INCIDENT_TTL_S = 7 * 24 * 3600
# Open incidents: ZSET, score = updated_at_ms, member = incident id (removed when closed).
INCIDENTS_OPEN = "incidents:open"
# Recent incidents, open or closed: ZSET like INCIDENTS_OPEN, bounded to RECENT_MAX.
INCIDENTS_RECENT = "incidents:recent"


# Incidents of one camera, open or closed: ZSET like INCIDENTS_OPEN, bounded to RECENT_MAX.
def incidents_of_camera(camera_id: str) -> str:
    return f"incidents:camera:{camera_id}"


# The operator's latest action on an incident (dashboard): STRING IncidentAction JSON, same
# TTL as the incident.
def incident_action(incident_id: str) -> str:
    return f"incident:action:{incident_id}"


# Health of the API-key pool: HASH key_id -> JSON (never the key itself).
KEYPOOL_HEALTH = "keypool:health"


# Stored crops (claim check): STRING of JPEG bytes with a TTL. Crops show people: they are
# kept CROP_TTL_S by default (the detector's output.crop_ttl_s) and never longer than
# CROP_TTL_MAX_S (docs/deployment.md, "Retention of images").
def crop(sha256: str) -> str:
    return f"crop:{sha256}"


CROP_TTL_S = 3600
CROP_TTL_MAX_S = 24 * 3600


# Cached LLM verdicts: STRING RiskAssessment JSON with a TTL; `context` = what else the
# prompt told the model (udfs/risk/verdict.context_key), so a hit answers the same question.
def risk_cache(crop_sha256: str, prompt_version: str, model: str, context: str = "") -> str:
    suffix = f":{context}" if context else ""
    return f"riskcache:{prompt_version}:{model}:{crop_sha256}{suffix}"


# Near-duplicate verdict cache (udfs/risk/near.py, `cache.near_max_distance`): STRING with a
# TTL, a JSON list of the newest [perceptual hash, event time, verdict JSON] of one camera and
# coarse detector context.
def risk_near(prompt_version: str, model: str, camera_id: str, context: str) -> str:
    return f"risknear:{prompt_version}:{model}:{camera_id}:{context}"


# Pub/sub channels for live views: each message is the JSON that was just written.
CHANNEL_STATS = "live:stats"
CHANNEL_ALERTS = "live:alerts"
CHANNEL_RISK = "live:risk"
CHANNEL_INCIDENTS = "live:incidents"
