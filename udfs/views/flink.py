"""Thin PyFlink adapters of the views stage: live views in Redis.

A view whose records a Python operator makes (window stats, verdicts) is written by that
operator (`RedisView.open`): the record is already an object there, and a separate view
operator would take it back across the JVM and parse it again (at 2,500 cameras, 1,300
verdicts a second). A view of records made in the JVM or by several operators (alerts,
incidents) is its own operator (`to_redis`).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class RedisView:
    """One live view in Redis, opened by the operator that writes it. Kafka stays the system
    of record: an outage is logged, backlogged (bounded) and retried, never fails the job."""

    redis_url: str
    view: View

    def open(self, runtime_context: RuntimeContext) -> _BacklogWriter[Any]:
        """The view's writer (batched, < 1 s to land), with its `redis_<view>_pending` gauge."""
        writer = _VIEWS[self.view][0](self.redis_url, linger_s=0.2)
        group = runtime_context.get_metrics_group()
        group.gauge(f"redis_{self.view}_pending", lambda: writer.stuck)
        return writer


class WriteViewToRedis(ProcessFunction):
    """(key, message JSON) rows -> one live view in Redis."""

    def __init__(self, target: RedisView) -> None:
        self.target = target
        self.writer: _BacklogWriter[Any] | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.writer = self.target.open(runtime_context)

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Any:
        assert self.writer is not None
        self.writer.write(parse(_VIEWS[self.target.view][1], value[1]))
        return iter(())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def to_redis(stream: DataStream, redis_url: str, view: View, what: str) -> None:
    """A live view in Redis of a (key, message JSON) stream, beside its Kafka sink."""
    stream.process(WriteViewToRedis(RedisView(redis_url, view))).name(
        f"redis: {what} views"
    ).uid(f"redis-{view}")
