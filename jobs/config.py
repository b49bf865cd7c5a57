"""The job's settings, declared once in `JobConfig`: every field is a flag, an environment
variable and a key of the optional --config YAML file (jobs/settings_cli.py derives them).

`flink run -py jobs/risk_job.py -- --window-s 30`, `TRAFFIC_WINDOW_S=30` and `window_s: 30` in
the --config file are the same; flags win over the environment, the environment over the
file. docs/operations.md lists every option; a unit test holds that table to this model.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract import limits, topics
from contract.codec import DEAD_LETTER_MAX_ORIGINAL_BYTES
from contract.endpoints import DEFAULT_KAFKA_PORT, DEFAULT_REDIS_PORT
from contract.workspace import flink_jars_dir
from jobs.settings_cli import Option, SettingsCli
from udfs.incidents import config as incident_config
from udfs.incidents.config import IncidentConfig
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
    "incidents_out": "incidents_topic",
    "dead_letter_out": "dead_letter_topic",
}

StartMode = Literal["group-offsets", "earliest", "latest", "timestamp"]
KafkaProperties = tuple[tuple[str, str], ...]


class JobConfig(BaseModel):
    """Everything the job reads at start. Kafka and Redis default to the local stack and read
    the same TRAFFIC_KAFKA_BOOTSTRAP / TRAFFIC_REDIS_URL as contract.endpoints."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    kafka_bootstrap: str = Field(
        f"127.0.0.1:{DEFAULT_KAFKA_PORT}", description="Kafka bootstrap servers"
    )
    redis_url: str = Field(
        f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/0", description="Redis URL for live views"
    )
    source_topic: str = Field(topics.DETECTION_RESULTS, description="topic of detection events")
    group_id: str = Field("traffic-risk-job", description="Kafka consumer group id")
    start: StartMode = Field(
        "group-offsets",
        description="where a fresh job starts reading; group-offsets falls back to earliest",
    )
    start_timestamp_ms: int | None = Field(
        None, ge=0, description="with --start timestamp: epoch ms"
    )
    bounded: bool = Field(
        False,
        description="stop at the offsets that are current at start, emit all windows and "
        "finish (demo, tests, backfills)",
    )
    window_s: int = Field(60, gt=0, description="tumbling window size, seconds")
    watermark_bound_s: float = Field(
        5.0, ge=0, description="bounded out-of-orderness of event time, s"
    )
    allowed_lateness_s: float = Field(
        0.0,
        ge=0,
        description="events up to this much later than the watermark bound still count; each "
        "window then emits once, this much later (see docs)",
    )
    max_event_bytes: int = Field(
        1_048_576,
        gt=0,
        description="larger detection events and signal changes are dead-lettered as oversized",
    )
    max_clock_ahead_s: float = Field(
        ClockSkew.max_ahead_s,
        ge=0,
        description="events whose captured_at_ms is further ahead of this machine's clock are "
        "dead-lettered (reason code clock) and never move the watermark",
    )
    max_clock_behind_s: float = Field(
        ClockSkew.max_behind_s,
        ge=0,
        description="same, for event times further in the past (10 years: replays work, a "
        "clock reset to 1970 or 2000 is caught)",
    )
    dead_letter_max_original_bytes: int = Field(
        DEAD_LETTER_MAX_ORIGINAL_BYTES,
        ge=0,
        description="a dead letter keeps at most this many bytes of the original record (with "
        f"its full size and SHA-256); at most {limits.MAX_RECORD_BYTES // 2} so the base64 "
        "fits a record (larger values are lowered to that)",
    )
    congestion_capacity: float = Field(
        20.0, gt=0, description="vehicles per frame that count as a full road"
    )
    free_flow_speed_px_s: float = Field(
        50.0, gt=0, description="vehicle speed (pixels/s) that counts as free flow"
    )
    idle_timeout_s: float = Field(
        10.0, ge=0, description="a partition silent this long stops holding the watermark back"
    )
    checkpoint_interval_s: float = Field(
        10.0, gt=0, description="checkpoint interval; Kafka output is committed at checkpoints"
    )
    parallelism: Annotated[int | None, Option(default_text="the cluster's")] = Field(
        None, ge=0, description="job parallelism (0: the cluster's)"
    )
    python_execution_mode: Literal["process", "thread"] = Field(
        "process",
        description="where the Python functions run: `process` (a Python worker per task, "
        "Beam's protocol between it and the JVM) or `thread` (embedded in the TaskManager "
        "through PEMJA: no serialisation hop, one interpreter lock per TaskManager); see "
        "docs/operations.md, Sizing",
    )
    python_state_cache_size: int = Field(
        16384,
        ge=1,
        description="keyed-state entries each Python worker keeps in memory (Flink's "
        "default: 1000); the pattern operator holds two per camera, so keep it above 2 x "
        "cameras per subtask, or every state access goes back to the JVM",
    )
    transactional_id_prefix: str = Field(
        "traffic-risk", description="prefix of Kafka transactional ids; unique per job"
    )
    kafka_properties: Annotated[
        KafkaProperties, Option(flag="--kafka-property", metavar="KEY=VALUE", no_env=True)
    ] = Field(
        (),
        description="extra Kafka client property for source and sinks, e.g. "
        "security.protocol=SASL_SSL; repeatable (in the --config file: a mapping or a list)",
    )
    job_name: str = Field("traffic-risk", description="name in the Flink web UI")
    restart_attempts: Annotated[int | None, Option(default_text="flink-conf")] = Field(
        None,
        ge=0,
        description="override the cluster's restart strategy with at most N restarts "
        "(0: fail at once)",
    )
    risk_config: Annotated[str | None, Option(default_text="built-in defaults, no LLM")] = Field(
        None,
        description="YAML of the risk stage (filter, tiers, key pool, LLM; see docs/risk-stage.md)",
    )
    llm_base_url: Annotated[
        str | None, Option(default_text="the --risk-config's, else unset: heuristic only")
    ] = Field(
        None,
        description="OpenAI-compatible API base URL, e.g. https://api.openai.com/v1; unset "
        "(and none in --risk-config): the local heuristic assesses every group",
    )
    llm_model: Annotated[
        str | None, Option(default_text="the --risk-config's, else qwen-vl-plus")
    ] = Field(None, description="vision model name, e.g. qwen-vl-plus")
    llm_api_keys_file: Annotated[str | None, Option(default_text="the --risk-config's")] = Field(
        None,
        description="file with one API key per line, readable where the TaskManagers run "
        "(only the path travels with the job; keys never enter logs, state or topics)",
    )
    patterns: Annotated[str, Option(default_text="built-in udfs/patterns/patterns.yaml")] = Field(
        str(DEFAULT_PATTERNS), description="YAML of the CEP traffic patterns (docs/cep.md)"
    )
    signal_topic: str = Field(
        SIGNAL_STATES_TOPIC,
        description="topic of traffic-controller signal changes joined by event time; empty "
        "string: no controller feed",
    )
    window_stats_topic: str = Field(
        topics.TRAFFIC_WINDOW_STATS, description="output topic of per-camera window statistics"
    )
    risk_topic: str = Field(
        topics.RISK_ASSESSMENT_RESULTS, description="output topic of one risk verdict per group"
    )
    alerts_topic: str = Field(topics.TRAFFIC_ALERTS, description="output topic of CEP alerts")
    incidents_topic: str = Field(
        topics.TRAFFIC_INCIDENTS,
        description="output topic of incidents (alerts of one situation grouped; every "
        "revision)",
    )
    dead_letter_topic: str = Field(
        topics.DEAD_LETTER, description="output topic of rejected input with the reason"
    )
    jars_dir: Annotated[
        str | None,
        Option(
            env="TRAFFIC_FLINK_JARS_DIR",
            default_text=".jvm/flink under TRAFFIC_HOME or the checkout",
        ),
    ] = Field(
        None, description="folder of the jars the job loads (Kafka connector, contract check)"
    )

    @field_validator("kafka_properties", mode="before")
    @classmethod
    def _key_value_pairs(cls, given: object) -> object:
        """`KEY=VALUE` items (flags, a YAML list) or a YAML mapping -> (key, value) pairs."""
        if isinstance(given, dict):
            return tuple((str(k), _property_value(v)) for k, v in given.items())
        if isinstance(given, list | tuple):
            return tuple(_key_value(item) if isinstance(item, str) else item for item in given)
        return given

    @field_validator("dead_letter_max_original_bytes")
    @classmethod
    def _fits_a_record(cls, size: int) -> int:
        """The base64 of the kept bytes must fit one record with the dead letter's fields."""
        return min(size, limits.MAX_RECORD_BYTES // 2)

    @field_validator("parallelism", "start_timestamp_ms")
    @classmethod
    def _zero_is_unset(cls, value: int | None) -> int | None:
        return value or None

    @model_validator(mode="after")
    def _timestamp_start_has_a_timestamp(self) -> JobConfig:
        if self.start == "timestamp" and self.start_timestamp_ms is None:
            raise ValueError("--start timestamp needs --start-timestamp-ms")
        return self

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

    def incidents(self) -> IncidentConfig:
        """The `incidents:` section of the --patterns file (defaults when it has none)."""
        return incident_config.load(self.patterns)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {item!r}")
    return key, value


def _property_value(value: object) -> str:
    """A YAML scalar as Kafka writes it (`true`, not Python's `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


_CLI = SettingsCli(
    JobConfig,
    env_prefix="TRAFFIC_",
    file_env="TRAFFIC_JOB_CONFIG",
    prog="risk_job.py",
    description="Traffic risk PyFlink job. Each flag defaults to the environment variable "
    "named in brackets, then to the --config file, then to the local stack.",
)
SETTINGS = _CLI.settings


def parser() -> argparse.ArgumentParser:
    """The job's command line: --config, --check-config and one flag per setting."""
    p = _CLI.parser()
    p.add_argument(
        "--check-config",
        action="store_true",
        default=argparse.SUPPRESS,
        help="validate the settings, the --patterns and --risk-config files, print the "
        "resolved settings and exit (0: the job would start with them)",
    )
    return p


def from_args(argv: list[str] | None = None) -> JobConfig:
    """The settings from flags > environment > --config file > defaults (exit 2 if bad)."""
    return _CLI.resolve(argv, parser())
