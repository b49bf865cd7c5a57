"""The incident view in a real redis-server: newest revision wins, bounded sets, pub/sub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from contract import Incident, redis_keys
from tests.integration.test_redis_outage import throwaway_redis
from tests.redis_io import replies
from udfs.views.redis import IncidentViewWriter

pytestmark = pytest.mark.integration


def incident(number: int, revision: int, status: str = "open", camera: str = "cam") -> Incident:
    return Incident.model_validate(
        {
            "schema_version": 1,
            "incident_id": f"inc-{number}",
            "revision": revision,
            "camera_id": camera,
            "place": "camera",
            "kind": "conflict",
            "severity": "critical",
            "status": status,
            "opened_at_ms": 1000 * number,
            "updated_at_ms": 1000 * number + revision,
            "closed_at_ms": 1000 * number + 99 if status == "closed" else None,
            "alert_count": revision,
            "description": f"incident {number} revision {revision}",
        }
    )


def test_incident_views_are_idempotent_never_regress_and_stay_bounded(tmp_path: Path) -> None:
    with throwaway_redis(tmp_path) as url:
        client = redis.Redis.from_url(url)
        read = replies(client)
        listener = client.pubsub()
        listener.subscribe(redis_keys.CHANNEL_INCIDENTS)
        writer = IncidentViewWriter(url)
        for item in (incident(1, 1), incident(1, 2), incident(1, 3, "closed"), incident(1, 2)):
            writer.write(item)  # the last one: an older revision replayed after the close
        stored = Incident.model_validate_json(read.get(redis_keys.incident("inc-1")) or b"")
        assert (stored.revision, stored.status) == (3, "closed")
        assert read.zscore(redis_keys.INCIDENTS_OPEN, "inc-1") is None  # never reopened
        assert read.zscore(redis_keys.INCIDENTS_RECENT, "inc-1") == 1003
        assert read.zscore(redis_keys.incidents_of_camera("cam"), "inc-1") == 1003
        assert 0 < read.ttl(redis_keys.incident("inc-1")) <= redis_keys.INCIDENT_TTL_S
        writer.write(incident(1, 3, "closed"))  # the same revision again: no change, no notice
        published = []
        while (message := listener.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                published.append(json.loads(message["data"])["revision"])
        assert published == [1, 2, 3]

        for number in range(2, redis_keys.RECENT_MAX + 12):
            writer.write(incident(number, 1, camera=f"cam-{number % 2}"))
        assert read.zcard(redis_keys.INCIDENTS_RECENT) == redis_keys.RECENT_MAX
        assert read.zcard(redis_keys.INCIDENTS_OPEN) == redis_keys.RECENT_MAX
        assert read.zscore(redis_keys.INCIDENTS_OPEN, "inc-2") is None  # the oldest went
        assert read.zcard(redis_keys.incidents_of_camera("cam-0")) == redis_keys.RECENT_MAX // 2 + 5
        writer.close()
