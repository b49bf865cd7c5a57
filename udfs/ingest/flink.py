"""Ingest stage in Flink: the SQL check's views, accepted events, and dead letters.

Parsing and checking happen in SQL (udfs.ingest.sql); Python sees only rejected records,
which `EncodeDeadLetter` turns into dead letters counted by stage.
"""

from __future__ import annotations

from pyflink.common import Row
from pyflink.datastream import DataStream, MapFunction, RuntimeContext
from pyflink.metrics import Counter
from pyflink.table import Schema, StreamTableEnvironment

from udfs.ingest import dead_letters, sql
from udfs.rows import KEYED_JSON


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
            for stage in sorted(set(dead_letters.STAGE_OF_REASON.values()))
        }

    def map(self, value: Row) -> Row:
        payload, partition, offset, reason, reason_code = value
        letter = dead_letters.rejected_detection(
            payload, reason, reason_code, partition, offset, self.source_topic,
            self.max_original_bytes,
        )  # fmt: skip
        if letter.stage in self.counters:
            self.counters[letter.stage].inc()
        return Row(f"{partition}:{offset}", letter.to_json().decode())


def register_functions(t_env: StreamTableEnvironment) -> None:
    """PARSE_DETECTION and EVENT_TIME_MS (jvm/udf): the source's `ts` column needs them."""
    for ddl in sql.functions_ddl():
        t_env.execute_sql(ddl)


def check(t_env: StreamTableEnvironment, window_s: int, max_event_bytes: int) -> None:
    """Register the checked views over `detections_raw` (which the job's I/O registered).

    `detections_checked`: every record with its reason (NULL when usable); `detections_ok`:
    the accepted events (camera, frame, time, vehicles, objects). The source is
    read once: the checked rows leave SQL and come back with the source's watermarks, so
    every branch below shares one Kafka reader.
    """
    checked = t_env.to_data_stream(t_env.sql_query(sql.checked_sql(window_s, max_event_bytes)))
    t_env.create_temporary_view(
        "detections_checked",
        t_env.from_data_stream(
            checked,
            Schema.new_builder()
            .column_by_metadata("rowtime", "TIMESTAMP_LTZ(3)")
            .watermark("rowtime", "SOURCE_WATERMARK()")
            .build(),
        ),
    )
    t_env.create_temporary_view(
        "detections_ok",
        t_env.sql_query(
            "SELECT camera_id, frame_id, rowtime AS ts, frame_vehicles, objects "
            "FROM detections_checked WHERE reason IS NULL"
        ),
    )


def check_signals(t_env: StreamTableEnvironment, max_event_bytes: int) -> None:
    """Register `signals_checked` over `signals_raw`: every signal change with its reason."""
    t_env.create_temporary_view(
        "signals_checked", t_env.sql_query(sql.signals_checked_sql(max_event_bytes))
    )


def accepted_signals(t_env: StreamTableEnvironment) -> DataStream:
    """Signal changes the contract accepted, as JSON text for the pattern stage."""
    return t_env.to_data_stream(
        t_env.sql_query(
            "SELECT CAST(payload AS STRING) AS payload FROM signals_checked WHERE reason IS NULL"
        )
    )


def accepted(t_env: StreamTableEnvironment, condition: str, crops: bool = True) -> DataStream:
    """Accepted detection events that meet `condition` (SQL), as JSON text for Python;
    without the groups' crops (PARSE_DETECTION's `fact_payload`, set for every frame with a
    group or another fact candidate) where the reader needs none: inline crops are most of
    a frame's bytes, and each byte is encoded, sent and parsed again in Python."""
    column = "CAST(payload AS STRING)" if crops else "fact_payload"
    return t_env.to_data_stream(
        t_env.sql_query(
            f"SELECT {column} AS payload FROM detections_checked "
            f"WHERE reason IS NULL AND {condition}"
        )
    )


def dead_letters_of(
    t_env: StreamTableEnvironment,
    source_topic: str,
    max_original_bytes: int,
    signal_topic: str | None = None,
) -> DataStream:
    """Rejected records -> (`partition:offset`, DeadLetter JSON) rows: detections, and signal
    changes when the job reads a `signal_topic` (check_signals registered them)."""
    inputs = [("detections_checked", source_topic, "")]
    if signal_topic:
        inputs.append(("signals_checked", signal_topic, "-signals"))
    letters = [
        t_env.to_data_stream(
            t_env.sql_query(
                "SELECT payload, kafka_partition, kafka_offset, reason, reason_code "
                f"FROM {view} WHERE reason IS NOT NULL"
            )
        )
        .map(EncodeDeadLetter(topic, max_original_bytes), output_type=KEYED_JSON)
        .name(f"encode dead letters{suffix.replace('-', ' ')}")
        .uid(f"encode-dead-letters{suffix}")
        for view, topic, suffix in inputs
    ]
    return letters[0].union(*letters[1:]) if len(letters) > 1 else letters[0]
