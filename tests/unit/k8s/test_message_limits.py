"""One message limit in every rendered overlay: the Strimzi broker, every topic, the job's and
the detector's producers as the manifests configure them, and the local broker all agree
with contract/limits.py (an overlay patch once dropped the broker's limit unnoticed)."""

from __future__ import annotations

from pathlib import Path

from contract import limits
from detector.config import load_config
from detector.publisher import producer_config
from jobs.config import from_args
from stack.services import Kafka
from tests.unit.k8s.conftest import one, only
from tests.unit.k8s.test_manifests import detector_container, job_container


def local_broker_limit() -> int:
    props = dict(line.split("=", 1) for line in Kafka().properties().splitlines() if "=" in line)
    return int(props["message.max.bytes"])


def container_env(docs, container) -> dict[str, str]:
    """The environment a container starts with: its ConfigMaps, then its literal values."""
    maps = {d["metadata"]["name"]: d["data"] for d in only(docs, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def test_broker_and_topics_allow_the_broker_limit_in_every_overlay(docs):
    config = one(docs, "Kafka")["spec"]["kafka"]["config"]
    assert config["message.max.bytes"] == limits.BROKER_MAX_MESSAGE_BYTES == local_broker_limit()
    assert config["replica.fetch.max.bytes"] >= limits.BROKER_MAX_MESSAGE_BYTES
    for topic in only(docs, "KafkaTopic"):
        assert topic["spec"]["config"]["max.message.bytes"] == limits.BROKER_MAX_MESSAGE_BYTES


def test_the_job_as_deployed_produces_and_accepts_within_the_limits(docs, monkeypatch):
    """The job's settings resolved from the FlinkDeployment's environment, as in its pods."""
    for name, value in container_env(docs, job_container(docs)).items():
        monkeypatch.setenv(name, value)
    job = one(docs, "FlinkDeployment")["spec"]["job"]
    args = job["args"][job["args"].index("-pyexec") + 2 :]  # what follows PythonDriver's own
    config = from_args(args)
    assert config.producer_limit() == limits.PRODUCER_MAX_REQUEST_BYTES
    assert config.max_event_bytes <= limits.MAX_RECORD_BYTES


def test_the_detector_as_deployed_produces_within_the_limits(docs, tmp_path: Path):
    env = container_env(docs, detector_container(docs))
    maps = {d["metadata"]["name"]: d["data"] for d in only(docs, "ConfigMap")}
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(maps["traffic-risk-cameras"][Path(env["TRAFFIC_DETECTOR_CONFIG"]).name])
    config = load_config(cameras)
    assert producer_config(config.output.bootstrap)["message.max.bytes"] == (
        limits.PRODUCER_MAX_REQUEST_BYTES
    )
    assert limits.PRODUCER_MAX_REQUEST_BYTES <= limits.BROKER_MAX_MESSAGE_BYTES
