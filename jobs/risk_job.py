"""The traffic risk PyFlink job.

    Kafka `detection-results` (raw bytes, partition, offset)
      -> [SQL] event time from `captured_at_ms` if within the clock skew, bounded
               out-of-orderness watermark, idleness
      -> [SQL] check once in the JVM (PARSE_DETECTION: the contract's JSON Schema),
               null value, size, clock, late?
           |-- rejected -> [Py] DeadLetter JSON -> Kafka `dead-letter`
           '-- accepted
                |-> [SQL] per-camera TUMBLE windows -> [Py] WindowStats -> `traffic-window-stats`
                |        made where the WindowStats is: Redis stats views, and the facts of
                |        the congested windows a pattern counts -> the pattern stage
                |-> frames with groups (crops only if an LLM is configured)
                |     -> [Py] risk stage: filter + tier -> heuristic verdicts
                |        '-> key_by(slot) key pool + async vision-LLM calls (keyed state:
                |            pool and calls in flight; cache, tiers, retries, failover)
                |     each verdict's records, made where the verdict is (udfs/risk/outputs):
                |     -> `risk-assessment-results` + Redis; high -> alerts with the
                |        verdict's evidence, key_by(camera) cooldown -> `traffic-alerts`;
                |        facts of the levels a pattern waits for -> the pattern stage
                '-> [SQL] frames that may hold a fact, crops dropped, one batch per key slot
                    and 1 s step (TUMBLE, ARRAY_AGG)
                     -> [Py] facts (crossings, wrong way, conflicts, close approaches)
                       + window facts + verdict facts (made upstream, see above)
                       + Kafka `signal-states` facts
                         ([SQL] PARSE_SIGNAL: the contract; rejected -> `dead-letter`)
                       -> key_by(slot) CEP patterns (keyed state per slot of cameras,
                          one timer per slot and step, event time)
                          -> alerts with evidence -> `traffic-alerts` + Redis alerts views
                       -> key_by(camera) incidents: alerts of one place and situation
                          grouped, closed after a quiet period (keyed state, event time)
                          -> `traffic-incidents` + Redis incident views
    Every Kafka sink is exactly-once (transactions commit with checkpoints), behind a size
    guard in SQL (GUARD_SIZE) that names the sink if a record could not be produced.

Bulk per-event work stays in the JVM (Flink SQL); Python sees window results, rejected
records, and the accepted events the risk and pattern stages need (docs/architecture.md).
Run locally with `python jobs/risk_job.py` (mini cluster) or deploy with
`flink run -py jobs/risk_job.py` (see docs/operations.md for every option).
"""

from __future__ import annotations

import logging
import os
import site
import sys
from collections.abc import MutableMapping

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from contract import workspace
from jobs.config import JobConfig, from_args
from jobs.config_check import check_config, check_requested
from jobs.io import JobIO, KafkaRedisIO
from udfs.incidents import flink as incidents
from udfs.ingest import flink as ingest
from udfs.patterns import flink as patterns
from udfs.risk import flink as risk
from udfs.sinks import flink as sinks
from udfs.sinks import preflight
from udfs.windows import flink as windows
from udfs.windows.stats import CongestionModel


def build(
    env: StreamExecutionEnvironment,
    t_env: StreamTableEnvironment,
    cfg: JobConfig,
    io: JobIO | None = None,
) -> None:
    """Wire the whole pipeline into ``env``; `env.execute()` runs it."""
    io = io or KafkaRedisIO(cfg)
    ingest.register_functions(t_env)  # the contract check and event time, in Java
    has_signals = io.register_sources(t_env)
    io.register_sinks(t_env, cfg.sink_topics())
    ingest.check(t_env, cfg.window_s, cfg.max_event_bytes)

    # Windows: per-camera statistics in SQL; Python makes each WindowStats and, right there,
    # its Redis views and, for a congested window a pattern counts, its fact.
    risk_cfg, cep = cfg.risk(), cfg.cep()
    congestion = CongestionModel(cfg.congestion_capacity, cfg.free_flow_speed_px_s)
    windowed = windows.window_stats(
        t_env, cfg.window_s, congestion, io.view_writer("stats"), patterns.window_facts(cep)
    )

    # Risk: only frames with groups enter Python (their crops only if an LLM may see them);
    # every group leaves with one verdict.
    # Each verdict leaves as its records: its own, a high-risk alert, a fact for the patterns.
    frames = ingest.accepted(t_env, "group_count > 0", crops=risk.llm_enabled(risk_cfg))
    assessed = risk.build_risk_stage(
        frames, risk_cfg, patterns.verdict_outputs(cep), io.view_writer("risk")
    )

    # Patterns: only frames that may hold a fact (a crossing, a tracked road user in a zone,
    # a group) enter Python, with the windows, verdicts and signal changes patterns use.
    if has_signals:
        ingest.check_signals(t_env, cfg.max_event_bytes)  # the contract, in Java, like detections
    signals = ingest.accepted_signals(t_env) if has_signals else None
    high_risk = patterns.throttle_verdict_alerts(assessed.high_risk, cep)
    alerts = patterns.detect(
        cep, patterns.candidate_batches(t_env, cep), windowed.facts, assessed.facts, signals
    ).union(high_risk)
    io.view(alerts, "alerts", "alerts")
    # Incidents: the alerts of one camera, place and situation grouped, in event time.
    incident_revisions = incidents.build_incidents(alerts, cfg.incidents())
    io.view(incident_revisions, "incidents", "incidents")

    dead_letters = ingest.dead_letters_of(
        t_env,
        cfg.source_topic,
        cfg.dead_letter_max_original_bytes,
        cfg.signal_topic if has_signals else None,
    )
    sinks.publish(
        t_env,
        {
            "window_stats_out": windowed.stats,
            "risk_out": assessed.verdicts,
            "alerts_out": alerts,
            "incidents_out": incident_revisions,
            "dead_letter_out": dead_letters,
        },
        cfg.sink_topics(),
        cfg.producer_limit(),
    )


def python_options(mode: str) -> dict[str, str]:
    """Flink options for where Python functions run. In `thread` mode the TaskManager embeds
    CPython (PEMJA), which sees the interpreter's own site-packages but not a virtualenv's:
    a client running in one passes that directory on (a path the cluster lacks is ignored,
    so this holds for the local stack and images that share the venv's layout)."""
    options = {"python.execution-mode": mode}
    if mode == "thread" and sys.prefix != sys.base_prefix:
        options["python.pythonpath"] = os.pathsep.join(site.getsitepackages())
    return options


def create_env(cfg: JobConfig) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """Environments with the job's jars, checkpoints, restarts and UTC time zone."""
    conf = Configuration()
    conf.set_string("pipeline.jars", ";".join(f"file://{jar}" for jar in cfg.jars()))
    conf.set_string("pipeline.name", cfg.job_name)
    conf.set_string(
        "execution.checkpointing.interval", f"{int(cfg.checkpoint_interval_s * 1000)}ms"
    )
    idle_timeout = f"{int(cfg.idle_timeout_s * 1000)}ms"
    conf.set_string("table.local-time-zone", "UTC")
    # Chained operators hand rows over without a defensive copy: every operator here is SQL's
    # (built for reuse), a Python one (serialises its input) or a sink. Copies were ~8% of
    # the source task's CPU in a profile (docs/performance.md).
    conf.set_string("pipeline.object-reuse", "true")
    conf.set_string("table.exec.source.idle-timeout", idle_timeout)
    conf.set_string("python.state.cache-size", str(cfg.python_state_cache_size))
    conf.set_string("python.map-state.read-cache-size", str(cfg.python_state_cache_size))
    for key, value in python_options(cfg.python_execution_mode).items():
        conf.set_string(key, value)
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
    t_env.get_config().set("table.exec.source.idle-timeout", idle_timeout)
    return env, t_env


def use_shipped_log_config(environ: MutableMapping[str, str] = os.environ) -> None:
    """A mini cluster started from a checkout logs with flink-conf/log4j-cli.properties, which
    keeps the Python workers' environment (API keys) out of its log, unless FLINK_CONF_DIR or
    LOG4J_PROPERTIES chose a configuration. Under `flink run` the JVM is already up: no-op."""
    shipped = workspace.home() / "flink-conf" / "log4j-cli.properties"
    if shipped.is_file() and not {"FLINK_CONF_DIR", "LOG4J_PROPERTIES"} & set(environ):
        environ["LOG4J_PROPERTIES"] = str(shipped)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    use_shipped_log_config()
    cfg = from_args(argv)
    if check_requested(argv):
        sys.exit(check_config(cfg))
    risk_cfg = cfg.risk()
    if risk.llm_enabled(risk_cfg):
        logging.info("risk stage: vision LLM %s at %s", risk_cfg.llm.model, risk_cfg.llm.base_url)
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
