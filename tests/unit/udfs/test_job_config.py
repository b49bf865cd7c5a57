"""The job's settings: one declaration -> flags, environment, --config file, docs, check."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from contract import limits
from contract.endpoints import Endpoints
from jobs.config import SETTINGS, JobConfig, from_args, parser
from jobs.config_check import check_config, check_requested
from jobs.settings_cli import settings_of

REPO = Path(__file__).resolve().parents[3]
OPERATIONS_DOC = REPO / "docs" / "operations.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: none of the caller's may leak into a test."""
    for setting in SETTINGS:
        if setting.env:
            monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.delenv("TRAFFIC_JOB_CONFIG", raising=False)


def write_yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return str(path)


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The last stderr line of a command line that must be refused with exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        from_args(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_options_come_from_flags_then_environment(monkeypatch):
    monkeypatch.setenv("TRAFFIC_WINDOW_S", "30")
    monkeypatch.setenv("TRAFFIC_KAFKA_BOOTSTRAP", "kafka:9092")
    cfg = from_args(["--watermark-bound-s", "2.5", "--kafka-property", "security.protocol=SSL"])
    assert (cfg.window_s, cfg.watermark_bound_s, cfg.kafka_bootstrap) == (30, 2.5, "kafka:9092")
    assert cfg.kafka_properties == (("security.protocol", "SSL"),)
    assert from_args(["--window-s", "10"]).window_s == 10


@pytest.mark.parametrize(
    ("in_file", "in_env", "flag", "expected"),
    [
        (None, None, None, 60),
        ("20", None, None, 20),
        ("20", "30", None, 30),
        ("20", "30", "40", 40),
        (None, None, "40", 40),
    ],
)
def test_flags_beat_environment_beat_the_file_beat_defaults(
    monkeypatch, tmp_path, in_file, in_env, flag, expected
):
    argv = ["--config", write_yaml(tmp_path, f"window_s: {in_file}")] if in_file else []
    if in_env:
        monkeypatch.setenv("TRAFFIC_WINDOW_S", in_env)
    argv += ["--window-s", flag] if flag else []
    assert from_args(argv).window_s == expected


def test_the_file_can_be_named_by_the_environment_and_holds_every_type(monkeypatch, tmp_path):
    path = write_yaml(
        tmp_path,
        "bounded: true\nwatermark_bound_s: 2\nstart: earliest\nparallelism: 3\n"
        "kafka_properties: {security.protocol: SSL, enable.idempotence: true}\n",
    )
    monkeypatch.setenv("TRAFFIC_JOB_CONFIG", path)
    cfg = from_args([])
    assert (cfg.bounded, cfg.watermark_bound_s, cfg.start, cfg.parallelism) == (
        True, 2.0, "earliest", 3,
    )  # fmt: skip
    assert cfg.kafka_properties == (("security.protocol", "SSL"), ("enable.idempotence", "true"))
    listed = write_yaml(tmp_path, "kafka_properties: [a=1, b=x=y]\n")
    assert from_args(["--config", listed]).kafka_properties == (("a", "1"), ("b", "x=y"))


def test_environment_variables_keep_their_names():
    envs = {setting.name: setting.env for setting in SETTINGS}
    assert envs["jars_dir"] == "TRAFFIC_FLINK_JARS_DIR"
    assert envs["kafka_properties"] is None
    others = {
        name: env for name, env in envs.items() if name not in {"jars_dir", "kafka_properties"}
    }
    assert others == {name: f"TRAFFIC_{name.upper()}" for name in others}
    flags = {setting.name: setting.flag for setting in SETTINGS}
    assert flags["kafka_properties"] == "--kafka-property"
    assert set(flags) == set(JobConfig.model_fields)


def test_kafka_and_redis_read_the_same_variables_as_the_other_services(monkeypatch):
    defaults = from_args([])
    local = Endpoints.from_env()
    assert (defaults.kafka_bootstrap, defaults.redis_url) == (
        local.kafka_bootstrap,
        local.redis_url,
    )
    monkeypatch.setenv("TRAFFIC_KAFKA_BOOTSTRAP", "kafka.prod:9092")
    monkeypatch.setenv("TRAFFIC_REDIS_URL", "redis://cache:6379/1")
    moved = from_args([])
    remote = Endpoints.from_env()
    assert (moved.kafka_bootstrap, moved.redis_url) == (remote.kafka_bootstrap, remote.redis_url)


def test_empty_variables_unset_numbers_but_are_the_value_of_strings(monkeypatch):
    for name in ("WINDOW_S", "PARALLELISM", "RESTART_ATTEMPTS", "MAX_CLOCK_AHEAD_S", "START"):
        monkeypatch.setenv(f"TRAFFIC_{name}", "")
    monkeypatch.setenv("TRAFFIC_SIGNAL_TOPIC", "")
    cfg = from_args([])
    assert (cfg.window_s, cfg.parallelism, cfg.restart_attempts) == (60, None, None)
    assert (cfg.max_clock_ahead_s, cfg.start) == (300.0, "group-offsets")
    assert cfg.signal_topic == ""  # no controller feed


def test_conversions_of_today_are_kept(monkeypatch):
    assert from_args([]).bounded is False
    assert from_args(["--bounded"]).bounded is True
    monkeypatch.setenv("TRAFFIC_BOUNDED", "true")
    assert from_args([]).bounded is True
    assert from_args(["--parallelism", "0"]).parallelism is None
    assert from_args(["--parallelism", "4"]).parallelism == 4
    assert from_args(["--restart-attempts", "0"]).restart_attempts == 0
    capped = from_args(["--dead-letter-max-original-bytes", str(10**9)])
    assert capped.dead_letter_max_original_bytes == limits.MAX_RECORD_BYTES // 2
    timed = from_args(["--start", "timestamp", "--start-timestamp-ms", "1700000000000"])
    assert (timed.start, timed.start_timestamp_ms) == ("timestamp", 1_700_000_000_000)


def test_settings_cannot_change_once_resolved():
    cfg = from_args([])
    with pytest.raises(ValidationError):
        cfg.window_s = 5


def test_output_topics_default_to_the_contract_and_can_be_moved(monkeypatch):
    assert from_args([]).sink_topics() == {
        "window_stats_out": "traffic-window-stats",
        "risk_out": "risk-assessment-results",
        "alerts_out": "traffic-alerts",
        "incidents_out": "traffic-incidents",
        "dead_letter_out": "dead-letter",
    }
    monkeypatch.setenv("TRAFFIC_DEAD_LETTER_TOPIC", "staging-dlq")
    cfg = from_args(["--risk-topic", "staging-verdicts", "--alerts-topic", "staging-alerts"])
    assert cfg.sink_topics() == {
        "window_stats_out": "traffic-window-stats",
        "risk_out": "staging-verdicts",
        "alerts_out": "staging-alerts",
        "incidents_out": "traffic-incidents",
        "dead_letter_out": "staging-dlq",
    }


def test_bad_kafka_property_is_a_clear_error(capsys):
    assert error_of(["--kafka-property", "novalue"], capsys) == (
        "risk_job.py: error: argument --kafka-property: expected KEY=VALUE, got 'novalue'"
    )


def test_a_bad_value_names_its_option_and_where_it_came_from(monkeypatch, tmp_path, capsys):
    assert error_of(["--window-s", "abc"], capsys).startswith(
        "risk_job.py: error: argument --window-s: input should be a valid integer"
    )
    monkeypatch.setenv("TRAFFIC_CONGESTION_CAPACITY", "0")
    assert error_of([], capsys) == (
        "risk_job.py: error: argument --congestion-capacity (from TRAFFIC_CONGESTION_CAPACITY): "
        "input should be greater than 0, got '0'"
    )
    monkeypatch.delenv("TRAFFIC_CONGESTION_CAPACITY")
    path = write_yaml(tmp_path, "windw_s: 30\nbounded: maybe\n")
    line = error_of(["--config", path], capsys)
    assert f"--config {path}: windw_s: no such setting" in line
    assert f"argument --bounded (from bounded in {path}): input should be a valid boolean" in line
    assert "--start timestamp needs --start-timestamp-ms" in error_of(
        ["--start", "timestamp"], capsys
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "No such file"),
        ("- window_s\n", "expected a mapping of setting names"),
        ("window_s: [1\n", "while parsing"),
    ],
)
def test_an_unusable_config_file_is_a_clear_error(tmp_path, capsys, content, expected):
    path = tmp_path / "job.yaml"
    if content is not None:
        path.write_text(content)
    line = error_of(["--config", str(path)], capsys)
    assert line.startswith(f"risk_job.py: error: argument --config: {path}: ")
    assert expected in line


def test_help_shows_every_option_with_its_variable_and_default():
    text = " ".join(parser().format_help().split())
    assert text.startswith("usage: risk_job.py [options]")
    for setting in SETTINGS:
        env = f" [{setting.env}{'=true' if setting.is_switch else ''}]" if setting.env else ""
        assert f"{setting.description}{env} (default: {setting.default_text})" in text
    assert "--config FILE" in text and "[TRAFFIC_JOB_CONFIG]" in text
    assert "--check-config" in text
    assert "(default: 60)" in text and "(default: off)" in text  # values as people write them


def documented_options() -> dict[str, str | None]:
    """flag -> environment variable, from the job options table of docs/operations.md."""
    rows = re.findall(
        r"^\| `(--[a-z-]+)[^`]*` \| (`[A-Z_]+[^`]*`|-) \|", OPERATIONS_DOC.read_text(), re.M
    )
    return {
        flag: None if env == "-" else env.strip("`").removesuffix("=true") for flag, env in rows
    }


def test_the_operations_table_lists_every_option_with_its_variable():
    expected = {setting.flag: setting.env for setting in SETTINGS}
    expected |= {"--config": "TRAFFIC_JOB_CONFIG", "--check-config": None}
    assert documented_options() == expected


def test_every_setting_needs_a_description():
    class Undocumented(BaseModel):
        window_s: int = 60

    with pytest.raises(TypeError, match="window_s has no description"):
        settings_of(Undocumented, "TRAFFIC_")


def test_check_config_summarises_without_secrets(tmp_path):
    argv = [
        "--check-config", "--window-s", "30",
        "--redis-url", "redis://user:hunter2@cache:6379/0",
        "--kafka-property", "sasl.jaas.config=PlainLoginModule password=hunter2",
        "--kafka-property", "security.protocol=SASL_SSL",
        "--llm-base-url", "https://api.example/v1", "--llm-api-keys-file", "/run/keys.txt",
        "--jars-dir", str(tmp_path),
    ]  # fmt: skip
    (tmp_path / "keys.txt").write_text("sk-never-shown\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_requested(argv)
    assert check_config(from_args(argv), out, err) == 0
    summary = out.getvalue()
    assert "hunter2" not in summary and "sk-never-shown" not in summary
    assert " * --window-s" in summary and "   --job-name" in summary
    assert "redis://user:***@cache:6379/0" in summary
    assert "sasl.jaas.config=***, security.protocol=SASL_SSL" in summary
    assert "patterns: 6 (red_light_runs_3_in_60s" in summary
    assert "vision LLM qwen-vl-plus at https://api.example/v1" in summary
    assert "keys from the file /run/keys.txt (not read here)" in summary
    assert f"jars: WARNING no jars in {tmp_path}" in summary
    assert summary.rstrip().endswith("configuration OK") and err.getvalue() == ""
    assert not check_requested(["--window-s", "30"])


def test_check_config_fails_on_bad_patterns_and_risk_files(tmp_path):
    patterns = write_yaml(tmp_path, "cep:\n  patterns:\n    - type: nope\n")
    risk = tmp_path / "risk.yaml"
    risk.write_text("risk:\n  llm:\n    timeout_s: -1\n")
    out, err = io.StringIO(), io.StringIO()
    cfg = from_args(["--patterns", patterns, "--risk-config", str(risk)])
    assert check_config(cfg, out, err) == 1
    lines = err.getvalue().splitlines()
    assert lines[0] == "risk_job.py: invalid configuration"
    assert lines[1].startswith(f"--patterns {patterns}: patterns.0: Input tag 'nope'")
    assert lines[2] == f"--risk-config {risk}: llm.timeout_s: Input should be greater than 0"
    assert out.getvalue() == ""
