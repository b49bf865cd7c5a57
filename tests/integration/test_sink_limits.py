"""A sink that cannot write fails the job with an error naming the sink, the record's source
offset and the limit, and the TaskManager stays up (it once went down with such a job); a
sink whose topic is missing is refused at submission, naming the sink and its option."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from jobs.config import from_args
from stack.flink_cli import cancel, flink_run, job_status
from stack.paths import REPO
from stack.topics import ensure_topics
from tests.integration.job_harness import (
    ON_SESSION_CLUSTER,
    by_camera_number,
    frames,
    job_args,
    wait_for,
)
from tests.kafka_io import produce
from tests.private_kafka import PrivateKafka, private_kafka
from udfs.sinks import preflight

pytestmark = pytest.mark.integration

LIMIT = 3000  # a producer request limit below one dead letter of the bad record


def rest(flink_cluster: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{flink_cluster}{path}", timeout=5) as response:
        body: dict[str, Any] = json.load(response)
    return body


@ON_SESSION_CLUSTER
def test_a_record_over_the_producer_limit_fails_the_job_naming_sink_offset_and_limit(
    flink_cluster, fresh_topic, kafka_bootstrap
):
    topic = fresh_topic(2)
    run = uuid.uuid4().hex[:6]
    good = frames(f"c1-{run}", 0, 2) + frames(f"c2-{run}", 0, 2)
    produce(kafka_bootstrap, topic, good, by_camera_number)  # offsets 0-2 on both partitions
    produce(kafka_bootstrap, topic, [(f"c1-{run}".encode(), b"\xff" * 5000)], by_camera_number)
    managers_before = {tm["id"] for tm in rest(flink_cluster, "/taskmanagers")["taskmanagers"]}

    job_id = flink_run(
        job_args(topic, run, restart_attempts=0, kafka_property=f"max.request.size={LIMIT}"),
        detached=True,
    )
    try:
        wait_for(lambda: job_status(job_id)["state"] == "FAILED", 180, "the job to fail")
    finally:
        if job_status(job_id)["state"] not in {"FAILED", "FINISHED", "CANCELED"}:
            cancel(job_id)
    failure = rest(flink_cluster, f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    text = "\n".join(e.get("stacktrace", "") + e.get("exceptionName", "") for e in failure)
    assert "sink dead_letter_out" in text
    assert "key '0:3'" in text  # partition 0, offset 3: the bad record's source position
    assert f"max.request.size={LIMIT}" in text
    managers_after = {tm["id"] for tm in rest(flink_cluster, "/taskmanagers")["taskmanagers"]}
    assert managers_before <= managers_after  # every TaskManager is still registered


@pytest.fixture(scope="module")
def strict_broker() -> Iterator[PrivateKafka]:
    """A broker that, like most production ones, does not create topics on first use."""
    with private_kafka("kafka-no-auto-create", 9194, auto_create=False) as broker:
        yield broker


def test_a_missing_output_topic_refuses_the_submission_naming_sink_and_option(strict_broker):
    run = uuid.uuid4().hex[:6]
    bootstrap = strict_broker.bootstrap
    outputs = {
        flag: f"{flag.strip('-')}-{run}"
        for flag in (
            "--window-stats-topic",
            "--risk-topic",
            "--alerts-topic",
            "--incidents-topic",
            "--dead-letter-topic",
        )
    }
    present = {topic: 1 for flag, topic in outputs.items() if flag != "--dead-letter-topic"}
    ensure_topics(bootstrap, {f"in-{run}": 1, **present})
    args = [
        "--kafka-bootstrap",
        bootstrap,
        "--source-topic",
        f"in-{run}",
        *(x for pair in outputs.items() for x in pair),
    ]
    done = subprocess.run(
        [sys.executable, "jobs/risk_job.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    missing = outputs["--dead-letter-topic"]
    assert (
        f"sink dead_letter_out: topic {missing} (--dead-letter-topic) does not exist" in done.stderr
    ), done.stderr[-2000:]
    assert "window_stats_out" not in done.stderr  # the topics that exist are not named

    ensure_topics(bootstrap, {missing: 1})
    cfg = from_args(args)
    assert preflight.output_problems(bootstrap, cfg.sink_options(), {}) == []
