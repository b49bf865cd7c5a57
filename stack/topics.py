"""Create the contract's topics with their partition counts (idempotent)."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from contract import topics
from stack.config import Endpoints

# Detections are keyed by camera: partitions bound the job's source parallelism.
PARTITIONS: dict[str, int] = {
    topics.DETECTION_RESULTS: 4,
    topics.TRAFFIC_WINDOW_STATS: 2,
    topics.RISK_ASSESSMENT_RESULTS: 2,
    topics.TRAFFIC_ALERTS: 1,
    topics.TRAFFIC_INCIDENTS: 1,
    topics.INCIDENT_ACTIONS: 1,
    topics.DEAD_LETTER: 1,
    topics.SIGNAL_STATES: 1,
}


def ensure_topics(bootstrap: str | None = None, names: dict[str, int] | None = None) -> list[str]:
    """Create missing topics; return the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap or Endpoints.from_env().kafka_bootstrap})
    wanted = names or PARTITIONS
    existing = set(admin.list_topics(timeout=10).topics)
    new = [
        NewTopic(t, num_partitions=n, replication_factor=1)
        for t, n in wanted.items()
        if t not in existing
    ]
    if not new:
        return []
    for future in admin.create_topics(new).values():
        future.result(timeout=30)
    return [t.topic for t in new]
