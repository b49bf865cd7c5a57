"""The shipped log4j files keep process environments (API keys) out of Flink's logs.

One secrets block, the same in every file flink-conf/ ships, in the Kubernetes
FlinkDeployment and in the job image; its filter drops the dumps seen in real TaskManager
and client logs and nothing else (tests/integration/test_secrets_stay_out.py runs a job).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.risk_job import use_shipped_log_config
from k8s.tools import manifests
from stack.paths import FLINK_CONF_SOURCE, REPO, SHIPPED_LOG4J

BEGIN, END = "# ---- Secrets stay out of the logs", "# ---- end of the secrets block ----"
# Messages as Beam and PyFlink print them (abridged from real logs).
DUMPS = [
    'Closing environment urn: "beam:env:process:v1"\npayload: "\\032O/venv/pyflink/bin/'
    'pyflink-udf-runner.sh\\"\\353\\001\\n\\004PATH\\022\\342\\001/venv/bin:/usr/bin"\n',
    'Expiring environment urn: "beam:env:process:v1"\npayload: "..." with 3 remaining bundle '
    "references.",
    "Starting Python process with environment variables: {RUST_BACKTRACE=1, PATH=/venv/bin, "
    "TRAFFIC_LLM_API_KEYS=sk-1}, command: /venv/bin/python -m risk_job",
]
KEPT = [
    "Python interpreter path: /venv/bin/python",
    "Starting the network environment and its components.",
    "risk stage: no LLM keys in $TRAFFIC_LLM_API_KEYS",
]


def properties(text: str) -> dict[str, str]:
    """key = value pairs of a Java properties file (no continuation lines used here)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def secrets_block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END)
    return text[start:end]


def shipped(name: str) -> str:
    return (FLINK_CONF_SOURCE / name).read_text()


@pytest.mark.parametrize("name", SHIPPED_LOG4J)
def test_every_shipped_file_ends_with_the_same_secrets_block(name: str) -> None:
    assert secrets_block(shipped(name)) == secrets_block(shipped(SHIPPED_LOG4J[0]))
    assert shipped(name).rstrip().endswith(END)  # nothing after it overrides it


@pytest.mark.parametrize("name", SHIPPED_LOG4J)
def test_the_loggers_that_print_environments_are_quiet(name: str) -> None:
    props = properties(shipped(name))
    levels = {
        props[f"logger.{i}.name"]: props[f"logger.{i}.level"] for i in ("beamenv", "pythonenv")
    }
    assert levels == {
        "org.apache.beam.runners.fnexecution.control.DefaultJobBundleFactory": "ERROR",
        "org.apache.flink.client.python.PythonEnvUtils": "WARN",
    }
    assert props["filter.envdump.type"] == "RegexFilter"
    assert (props["filter.envdump.onMatch"], props["filter.envdump.onMismatch"]) == (
        "DENY",
        "NEUTRAL",
    )


def test_the_filter_drops_environment_dumps_and_nothing_else() -> None:
    """log4j's RegexFilter matches the whole message (Java's `matches()`); the pattern uses
    only syntax that Python's `re` reads alike."""
    pattern = re.compile(properties(shipped("log4j.properties"))["filter.envdump.regex"])
    assert all(pattern.fullmatch(message) for message in DUMPS)
    assert not any(pattern.fullmatch(message) for message in KEPT)


def test_kubernetes_pods_log_with_the_shipped_console_config() -> None:
    (deployment,) = manifests.load_yaml(REPO / "k8s" / "base" / "flink" / "flinkdeployment.yaml")
    logs = deployment["spec"]["logConfiguration"]
    assert logs == {"log4j-console.properties": shipped("log4j-console.properties")}


def test_the_job_image_puts_the_shipped_files_into_flink_conf() -> None:
    dockerfile = (REPO / "docker" / "job.Dockerfile").read_text()
    copy = re.search(r"^COPY ((?:flink-conf/\S+\s+(?:\\\s+)?)+)/opt/flink/conf/$", dockerfile, re.M)
    assert copy, "job.Dockerfile copies no log4j file into /opt/flink/conf/"
    copied = {Path(word).name for word in copy.group(1).split() if word != "\\"}
    assert copied == set(SHIPPED_LOG4J)


def test_a_mini_cluster_from_the_checkout_uses_the_shipped_cli_config() -> None:
    environ: dict[str, str] = {}
    use_shipped_log_config(environ)
    assert environ == {"LOG4J_PROPERTIES": str(FLINK_CONF_SOURCE / "log4j-cli.properties")}
    for chosen in ({"FLINK_CONF_DIR": "/etc/flink"}, {"LOG4J_PROPERTIES": "/etc/log4j.props"}):
        environ = dict(chosen)
        use_shipped_log_config(environ)
        assert environ == chosen  # a configuration the caller chose is kept
