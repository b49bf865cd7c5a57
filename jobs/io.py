"""The job's I/O, behind one seam: where detections come from and where results go.

`build()` in jobs/risk_job.py wires stages between named tables and streams and asks a
`JobIO` for the edges: the `detections_raw` (and `signals_raw`) source tables, the five
(key, JSON) sink tables and the live views (streams to view, or a writer for the operator
that makes a view's records). `KafkaRedisIO` is production (Kafka sources and
exactly-once Kafka sinks, Redis views); tests pass their own to run the whole graph on a
local mini cluster without Kafka or Redis (tests/integration/test_job_graph.py).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from pyflink.datastream import DataStream
from pyflink.table import StreamTableEnvironment

from jobs.config import JobConfig
from udfs.ingest import sql as ingest_sql
from udfs.sinks.kafka import kafka_sink_ddl
from udfs.views.flink import RedisView, View, to_redis


class JobIO(Protocol):
    """The edges of the graph (see the module docstring)."""

    def register_sources(self, t_env: StreamTableEnvironment) -> bool:
        """Create `detections_raw` (payload BYTES, kafka_partition INT, kafka_offset BIGINT,
        `ts` with a watermark; udfs.ingest.sql); return True if `signals_raw` (the same
        columns, event time from `changed_at_ms`) exists too."""
        ...

    def register_sinks(self, t_env: StreamTableEnvironment, topics: dict[str, str]) -> None:
        """Create each sink table (`k` STRING, `v` STRING) of `topics` (table -> topic)."""
        ...

    def view(self, stream: DataStream, view: View, what: str) -> None:
        """Keep a live view of a (key, message JSON) stream."""
        ...

    def view_writer(self, view: View) -> RedisView | None:
        """The live view that the Python operator making its records writes itself
        (`udfs.views.flink`); None: that view is not kept."""
        ...


@dataclasses.dataclass(frozen=True)
class KafkaRedisIO:
    """Production I/O: Kafka in and out (exactly-once), Redis views."""

    cfg: JobConfig

    def register_sources(self, t_env: StreamTableEnvironment) -> bool:
        cfg = self.cfg
        source = ingest_sql.KafkaSourceOptions(
            bootstrap=cfg.kafka_bootstrap,
            topic=cfg.source_topic,
            group_id=cfg.group_id,
            start=cfg.start,
            start_timestamp_ms=cfg.start_timestamp_ms,
            bounded=cfg.bounded,
            extra_properties=cfg.kafka_properties,
        )
        # Allowed lateness widens the watermark delay: each window emits once, complete.
        bound_s = cfg.watermark_bound_s + cfg.allowed_lateness_s
        t_env.execute_sql(ingest_sql.source_ddl(source, bound_s, cfg.clock_skew()))
        if not cfg.signal_topic:
            return False
        signals = dataclasses.replace(source, topic=cfg.signal_topic)
        t_env.execute_sql(ingest_sql.signal_source_ddl(signals, cfg.watermark_bound_s))
        return True

    def register_sinks(self, t_env: StreamTableEnvironment, topics: dict[str, str]) -> None:
        cfg = self.cfg
        for table, topic in topics.items():
            t_env.execute_sql(
                kafka_sink_ddl(
                    table,
                    topic,
                    cfg.kafka_bootstrap,
                    cfg.transactional_id_prefix,
                    cfg.kafka_properties,
                )
            )

    def view(self, stream: DataStream, view: View, what: str) -> None:
        to_redis(stream, self.cfg.redis_url, view, what)

    def view_writer(self, view: View) -> RedisView | None:
        return RedisView(self.cfg.redis_url, view)
