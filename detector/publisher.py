"""Events to Kafka with a bounded memory budget while the broker is unreachable.

Two bounded stages: librdkafka's own queue (``queue.buffering.max.kbytes``; messages never
time out there, so nothing is lost while the broker is merely down) and, when that is
full, this class's FIFO of events not yet handed to librdkafka. When the FIFO is over its
byte budget the oldest events in it are dropped, counted and logged: memory never grows
without bound and the newest frames, the useful ones for live traffic, survive. When the
broker returns, librdkafka drains its queue and the FIFO follows on the next calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from contract import limits
from detector.observability import Metrics

log = logging.getLogger("traffic-detector.publisher")

LIBRDKAFKA_QUEUE_KBYTES = 16 * 1024


class EventSink(Protocol):
    """Where the service hands its events: a `Publisher`, or an in-memory one in tests."""

    delivered: int
    dropped: int

    def publish(self, camera: str, key: bytes, value: bytes) -> None: ...

    def poll(self, timeout_s: float = 0.0) -> None: ...

    def close(self, timeout_s: float = 30.0) -> int: ...


# What `producer_config` decides; `output.kafka_properties` may add to it, never change it.
OWN_PROPERTIES = frozenset({
    "bootstrap.servers", "enable.idempotence", "compression.type", "linger.ms",
    "message.max.bytes", "queue.buffering.max.kbytes", "message.timeout.ms", "log_level",
    "logger",
})  # fmt: skip


def producer_config(
    bootstrap: str,
    queue_kbytes: int = LIBRDKAFKA_QUEUE_KBYTES,
    client_properties: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Idempotent, compressed; per-camera order survives retries and broker restarts.
    librdkafka's own messages (e.g. "connection refused" while the broker is down) go to the
    service's JSON log, served on poll, instead of raw lines on stderr. `client_properties`
    (security: TLS files, SASL) are added; the settings above always win."""
    return {
        **(client_properties or {}),
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 20,
        "message.max.bytes": limits.PRODUCER_MAX_REQUEST_BYTES,
        "queue.buffering.max.kbytes": queue_kbytes,
        "message.timeout.ms": 0,  # infinite: wait for the broker instead of failing
        "log_level": 3,
        "logger": logging.getLogger("traffic-detector.kafka"),
    }


class Publisher:
    """Thread-safe: camera threads call `publish`; `close` flushes at shutdown."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        metrics: Metrics,
        budget_bytes: int = 64 * 1024 * 1024,
        queue_kbytes: int = LIBRDKAFKA_QUEUE_KBYTES,
        client_properties: Mapping[str, str] | None = None,
    ) -> None:
        self._producer = Producer(producer_config(bootstrap, queue_kbytes, client_properties))
        self._topic = topic
        self._metrics = metrics
        self._budget = budget_bytes
        self._fifo: deque[tuple[str, bytes, bytes]] = deque()  # (camera, key, value)
        self._fifo_bytes = 0
        self._lock = threading.Lock()
        self._last_drop_log = 0.0
        self.dropped = 0
        self.delivered = 0
        self.failed = 0

    def publish(self, camera: str, key: bytes, value: bytes) -> None:
        """Queue one event and hand over as much as librdkafka accepts."""
        with self._lock:
            self._fifo.append((camera, key, value))
            self._fifo_bytes += len(value)
            self._drop_over_budget()
            self._drain()
        self._producer.poll(0)

    def _drain(self) -> None:
        while self._fifo:
            _camera, key, value = self._fifo[0]
            try:
                self._producer.produce(self._topic, key=key, value=value, on_delivery=self._ack)
            except BufferError:
                break  # librdkafka's queue is full: the broker is down or slow
            self._fifo.popleft()
            self._fifo_bytes -= len(value)
        self._metrics.buffered_bytes.set(self._fifo_bytes)

    def _drop_over_budget(self) -> None:
        dropped: dict[str, int] = {}
        while self._fifo_bytes > self._budget and len(self._fifo) > 1:
            camera, _, value = self._fifo.popleft()
            self._fifo_bytes -= len(value)
            dropped[camera] = dropped.get(camera, 0) + 1
        for camera, count in dropped.items():
            self.dropped += count
            self._metrics.dropped.labels(camera, "buffer_full").inc(count)
        now = time.monotonic()
        if dropped and now - self._last_drop_log > 5:
            self._last_drop_log = now
            log.warning(
                "kafka unreachable: buffer over budget, dropped oldest events",
                extra={"dropped_total": self.dropped, "budget_bytes": self._budget},
            )

    def _ack(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.delivered += 1
            self._metrics.sent.inc()
            return
        self.failed += 1
        self._metrics.failed.inc()
        log.error("kafka delivery failed", extra={"error": str(err)})

    def pending(self) -> int:
        """Events not yet acknowledged: in the FIFO plus in librdkafka's queue."""
        return len(self._fifo) + len(self._producer)

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports and retry handing over the FIFO."""
        with self._lock:
            self._drain()
        self._producer.poll(timeout_s)

    def close(self, timeout_s: float = 30.0) -> int:
        """Flush everything within ``timeout_s``; returns how many events were left."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.1)
            if self.pending() == 0:
                break
        left = self.pending()
        if left:
            log.error("events not delivered at shutdown", extra={"undelivered": left})
        return left
