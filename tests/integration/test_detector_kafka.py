"""The detector against the real broker and Redis: events land keyed by camera, crops go
by reference, and the broker going down and coming back loses only what the bounded
buffer had to drop (counted)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest
import redis

from contract import CropRef, DetectionEvent, parse, redis_keys, sha256_hex
from detector import sample
from detector.cli import publish_camera
from detector.config import parse_config
from detector.models import Detector, RawDetection
from detector.observability import Metrics
from detector.publisher import Publisher
from detector.service import DetectorService
from stack.services import Kafka
from stack.topics import ensure_topics
from tests.kafka_io import read_all
from tests.private_kafka import private_kafka
from tests.redis_io import replies

if TYPE_CHECKING:
    from cv2.typing import MatLike

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not list(sample.CACHE.glob(sample.ULTRALYTICS_WHEEL_GLOB)), reason="run ./dev setup"
)
def test_sample_camera_events_reach_kafka_keyed_by_camera(kafka_bootstrap, fresh_topic, tmp_path):
    topic = fresh_topic(2)
    folders = sample.build_sample(frames_per_camera=3, out=tmp_path)
    sent = publish_camera("cam-bus-east", str(folders["cam-bus-east"]), bootstrap=kafka_bootstrap,
                          topic=topic, fps=1.0, start_ms=1_700_000_000_000, limit=None,
                          quiet=True)  # fmt: skip
    records = read_all(kafka_bootstrap, topic, idle_s=3)
    assert sent == 3 and len(records) == 3
    events = [parse(DetectionEvent, value) for _, value in records]
    assert {key for key, _ in records} == {b"cam-bus-east"}
    assert [e.captured_at_ms for e in events] == [1_700_000_000_000 + 1000 * i for i in range(3)]
    assert all(any(o.class_name == "bus" for o in e.objects) for e in events)


class Pair(Detector):
    """A car and a pedestrian side by side: one group per frame, fast."""

    name = "pair"

    def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
        return [
            RawDetection("car", 0.9, 10, 10, 120, 90),
            RawDetection("person", 0.9, 125, 10, 150, 90),
        ]


def test_crops_go_to_redis_by_reference(kafka_bootstrap, redis_url, fresh_topic, tmp_path):
    import cv2

    topic = fresh_topic(1)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((120, 160, 3), 40 + 60 * i, np.uint8))
    config = parse_config({
        "cameras": [{"id": "cam-ref", "source": str(tmp_path)}],
        "output": {"bootstrap": kafka_bootstrap, "topic": topic, "crops": "redis",
                   "redis_url": redis_url, "crop_ttl_s": 120},
        "tracker": {"type": "bytetrack"}, "metrics_port": None,
    })  # fmt: skip
    result = DetectorService(config, quiet=True, model=Pair()).run()
    assert result.delivered == 2 and result.undelivered == 0
    client = replies(redis.Redis.from_url(redis_url))
    for _, value in read_all(kafka_bootstrap, topic, idle_s=3):
        (group,) = parse(DetectionEvent, value).groups
        assert isinstance(group.crop, CropRef) and group.crop_sha256 is not None
        assert group.crop.ref == redis_keys.crop(group.crop_sha256)
        stored = client.get(group.crop.ref)
        assert stored is not None and sha256_hex(stored) == group.crop_sha256
        assert 0 < client.ttl(group.crop.ref) <= 120


def wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def outage_broker() -> Iterator[Kafka]:
    """A broker of this test's own: stopping the shared one failed other tests' jobs."""
    with private_kafka("kafka-outage-test", 9192) as broker:
        yield broker


def test_broker_down_then_back_buffers_within_budget(outage_broker):
    broker = outage_broker
    kafka_bootstrap = f"127.0.0.1:{broker.port}"
    topic = f"outage-{uuid.uuid4().hex[:8]}"  # the broker keeps its data between runs
    ensure_topics(kafka_bootstrap, {topic: 1})
    metrics = Metrics()
    pub = Publisher(kafka_bootstrap, topic, metrics, budget_bytes=20_000, queue_kbytes=8)

    def event(i: int) -> bytes:
        return json.dumps({"n": i, "pad": "x" * 2000}).encode()

    def delivered_all() -> bool:
        pub.poll(0.1)
        return pub.delivered == 5

    def drained() -> bool:
        pub.poll(0.2)
        return pub.pending() == 0

    for i in range(5):
        pub.publish("cam", b"cam", event(i))
    assert wait(delivered_all, 30)
    try:
        broker.stop()
        for i in range(5, 45):  # ~80 kB: over librdkafka's 8 KiB queue + the 20 kB budget
            pub.publish("cam", b"cam", event(i))
            pub.poll(0.01)
        assert pub.dropped > 0
        buffered = metrics.registry.get_sample_value("traffic_detector_buffer_bytes")
        assert buffered is not None and buffered <= 20_000
    finally:
        broker.start(120)
    assert wait(drained, 90), "did not recover"
    assert pub.close(10) == 0
    # the group coordinator needs a while after a restart: wait longer for the first record
    records = read_all(kafka_bootstrap, topic, idle_s=20)
    numbers = [json.loads(v)["n"] for _, v in records if v is not None]
    assert numbers == sorted(set(numbers))  # in order, no duplicates
    assert numbers[:5] == [0, 1, 2, 3, 4]
    assert numbers[-1] == 44  # the newest survive
    assert len(numbers) == 45 - pub.dropped
    assert (
        metrics.registry.get_sample_value(
            "traffic_detector_frames_dropped_total", {"camera": "cam", "reason": "buffer_full"}
        )
        == pub.dropped
    )


def test_metrics_endpoint_during_a_real_run(kafka_bootstrap, fresh_topic, tmp_path):
    """The service's /metrics over HTTP after a real run to the broker: every documented
    name (docs/detector.md) is exported, with the values the input implies."""
    import re
    import urllib.request

    import cv2
    from prometheus_client.parser import text_string_to_metric_families

    from stack.paths import REPO
    from tests.integration.test_redis_outage import free_port

    topic = fresh_topic(1)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((120, 160, 3), 40 + 60 * i, np.uint8))
    config = parse_config({
        "cameras": [{"id": "cam-metrics", "source": str(tmp_path)}],
        "output": {"bootstrap": kafka_bootstrap, "topic": topic},
        "tracker": {"type": "bytetrack"}, "metrics_port": None,
    })  # fmt: skip
    metrics, port = Metrics(), free_port()
    metrics.serve(port)
    result = DetectorService(config, metrics, quiet=True, model=Pair()).run()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert result.delivered == 3
    assert value("traffic_detector_frames_total", camera="cam-metrics") == 3
    for cls in ("car", "person"):
        assert (
            value("traffic_detector_detections_total", camera="cam-metrics", **{"class": cls}) == 3
        )
    assert value("traffic_detector_kafka_messages_sent_total") == 3
    assert value("traffic_detector_kafka_messages_failed_total") == 0
    assert value("traffic_detector_crops_total", storage="inline") == 3
    assert value("traffic_detector_detection_latency_seconds_count", backend="pair") == 3
    assert value("traffic_detector_frame_seconds_count", camera="cam-metrics") == 3
    assert value("traffic_detector_buffer_bytes") == 0
    documented = set(
        re.findall(r"`(traffic_detector_[a-z_]+)`", (REPO / "docs/detector.md").read_text())
    )
    families = list(text_string_to_metric_families(text))
    exported = {name for name, _ in samples} | {f.name for f in families}
    exported |= {f.name + "_total" for f in families if f.type == "counter"}
    assert documented - exported == set()
