"""Thin PyFlink adapter of the views stage: (key, message JSON) rows -> live views in Redis."""

from __future__ import annotations

from typing import Any, Literal

from pyflink.common import Row
from pyflink.datastream import DataStream, ProcessFunction, RuntimeContext

from contract import Incident, RiskAssessment, TrafficAlert, WindowStats, parse
from udfs.views.redis import (
    AlertViewWriter,
    IncidentViewWriter,
    StatsViewWriter,
    VerdictViewWriter,
    _BacklogWriter,
)

View = Literal["stats", "risk", "alerts", "incidents"]
ViewMessage = WindowStats | RiskAssessment | TrafficAlert | Incident
_VIEWS: dict[View, tuple[type[_BacklogWriter[Any]], type[ViewMessage]]] = {
    "stats": (StatsViewWriter, WindowStats),
    "risk": (VerdictViewWriter, RiskAssessment),
    "alerts": (AlertViewWriter, TrafficAlert),
    "incidents": (IncidentViewWriter, Incident),
}


class WriteViewToRedis(ProcessFunction):
    """(key, message JSON) rows -> one live view in Redis. Kafka stays the system of record:
    a Redis outage is logged, backlogged (bounded) and retried, never fails the job."""

    def __init__(self, redis_url: str, view: View) -> None:
        self.redis_url, self.view = redis_url, view
        self.writer: _BacklogWriter[Any] | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        writer_type, _ = _VIEWS[self.view]
        self.writer = writer_type(self.redis_url, linger_s=0.2)  # batched, < 1 s to land
        group = runtime_context.get_metrics_group()
        group.gauge(f"redis_{self.view}_pending", lambda: self.writer.stuck if self.writer else 0)

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Any:
        assert self.writer is not None
        self.writer.write(parse(_VIEWS[self.view][1], value[1]))
        return iter(())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def to_redis(stream: DataStream, redis_url: str, view: View, what: str) -> None:
    """A live view in Redis of a (key, message JSON) stream, beside its Kafka sink."""
    stream.process(WriteViewToRedis(redis_url, view)).name(f"redis: {what} views").uid(
        f"redis-{view}"
    )
