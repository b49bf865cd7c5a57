"""The job's parameters: command-line flags, each defaulting to an environment variable.

`flink run -py jobs/risk_job.py -- --window-s 30` and `TRAFFIC_WINDOW_S=30` are the same.
Every option is listed in docs/operations.md (generated from this parser's --help).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from contract import limits, topics
from contract.codec import DEAD_LETTER_MAX_ORIGINAL_BYTES
from contract.endpoints import Endpoints
from contract.workspace import flink_jars_dir
from udfs.ingest.sql import ClockSkew
from udfs.patterns import config as cep_config
from udfs.patterns.config import CepConfig
from udfs.patterns.signals import SIGNAL_STATES_TOPIC
from udfs.risk import config as risk_config
from udfs.risk.config import RiskConfig

# The built-in patterns ship inside the package (flink-conf/patterns.yaml links to them).
DEFAULT_PATTERNS = Path(str(resources.files("udfs.patterns") / "patterns.yaml"))


# Sink table -> the JobConfig field (and so the --option) naming its topic.
SINK_TOPIC_FIELDS: dict[str, str] = {
    "window_stats_out": "window_stats_topic",
    "risk_out": "risk_topic",
    "alerts_out": "alerts_topic",
    "dead_letter_out": "dead_letter_topic",
}


@dataclass(frozen=True)
class JobConfig:
    kafka_bootstrap: str
    redis_url: str
    source_topic: str = topics.DETECTION_RESULTS
    group_id: str = "traffic-risk-job"
    start: str = "group-offsets"
    start_timestamp_ms: int | None = None
    bounded: bool = False
    window_s: int = 60
    watermark_bound_s: float = 5.0
    allowed_lateness_s: float = 0.0
    max_event_bytes: int = 1_048_576
    max_clock_ahead_s: float = ClockSkew.max_ahead_s
    max_clock_behind_s: float = ClockSkew.max_behind_s
    dead_letter_max_original_bytes: int = DEAD_LETTER_MAX_ORIGINAL_BYTES
    congestion_capacity: float = 20.0
    free_flow_speed_px_s: float = 50.0
    idle_timeout_s: float = 10.0
    checkpoint_interval_s: float = 10.0
    parallelism: int | None = None
    transactional_id_prefix: str = "traffic-risk"
    kafka_properties: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    job_name: str = "traffic-risk"
    restart_attempts: int | None = None
    risk_config: str | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_keys_file: str | None = None
    patterns: str = str(DEFAULT_PATTERNS)
    signal_topic: str = SIGNAL_STATES_TOPIC
    window_stats_topic: str = topics.TRAFFIC_WINDOW_STATS
    risk_topic: str = topics.RISK_ASSESSMENT_RESULTS
    alerts_topic: str = topics.TRAFFIC_ALERTS
    dead_letter_topic: str = topics.DEAD_LETTER
    jars_dir: str | None = None

    def jars(self) -> list[Path]:
        """Jars the job loads: the Kafka connector and the contract check (jvm/)."""
        folder = Path(self.jars_dir) if self.jars_dir else flink_jars_dir()
        jars = sorted(folder.glob("*.jar"))
        if not jars:
            raise FileNotFoundError(
                f"no jars in {folder}: run `./dev setup` (mvn -f jvm/pom.xml package), or "
                "name the folder with --jars-dir / TRAFFIC_FLINK_JARS_DIR"
            )
        return jars

    def sink_topics(self) -> dict[str, str]:
        """Sink table -> Kafka topic of every output (the contract's names by default)."""
        return {table: topic for table, (topic, _flag) in self.sink_options().items()}

    def sink_options(self) -> dict[str, tuple[str, str]]:
        """Sink table -> (topic, the option that names it), for messages about a sink."""
        return {
            table: (getattr(self, field_name), "--" + field_name.replace("_", "-"))
            for table, field_name in SINK_TOPIC_FIELDS.items()
        }

    def producer_limit(self) -> int:
        """The sinks' `max.request.size`: the product's limit unless --kafka-property sets it."""
        given = dict(self.kafka_properties).get("max.request.size")
        return int(given) if given else limits.PRODUCER_MAX_REQUEST_BYTES

    def clock_skew(self) -> ClockSkew:
        return ClockSkew(self.max_clock_ahead_s, self.max_clock_behind_s)

    def risk(self) -> RiskConfig:
        """The risk stage's settings: the YAML file (if any), then the LLM flags; the verdict
        cache uses the job's Redis unless the file names another."""
        base = risk_config.load(self.risk_config) if self.risk_config else RiskConfig()
        llm = base.llm.model_copy(
            update={
                k: v for k, v in (("base_url", self.llm_base_url), ("model", self.llm_model)) if v
            }
        )
        cache = base.cache
        if cache.redis_url is None:
            cache = cache.model_copy(update={"redis_url": self.redis_url})
        keys_file = self.llm_api_keys_file or base.keys_file
        return base.model_copy(update={"llm": llm, "cache": cache, "keys_file": keys_file})

    def cep(self) -> CepConfig:
        return cep_config.load(self.patterns)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"TRAFFIC_{name}", default)


def parser() -> argparse.ArgumentParser:
    endpoints = Endpoints.from_env()
    p = argparse.ArgumentParser(
        prog="risk_job.py",
        description="Traffic risk PyFlink job. Each flag defaults to the environment "
        "variable named in brackets, then to the local stack.",
    )
    p.add_argument(
        "--kafka-bootstrap",
        default=endpoints.kafka_bootstrap,
        help="Kafka bootstrap servers [TRAFFIC_KAFKA_BOOTSTRAP]",
    )
    p.add_argument(
        "--redis-url",
        default=endpoints.redis_url,
        help="Redis URL for live views [TRAFFIC_REDIS_URL]",
    )
    p.add_argument(
        "--source-topic",
        default=_env("SOURCE_TOPIC", topics.DETECTION_RESULTS),
        help="topic of detection events [TRAFFIC_SOURCE_TOPIC]",
    )
    p.add_argument(
        "--group-id",
        default=_env("GROUP_ID", "traffic-risk-job"),
        help="Kafka consumer group id [TRAFFIC_GROUP_ID]",
    )
    p.add_argument(
        "--start",
        choices=["group-offsets", "earliest", "latest", "timestamp"],
        default=_env("START", "group-offsets"),
        help="where a fresh job starts reading; group-offsets falls back to "
        "earliest [TRAFFIC_START]",
    )
    p.add_argument(
        "--start-timestamp-ms",
        type=int,
        default=_env("START_TIMESTAMP_MS"),
        help="with --start timestamp: epoch ms [TRAFFIC_START_TIMESTAMP_MS]",
    )
    p.add_argument(
        "--bounded",
        action="store_true",
        default=_env("BOUNDED", "false") == "true",
        help="stop at the offsets that are current at start, emit all windows "
        "and finish (demo, tests, backfills) [TRAFFIC_BOUNDED=true]",
    )
    p.add_argument(
        "--window-s",
        type=int,
        default=int(_env("WINDOW_S", "60") or 60),
        help="tumbling window size, seconds [TRAFFIC_WINDOW_S]",
    )
    p.add_argument(
        "--watermark-bound-s",
        type=float,
        default=float(_env("WATERMARK_BOUND_S", "5") or 5),
        help="bounded out-of-orderness of event time, s [TRAFFIC_WATERMARK_BOUND_S]",
    )
    p.add_argument(
        "--allowed-lateness-s",
        type=float,
        default=float(_env("ALLOWED_LATENESS_S", "0") or 0),
        help="events up to this much later than the watermark bound still count; each "
        "window then emits once, this much later (see docs) [TRAFFIC_ALLOWED_LATENESS_S]",
    )
    p.add_argument(
        "--max-event-bytes",
        type=int,
        default=int(_env("MAX_EVENT_BYTES", "1048576") or 1048576),
        help="larger detection events are dead-lettered as oversized [TRAFFIC_MAX_EVENT_BYTES]",
    )
    p.add_argument(
        "--max-clock-ahead-s",
        type=float,
        default=float(_env("MAX_CLOCK_AHEAD_S", "") or ClockSkew.max_ahead_s),
        help="events whose captured_at_ms is further ahead of this machine's clock are "
        "dead-lettered (reason code clock) and never move the watermark "
        "[TRAFFIC_MAX_CLOCK_AHEAD_S]",
    )
    p.add_argument(
        "--max-clock-behind-s",
        type=float,
        default=float(_env("MAX_CLOCK_BEHIND_S", "") or ClockSkew.max_behind_s),
        help="same, for event times further in the past (default 10 years: replays work, a "
        "clock reset to 1970 or 2000 is caught) [TRAFFIC_MAX_CLOCK_BEHIND_S]",
    )
    p.add_argument(
        "--dead-letter-max-original-bytes",
        type=int,
        default=int(_env("DEAD_LETTER_MAX_ORIGINAL_BYTES", "") or DEAD_LETTER_MAX_ORIGINAL_BYTES),
        help="a dead letter keeps at most this many bytes of the original record (with its "
        f"full size and SHA-256); at most {limits.MAX_RECORD_BYTES // 2} so the base64 "
        "fits a record [TRAFFIC_DEAD_LETTER_MAX_ORIGINAL_BYTES]",
    )
    p.add_argument(
        "--congestion-capacity",
        type=float,
        default=float(_env("CONGESTION_CAPACITY", "20") or 20),
        help="vehicles per frame that count as a full road [TRAFFIC_CONGESTION_CAPACITY]",
    )
    p.add_argument(
        "--free-flow-speed-px-s",
        type=float,
        default=float(_env("FREE_FLOW_SPEED_PX_S", "50") or 50),
        help="vehicle speed (pixels/s) that counts as free flow [TRAFFIC_FREE_FLOW_SPEED_PX_S]",
    )
    p.add_argument(
        "--idle-timeout-s",
        type=float,
        default=float(_env("IDLE_TIMEOUT_S", "10") or 10),
        help="a partition silent this long stops holding the watermark back "
        "[TRAFFIC_IDLE_TIMEOUT_S]",
    )
    p.add_argument(
        "--checkpoint-interval-s",
        type=float,
        default=float(_env("CHECKPOINT_INTERVAL_S", "10") or 10),
        help="checkpoint interval; Kafka output is committed at checkpoints "
        "[TRAFFIC_CHECKPOINT_INTERVAL_S]",
    )
    p.add_argument(
        "--parallelism",
        type=int,
        default=_env("PARALLELISM"),
        help="job parallelism (default: the cluster's) [TRAFFIC_PARALLELISM]",
    )
    p.add_argument(
        "--transactional-id-prefix",
        default=_env("TRANSACTIONAL_ID_PREFIX", "traffic-risk"),
        help="prefix of Kafka transactional ids; unique per job [TRAFFIC_TRANSACTIONAL_ID_PREFIX]",
    )
    p.add_argument(
        "--kafka-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Kafka client property for source and sinks, e.g. "
        "security.protocol=SASL_SSL; repeatable",
    )
    p.add_argument(
        "--job-name",
        default=_env("JOB_NAME", "traffic-risk"),
        help="name in the Flink web UI [TRAFFIC_JOB_NAME]",
    )
    p.add_argument(
        "--restart-attempts",
        type=int,
        default=_env("RESTART_ATTEMPTS"),
        help="override the cluster's restart strategy with at most N restarts "
        "(0: fail at once; default: flink-conf) [TRAFFIC_RESTART_ATTEMPTS]",
    )
    p.add_argument(
        "--risk-config",
        default=_env("RISK_CONFIG"),
        help="YAML of the risk stage (filter, tiers, key pool, LLM; see docs/risk-stage.md); "
        "default: built-in defaults with no LLM [TRAFFIC_RISK_CONFIG]",
    )
    p.add_argument(
        "--llm-base-url",
        default=_env("LLM_BASE_URL"),
        help="OpenAI-compatible API base URL, e.g. https://api.openai.com/v1; unset (and none "
        "in --risk-config): the local heuristic assesses every group [TRAFFIC_LLM_BASE_URL]",
    )
    p.add_argument(
        "--llm-model",
        default=_env("LLM_MODEL"),
        help="vision model name, e.g. qwen-vl-plus [TRAFFIC_LLM_MODEL]",
    )
    p.add_argument(
        "--llm-api-keys-file",
        default=_env("LLM_API_KEYS_FILE"),
        help="file with one API key per line, readable where the TaskManagers run (only the "
        "path travels with the job; keys never enter logs, state or topics) "
        "[TRAFFIC_LLM_API_KEYS_FILE]",
    )
    p.add_argument(
        "--patterns",
        default=_env("PATTERNS", str(DEFAULT_PATTERNS)),
        help="YAML of the CEP traffic patterns (docs/cep.md) [TRAFFIC_PATTERNS]",
    )
    p.add_argument(
        "--signal-topic",
        default=_env("SIGNAL_TOPIC", SIGNAL_STATES_TOPIC),
        help="topic of traffic-controller signal changes joined by event time; empty string: "
        "no controller feed [TRAFFIC_SIGNAL_TOPIC]",
    )
    p.add_argument(
        "--jars-dir",
        default=_env("FLINK_JARS_DIR"),
        help="folder of the jars the job loads (Kafka connector, contract check) "
        "[TRAFFIC_FLINK_JARS_DIR] (default: .jvm/flink under TRAFFIC_HOME or the checkout)",
    )
    outputs = (
        ("window-stats", topics.TRAFFIC_WINDOW_STATS, "per-camera window statistics"),
        ("risk", topics.RISK_ASSESSMENT_RESULTS, "one risk verdict per group"),
        ("alerts", topics.TRAFFIC_ALERTS, "CEP pattern alerts"),
        ("dead-letter", topics.DEAD_LETTER, "rejected input with the reason"),
    )
    for flag, default, what in outputs:
        env = f"{flag.upper().replace('-', '_')}_TOPIC"
        p.add_argument(
            f"--{flag}-topic",
            default=_env(env, default),
            help=f"output topic of {what} [TRAFFIC_{env}]",
        )
    return p


def from_args(argv: list[str] | None = None) -> JobConfig:
    args = parser().parse_args(argv)
    props = []
    for item in args.kafka_property:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser().error(f"--kafka-property expects KEY=VALUE, got {item!r}")
        props.append((key, value))
    return JobConfig(
        kafka_bootstrap=args.kafka_bootstrap,
        redis_url=args.redis_url,
        source_topic=args.source_topic,
        group_id=args.group_id,
        start=args.start,
        start_timestamp_ms=int(args.start_timestamp_ms) if args.start_timestamp_ms else None,
        bounded=args.bounded,
        window_s=args.window_s,
        watermark_bound_s=args.watermark_bound_s,
        idle_timeout_s=args.idle_timeout_s,
        allowed_lateness_s=args.allowed_lateness_s,
        max_event_bytes=args.max_event_bytes,
        max_clock_ahead_s=args.max_clock_ahead_s,
        max_clock_behind_s=args.max_clock_behind_s,
        dead_letter_max_original_bytes=min(
            args.dead_letter_max_original_bytes, limits.MAX_RECORD_BYTES // 2
        ),
        congestion_capacity=args.congestion_capacity,
        free_flow_speed_px_s=args.free_flow_speed_px_s,
        checkpoint_interval_s=args.checkpoint_interval_s,
        parallelism=int(args.parallelism) if args.parallelism else None,
        transactional_id_prefix=args.transactional_id_prefix,
        kafka_properties=tuple(props),
        job_name=args.job_name,
        restart_attempts=(
            int(args.restart_attempts) if args.restart_attempts is not None else None
        ),
        risk_config=args.risk_config,
        llm_base_url=args.llm_base_url,
        llm_model=args.llm_model,
        llm_api_keys_file=args.llm_api_keys_file,
        patterns=args.patterns,
        signal_topic=args.signal_topic,
        window_stats_topic=args.window_stats_topic,
        risk_topic=args.risk_topic,
        alerts_topic=args.alerts_topic,
        dead_letter_topic=args.dead_letter_topic,
        jars_dir=args.jars_dir,
    )
