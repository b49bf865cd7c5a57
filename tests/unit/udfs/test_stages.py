"""SQL rows -> contract messages, job options, and the SQL the job generates."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from contract import limits
from jobs.config import from_args
from udfs.ingest import dead_letters
from udfs.ingest import sql as ingest_sql
from udfs.sinks import kafka as kafka_sinks
from udfs.windows import stats as window_stats_logic


def test_window_row_becomes_window_stats():
    per_class = (1, 0, 4, 0, 1, 0, 2)  # person, bicycle, car, motorcycle, bus, truck, light
    stats = window_stats_logic.window_stats(
        "cam",
        1_700_000_040_000,  # EPOCH_MILLIS(window_start) in SQL
        1_700_000_100_000,
        4,
        8,
        3,
        None,
        10.0,
        "lane_n|crosswalk>stop_line;lane_n>stop_line|exit;>stop_line",
        *per_class,
    )
    assert stats.window_start_ms == 1_700_000_040_000
    assert stats.window_end_ms - stats.window_start_ms == 60_000
    assert (stats.vehicles, stats.pedestrians) == (5, 1)
    assert stats.mean_vehicles_per_frame == 1.25
    assert stats.peak_vehicles_per_frame == 0  # frames without vehicles give NULL in SQL
    assert stats.class_counts == {"person": 1, "car": 4, "bus": 1, "traffic light": 2}
    assert stats.line_crossings == {"exit": 1, "stop_line": 3}
    assert stats.lane_flow == {"lane_n": 3}
    assert stats.congestion_index == pytest.approx(1.25 / 20 * (1 - 10 / 50))


@pytest.mark.parametrize(
    ("mean_vehicles", "speed", "expected"),
    [
        (0, None, 0.0),
        (10, None, 0.5),
        (40, None, 1.0),
        (20, 0.0, 1.0),
        (20, 50.0, 0.0),
        (20, 80.0, 0.0),
        (10, 25.0, 0.25),
    ],
)
def test_congestion_index_is_density_times_slowness(mean_vehicles, speed, expected):
    assert window_stats_logic.CongestionModel(20, 50).index(mean_vehicles, speed) == expected


def test_rejected_bytes_are_kept_untouched_with_stage():
    raw = b"\xff\xfe not utf-8"
    letter = dead_letters.rejected_detection(
        raw, "late: its window already closed", "late", 3, 99, "t"
    )
    assert letter.original_b64 is not None
    assert base64.b64decode(letter.original_b64) == raw
    assert (letter.stage, letter.reason_code, letter.partition, letter.offset) == (
        "late", "late", 3, 99)  # fmt: skip
    assert letter.source_topic == "t"
    parse_error = dead_letters.rejected_detection(b"x", "frame.width: nope", "contract", None, None)
    assert (parse_error.stage, parse_error.reason_code) == ("parse", "contract")


def test_a_tombstone_becomes_a_dead_letter_without_original():
    letter = dead_letters.rejected_detection(None, "null value: ...", "null_value", 0, 5)
    assert letter.original_b64 is None and letter.original_sha256 is None
    assert (letter.original_size_bytes, letter.stage) == (0, "parse")


def test_a_huge_record_is_cut_to_the_cap_with_its_size_and_hash_kept():
    raw = bytes(range(256)) * 8192  # 2 MiB
    letter = dead_letters.rejected_detection(
        raw, "oversized: ...", "oversized", 1, 7, max_original_bytes=1000
    )
    assert letter.original_b64 is not None
    assert base64.b64decode(letter.original_b64) == raw[:1000]
    assert (letter.original_size_bytes, letter.original_kept_bytes) == (len(raw), 1000)
    assert letter.original_sha256 == hashlib.sha256(raw).hexdigest()
    assert len(letter.to_json()) < 2000


def test_every_reason_code_of_the_sql_check_has_a_stage():
    codes = set(re.findall(r"THEN '([a-z_]+)'", ingest_sql.checked_sql(60)))
    codes |= {"parse", "contract", "null_value"}  # what PARSE_DETECTION's error_code holds
    assert codes <= set(dead_letters.STAGE_OF_REASON)


def test_source_ddl_carries_the_options():
    options = ingest_sql.KafkaSourceOptions(
        bootstrap="b:1",
        topic="t",
        start="timestamp",
        start_timestamp_ms=5,
        bounded=True,
        extra_properties=(("security.protocol", "SSL"),),
    )
    ddl = ingest_sql.source_ddl(options, watermark_bound_s=2.5)
    for fragment in (
        "'topic' = 't'",
        "'scan.startup.mode' = 'timestamp'",
        "'scan.startup.timestamp-millis' = '5'",
        "'scan.bounded.mode' = 'latest-offset'",
        "'properties.security.protocol' = 'SSL'",
        "INTERVAL '2.500' SECOND(3)",
        "'properties.isolation.level' = 'read_committed'",
    ):
        assert fragment in ddl
    assert "scan.bounded.mode" not in ingest_sql.source_ddl(
        ingest_sql.KafkaSourceOptions(bootstrap="b:1"), 5
    )


def test_the_sinks_producer_limit_can_be_lowered_but_defaults_to_the_products():
    assert from_args([]).producer_limit() == limits.PRODUCER_MAX_REQUEST_BYTES
    lowered = from_args(["--kafka-property", "max.request.size=3000"])
    assert lowered.producer_limit() == 3000
    ddl = kafka_sinks.kafka_sink_ddl("t", "topic", "k:9092", "p", lowered.kafka_properties)
    assert ddl.count("max.request.size") == 1 and "'3000'" in ddl
