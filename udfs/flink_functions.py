"""Thin PyFlink adapters around the plain-Python logic of udfs/ (state, clients, wiring)."""

from __future__ import annotations

from typing import Any

from pyflink.common import Row
from pyflink.datastream import MapFunction, ProcessFunction, RuntimeContext
from pyflink.metrics import Counter

from udfs import records
from udfs.redis_views import StatsViewWriter


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
    `dead_letters_oversized`) so late and malformed input is visible in metrics.
    """

    def __init__(self, source_topic: str) -> None:
        self.source_topic = source_topic
        self.counters: dict[str, Counter] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        self.counters = {
            stage: group.counter(f"dead_letters_{stage}")
            for stage in ("parse", "late", "oversized")
        }

    def map(self, value: Row) -> Row:
        payload, partition, offset, reason = value
        letter = records.rejected_detection(payload, reason, partition, offset, self.source_topic)
        if letter.stage in self.counters:
            self.counters[letter.stage].inc()
        return Row(f"{partition}:{offset}", letter.to_json().decode())


class WriteStatsToRedis(ProcessFunction):
    """Live views in Redis; a Redis outage is logged and retried, never fails the job."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.writer: StatsViewWriter | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.writer = StatsViewWriter(self.redis_url)
        group = runtime_context.get_metrics_group()
        group.gauge("redis_stats_pending", lambda: self.writer.pending if self.writer else 0)

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Any:
        from contract import WindowStats, parse

        assert self.writer is not None
        self.writer.write(parse(WindowStats, value[1]))
        return iter(())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
