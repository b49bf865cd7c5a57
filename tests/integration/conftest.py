"""Session fixtures: the real Kafka broker, Redis and Flink cluster of the local stack.

A service that is already running (e.g. started by .ci/run) is reused; one that this
session starts is stopped again at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from stack.config import Endpoints
from stack.services import Flink, Kafka, Redis, Service
from stack.topics import ensure_topics


def _running(service: Service) -> Iterator[Service]:
    started = not (service.running() and service.healthy())
    if started:
        print(service.start(120))
    yield service
    if started:
        service.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    for _ in _running(Kafka()):
        ensure_topics()
        yield Endpoints.from_env().kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    for _ in _running(Redis()):
        yield Endpoints.from_env().redis_url


@pytest.fixture(scope="session")
def flink_cluster(kafka_bootstrap: str) -> Iterator[str]:
    for _ in _running(Flink()):
        yield Endpoints.from_env().flink_rest


@pytest.fixture
def fresh_topic(kafka_bootstrap: str) -> Callable[[int], str]:
    """Make a new, empty topic with the given partition count."""

    def make(partitions: int = 1) -> str:
        name = f"test-{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka_bootstrap, {name: partitions})
        return name

    return make
