"""Prometheus metrics and structured (JSON) logs of the detector service.

Metrics live in their own registry so tests can make fresh ones; `serve` exposes it on
`/metrics`. Names are listed in docs/detector.md.
"""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
AGE_BUCKETS = (0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)


class Metrics:
    """The service's counters; label values are camera ids, classes and reasons."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.frames = Counter("traffic_detector_frames", "Frames analysed.", ["camera"], registry=r)
        self.detections = Counter(
            "traffic_detector_detections", "Objects detected.", ["camera", "class"], registry=r
        )
        self.latency = Histogram(
            "traffic_detector_detection_latency_seconds",
            "Model inference time per frame.",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.frame_seconds = Histogram(
            "traffic_detector_frame_seconds",
            "Whole per-frame time: model, tracker, scene, groups, crops, publish.",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.frame_age = Histogram(
            "traffic_detector_frame_age_seconds",
            "Wall time from sampling a frame to handing its event to the producer (live and "
            "paced inputs only): queueing for a worker, model, tracker, groups.",
            ["camera"],
            buckets=AGE_BUCKETS,
            registry=r,
        )
        self.workers = Gauge(
            "traffic_detector_inference_workers", "Model instances in the worker pool.",
            registry=r,
        )  # fmt: skip
        self.dropped = Counter(
            "traffic_detector_frames_dropped",
            "Frames or events dropped: corrupt (unreadable frame), behind (a live stream "
            "outpaced the analysis), buffer_full (Kafka unreachable, oldest event dropped).",
            ["camera", "reason"],
            registry=r,
        )
        self.sent = Counter(
            "traffic_detector_kafka_messages_sent", "Events acknowledged by Kafka.", registry=r
        )
        self.failed = Counter(
            "traffic_detector_kafka_messages_failed",
            "Events Kafka reported as not delivered.",
            registry=r,
        )
        self.reconnects = Counter(
            "traffic_detector_stream_reconnects", "Stream reopen attempts.", ["camera"], registry=r
        )
        self.buffered_bytes = Gauge(
            "traffic_detector_buffer_bytes",
            "Bytes of events waiting for Kafka in the service's own buffer.",
            registry=r,
        )
        self.crops = Counter("traffic_detector_crops", "Group crops made.", ["storage"], registry=r)
        self.camera_up = Gauge(
            "traffic_detector_camera_up", "1 while a camera's input is open.", ["camera"],
            registry=r,
        )  # fmt: skip

    def serve(self, port: int) -> None:
        """Expose /metrics on ``port`` (all interfaces) from a daemon thread."""
        start_http_server(port, registry=self.registry)


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def setup_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
