"""Session fixtures: the real Kafka broker, Redis and Flink cluster of the local stack.

A service that is already running (e.g. started by .ci/run) is reused; one that this
session starts is stopped again at the end, unless pytest-xdist workers share it (the other
worker may still need it; `./dev stack stop` then).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from stack.config import Endpoints
from stack.paths import STATE
from stack.services import Flink, Kafka, Redis, Service
from stack.topics import ensure_topics


@contextlib.contextmanager
def _one_worker_at_a_time() -> Iterator[None]:
    """Two xdist workers must not both start the same service."""
    lock = STATE / "fixtures.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _running(service: Service) -> Iterator[Service]:
    with _one_worker_at_a_time():
        started = not (service.running() and service.healthy())
        if started:
            print(service.start(120))
    yield service
    if started and "PYTEST_XDIST_WORKER" not in os.environ:
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
def flink_session(kafka_bootstrap: str) -> Iterator[Flink]:
    for cluster in _running(Flink()):
        assert isinstance(cluster, Flink)
        yield cluster


@pytest.fixture
def flink_cluster(flink_session: Flink) -> str:
    """The session cluster's REST URL, with a live TaskManager for this test's job."""
    flink_session.ensure_taskmanager()
    return Endpoints.from_env().flink_rest


@pytest.fixture
def fresh_topic(kafka_bootstrap: str) -> Callable[[int], str]:
    """Make a new, empty topic with the given partition count."""

    def make(partitions: int = 1) -> str:
        name = f"test-{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka_bootstrap, {name: partitions})
        return name

    return make


@pytest.fixture
def cooling_llm() -> Iterator[str]:
    """The OpenAI-compatible stub whose 429s say Retry-After 3600 s (a key cools for good)."""
    from tests.integration.llm_stub import running_stub

    with running_stub("--latency-ms", "20", "--retry-after-s", "3600") as url:
        yield url
