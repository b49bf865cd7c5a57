"""Thin PyFlink adapters around the plain-Python logic of udfs/ (state, clients, wiring)."""

from __future__ import annotations

from typing import Any

from pyflink.common import Row
from pyflink.datastream import MapFunction, ProcessFunction, RuntimeContext

from udfs import records
from udfs.redis_views import StatsViewWriter


class EncodeWindowStats(MapFunction):
    """SQL window row -> (camera id, WindowStats JSON)."""

    def map(self, value: Row) -> Row:
        stats = records.window_stats(*value)
        return Row(stats.camera_id, stats.to_json().decode())


class EncodeDeadLetter(MapFunction):
    """Rejected source row -> ("partition:offset" key, DeadLetter JSON with original bytes)."""

    def __init__(self, source_topic: str) -> None:
        self.source_topic = source_topic

    def map(self, value: Row) -> Row:
        payload, partition, offset, reason = value
        letter = records.rejected_detection(payload, reason, partition, offset, self.source_topic)
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
