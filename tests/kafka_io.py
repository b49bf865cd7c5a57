"""Small Kafka helpers for tests and benchmarks (real broker, confluent-kafka)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, Producer

from contract import limits


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    partition_of: Callable[[bytes | None], int] | None = None,
) -> int:
    """Publish records; ``partition_of(key)`` pins partitions (default: hash of the key)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
            "message.max.bytes": limits.PRODUCER_MAX_REQUEST_BYTES,  # poison pills up to it
            "log_level": 3,
        }
    )
    count = 0
    for key, value in records:
        while True:
            try:
                if partition_of is None:
                    producer.produce(topic, key=key, value=value)
                else:
                    producer.produce(topic, key=key, value=value, partition=partition_of(key))
                break
            except BufferError:  # local queue full: let the broker catch up
                producer.poll(0.5)
        count += 1
    assert producer.flush(30) == 0, "undelivered records"
    return count


def read_all(
    bootstrap: str, topic: str, idle_s: float = 4.0, committed_only: bool = True
) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of ``topic`` (read_committed by default), until idle for ``idle_s``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[bytes | None, bytes | None]] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            last = time.monotonic()
            out.append((message.key(), message.value()))
    finally:
        consumer.close()
    return out
