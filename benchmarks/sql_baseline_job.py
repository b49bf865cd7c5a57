"""Benchmark baseline: the job's windowed aggregation in Flink SQL only (no Python function).

Same source DDL, checks, views and window query as jobs/risk_job.py, the window rows
encoded with JSON_OBJECT in SQL and written to the same kind of exactly-once Kafka sink (the
job's `--window-stats-topic`). Takes the job's options; `--bounded` reads to the end.
Run by benchmarks/scale.py beside the job.
"""

from __future__ import annotations

import sys

from jobs.config import from_args
from jobs.risk_job import create_env
from udfs.ingest import sql as ingest_sql
from udfs.sinks.kafka import kafka_sink_ddl
from udfs.windows import sql as windows_sql


def main(argv: list[str]) -> None:
    cfg = from_args(argv)
    _env, t_env = create_env(cfg)
    source = ingest_sql.KafkaSourceOptions(
        bootstrap=cfg.kafka_bootstrap, topic=cfg.source_topic, group_id=cfg.group_id,
        start=cfg.start, bounded=cfg.bounded,
    )  # fmt: skip
    for ddl in ingest_sql.functions_ddl():
        t_env.execute_sql(ddl)
    t_env.execute_sql(ingest_sql.source_ddl(source, cfg.watermark_bound_s, cfg.clock_skew()))
    t_env.execute_sql(kafka_sink_ddl(
        "window_stats_out", cfg.window_stats_topic,
        cfg.kafka_bootstrap, cfg.transactional_id_prefix,
    ))  # fmt: skip
    t_env.create_temporary_view(
        "detections_checked", t_env.sql_query(ingest_sql.checked_sql(cfg.window_s))
    )
    t_env.create_temporary_view("detections_ok", t_env.sql_query(
        "SELECT camera_id, frame_id, ts, frame_vehicles, objects FROM detections_checked "
        "WHERE reason IS NULL"
    ))  # fmt: skip
    t_env.create_temporary_view(
        "detections_ok_objects", t_env.sql_query(windows_sql.objects_view_sql())
    )
    t_env.create_temporary_view(
        "windows", t_env.sql_query(windows_sql.window_stats_sql(cfg.window_s))
    )
    columns = ", ".join(f"KEY '{c}' VALUE {c}" for c in windows_sql.WINDOW_COLUMNS)
    submitted = t_env.execute_sql(
        f"INSERT INTO window_stats_out SELECT camera_id, JSON_OBJECT({columns}) FROM windows"
    )
    if cfg.bounded:  # an unbounded run is left to the cluster (`flink run -d`)
        submitted.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
