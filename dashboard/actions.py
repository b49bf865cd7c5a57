"""Operator actions on incidents (acknowledge, resolve): validated, published, stored.

An action goes to Kafka first (topic `incident-actions`, keyed by incident id, so the job
or anyone else can react) and then to Redis (`incident:action:<id>`, what every dashboard
shows). When Kafka is configured but does not acknowledge in time, nothing is stored and
the operator gets the error: an action the page shows has also been published. Kafka can
be switched off (`--kafka-bootstrap none`): actions are then stored in Redis only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from contract import ContractError, IncidentAction, parse, topics

log = logging.getLogger("dashboard.actions")
ACTIONS = ("acknowledge", "resolve")
DEFAULT_ACTOR = "dashboard"
PUBLISH_TIMEOUT_S = 5.0
DISABLED = ("", "none", "off")  # --kafka-bootstrap values that switch publishing off


class ActionRefused(ValueError):
    """The request is not a valid action; the message says which field and why."""


class ActionNotPublished(RuntimeError):
    """Kafka did not take the action; the message names the broker and the reason."""


class ActionPublisher(Protocol):
    """Where actions are published: Kafka, or a double in tests."""

    async def publish(self, action: IncidentAction) -> None: ...

    def close(self) -> None: ...


def make_action(
    incident_id: str, action: str, body: Mapping[str, Any], now_ms: int
) -> IncidentAction:
    """An `IncidentAction` from the URL and the JSON body (`actor`, `note`, both optional)."""
    if action not in ACTIONS:
        raise ActionRefused(f"action: must be one of {', '.join(ACTIONS)}")
    unknown = set(body) - {"actor", "note"}
    if unknown:
        raise ActionRefused(f"{sorted(unknown)[0]}: unknown field (allowed: actor, note)")
    doc = {"schema_version": 1, "incident_id": incident_id, "action": action,
           "actor": body.get("actor") or DEFAULT_ACTOR, "note": body.get("note", ""),
           "at_ms": now_ms}  # fmt: skip
    try:
        parsed: IncidentAction = parse(IncidentAction, json.dumps(doc))
    except ContractError as err:
        raise ActionRefused(err.reason) from None
    return parsed


def kafka_enabled(bootstrap: str | None) -> bool:
    return bootstrap is not None and bootstrap.strip().lower() not in DISABLED


def producer_config(
    bootstrap: str, timeout_s: float, properties: Mapping[str, str]
) -> dict[str, Any]:
    """librdkafka settings: ``properties`` (e.g. mutual TLS: security.protocol and the
    ssl.*.location files, as the detector's output.kafka_properties) beside the publisher's
    own, which they may not change."""
    own: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "message.timeout.ms": int(timeout_s * 1000),  # a down broker fails, not hangs
        "log_level": 3,
    }
    clash = sorted(set(properties) & set(own))
    if clash:
        raise ValueError(f"Kafka properties may not set {clash}: the dashboard sets them")
    return {**properties, **own}


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` pairs separated by `;` or new lines (env TRAFFIC_DASHBOARD_KAFKA_PROPERTIES)."""
    pairs = [item.strip() for item in text.replace("\n", ";").split(";") if item.strip()]
    bad = [item for item in pairs if "=" not in item]
    if bad:
        raise ValueError(f"not key=value: {bad}")
    return {key.strip(): value.strip() for key, value in (i.split("=", 1) for i in pairs)}


class KafkaActionPublisher:
    """Publishes one action at a time and waits for the broker's acknowledgement."""

    def __init__(self, bootstrap: str, topic: str = topics.INCIDENT_ACTIONS,
                 timeout_s: float = PUBLISH_TIMEOUT_S,
                 properties: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.bootstrap, self.topic, self.timeout_s = bootstrap, topic, timeout_s
        self.config = producer_config(bootstrap, timeout_s, properties or {})
        self._producer = Producer(
            {**self.config, "logger": logging.getLogger("dashboard.kafka")}
        )

    async def publish(self, action: IncidentAction) -> None:
        await asyncio.to_thread(self._publish, action)

    def _publish(self, action: IncidentAction) -> None:
        outcome: list[KafkaError | None] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            outcome.append(err)

        where = f"Kafka at {self.bootstrap}, topic {self.topic}"
        try:
            self._producer.produce(self.topic, key=action.incident_id.encode(),
                                   value=action.to_json(), on_delivery=delivered)  # fmt: skip
        except (BufferError, KafkaException) as err:
            raise ActionNotPublished(f"{where}: {err}") from None
        self._producer.flush(self.timeout_s + 1)
        if not outcome:
            raise ActionNotPublished(f"{where}: no acknowledgement within {self.timeout_s:g} s")
        if outcome[0] is not None:
            raise ActionNotPublished(f"{where}: {outcome[0].str()}")

    def close(self) -> None:
        left = self._producer.flush(self.timeout_s)
        if left:
            log.warning("%d incident actions not delivered to Kafka at shutdown", left)
