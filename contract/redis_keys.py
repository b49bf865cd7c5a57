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

# Health of the API-key pool: HASH key_id -> JSON (never the key itself).
KEYPOOL_HEALTH = "keypool:health"


# Stored crops (claim check): STRING of JPEG bytes with a TTL.
def crop(sha256: str) -> str:
    return f"crop:{sha256}"


# Cached LLM verdicts: STRING RiskAssessment JSON with a TTL; `context` = what else the
# prompt told the model (udfs/risk/verdict.context_key), so a hit answers the same question.
def risk_cache(crop_sha256: str, prompt_version: str, model: str, context: str = "") -> str:
    suffix = f":{context}" if context else ""
    return f"riskcache:{prompt_version}:{model}:{crop_sha256}{suffix}"


# Pub/sub channels for live views: each message is the JSON that was just written.
CHANNEL_STATS = "live:stats"
CHANNEL_ALERTS = "live:alerts"
CHANNEL_RISK = "live:risk"
