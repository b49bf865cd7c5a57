"""One message limit everywhere: a record one part of the product accepts no other refuses."""

from __future__ import annotations

from pathlib import Path

import yaml

from contract import limits
from contract.codec import dead_letter
from detector.publisher import producer_config as detector_producer
from jobs.config import from_args
from simulator.sinks import producer_config as simulator_producer
from stack.services import Kafka
from udfs.sinks import kafka as kafka_sinks

K8S_KAFKA = Path(__file__).resolve().parents[2] / "k8s" / "base" / "kafka"


def test_the_record_limit_leaves_room_for_a_batch_under_the_broker_limit():
    assert limits.MAX_RECORD_BYTES < limits.BROKER_MAX_MESSAGE_BYTES
    assert limits.PRODUCER_MAX_REQUEST_BYTES <= limits.BROKER_MAX_MESSAGE_BYTES


def test_the_local_broker_allows_the_broker_limit():
    assert f"message.max.bytes={limits.BROKER_MAX_MESSAGE_BYTES}" in Kafka().properties()


def test_the_k8s_broker_and_every_topic_allow_the_broker_limit():
    (cluster,) = [d for d in yaml.safe_load_all((K8S_KAFKA / "kafka.yaml").read_text())
                  if d and d["kind"] == "Kafka"]  # fmt: skip
    config = cluster["spec"]["kafka"]["config"]
    assert config["message.max.bytes"] == limits.BROKER_MAX_MESSAGE_BYTES
    assert config["replica.fetch.max.bytes"] >= limits.BROKER_MAX_MESSAGE_BYTES
    topics = [d for d in yaml.safe_load_all((K8S_KAFKA / "topics.yaml").read_text()) if d]
    assert topics
    for topic in topics:
        assert topic["spec"]["config"]["max.message.bytes"] == limits.BROKER_MAX_MESSAGE_BYTES


def test_every_producer_uses_the_producer_limit():
    assert detector_producer("k:9092")["message.max.bytes"] == limits.PRODUCER_MAX_REQUEST_BYTES
    sim = simulator_producer("k:9092")
    assert sim["message.max.bytes"] == limits.PRODUCER_MAX_REQUEST_BYTES
    ddl = kafka_sinks.kafka_sink_ddl("t", "topic", "k:9092", "p")
    assert f"'properties.max.request.size' = '{limits.PRODUCER_MAX_REQUEST_BYTES}'" in ddl


def test_a_dead_letter_of_the_largest_record_fits_a_record():
    cfg = from_args(["--dead-letter-max-original-bytes", str(10**9)])
    raw = b"\xff" * limits.BROKER_MAX_MESSAGE_BYTES
    letter = dead_letter(raw, "oversized: x" * 200, source_topic="t" * 249, stage="oversized",
                         max_original_bytes=cfg.dead_letter_max_original_bytes)  # fmt: skip
    assert len(letter.to_json()) < limits.MAX_RECORD_BYTES
