"""The traffic risk PyFlink job.

    Kafka `detection-results` (raw bytes, partition, offset)
      -> [SQL] event time from `captured_at_ms` if within the clock skew, bounded
               out-of-orderness watermark, idleness
      -> [SQL] check once in the JVM (PARSE_DETECTION: the contract's JSON Schema),
               null value, size, clock, late?
           |-- rejected -> [Py] DeadLetter JSON -> Kafka `dead-letter`
           '-- accepted
                |-> [SQL] per-camera TUMBLE windows -> [Py] WindowStats -> `traffic-window-stats`
                |                                              '-> Redis stats views
                |-> frames with groups -> [Py] risk stage: filter + tier -> heuristic verdicts
                |        '-> key_by(slot) key-pool gate (keyed state) -> async vision LLM
                |            (cache, tiers, retries, failover) -> verdicts
                |            -> `risk-assessment-results` + Redis; high -> `traffic-alerts`
                '-> [Py] facts (crossings, wrong way, conflicts, close approaches)
                       + window facts + verdict facts + Kafka `signal-states` facts
                       -> key_by(camera) CEP patterns (keyed state, event time)
                       -> `traffic-alerts` + Redis alerts views
    Every Kafka sink is exactly-once (transactions commit with checkpoints), behind a size
    guard that names the sink if a record could not be produced.

Bulk per-event work stays in the JVM (Flink SQL); Python sees window results, rejected
records, and the accepted events the risk and pattern stages need (docs/architecture.md).
Run locally with `python jobs/risk_job.py` (mini cluster) or deploy with
`flink run -py jobs/risk_job.py` (see docs/operations.md for every option).
"""

from __future__ import annotations

import dataclasses
import logging
import sys

from pyflink.common import Configuration, Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.table import Schema, StreamTableEnvironment

from stack.paths import job_jars
from udfs import preflight, stats_sql
from udfs.cep.flink_operator import ToFacts, build_cep
from udfs.flink_functions import (
    EncodeDeadLetter,
    EncodeWindowStats,
    GuardSize,
    HighRiskAlerts,
    KeyAlert,
    KeyVerdict,
    View,
    WriteViewToRedis,
)
from udfs.job_config import JobConfig, from_args
from udfs.records import CongestionModel
from udfs.risk.flink_functions import build_risk_stage, llm_enabled

KEYED_JSON = Types.ROW_NAMED(["k", "v"], [Types.STRING(), Types.STRING()])


def create_env(cfg: JobConfig) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    conf = Configuration()
    conf.set_string("pipeline.jars", ";".join(f"file://{jar}" for jar in job_jars()))
    conf.set_string("pipeline.name", cfg.job_name)
    conf.set_string(
        "execution.checkpointing.interval", f"{int(cfg.checkpoint_interval_s * 1000)}ms"
    )
    conf.set_string("table.local-time-zone", "UTC")
    conf.set_string("table.exec.source.idle-timeout", f"{int(cfg.idle_timeout_s * 1000)}ms")
    if cfg.restart_attempts == 0:
        conf.set_string("restart-strategy.type", "none")
    elif cfg.restart_attempts is not None:
        conf.set_string("restart-strategy.type", "fixed-delay")
        conf.set_string("restart-strategy.fixed-delay.attempts", str(cfg.restart_attempts))
        conf.set_string("restart-strategy.fixed-delay.delay", "2s")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    if cfg.parallelism:
        env.set_parallelism(cfg.parallelism)
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.get_config().set("table.exec.source.idle-timeout", f"{int(cfg.idle_timeout_s * 1000)}ms")
    return env, t_env


def build(env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, cfg: JobConfig) -> None:
    """Wire the whole pipeline into ``env``; `env.execute()` runs it."""
    source = stats_sql.KafkaSourceOptions(
        bootstrap=cfg.kafka_bootstrap,
        topic=cfg.source_topic,
        group_id=cfg.group_id,
        start=cfg.start,
        start_timestamp_ms=cfg.start_timestamp_ms,
        bounded=cfg.bounded,
        extra_properties=cfg.kafka_properties,
    )
    # Allowed lateness widens the watermark delay: each window emits once, complete.
    for ddl in stats_sql.functions_ddl():
        t_env.execute_sql(ddl)
    t_env.execute_sql(
        stats_sql.source_ddl(
            source, cfg.watermark_bound_s + cfg.allowed_lateness_s, cfg.clock_skew()
        )
    )
    for table, topic in cfg.sink_topics().items():
        t_env.execute_sql(
            stats_sql.kafka_sink_ddl(
                table, topic, cfg.kafka_bootstrap, cfg.transactional_id_prefix, cfg.kafka_properties
            )
        )

    # One Kafka source feeds every branch: leave SQL once, come back with the watermarks.
    checked = t_env.to_data_stream(
        t_env.sql_query(stats_sql.checked_sql(cfg.window_s, cfg.max_event_bytes))
    )
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
    t_env.create_temporary_view(
        "detections_ok_objects", t_env.sql_query(stats_sql.objects_view_sql())
    )

    congestion = CongestionModel(cfg.congestion_capacity, cfg.free_flow_speed_px_s)
    windows = t_env.to_data_stream(t_env.sql_query(stats_sql.window_stats_sql(cfg.window_s)))
    stats_json = (
        windows.map(EncodeWindowStats(congestion), output_type=KEYED_JSON)
        .name("encode window stats")
        .uid("encode-window-stats")
    )
    to_redis(stats_json, cfg.redis_url, "stats", "window stats")

    # Risk: only frames with groups enter Python; every group leaves with one verdict.
    risk = cfg.risk()
    verdicts = build_risk_stage(accepted_json(t_env, "group_count > 0"), risk)
    verdicts_keyed = verdicts.map(KeyVerdict(), output_type=KEYED_JSON).name("key verdicts")
    to_redis(verdicts_keyed, cfg.redis_url, "risk", "verdicts")

    # CEP: facts of every source, in event time, matched per camera. Only frames that may
    # hold a fact (a crossing, a tracked road user in a zone, a group) enter Python.
    patterns = cfg.cep()
    fact_sources = [(accepted_json(t_env, "fact_candidate"), "detection")]
    if patterns.min_congestion_index() is not None:  # windows a congestion pattern counts
        fact_sources.append(
            (stats_json.map(lambda row: row[1], output_type=Types.STRING()), "window")
        )
    if patterns.verdict_levels():  # only verdicts a pattern waits for become facts
        fact_sources.append((verdicts, "risk"))
    if cfg.signal_topic:
        t_env.execute_sql(
            stats_sql.signal_source_ddl(
                dataclasses.replace(source, topic=cfg.signal_topic), cfg.watermark_bound_s
            )
        )
        signals = t_env.to_data_stream(t_env.sql_query("SELECT payload FROM signals_raw"))
        fact_sources.append((signals, "signal"))
    facts = [
        stream.flat_map(
            ToFacts(
                kind,
                patterns.facts,
                levels=patterns.verdict_levels() if kind == "risk" else None,
                min_congestion=patterns.min_congestion_index() if kind == "window" else None,
            ),
            output_type=Types.STRING(),
        )
        .name(f"cep: {kind} facts")
        .uid(f"cep-facts-{kind}")
        for stream, kind in fact_sources
    ]
    pattern_alerts, _timeouts = build_cep(facts[0].union(*facts[1:]), patterns)
    names = tuple(p.name for p in patterns.patterns)
    alerts = (
        pattern_alerts.map(KeyAlert(names), output_type=KEYED_JSON)
        .start_new_chain()  # its metrics reach the reporter only outside the CEP chain
        .name("key alerts")
        .uid("key-alerts")
        .union(
            verdicts.flat_map(HighRiskAlerts(), output_type=KEYED_JSON)
            .name("alerts: high-risk verdicts")
            .uid("alerts-high-risk")
        )
    )
    to_redis(alerts, cfg.redis_url, "alerts", "alerts")

    rejected = t_env.to_data_stream(
        t_env.sql_query(
            "SELECT payload, kafka_partition, kafka_offset, reason, reason_code "
            "FROM detections_checked WHERE reason IS NOT NULL"
        )
    )
    dead_json = (
        rejected.map(
            EncodeDeadLetter(cfg.source_topic, cfg.dead_letter_max_original_bytes),
            output_type=KEYED_JSON,
        )
        .name("encode dead letters")
        .uid("encode-dead-letters")
    )

    sinks = t_env.create_statement_set()
    topic_of = cfg.sink_topics()
    for table, stream in (
        ("window_stats_out", stats_json),
        ("risk_out", verdicts_keyed),
        ("alerts_out", alerts),
        ("dead_letter_out", dead_json),
    ):
        guarded = stream.map(
            GuardSize(table, topic_of[table], cfg.producer_limit()),
            output_type=KEYED_JSON,
        ).name(f"size guard: {table}")
        sinks.add_insert(table, t_env.from_data_stream(guarded))
    sinks.attach_as_datastream()


def accepted_json(t_env: StreamTableEnvironment, condition: str) -> DataStream:
    """Accepted detection events that meet `condition` (SQL), as JSON text for Python."""
    return t_env.to_data_stream(
        t_env.sql_query(
            "SELECT CAST(payload AS STRING) AS payload FROM detections_checked "
            f"WHERE reason IS NULL AND {condition}"
        )
    )


def to_redis(stream: DataStream, redis_url: str, view: View, what: str) -> None:
    """A live view in Redis, beside the Kafka sink of the same stream."""
    stream.process(WriteViewToRedis(redis_url, view)).name(f"redis: {what} views").uid(
        f"redis-{view}"
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = from_args(argv)
    risk = cfg.risk()
    if llm_enabled(risk):
        logging.info("risk stage: vision LLM %s at %s", risk.llm.model, risk.llm.base_url)
    else:
        logging.warning(
            "risk stage: no LLM configured (--llm-base-url / --risk-config); the local "
            "heuristic assessor gives every verdict (source=heuristic)"
        )
    problems = preflight.output_problems(
        cfg.kafka_bootstrap, cfg.sink_options(), dict(cfg.kafka_properties)
    )
    if problems:
        sys.exit("the job cannot write its outputs:\n  " + "\n  ".join(problems))
    env, t_env = create_env(cfg)
    build(env, t_env, cfg)
    env.execute(cfg.job_name)


if __name__ == "__main__":
    main(sys.argv[1:])
