"""Ingest stage, in Flink SQL: the Kafka source, event time, and the contract check.

This runs entirely in the JVM (10-30x cheaper per record than a Python function, see
docs/architecture.md); Python sees only the window results and the rejected records.
Each event is parsed once by the Java function PARSE_DETECTION (jvm/udf), which checks the
whole contract by interpreting its generated JSON Schema, so SQL and the Python contract
accept exactly the same events (tests/integration/test_contract_differential.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# The table every detection source registers (Kafka in production, a collection in tests):
# payload BYTES, kafka_partition INT, kafka_offset BIGINT, ts with a watermark.
DETECTIONS_RAW = "detections_raw"
EPOCH = "TO_TIMESTAMP_LTZ(0, 3)"


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
    return f"""
CREATE TEMPORARY TABLE {DETECTIONS_RAW} (
  `payload` BYTES,
  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL,
  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `ts` AS {event_time_sql(skew)},
  WATERMARK FOR `ts` AS {watermark_sql(watermark_bound_s)}
) WITH (
  {options.with_options()}
)"""


def event_time_sql(skew: ClockSkew) -> str:
    """`ts` of a raw detection record: `captured_at_ms` if plausible, else epoch 0."""
    return f"COALESCE(TO_TIMESTAMP_LTZ(EVENT_TIME_MS(`payload`, {skew.sql_args()}), 3), {EPOCH})"


def watermark_sql(watermark_bound_s: float) -> str:
    """Bounded out-of-orderness watermark on `ts`."""
    return f"`ts` - INTERVAL '{watermark_bound_s:.3f}' SECOND(3)"


SIGNALS_RAW = "signals_raw"


def signal_source_ddl(options: KafkaSourceOptions, watermark_bound_s: float) -> str:
    """Traffic-controller signal changes (rare): raw bytes, event time from `changed_at_ms`.

    Same rule as detections: no readable time -> epoch 0, so garbage never moves the watermark
    (signals_checked_sql() dead-letters it). An empty topic goes idle and holds nothing.
    """
    bound_ms = int(watermark_bound_s * 1000)
    return f"""
CREATE TEMPORARY TABLE {SIGNALS_RAW} (
  `payload` BYTES,
  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL,
  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `ts` AS COALESCE(TO_TIMESTAMP_LTZ(
    TRY_CAST(JSON_VALUE(CAST(`payload` AS STRING), '$.changed_at_ms') AS BIGINT), 3), {EPOCH}),
  WATERMARK FOR `ts` AS `ts` - INTERVAL '{bound_ms / 1000:.3f}' SECOND(3)
) WITH (
  {options.with_options()}
)"""


def signals_checked_sql(max_event_bytes: int = 1_048_576) -> str:
    """Every signal change with a rejection reason and code (NULL when usable): PARSE_SIGNAL
    checks the contract in the JVM (`null_value`, `parse`, `contract`), like detections; a
    record over `max_event_bytes` is `oversized`. A late change is not refused: the pattern
    stage joins it by event time and counts what it can no longer apply (`cep_late_facts`)."""
    return f"""
SELECT payload, kafka_partition, kafka_offset, ts,
  CASE WHEN s.size_bytes > {max_event_bytes}
    THEN 'oversized: ' || CAST(s.size_bytes AS STRING) || ' bytes > {max_event_bytes}'
    ELSE s.error END AS reason,
  CASE WHEN s.size_bytes > {max_event_bytes} THEN 'oversized' ELSE s.error_code END
    AS reason_code
FROM {SIGNALS_RAW}, LATERAL TABLE(PARSE_SIGNAL(payload)) AS s"""


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
  objects, group_count, fact_candidate, fact_payload,
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
    d.fact_candidate, d.fact_payload,
    CASE
      WHEN d.size_bytes > {max_event_bytes} THEN 'oversized'
      WHEN d.error IS NOT NULL THEN d.error_code
      WHEN ts = {EPOCH} THEN 'clock'
      WHEN TO_TIMESTAMP_LTZ(
          d.captured_at_ms - MOD(d.captured_at_ms, {window_ms}) + {window_ms} - 1, 3
        ) <= CURRENT_WATERMARK(ts)
        THEN 'late'
    END AS reason_code
  FROM {DETECTIONS_RAW}, LATERAL TABLE(PARSE_DETECTION(payload)) AS d)"""


def functions_ddl() -> list[str]:
    """The Java functions of jvm/udf (built into .jvm/flink/traffic-risk-udfs.jar)."""
    return [
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS "
        f"'io.trafficrisk.flink.{java}' LANGUAGE JAVA"
        for name, java in (
            ("PARSE_DETECTION", "ParseDetectionFields"),  # one row per record (why: its doc)
            ("PARSE_SIGNAL", "ParseSignal"),
            ("EVENT_TIME_MS", "EventTimeMs"),
            ("EPOCH_MILLIS", "EpochMillis"),  # window bounds as numbers for Python
            ("KEY_SLOT", "KeySlot"),  # the pattern operator's slot of a camera
            ("GUARD_SIZE", "GuardSize"),  # every Kafka sink's record size check
        )
    ]
