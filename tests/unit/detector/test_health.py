"""The health endpoint over real HTTP, in-process: liveness follows the main loop, readiness
needs Kafka's acks and a camera publishing, both recent; the service feeds it as it runs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from detector.cli import build_config, parser
from detector.config import parse_config
from detector.health import Health, HealthServer
from detector.service import DetectorService
from tests.unit.detector.test_service import Scripted


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(server: HealthServer, path: str) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(clock: Clock) -> Iterator[tuple[Health, HealthServer]]:
    health = Health(ready_within_s=30, loop_timeout_s=10, clock=clock)
    server = HealthServer(health, port=0, host="127.0.0.1").start()
    yield health, server
    server.close()


def test_liveness_follows_the_main_loop(served, clock):
    health, server = served
    status, body = get(server, "/healthz")
    assert status == 503 and body["loop_age_s"] is None  # the loop has not started yet
    health.beat(delivered=0)
    assert get(server, "/healthz")[0] == 200
    clock.now += 11
    status, body = get(server, "/healthz")
    assert status == 503 and body["loop_age_s"] == 11


def test_readiness_needs_a_kafka_ack_and_a_producing_camera(served, clock):
    health, server = served
    health.beat(delivered=0)
    status, body = get(server, "/readyz")
    assert status == 503 and body["kafka_ack_age_s"] is None and body["cameras_producing"] == []
    health.published("cam-1")  # published, but Kafka has acknowledged nothing yet
    health.beat(delivered=0)
    assert get(server, "/readyz")[0] == 503
    health.beat(delivered=1)
    status, body = get(server, "/readyz")
    assert status == 200 and body["cameras_producing"] == ["cam-1"]

    clock.now += 20  # the loop turns, Kafka acks another camera's events, cam-1 stalls
    health.published("cam-2")
    health.beat(delivered=5)
    clock.now += 15
    health.beat(delivered=5)
    status, body = get(server, "/readyz")
    assert status == 200 and body["cameras_producing"] == ["cam-2"]
    assert body["cameras_stale"] == ["cam-1"]

    clock.now += 16  # no ack and no publish for over 30 s: Kafka or every camera is gone
    health.beat(delivered=5)
    status, body = get(server, "/readyz")
    assert status == 503 and body["kafka_ack_age_s"] == 31 and body["cameras_producing"] == []


def test_unknown_paths_are_not_found(served):
    _health, server = served
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert err.value.code == 404


class Acking:
    """Publisher double whose broker acknowledges every event at once."""

    dropped = 0

    def __init__(self) -> None:
        self.delivered = 0

    def publish(self, camera: str, key: bytes, value: bytes) -> None:
        self.delivered += 1

    def poll(self, timeout_s: float = 0.0) -> None:
        pass

    def close(self, timeout_s: float = 30.0) -> int:
        return 0


def test_the_service_makes_itself_ready_by_publishing(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((120, 160, 3), 40, np.uint8))
    camera = {"id": "cam-1", "source": str(folder)}
    config = parse_config({"cameras": [camera], "tracker": {"type": "bytetrack"}, "start_ms": 0})
    service = DetectorService(config, quiet=True, model=Scripted(), publisher=Acking())
    server = HealthServer(service.health, port=0, host="127.0.0.1").start()
    try:
        assert get(server, "/readyz")[0] == 503
        assert service.run().cameras["cam-1"].frames == 3
        status, body = get(server, "/readyz")
        assert status == 200 and body["cameras_producing"] == ["cam-1"]
    finally:
        server.close()


def test_port_and_window_come_from_flags_env_or_file(monkeypatch, tmp_path):
    file = tmp_path / "cameras.yaml"
    file.write_text("cameras: [{id: a, source: rtsp://h/s}]\nhealth: {ready_within_s: 5}\n")
    config = build_config(parser().parse_args(["--config", str(file)]))
    assert (config.health.port, config.health.ready_within_s) == (9109, 5)
    monkeypatch.setenv("TRAFFIC_DETECTOR_HEALTH_PORT", "8190")
    monkeypatch.setenv("TRAFFIC_DETECTOR_READY_WITHIN_S", "12.5")
    config = build_config(parser().parse_args(["--config", str(file)]))
    assert (config.health.port, config.health.ready_within_s) == (8190, 12.5)
    config = build_config(parser().parse_args(["--config", str(file), "--health-port", "0"]))
    assert config.health.port is None
