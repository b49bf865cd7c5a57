"""Outputs in Flink: each (key, JSON) stream passes the size guard into its sink table.

The sink tables (`window_stats_out`, `risk_out`, `alerts_out`, `incidents_out`,
`dead_letter_out`) are registered by the job's I/O: exactly-once Kafka tables
(udfs.sinks.kafka) in production, files in the graph test. All inserts run in one
statement set, so one job runs them all.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyflink.datastream import DataStream
from pyflink.table import StreamTableEnvironment


def publish(
    t_env: StreamTableEnvironment,
    outputs: Mapping[str, DataStream],
    topic_of: Mapping[str, str],
    producer_limit: int,
) -> None:
    """Sink table -> its (key, JSON) stream, each behind a size guard in SQL that names the
    sink (GUARD_SIZE, jvm/udf: no output record passes through Python for it)."""
    sinks = t_env.create_statement_set()
    for table, stream in outputs.items():
        t_env.create_temporary_view(f"{table}_records", t_env.from_data_stream(stream))
        guarded = t_env.sql_query(
            f"SELECT k, GUARD_SIZE('{table}', '{topic_of[table]}', k, v, {producer_limit}) AS v "
            f"FROM {table}_records"
        )
        sinks.add_insert(table, guarded)
    sinks.attach_as_datastream()
