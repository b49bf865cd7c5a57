"""Every shipped entry point, started the way its image and manifest start it, against the
local stack, doing its job.

The pods come from the rendered dev overlay (`kustomize build k8s/overlays/dev`) and the
Dockerfiles (tests/pods.py): the same command, the image's ENV, the pod's ConfigMaps and
Secrets as environment variables and as files at their mount paths. Only what a cluster
gives and this machine cannot is replaced, each where it happens below: the in-cluster
Service addresses in `traffic-risk-env` point at the local stack, ports are free ones, the
dashboard's Secret (never committed) holds a token made here, and the cameras ConfigMap's
placeholder RTSP URLs (`*.example.invalid`, "replace per site") become sample image folders
delivered at their `sample_fps` on the wall clock, writing to a fresh topic. The containers'
user, read-only root filesystem and resource limits are not reproduced.

The job's entry point, `flink run -py jobs/risk_job.py` through the venv's `flink`, is covered
by test_flink_cli.py (the CLI and the session cluster) and the job tests (job_harness.py runs
the module the FlinkDeployment names); the image build itself runs `traffic-risk-job
--check-config` and the installed module (docker/job.Dockerfile).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer

from contract import DetectionEvent, parse
from detector import sample
from detector.config import Health, Service, load_config
from k8s.tools import manifests
from tests.kafka_io import read_all
from tests.pods import Pod, free_port, http_get, pod, wait_for_status

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not manifests.schemas_available(),
        reason="kustomize not fetched (./dev setup runs python -m k8s.tools.fetch_schemas)",
    ),
]

OVERLAY = "dev"
# In-cluster Service addresses (ConfigMap traffic-risk-env) -> the local stack's.
SERVICE_ADDRESSES = ("TRAFFIC_KAFKA_BOOTSTRAP", "TRAFFIC_REDIS_URL")
STARTUP_S = 120  # imports (OpenCV, supervision), the model, first Kafka metadata; 2 busy cores
FRAMES_PER_CAMERA = 600  # paced: more than the test waits for; SIGTERM ends the run
EVENTS_PER_CAMERA = 3


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return manifests.render(OVERLAY)


@pytest.fixture
def pods() -> Iterator[list[Pod]]:
    """Started pods, killed at the end whatever happened."""
    started: list[Pod] = []
    yield started
    for p in started:
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(10)


def cluster_secrets() -> dict[str, dict[str, str]]:
    """What the cluster's Secrets would hold (none is committed): the Redis password and the
    Kafka client certificates (Strimzi's), made up here; the local stack asks for neither."""
    certificate = {"user.crt": "made-up", "user.key": "made-up", "ca.crt": "made-up"}
    return {
        "traffic-risk-redis": {"password": secrets.token_hex(16)},
        "kafka-user-traffic-risk-detector": certificate,
        "kafka-user-traffic-risk-dashboard": certificate,
        "traffic-risk-cluster-ca-cert": certificate,
    }


def to_local_stack(p: Pod, kafka_bootstrap: str, redis_url: str) -> None:
    """The manifest must wire each address; only its value changes here. The local stack's
    Kafka listener is plain and its Redis has no password (the cluster's TLS listener, ACLs
    and Redis AUTH are tested in test_kafka_acls.py and test_redis_urls.py), so the
    dashboard's TLS client properties are left out too."""
    local = {"TRAFFIC_KAFKA_BOOTSTRAP": kafka_bootstrap, "TRAFFIC_REDIS_URL": redis_url}
    for name in SERVICE_ADDRESSES:
        if name in p.env:
            p.env[name] = local[name]
    p.env.pop("TRAFFIC_DASHBOARD_KAFKA_PROPERTIES", None)


def count_keys(bootstrap: str, topic: str, each: int, keys: int, timeout_s: float) -> Counter[str]:
    """Records per key, read until ``keys`` keys have ``each`` records (or the timeout)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                counts[(message.key() or b"").decode()] += 1
            if sum(1 for n in counts.values() if n >= each) >= keys:
                break
    finally:
        consumer.close()
    return counts


def events_by_camera(bootstrap: str, topic: str) -> dict[str, list[DetectionEvent]]:
    out: dict[str, list[DetectionEvent]] = {}
    for key, value in read_all(bootstrap, topic, idle_s=2):
        assert key is not None and value is not None
        event = parse(DetectionEvent, value)
        assert event.camera_id == key.decode()
        out.setdefault(event.camera_id, []).append(event)
    return out


def test_detector_publishes_as_its_deployment_starts_it(
    docs, pods, kafka_bootstrap, redis_url, fresh_topic, tmp_path
):
    root = tmp_path / "pod"
    detector = pod(docs, "traffic-risk-detector", "detector.Dockerfile", root, cluster_secrets())
    assert {"TRAFFIC_KAFKA_BOOTSTRAP", "TRAFFIC_REDIS_URL"} <= detector.env.keys()
    to_local_stack(detector, kafka_bootstrap, redis_url)
    # The probes hit the ports the service listens on by default.
    assert detector.port("health") == Health().port
    assert detector.port("metrics") == Service.model_fields["metrics_port"].default

    # The ConfigMap, mounted where the image's TRAFFIC_DETECTOR_CONFIG looks, loads as is.
    config_file = Path(detector.local(detector.env["TRAFFIC_DETECTOR_CONFIG"]))
    committed = load_config(config_file)
    assert all(c.source.type == "rtsp" for c in committed.cameras)
    # The site's replacement: local cameras for the placeholder URLs, a fresh topic, free ports.
    site = yaml.safe_load(config_file.read_text())
    if not list(sample.CACHE.glob(sample.ULTRALYTICS_WHEEL_GLOB)):
        pytest.skip("sample photos not fetched: run ./dev setup")
    clock = time.monotonic()
    folders = list(sample.build_sample(FRAMES_PER_CAMERA, tmp_path / "frames").values())
    print(f"sample frames built in {time.monotonic() - clock:.1f} s")
    for camera, folder in zip(site["cameras"], folders, strict=False):
        camera["source"] = str(folder)
        camera["pace"] = True
    topic = fresh_topic(2)
    health = free_port()
    # The cluster's TLS client settings (mounted certificates) do not apply to the plain
    # local listener.
    output = {k: v for k, v in site.get("output", {}).items() if k != "kafka_properties"}
    site["output"] = {**output, "topic": topic}
    site["metrics_port"] = free_port()
    site["health"] = {**site.get("health", {}), "port": health}
    config_file.write_text(yaml.safe_dump(site))

    pods.append(detector)
    clock = time.monotonic()
    detector.start(root)
    base = f"http://127.0.0.1:{health}"
    wait_for_status(base + detector.probe("startupProbe"), 200, STARTUP_S, detector)
    assert http_get(base + detector.probe("livenessProbe"))[0] == 200
    started_s = time.monotonic() - clock
    wait_for_status(base + detector.probe("readinessProbe"), 200, 60, detector)
    ready_s = time.monotonic() - clock

    ids = [c["id"] for c in site["cameras"]]
    counts = count_keys(kafka_bootstrap, topic, EVENTS_PER_CAMERA, len(ids), timeout_s=120)
    assert sorted(counts) == sorted(ids), f"{counts}:\n{detector.output()[-4000:]}"

    events_s = time.monotonic() - clock
    # A pod's stop: SIGTERM, and the exit code well within the default 30 s grace period.
    assert detector.stop(30) == 0, detector.output()[-4000:]
    stopped_s = time.monotonic() - clock - events_s
    print(f"detector: live after {started_s:.1f} s, ready after {ready_s:.1f} s, "
          f"{EVENTS_PER_CAMERA} events per camera after {events_s:.1f} s, "
          f"stopped {stopped_s:.1f} s after SIGTERM")  # fmt: skip
    published = events_by_camera(kafka_bootstrap, topic)
    assert sorted(published) == sorted(ids)
    for camera, events in published.items():
        frame_ids = [e.frame_id for e in events]
        assert frame_ids == sorted(set(frame_ids)), f"{camera}: {frame_ids}"
        assert all(e.detector == "ssd-mobilenet-v2-coco" for e in events)
        # The sample's photos hold road users; ByteTrack numbers them per camera.
        assert any(o.track_id is not None for e in events for o in e.objects), camera
    summary = detector.output()
    total = sum(len(v) for v in published.values())
    assert f"published {total} detection events to {topic} (tracker bytetrack" in summary


def test_dashboard_serves_as_its_deployment_starts_it(
    docs, pods, kafka_bootstrap, redis_url, tmp_path
):
    token = secrets.token_urlsafe(24)
    secret = {**cluster_secrets(), "traffic-risk-dashboard": {"TRAFFIC_DASHBOARD_TOKEN": token}}
    dashboard = pod(docs, "traffic-risk-dashboard", "job.Dockerfile", tmp_path / "pod", secret)
    assert {"TRAFFIC_REDIS_URL", "TRAFFIC_KAFKA_BOOTSTRAP"} <= dashboard.env.keys()
    assert "security.protocol=ssl" in dashboard.env["TRAFFIC_DASHBOARD_KAFKA_PROPERTIES"]
    to_local_stack(dashboard, kafka_bootstrap, redis_url)
    assert dashboard.env["TRAFFIC_DASHBOARD_PORT"] == str(dashboard.port("http"))
    port = free_port()
    dashboard.env["TRAFFIC_DASHBOARD_PORT"] = str(port)
    # The manifest binds every interface: the Secret's token guards the page (kubelet starts
    # no container whose secretKeyRef it cannot resolve).
    assert dashboard.env["TRAFFIC_DASHBOARD_HOST"] == "0.0.0.0"
    pods.append(dashboard)
    dashboard.start(tmp_path)
    base = f"http://127.0.0.1:{port}"
    wait_for_status(base + dashboard.probe("livenessProbe"), 200, STARTUP_S, dashboard)
    wait_for_status(base + dashboard.probe("readinessProbe"), 200, 30, dashboard)
    assert http_get(base + "/")[0] == 401
    status, page = http_get(base + "/", {"Authorization": f"Bearer {token}"})
    assert status == 200 and b"<title>traffic-risk operations</title>" in page
    assert http_get(base + "/static/app.js")[0] == 200
    assert dashboard.stop(30) == 0, dashboard.output()[-4000:]
    assert token not in dashboard.output()
