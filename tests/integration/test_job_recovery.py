"""The job on the session cluster survives a savepoint restore, a killed TaskManager and a
Redis outage: every window exactly once in the read_committed output, nothing lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from functools import partial

import pytest
import redis

from contract import WindowStats, parse, redis_keys
from stack.flink_cli import cancel, flink_run, job_status, stop_with_savepoint
from stack.paths import REPO
from stack.services import Flink
from tests.integration.job_harness import (
    BASE_MS,
    ON_SESSION_CLUSTER,
    assert_exactly_once,
    by_camera_number,
    by_window,
    committed_windows,
    expected_windows,
    frames,
    job_args,
    wait_for,
    wait_running,
)
from tests.integration.test_redis_outage import free_port, start_redis
from tests.kafka_io import produce
from tests.redis_io import replies

pytestmark = pytest.mark.integration

# Cameras send seconds 0..34, then 35..69 after the disruption, then one frame at 100 s
# that closes every window up to [80, 90). Expected: windows 0..60 of each camera.
FIRST, SECOND, CLOSE = (0, 34), (35, 69), (100, 100)


def two_cameras(run: str, span: tuple[int, int]) -> list[tuple[bytes, bytes]]:
    return frames(f"c1-{run}", *span) + frames(f"c2-{run}", *span)


def expected_for(run: str) -> dict[tuple[str, int], tuple[int, int]]:
    everything = two_cameras(run, (FIRST[0], SECOND[1]))
    return expected_windows(everything)


@ON_SESSION_CLUSTER
def test_savepoint_stop_and_restore_continue_without_loss_or_duplicates(
    flink_cluster, kafka_bootstrap, fresh_topic, tmp_path
):
    topic, run = fresh_topic(2), uuid.uuid4().hex[:6]
    cameras = {f"c1-{run}", f"c2-{run}"}
    windows = partial(committed_windows, kafka_bootstrap, cameras, run)
    produce(kafka_bootstrap, topic, two_cameras(run, FIRST), by_camera_number)
    job_id = flink_run(job_args(topic, run), detached=True)
    wait_running(job_id)
    wait_for(lambda: len(windows()) >= 4, 120, "first windows")

    savepoint = stop_with_savepoint(job_id, f"file://{tmp_path}/savepoints")
    assert job_status(job_id)["state"] == "FINISHED"
    produce(
        kafka_bootstrap, topic, two_cameras(run, SECOND) + two_cameras(run, CLOSE), by_camera_number
    )
    restored = flink_run(job_args(topic, run), detached=True, from_savepoint=savepoint)
    try:
        wait_running(restored)
        expected = expected_for(run)
        wait_for(
            lambda: set(by_window(windows())) >= set(expected),
            120, "all windows after restore",
        )  # fmt: skip
        assert_exactly_once(windows(), expected)
    finally:
        cancel(restored)


@ON_SESSION_CLUSTER
def test_killed_taskmanager_recovers_with_every_window_exactly_once(
    flink_cluster, kafka_bootstrap, fresh_topic
):
    topic, run = fresh_topic(2), uuid.uuid4().hex[:6]
    cameras = {f"c1-{run}", f"c2-{run}"}
    windows = partial(committed_windows, kafka_bootstrap, cameras, run)
    produce(kafka_bootstrap, topic, two_cameras(run, FIRST), by_camera_number)
    job_id = flink_run(job_args(topic, run, restart_attempts=20), detached=True)
    cluster = Flink()
    try:
        wait_running(job_id)
        wait_for(lambda: len(windows()) >= 4, 120, "first windows")
        assert cluster.kill_taskmanagers(), "no TaskManager to kill"
        produce(
            kafka_bootstrap,
            topic,
            two_cameras(run, SECOND) + two_cameras(run, CLOSE),
            by_camera_number,
        )
        # Once the JobManager has noticed the loss, `traffic-stack start` adds a TaskManager.
        wait_for(lambda: not cluster.healthy(), 120, "the JobManager noticing the lost TaskManager")
        assert "TaskManager restarted" in cluster.start()
        wait_running(job_id, timeout_s=180)
        assert job_status(job_id)["state"] == "RUNNING"
        expected = expected_for(run)
        wait_for(
            lambda: set(by_window(windows())) >= set(expected),
            180, "all windows after recovery",
        )  # fmt: skip
        assert_exactly_once(windows(), expected)
    finally:
        cancel(job_id)
        if not cluster.taskmanager_pids():
            cluster.start_taskmanager()


def test_redis_outage_keeps_job_running_and_views_catch_up(kafka_bootstrap, fresh_topic, tmp_path):
    """On its own mini cluster (`python jobs/risk_job.py`, no restarts allowed): the job must
    ride out the outage without failing, so any failure ends the process."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server missing: ./dev setup installs it")
    topic, run = fresh_topic(2), uuid.uuid4().hex[:6]
    cameras = {f"c1-{run}", f"c2-{run}"}
    windows = partial(committed_windows, kafka_bootstrap, cameras, run)
    port = free_port()
    server: subprocess.Popen[bytes] = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    produce(kafka_bootstrap, topic, two_cameras(run, FIRST), by_camera_number)
    log = (tmp_path / "job.log").open("wb")
    job = subprocess.Popen(
        [sys.executable, str(REPO / "jobs" / "risk_job.py"),
         *job_args(topic, run, redis_url=url, restart_attempts=0)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
        env={**os.environ, "FLINK_LOG_DIR": str(tmp_path)},
    )  # fmt: skip
    client = replies(redis.Redis(port=port))
    try:
        wait_for(lambda: client.zcard(redis_keys.stats_series(f"c1-{run}")) >= 2, 120, "redis")
        server.terminate()
        server.wait(10)
        produce(kafka_bootstrap, topic, two_cameras(run, SECOND), by_camera_number)
        # Windows up to [50, 60) close while Redis is down: Kafka must get them anyway.
        on_kafka = lambda: by_window(windows())  # noqa: E731
        wait_for(lambda: (f"c1-{run}", 50) in on_kafka(), 120, "windows on Kafka in the outage")
        assert job.poll() is None, (tmp_path / "job.log").read_text()[-3000:]

        server = start_redis(port, tmp_path)  # back, empty: views rebuild from the backlog
        produce(kafka_bootstrap, topic, two_cameras(run, CLOSE), by_camera_number)
        expected = expected_for(run)
        written_after = {w for (c, w) in expected if c == f"c1-{run}" and w >= 40}

        def caught_up() -> bool:
            series = client.zrange(redis_keys.stats_series(f"c1-{run}"), 0, -1)
            starts = {(parse(WindowStats, m).window_start_ms - BASE_MS) // 1000 for m in series}
            return written_after <= starts

        wait_for(caught_up, 120, "Redis catching up after the outage")
        latest = parse(WindowStats, client.get(redis_keys.stats_latest(f"c1-{run}")))
        assert (latest.window_start_ms - BASE_MS) // 1000 == 60
        assert_exactly_once(windows(), expected)
        assert job.poll() is None, (tmp_path / "job.log").read_text()[-3000:]
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(30)
        log.close()
        server.terminate()
        server.wait(10)
