"""Thin PyFlink adapters around the plain-Python logic of udfs/ (state, clients, wiring)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel
from pyflink.common import Row
from pyflink.datastream import FlatMapFunction, MapFunction, ProcessFunction, RuntimeContext
from pyflink.metrics import Counter

from contract import RiskAssessment, TrafficAlert, WindowStats, parse
from udfs import records
from udfs.redis_views import AlertViewWriter, StatsViewWriter, VerdictViewWriter, _BacklogWriter
from udfs.risk import records as risk_records


class EncodeWindowStats(MapFunction):
    """SQL window row -> (camera id, WindowStats JSON); counts windows emitted."""

    def __init__(self, congestion: records.CongestionModel) -> None:
        self.congestion = congestion
        self.windows: Counter | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.windows = runtime_context.get_metrics_group().counter("window_stats_emitted")

    def map(self, value: Row) -> Row:
        stats = records.window_stats(*value, congestion=self.congestion)
        if self.windows is not None:
            self.windows.inc()
        return Row(stats.camera_id, stats.to_json().decode())


class EncodeDeadLetter(MapFunction):
    """Rejected source row -> ("partition:offset" key, DeadLetter JSON with original bytes).

    Counts rejections per stage (`dead_letters_parse`, `dead_letters_late`,
    `dead_letters_oversized`, `dead_letters_clock`) so bad input is visible in metrics. The
    original is cut to ``max_original_bytes``, so a dead letter always fits the producer.
    """

    def __init__(self, source_topic: str, max_original_bytes: int) -> None:
        self.source_topic = source_topic
        self.max_original_bytes = max_original_bytes
        self.counters: dict[str, Counter] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        self.counters = {
            stage: group.counter(f"dead_letters_{stage}")
            for stage in sorted(set(records.STAGE_OF_REASON.values()))
        }

    def map(self, value: Row) -> Row:
        payload, partition, offset, reason, reason_code = value
        letter = records.rejected_detection(
            payload, reason, reason_code, partition, offset, self.source_topic,
            self.max_original_bytes,
        )  # fmt: skip
        if letter.stage in self.counters:
            self.counters[letter.stage].inc()
        return Row(f"{partition}:{offset}", letter.to_json().decode())


class GuardSize(MapFunction):
    """Fails the job, naming the sink, the record's key and the limit, when a record would
    exceed the producer's request limit: the Kafka writer would fail on it inside a
    transaction, and a failure while closing that writer has taken whole TaskManagers down.
    Contract messages are bounded far below the limit, so this fires only on a defect or a
    lowered `max.request.size`."""

    def __init__(self, sink: str, topic: str, limit: int) -> None:
        self.sink, self.topic, self.limit = sink, topic, limit

    def map(self, value: Row) -> Row:
        problem = records.oversized_for_sink(self.sink, self.topic, value[0], value[1], self.limit)
        if problem is not None:
            raise SinkRecordTooLarge(problem)
        return value


class SinkRecordTooLarge(RuntimeError):
    """A record no producer of the product may send (see GuardSize)."""


View = Literal["stats", "risk", "alerts"]
_VIEWS: dict[str, tuple[type[_BacklogWriter[Any]], type[BaseModel]]] = {
    "stats": (StatsViewWriter, WindowStats),
    "risk": (VerdictViewWriter, RiskAssessment),
    "alerts": (AlertViewWriter, TrafficAlert),
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


class KeyVerdict(MapFunction):
    """Verdict JSON -> (camera id, verdict JSON) for the Kafka sink and Redis."""

    def map(self, value: str) -> Row:
        return Row(json.loads(value)["camera_id"], value)


class HighRiskAlerts(FlatMapFunction):
    """Verdict JSON -> a TrafficAlert row for each high-risk verdict (`high_risk_verdict`)."""

    def flat_map(self, value: str) -> Iterator[Row]:
        alert = risk_records.alert_for_verdict(parse(RiskAssessment, value))
        if alert is not None:
            yield Row(alert.camera_id, alert.to_json().decode())


class KeyAlert(MapFunction):
    """Alert JSON from the CEP operator -> (camera id, alert JSON); counts `cep_matches` per
    pattern (label `pattern`). Counted here, in an operator of its own: counters registered in
    the keyed CEP function never reached Flink's reporter in our runs (PyFlink 2.2.1)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self.matches: dict[str, Counter] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        self.matches = {
            name: group.add_group("pattern", name).counter("cep_matches") for name in self.patterns
        }

    def map(self, value: str) -> Row:
        alert = json.loads(value)
        if alert["pattern"] in self.matches:
            self.matches[alert["pattern"]].inc()
        return Row(alert["camera_id"], value)
