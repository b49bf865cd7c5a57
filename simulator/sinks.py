"""Where messages go: Kafka (the real broker), a JSON-lines file, or nowhere (benchmarks)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Literal, Protocol

from contract import limits

log = logging.getLogger("traffic-sim.sinks")

Compression = Literal["lz4", "zstd", "gzip", "snappy", "none"]


class Sink(Protocol):
    def send(self, key: bytes, value: bytes) -> None: ...

    def close(self) -> dict[str, int]: ...


class NullSink:
    """Counts and drops: measures the generator alone."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, key: bytes, value: bytes) -> None:
        self.sent += 1

    def close(self) -> dict[str, int]:
        return {"sent": self.sent}


class JsonlSink:
    """One line per message: ``{"key": "<camera id>", "value": "<message text>"}``.

    The value is kept as the exact message text (a JSON string), so malformed messages
    round-trip byte for byte; bytes that are not UTF-8 are stored as ``value_b64`` instead.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self.sent = 0

    def send(self, key: bytes, value: bytes) -> None:
        try:
            text = value.decode()
            field = '"value":' + json.dumps(text, ensure_ascii=False)
        except UnicodeDecodeError:
            import base64

            field = '"value_b64":"' + base64.b64encode(value).decode() + '"'
        self._out.write('{"key":' + json.dumps(key.decode()) + "," + field + "}\n")
        self.sent += 1

    def close(self) -> dict[str, int]:
        self._out.close()
        return {"sent": self.sent}


def read_jsonl(path: Path) -> list[tuple[bytes, bytes]]:
    """Messages back from a file written by `JsonlSink` (for replays and tests)."""
    import base64

    out = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            value = row["value"].encode() if "value" in row else base64.b64decode(row["value_b64"])
            out.append((row["key"].encode(), value))
    return out


def producer_config(
    bootstrap: str, compression: Compression = "lz4", linger_ms: int = 50
) -> dict[str, object]:
    """Idempotent, compressed, large batches: throughput first, no duplicates on retry."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": compression,
        "linger.ms": linger_ms,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "message.max.bytes": limits.PRODUCER_MAX_REQUEST_BYTES,
        "log_level": 3,
    }


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication: int = 1) -> bool:
    """Create ``topic`` when missing; True if this call created it."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=10).topics:
        return False
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication)]
    )
    try:
        futures[topic].result(timeout=30)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
        return False
    return True


class KafkaSink:
    """confluent-kafka producer; waits (polls) when its local queue is full."""

    def __init__(self, bootstrap: str, topic: str, config: dict[str, object]) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(config)
        self._topic = topic
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self._first_error: str | None = None

    def _ack(self, err: object, _msg: object) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if self._first_error is None:
            self._first_error = str(err)

    def send(self, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key, on_delivery=self._ack)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1
        if self.sent % 1000 == 0:
            self._producer.poll(0)

    def close(self, timeout_s: float = 60.0) -> dict[str, int]:
        left = self._producer.flush(timeout_s)
        if self._first_error:
            log.error("kafka delivery failed: %s (%d failed)", self._first_error, self.failed)
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "failed": self.failed,
            "undelivered": left,
        }
