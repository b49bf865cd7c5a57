"""Windows stage in Flink: SQL tumbling windows -> (camera id, WindowStats JSON), counted."""

from __future__ import annotations

from typing import Any

from pyflink.common import Row
from pyflink.datastream import DataStream, MapFunction, RuntimeContext
from pyflink.metrics import Counter
from pyflink.table import StreamTableEnvironment

from udfs.rows import KEYED_JSON
from udfs.views.flink import RedisView
from udfs.windows import sql, stats


class EncodeWindowStats(MapFunction):
    """SQL window row -> (camera id, WindowStats JSON); counts windows emitted and writes
    the Redis stats views (`views`) where the WindowStats is made."""

    def __init__(self, congestion: stats.CongestionModel, views: RedisView | None) -> None:
        self.congestion, self.views = congestion, views
        self.windows: Counter | None = None
        self.writer: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.windows = runtime_context.get_metrics_group().counter("window_stats_emitted")
        if self.views is not None:
            self.writer = self.views.open(runtime_context)

    def map(self, value: Row) -> Row:
        window = stats.window_stats(*value, congestion=self.congestion)
        if self.windows is not None:
            self.windows.inc()
        if self.writer is not None:
            self.writer.write(window)
        return Row(window.camera_id, window.to_json().decode())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def window_stats(
    t_env: StreamTableEnvironment,
    window_s: int,
    congestion: stats.CongestionModel,
    views: RedisView | None = None,
) -> DataStream:
    """Per-camera tumbling windows over `detections_ok` -> (camera id, WindowStats JSON);
    `views`: the Redis stats views."""
    t_env.create_temporary_view("detections_ok_objects", t_env.sql_query(sql.objects_view_sql()))
    windows = t_env.to_data_stream(t_env.sql_query(sql.window_stats_sql(window_s)))
    return (
        windows.map(EncodeWindowStats(congestion, views), output_type=KEYED_JSON)
        .name("encode window stats")
        .uid("encode-window-stats")
    )
