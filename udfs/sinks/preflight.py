"""Checks at submission that the job's Kafka outputs can be written.

A missing output topic (on a broker that does not create topics) or one the job may not
use otherwise fails only at the first record of a running job: the producer waits
`max.block.ms`, the task fails and restarts per the restart strategy. Checked here, in the
client that runs `flink run -py`, such a job is refused at once with a message naming the
sink, its topic and the option that sets it.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

log = logging.getLogger(__name__)

# Java client settings that librdkafka names differently: with these the check cannot
# connect as the job does, so it is skipped rather than guessed.
_JAVA_ONLY_PREFIXES = ("sasl.", "ssl.", "security.")


def output_problems(
    bootstrap: str, sinks: dict[str, tuple[str, str]], client_properties: dict[str, str]
) -> list[str]:
    """What keeps a sink from writing: ``sinks`` maps sink table -> (topic, option)."""
    if any(key.startswith(_JAVA_ONLY_PREFIXES) for key in client_properties):
        log.info("output topic check skipped: the Kafka security settings are Java-only")
        return []
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    problems = []
    creates: bool | None = None  # asked of the broker only when a topic is missing
    for sink, (topic, option) in sinks.items():
        try:  # one topic at a time: a denied topic answers with its error, not silence
            metadata = admin.list_topics(topic=topic, timeout=10)
        except KafkaException as exc:
            log.warning("output topic check skipped: Kafka at %s not reachable (%s)",
                        bootstrap, exc)  # fmt: skip
            return []
        error = metadata.topics[topic].error
        if error is None:
            continue
        if error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            problems.append(f"sink {sink}: topic {topic} ({option}): {error.str()}")
            continue
        if creates is None:
            creates = _broker_creates_topics(admin, next(iter(metadata.brokers), None))
        if creates is False:
            problems.append(
                f"sink {sink}: topic {topic} ({option}) does not exist on {bootstrap}, and the "
                "broker does not create topics (auto.create.topics.enable=false): create it "
                "first (docs/operations.md, 'Output topics')"
            )
    return problems


def _broker_creates_topics(admin: AdminClient, broker_id: int | None) -> bool | None:
    """The broker's auto.create.topics.enable, or None when it cannot be read."""
    if broker_id is None:
        return None
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker_id))
    try:
        (future,) = admin.describe_configs([resource]).values()
        entry = future.result(timeout=10).get("auto.create.topics.enable")
    except KafkaException:
        return None
    return None if entry is None else entry.value == "true"
