"""Deployment path: `flink run -py jobs/risk_job.py` on the local session cluster."""

from __future__ import annotations

import time
import uuid

import pytest

from stack.flink_cli import cancel, flink_run, job_status
from tests.integration.job_harness import ON_SESSION_CLUSTER

pytestmark = [pytest.mark.integration, ON_SESSION_CLUSTER]


def test_job_submitted_with_flink_run_is_running_with_readable_names(flink_cluster, fresh_topic):
    topic = fresh_topic(2)
    run = uuid.uuid4().hex[:6]
    job_id = flink_run(
        [
            "--source-topic",
            topic,
            "--group-id",
            f"flink-run-{run}",
            "--job-name",
            f"traffic-risk-it-{run}",
            "--restart-attempts",
            "0",
            "--transactional-id-prefix",
            f"flink-run-{run}",
        ],
        detached=True,
    )
    try:
        deadline = time.monotonic() + 90
        status = job_status(job_id, flink_cluster)
        while time.monotonic() < deadline:
            status = job_status(job_id, flink_cluster)
            vertices = status["vertices"]
            if status["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in vertices):
                break
            assert status["state"] not in {"FAILED", "CANCELED", "FINISHED"}, status["state"]
            time.sleep(1)
        assert status["state"] == "RUNNING"
        assert status["name"] == f"traffic-risk-it-{run}"
        names = " | ".join(v["name"] for v in status["vertices"])
        for readable in (
            "detections_raw",
            "encode window stats",
            "redis: window stats views",
            "encode dead letters",
            "window_stats_out",
            "dead_letter_out",
        ):
            assert readable in names
    finally:
        cancel(job_id, flink_cluster)
