"""Windows stage in Flink: SQL tumbling windows -> (camera id, WindowStats JSON), counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from pyflink.common import Row
from pyflink.datastream import DataStream, OutputTag, ProcessFunction, RuntimeContext
from pyflink.metrics import Counter
from pyflink.table import StreamTableEnvironment

from udfs.patterns.facts import WindowFacts
from udfs.rows import FACT_ROW, KEYED_JSON, side_output
from udfs.views.flink import RedisView
from udfs.windows import sql, stats

FACT_TAG = OutputTag("window-facts", FACT_ROW)  # (slot, None, facts JSON) for the patterns


class EncodeWindowStats(ProcessFunction):
    """SQL window row -> (camera id, WindowStats JSON); counts windows emitted. Where the
    WindowStats is made it also writes the Redis stats views (`views`) and, for a window a
    pattern counts (`facts`), its fact on the side output FACT_TAG."""

    def __init__(
        self,
        congestion: stats.CongestionModel,
        views: RedisView | None,
        facts: WindowFacts | None,
    ) -> None:
        self.congestion, self.views, self.facts = congestion, views, facts
        self.windows: Counter | None = None
        self.writer: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.windows = runtime_context.get_metrics_group().counter("window_stats_emitted")
        if self.views is not None:
            self.writer = self.views.open(runtime_context)

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Iterator[Any]:
        window = stats.window_stats(*value, congestion=self.congestion)
        if self.windows is not None:
            self.windows.inc()
        if self.writer is not None:
            self.writer.write(window)
        yield Row(window.camera_id, window.to_json().decode())
        fact = self.facts.of(window) if self.facts is not None else None
        if fact is not None:
            yield FACT_TAG, Row(fact[0], None, fact[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class WindowStreams(NamedTuple):
    stats: DataStream  # KEYED_JSON: (camera id, WindowStats JSON)
    facts: DataStream | None  # FACT_ROW: the windows some pattern counts, as facts


def window_stats(
    t_env: StreamTableEnvironment,
    window_s: int,
    congestion: stats.CongestionModel,
    views: RedisView | None = None,
    facts: WindowFacts | None = None,
) -> WindowStreams:
    """Per-camera tumbling windows over `detections_ok` -> (camera id, WindowStats JSON) and
    the facts of those windows a pattern counts; `views`: the Redis stats views."""
    t_env.create_temporary_view("detections_ok_objects", t_env.sql_query(sql.objects_view_sql()))
    windows = t_env.to_data_stream(t_env.sql_query(sql.window_stats_sql(window_s)))
    encoded = (
        windows.process(EncodeWindowStats(congestion, views, facts), output_type=KEYED_JSON)
        .name("encode window stats")
        .uid("encode-window-stats")
    )
    return WindowStreams(encoded, side_output(encoded, FACT_TAG) if facts is not None else None)
