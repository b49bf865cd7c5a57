"""Outputs in Flink: each (key, JSON) stream passes the size guard into its sink table.

The sink tables (`window_stats_out`, `risk_out`, `alerts_out`, `incidents_out`,
`dead_letter_out`) are registered by the job's I/O: exactly-once Kafka tables
(udfs.sinks.kafka) in production, files in the graph test. All inserts run in one
statement set, so one job runs them all.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyflink.common import Row
from pyflink.datastream import DataStream, MapFunction
from pyflink.table import StreamTableEnvironment

from udfs.rows import KEYED_JSON
from udfs.sinks.kafka import oversized_for_sink


class GuardSize(MapFunction):
    """Fails the job, naming the sink, the record's key and the limit, when a record would
    exceed the producer's request limit: the Kafka writer would fail on it inside a
    transaction, and a failure while closing that writer has taken whole TaskManagers down.
    Contract messages are bounded far below the limit, so this fires only on a defect or a
    lowered `max.request.size`."""

    def __init__(self, sink: str, topic: str, limit: int) -> None:
        self.sink, self.topic, self.limit = sink, topic, limit

    def map(self, value: Row) -> Row:
        problem = oversized_for_sink(self.sink, self.topic, value[0], value[1], self.limit)
        if problem is not None:
            raise SinkRecordTooLarge(problem)
        return value


class SinkRecordTooLarge(RuntimeError):
    """A record no producer of the product may send (see GuardSize)."""


def publish(
    t_env: StreamTableEnvironment,
    outputs: Mapping[str, DataStream],
    topic_of: Mapping[str, str],
    producer_limit: int,
) -> None:
    """Sink table -> its (key, JSON) stream, each behind a size guard that names the sink."""
    sinks = t_env.create_statement_set()
    for table, stream in outputs.items():
        guarded = stream.map(
            GuardSize(table, topic_of[table], producer_limit), output_type=KEYED_JSON
        ).name(f"size guard: {table}")
        sinks.add_insert(table, t_env.from_data_stream(guarded))
    sinks.attach_as_datastream()
