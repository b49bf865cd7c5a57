"""The bounded buffer while Kafka is unreachable (a closed loopback port: no broker)."""

from __future__ import annotations

from detector.observability import Metrics
from detector.publisher import Publisher

NOWHERE = "127.0.0.1:1"


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_buffer_stays_within_budget_and_drops_the_oldest():
    metrics = Metrics()
    pub = Publisher(NOWHERE, "t", metrics, budget_bytes=10_000, queue_kbytes=1)
    value = b"x" * 1000
    for i in range(100):
        pub.publish("cam-a", b"cam-a", value + str(i).encode())
    # librdkafka's 1 KiB queue holds the first event, the FIFO at most 10 kB more.
    assert pub.pending() <= 1 + 10
    assert pub.dropped >= 85
    assert sample(metrics, "traffic_detector_frames_dropped_total",
                  camera="cam-a", reason="buffer_full") == pub.dropped  # fmt: skip
    assert sample(metrics, "traffic_detector_buffer_bytes") <= 10_000
    kept = [v for _, _, v in pub._fifo]
    assert kept[-1].endswith(b"99")  # the newest survive
    assert kept == sorted(kept, key=lambda v: int(v[1000:]))  # order kept
    # It reports what it could not send: at least the FIFO (librdkafka's own count also
    # holds protocol requests, so pending() moves between two reads).
    assert pub.close(timeout_s=0) >= len(pub._fifo) > 0
