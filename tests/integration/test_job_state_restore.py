"""Keyed state of the risk, CEP and incident stages survives `flink stop --savepointPath` +
`flink run -s`.

Before the savepoint: the stub answers the first LLM call 429 with Retry-After 3600 s (the
key cools down, the call fails over to the other key), and a camera runs two red lights.
After the restore: the cooled key gets no request, the pool's counters carried over, and a
third red-light run completes the partial match into an alert.
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from contract import Incident, RiskAssessment, TrafficAlert, parse, redis_keys, topics
from stack.flink_cli import cancel, flink_run, job_status, stop_with_savepoint
from stack.paths import REPO
from stack.services import Flink
from tests.integration.job_harness import (
    BASE_MS,
    ON_SESSION_CLUSTER,
    frame_at,
    job_args,
    key_pool_health,
    llm_worthy,
    out_topic,
    red_light_crossing,
    wait_for,
    wait_running,
)
from tests.integration.llm_stub import get, post
from tests.kafka_io import produce, read_all
from udfs.risk.keypool import key_id_for

pytestmark = [pytest.mark.integration, ON_SESSION_CLUSTER]

TEST_KEYS = ["sk-restore-SECRET-0001", "sk-restore-SECRET-0002"]
RED_LIGHTS = "red_light_runs_3_in_60s"


def committed(bootstrap: str, topic: str, model: type, camera: str) -> list[Any]:
    found: list[Any] = [parse(model, value) for _, value in read_all(bootstrap, topic, idle_s=2)]
    return [m for m in found if m.camera_id == camera]


def test_cooling_key_spend_and_partial_matches_survive_savepoint_restore(
    flink_cluster, kafka_bootstrap, redis_url, fresh_topic, cooling_llm, tmp_path: Path
):
    topic, run = fresh_topic(1), uuid.uuid4().hex[:6]
    camera = f"r1-{run}"
    keys_file, risk_file = tmp_path / "keys.txt", tmp_path / "risk.yaml"
    keys_file.write_text("\n".join(TEST_KEYS) + "\n")
    budget = {"requests_per_min": 100_000, "tokens_per_min": 10**9}
    risk_file.write_text(yaml.safe_dump({"risk": {"pool": {"default_key": budget}}}))
    verdicts_topic = out_topic(run, topics.RISK_ASSESSMENT_RESULTS)
    args = job_args(
        topic, run, signal_topic="", redis_url=redis_url, risk_config=risk_file,
        llm_base_url=cooling_llm + "/v1", llm_api_keys_file=keys_file,
    )  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    health = partial(key_pool_health, client, TEST_KEYS)
    client.hdel(redis_keys.KEYPOOL_HEALTH, *(key_id_for(k) for k in TEST_KEYS))  # earlier runs
    post(cooling_llm + "/control", {"script": ["429"]})  # the first call: 429, Retry-After 3600 s

    special = {
        3: llm_worthy(camera, 3),
        5: red_light_crossing(camera, 5, 1),
        10: red_light_crossing(camera, 10, 2),
    }
    produce(kafka_bootstrap, topic, [special.get(s) or frame_at(camera, s) for s in range(31)])
    job_id = flink_run(args, detached=True)
    wait_running(job_id)

    def cooled() -> dict[str, dict[str, Any]] | None:
        found = health()
        return found if any(h["rate_limited"] == 1 for h in found.values()) else None

    before = wait_for(cooled, 120, "the 429 settled into the key pool")
    wait_for(
        lambda: committed(kafka_bootstrap, verdicts_topic, RiskAssessment, camera),
        60, "the first verdict",
    )  # fmt: skip
    time.sleep(3)  # the watermark (30 s - 5 s bound) has passed both crossings: partial match
    savepoint = stop_with_savepoint(job_id, f"file://{tmp_path}/savepoints")
    assert job_status(job_id)["state"] == "FINISHED"
    cooled_key = next(k for k, h in before.items() if h["rate_limited"] == 1)
    other_key = next(k for k in before if k != cooled_key)
    assert before[cooled_key]["cooldown_until_ms"] > time.time() * 1000 + 3_000_000
    early = committed(kafka_bootstrap, out_topic(run, topics.TRAFFIC_ALERTS), TrafficAlert, camera)
    assert RED_LIGHTS not in {a.pattern for a in early}  # two runs: a partial match only

    post(cooling_llm + "/reset", {})
    client.hdel(redis_keys.KEYPOOL_HEALTH, *before)
    special = {
        40: red_light_crossing(camera, 40, 3),
        45: llm_worthy(camera, 45),
        50: llm_worthy(camera, 50),
    }
    produce(kafka_bootstrap, topic, [special.get(s) or frame_at(camera, s) for s in range(31, 101)])
    restored = flink_run(args, detached=True, from_savepoint=savepoint)
    try:
        wait_running(restored)

        def red_light_alerts() -> list[TrafficAlert]:
            alerts = committed(
                kafka_bootstrap, out_topic(run, topics.TRAFFIC_ALERTS), TrafficAlert, camera
            )
            return [a for a in alerts if a.pattern == RED_LIGHTS]

        alerts = wait_for(red_light_alerts, 120, "the red-light alert completed after restore")
        assert [(a.track_ids, a.start_ms, a.end_ms) for a in alerts] == [
            ((1, 2, 3), BASE_MS + 5_000, BASE_MS + 40_000)
        ]

        def llm_verdicts() -> list[RiskAssessment]:
            found = committed(
                kafka_bootstrap,
                out_topic(run, topics.RISK_ASSESSMENT_RESULTS),
                RiskAssessment,
                camera,
            )
            return [v for v in found if v.source == "llm" and v.frame_id in (45, 50)]

        verdicts = wait_for(llm_verdicts, 120, "verdicts after restore")
        assert {v.key_id for v in verdicts} == {other_key}
        assert get(cooling_llm + "/stats")["by_key"] == {other_key: 2}  # the cooled key stayed cold
        after = wait_for(lambda: health() or None, 30, "key-pool health after restore")
        assert after[cooled_key]["rate_limited"] == 1
        assert after[cooled_key]["cooldown_until_ms"] == before[cooled_key]["cooldown_until_ms"]
        assert after[other_key]["requests"] >= before[other_key]["requests"] + 2
        assert after[other_key]["spend_usd"] > before[other_key]["spend_usd"] > 0
    finally:
        cancel(restored)


def test_cooling_key_and_spend_survive_a_killed_taskmanager(
    flink_cluster, kafka_bootstrap, redis_url, fresh_topic, cooling_llm, tmp_path: Path
):
    """The pool and its settlements live in keyed state, not in a process: after every
    TaskManager is killed and the job recovers from its last checkpoint, the key that got a
    429 (Retry-After 3600 s) stays cold and the other key's spend carries over."""
    topic, run = fresh_topic(1), uuid.uuid4().hex[:6]
    camera = f"k1-{run}"
    keys_file, risk_file = tmp_path / "keys.txt", tmp_path / "risk.yaml"
    keys_file.write_text("\n".join(TEST_KEYS) + "\n")
    budget = {"requests_per_min": 100_000, "tokens_per_min": 10**9}
    risk_file.write_text(yaml.safe_dump({"risk": {"pool": {"default_key": budget}}}))
    args = job_args(
        topic, run, signal_topic="", redis_url=redis_url, risk_config=risk_file,
        llm_base_url=cooling_llm + "/v1", llm_api_keys_file=keys_file, restart_attempts=20,
    )  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    health = partial(key_pool_health, client, TEST_KEYS)
    client.hdel(redis_keys.KEYPOOL_HEALTH, *(key_id_for(k) for k in TEST_KEYS))
    post(cooling_llm + "/control", {"script": ["429"]})
    produce(
        kafka_bootstrap,
        topic,
        [llm_worthy(camera, s) if s == 3 else frame_at(camera, s) for s in range(31)],
    )
    job_id = flink_run(args, detached=True)
    cluster = Flink()
    try:
        wait_running(job_id)
        verdicts_topic = out_topic(run, topics.RISK_ASSESSMENT_RESULTS)
        # A committed verdict means a completed checkpoint holds its settlement too: a call
        # settles into the pool in the same step that emits its result.
        first = wait_for(
            lambda: committed(kafka_bootstrap, verdicts_topic, RiskAssessment, camera),
            120, "the first verdict committed",
        )  # fmt: skip
        assert [v.source for v in first] == ["llm"]
        before = health()
        cooled_key = next(k for k, h in before.items() if h["rate_limited"] == 1)
        other_key = next(k for k in before if k != cooled_key)

        assert cluster.kill_taskmanagers(), "no TaskManager to kill"
        wait_for(lambda: not cluster.healthy(), 120, "the JobManager noticing the lost TaskManager")
        assert "TaskManager restarted" in cluster.start()
        wait_running(job_id, timeout_s=180)
        post(cooling_llm + "/reset", {})
        client.hdel(redis_keys.KEYPOOL_HEALTH, *before)
        risky = {45, 50}
        later = [
            llm_worthy(camera, s) if s in risky else frame_at(camera, s) for s in range(31, 61)
        ]
        produce(kafka_bootstrap, topic, later)

        def later_verdicts() -> list[RiskAssessment]:
            found = committed(kafka_bootstrap, verdicts_topic, RiskAssessment, camera)
            return [v for v in found if v.frame_id in (45, 50)]

        verdicts = wait_for(later_verdicts, 180, "verdicts after the recovery")
        assert {(v.source, v.key_id) for v in verdicts} == {("llm", other_key)}
        assert get(cooling_llm + "/stats")["by_key"] == {other_key: 2}  # the cooled key stayed cold
        after = wait_for(lambda: health() or None, 30, "key-pool health after recovery")
        assert after[cooled_key]["cooldown_until_ms"] == before[cooled_key]["cooldown_until_ms"]
        assert after[other_key]["requests"] >= before[other_key]["requests"] + 2
        assert after[other_key]["spend_usd"] > before[other_key]["spend_usd"] > 0
    finally:
        cancel(job_id)


def test_open_incident_survives_savepoint_restore_with_a_changed_configuration(
    flink_cluster, kafka_bootstrap, redis_url, fresh_topic, tmp_path: Path
):
    """Three red-light runs open an incident; savepoint; the job comes back with another
    patterns file (the red-light incidents' quiet period 60 s -> 120 s): three more runs,
    sharing a track, join the restored incident (same id, next revision), and it closes by
    the new quiet period."""
    topic, run = fresh_topic(1), uuid.uuid4().hex[:6]
    camera = f"r2-{run}"
    incidents_topic = out_topic(run, topics.TRAFFIC_INCIDENTS)
    shipped = yaml.safe_load((REPO / "flink-conf" / "patterns.yaml").read_text())
    assert shipped["incidents"]["kinds"]["red_light"]["quiet_s"] == 60
    shipped["incidents"]["kinds"]["red_light"]["quiet_s"] = 120
    changed = tmp_path / "patterns.yaml"
    changed.write_text(yaml.safe_dump(shipped))
    # One source subtask for the one partition: no split-less subtask holds the watermark
    # until it turns idle. The restored job reads its 270 s backlog at once; a Python operator
    # forwards a source's IDLE status at once but holds its watermark until the bundle in
    # flight is finished (docs/architecture.md), so a backlog still inside the CEP operator
    # when the source turned idle could reach the incident stage behind the flushed
    # watermark. The long idle timeout keeps the source active until the backlog is through.
    args = job_args(topic, run, signal_topic="", redis_url=redis_url, parallelism=1,
                    idle_timeout_s=600)  # fmt: skip
    runs = {5: 1, 10: 2, 15: 3}
    produce(
        kafka_bootstrap,
        topic,
        [red_light_crossing(camera, s, runs[s]) if s in runs else frame_at(camera, s)
         for s in range(31)],
    )  # fmt: skip
    job_id = flink_run(args, detached=True)
    wait_running(job_id)

    def revisions() -> list[Incident]:
        return committed(kafka_bootstrap, incidents_topic, Incident, camera)

    [opened] = wait_for(revisions, 120, "the incident opened")
    assert (opened.kind, opened.revision, opened.track_ids) == ("red_light", 1, (1, 2, 3))
    savepoint = stop_with_savepoint(job_id, f"file://{tmp_path}/savepoints")

    runs = {40: 3, 45: 4, 50: 5}
    later = [red_light_crossing(camera, s, runs[s]) if s in runs else frame_at(camera, s)
             for s in range(31, 301)]  # fmt: skip
    produce(kafka_bootstrap, topic, later)
    restored = flink_run([*args, "--patterns", str(changed)], detached=True,
                         from_savepoint=savepoint)  # fmt: skip
    try:
        wait_running(restored)
        closed = wait_for(
            lambda: [i for i in revisions() if i.status == "closed"], 180, "the incident closed"
        )
        found = sorted(revisions(), key=lambda i: i.revision)
        seen = [(i.incident_id, i.kind, i.revision, i.status, i.track_ids, i.alert_ids,
                 i.opened_at_ms - BASE_MS) for i in found]  # fmt: skip
        alerts = [(a.pattern, a.start_ms - BASE_MS, a.end_ms - BASE_MS, a.track_ids)
                  for a in committed(kafka_bootstrap, out_topic(run, topics.TRAFFIC_ALERTS),
                                     TrafficAlert, camera)]  # fmt: skip
        assert {i.incident_id for i in found} == {opened.incident_id}, (seen, alerts)
        assert [(i.revision, i.status, i.alert_count) for i in found] == [
            (1, "open", 1), (2, "open", 2), (3, "closed", 2)
        ]  # fmt: skip
        assert closed[0].track_ids == (1, 2, 3, 4, 5)
        assert closed[0].closed_at_ms == BASE_MS + 50_000 + 120_000  # the new quiet period
    finally:
        cancel(restored)
