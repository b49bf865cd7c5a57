"""Flink SQL of the job's bulk per-event work: parse, check, watermark, window statistics.

This runs entirely in the JVM (10-30x cheaper per record than a Python function, see
docs/architecture.md); Python sees only the window results and the rejected records.
Each event is parsed once by the Java function PARSE_DETECTION (jvm/udf), which checks the
whole contract by interpreting its generated JSON Schema, so SQL and the Python contract
accept exactly the same events (tests/integration/test_contract_differential.py).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from contract import limits
from contract.models import DetectedObject


@dataclass(frozen=True)
class KafkaSourceOptions:
    bootstrap: str
    topic: str = "detection-results"
    group_id: str = "traffic-risk-job"
    # earliest | latest | group-offsets (committed offsets, else earliest) | timestamp
    start: str = "group-offsets"
    start_timestamp_ms: int | None = None
    bounded: bool = False  # stop at the offsets current at start (tests, demo, backfills)
    extra_properties: tuple[tuple[str, str], ...] = ()  # e.g. security.protocol, sasl.*

    def with_options(self) -> str:
        options = {
            "connector": "kafka",
            "topic": self.topic,
            "properties.bootstrap.servers": self.bootstrap,
            "properties.group.id": self.group_id,
            "properties.auto.offset.reset": "earliest",
            "properties.isolation.level": "read_committed",
            "scan.startup.mode": {
                "earliest": "earliest-offset",
                "latest": "latest-offset",
                "group-offsets": "group-offsets",
                "timestamp": "timestamp",
            }[self.start],
            "format": "raw",
        }
        if self.start == "timestamp":
            options["scan.startup.timestamp-millis"] = str(self.start_timestamp_ms)
        if self.bounded:
            options["scan.bounded.mode"] = "latest-offset"
        options.update({f"properties.{k}": v for k, v in self.extra_properties})
        return ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())


@dataclass(frozen=True)
class ClockSkew:
    """How far a camera's clock may be from this machine's before its events are refused.

    Ahead: a frame cannot be captured in the future, so a time ahead is a clock error, and an
    accepted one moves its partition's watermark that far, making the other cameras' recent
    frames late. Yet file and folder cameras stamp frame k at start + k s and the detector
    reads files faster than real time (with 10 s the demo lost 81 of 270 frames), so the
    default allows 5 minutes; live fleets with NTP should set 10 s (docs/operations.md).
    Behind: generous, so replays and backfills of archived events work, yet a clock reset to
    1970 or 2000 is caught."""

    max_ahead_s: float = 300.0
    max_behind_s: float = 10 * 365.25 * 86400

    def sql_args(self) -> str:
        return f"{int(self.max_ahead_s * 1000)}, {int(self.max_behind_s * 1000)}"


def source_ddl(
    options: KafkaSourceOptions, watermark_bound_s: float, skew: ClockSkew = ClockSkew()
) -> str:
    """Raw bytes plus Kafka position; event time read from the JSON.

    The bytes stay untouched so a rejected record reaches the dead-letter topic as it came.
    A record without a readable or plausible event time (see ClockSkew) gets epoch 0, so
    garbage never moves the watermark (a wall-clock fallback would make every valid event
    after it late); checked_sql() dead-letters it.
    """
    bound_ms = int(watermark_bound_s * 1000)
    return f"""
CREATE TEMPORARY TABLE detections_raw (
  `payload` BYTES,
  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL,
  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `ts` AS COALESCE(
    TO_TIMESTAMP_LTZ(EVENT_TIME_MS(`payload`, {skew.sql_args()}), 3), TO_TIMESTAMP_LTZ(0, 3)),
  WATERMARK FOR `ts` AS `ts` - INTERVAL '{bound_ms / 1000:.3f}' SECOND(3)
) WITH (
  {options.with_options()}
)"""


def signal_source_ddl(options: KafkaSourceOptions, watermark_bound_s: float) -> str:
    """Traffic-controller signal changes (rare): JSON text, event time from `changed_at_ms`.

    Same rule as detections: no readable time -> epoch 0, so garbage never moves the watermark
    (the Python fact stage rejects and counts it). An empty topic goes idle and holds nothing.
    """
    bound_ms = int(watermark_bound_s * 1000)
    return f"""
CREATE TEMPORARY TABLE signals_raw (
  `payload` STRING,
  `ts` AS COALESCE(
    TO_TIMESTAMP_LTZ(TRY_CAST(JSON_VALUE(`payload`, '$.changed_at_ms') AS BIGINT), 3),
    TO_TIMESTAMP_LTZ(0, 3)),
  WATERMARK FOR `ts` AS `ts` - INTERVAL '{bound_ms / 1000:.3f}' SECOND(3)
) WITH (
  {options.with_options()}
)"""


EPOCH = "TO_TIMESTAMP_LTZ(0, 3)"


def checked_sql(window_s: int, max_event_bytes: int = 1_048_576) -> str:
    """Every record with its fields, a rejection reason and reason code (NULL when usable).

    The code is decided once, in this order: `oversized` (over `max_event_bytes`), then
    PARSE_DETECTION's own code: `null_value` (a tombstone), `parse` (not JSON) or `contract`
    (breaks the schema), then `clock` (event time outside the source's ClockSkew: its `ts`
    is epoch 0 although the contract accepted the time), then `late` (its window may
    already have fired: window end <= watermark); the reason text follows from it. Late
    records never reach the window operator, so each one is counted exactly once: either in
    a window or in the dead-letter output.
    """
    window_ms = window_s * 1000
    return f"""
SELECT payload, kafka_partition, kafka_offset, ts, camera_id, frame_id, frame_vehicles,
  objects, group_count, fact_candidate,
  CASE reason_code
    WHEN 'oversized'
      THEN 'oversized: ' || CAST(size_bytes AS STRING) || ' bytes > {max_event_bytes}'
    WHEN 'clock' THEN 'clock: captured_at_ms ' || CAST(captured_at_ms AS STRING) || ' is too far '
        || CASE WHEN captured_at_ms > UNIX_TIMESTAMP() * 1000 THEN 'ahead of' ELSE 'behind' END
        || ' this machine''s clock (see --max-clock-ahead-s / --max-clock-behind-s)'
    WHEN 'late' THEN 'late: its window already closed'
    ELSE error
  END AS reason,
  reason_code
FROM (
  SELECT payload, kafka_partition, kafka_offset, ts, d.error, d.size_bytes, d.camera_id,
    d.frame_id, d.captured_at_ms, d.vehicles AS frame_vehicles, d.objects, d.group_count,
    d.fact_candidate,
    CASE
      WHEN d.size_bytes > {max_event_bytes} THEN 'oversized'
      WHEN d.error IS NOT NULL THEN d.error_code
      WHEN ts = {EPOCH} THEN 'clock'
      WHEN TO_TIMESTAMP_LTZ(
          d.captured_at_ms - MOD(d.captured_at_ms, {window_ms}) + {window_ms} - 1, 3
        ) <= CURRENT_WATERMARK(ts)
        THEN 'late'
    END AS reason_code
  FROM (SELECT *, PARSE_DETECTION(payload) AS d FROM detections_raw))"""


# One count column per class the contract knows (`n_traffic_light` for "traffic light").
CLASS_COLUMNS: dict[str, str] = {
    name: "n_" + name.replace(" ", "_")
    for name in typing.get_args(DetectedObject.model_fields["class_name"].annotation)
}

# Column order of window_stats_sql(): udfs.records.window_stats takes them positionally.
WINDOW_COLUMNS = (
    "camera_id",
    "window_start",
    "window_end",
    "frames",
    "objects",
    "distinct_tracks",
    "peak_vehicles_per_frame",
    "mean_vehicle_speed_px_s",
    "crossings",
    *CLASS_COLUMNS.values(),
)


def window_stats_sql(window_s: int, view: str = "detections_ok") -> str:
    """Per-camera tumbling event-time windows over the accepted records of ``view``.

    Objects are unnested (LEFT JOIN keeps frames without objects); per-frame vehicle
    counts come from the class array so the peak needs no second aggregation. Line
    crossings are rare, so they leave SQL as one `lanes>lines` token list per window.
    """
    per_class = ",\n  ".join(
        f"COALESCE(SUM(CASE WHEN cls = '{name}' THEN 1 ELSE 0 END), 0) AS {column}"
        for name, column in CLASS_COLUMNS.items()
    )
    return f"""
SELECT camera_id, window_start, window_end,
  COUNT(DISTINCT frame_id) AS frames,
  COUNT(cls) AS objects,
  COUNT(DISTINCT track_id) AS distinct_tracks,
  MAX(frame_vehicles) AS peak_vehicles_per_frame,
  AVG(CASE WHEN is_vehicle THEN speed END) AS mean_vehicle_speed_px_s,
  LISTAGG(crossing, ';') AS crossings,
  {per_class}
FROM TABLE(TUMBLE(TABLE {view}_objects, DESCRIPTOR(ts), INTERVAL '{window_s}' SECOND))
GROUP BY camera_id, window_start, window_end"""


def objects_view_sql(view: str = "detections_ok") -> str:
    """One row per object (or one row with NULLs for a frame without objects)."""
    return f"""
SELECT d.camera_id, d.frame_id, d.ts, d.frame_vehicles, o.class_name AS cls, o.track_id,
  SQRT(POWER(o.vx, 2) + POWER(o.vy, 2)) AS speed,
  o.is_vehicle,
  CASE WHEN CARDINALITY(o.crossed_lines) > 0
    THEN ARRAY_JOIN(o.zones, '|') || '>' || ARRAY_JOIN(o.crossed_lines, '|') END AS crossing
FROM {view} AS d
LEFT JOIN UNNEST(d.objects)
  AS o(class_name, track_id, vx, vy, zones, crossed_lines, is_vehicle) ON TRUE"""


def functions_ddl() -> list[str]:
    """The Java functions of jvm/udf (built into .jvm/flink/traffic-risk-udfs.jar)."""
    return [
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS "
        f"'io.trafficrisk.flink.{java}' LANGUAGE JAVA"
        for name, java in (("PARSE_DETECTION", "ParseDetection"), ("EVENT_TIME_MS", "EventTimeMs"))
    ]


def kafka_sink_ddl(
    table: str,
    topic: str,
    bootstrap: str,
    transactional_id_prefix: str,
    extra_properties: tuple[tuple[str, str], ...] = (),
) -> str:
    """A keyed, exactly-once Kafka sink of (key, JSON value) rows.

    Records become visible to read_committed consumers when the checkpoint that covers
    them completes; the transaction timeout must exceed the checkpoint interval. The
    producer's request limit is the product's one message limit (contract.limits), the same
    the local broker and the k8s topics allow; records are checked against it before they
    reach the producer (udfs.flink_functions.GuardSize).
    """
    given = dict(extra_properties)
    given.setdefault("max.request.size", str(limits.PRODUCER_MAX_REQUEST_BYTES))
    props = "".join(f",\n  'properties.{k}' = '{v}'" for k, v in given.items())
    return f"""
CREATE TEMPORARY TABLE {table} (
  `k` STRING,
  `v` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '{topic}',
  'properties.bootstrap.servers' = '{bootstrap}',
  'properties.transaction.timeout.ms' = '900000',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '{transactional_id_prefix}-{topic}'{props}
)"""
