"""A Kafka broker of a test's own, beside the shared one: for tests that stop a broker or
need other broker settings without disturbing the other tests' jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stack.services import Kafka


class PrivateKafka(Kafka):
    """Same broker as the stack's, on other ports and its own data folder."""

    def __init__(self, name: str, port: int, controller_port: int, auto_create: bool = True):
        self.name, self.port, self.controller_port = name, port, controller_port
        self.auto_create = auto_create
        super().__init__()

    def properties(self) -> str:
        setting = f"auto.create.topics.enable={str(self.auto_create).lower()}"
        return super().properties().replace("auto.create.topics.enable=true", setting)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def private_kafka(name: str, port: int, auto_create: bool = True) -> Iterator[PrivateKafka]:
    """A started private broker (controller on port + 1), stopped afterwards."""
    broker = PrivateKafka(name, port, port + 1, auto_create)
    broker.start(120)
    try:
        yield broker
    finally:
        broker.stop()
