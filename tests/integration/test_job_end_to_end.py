"""The whole job on simulator data, with the stub LLM misbehaving 30% of the time.

Simulator (20% of events out of order within 3 s) -> Kafka -> jobs/risk_job.py (mini cluster,
bounded) -> read_committed topics and Redis. One run checks what the product promises end to end:
- every group of every frame gets exactly one verdict; the stub saw exactly one successful
  answer per `llm` verdict (cache hits made no call); chaos ends in explicit fallbacks (one
  camera's requests always fail, so fallbacks are certain, not left to chance);
- every incident the simulator injected is alerted (recall 1.0 on its ground truth) and no
  alert of those patterns lacks a labelled incident (precision 1.0);
- high verdicts are alerts of their own, thinned by the per-camera cooldown; alerts carry
  their evidence; every alert is in exactly one incident, and each labelled situation the
  alerts found is one incident; Redis holds the live views, incidents included;
- the test API keys appear nowhere: logs, job output, topics, Redis.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from benchmarks.incidents import LABEL_OF_KIND, judge, scored
from contract import Incident, RiskAssessment, TrafficAlert, WindowStats, parse, redis_keys, topics
from simulator.scoring import newest_revisions, read_labels, score, score_incidents, summary
from stack.paths import REPO
from tests.integration import leaks
from tests.integration.job_harness import (
    KIND_OF_PATTERN,
    bounded_job_command,
    out_topic,
    simulator_patterns,
)
from tests.integration.llm_stub import get, post, running_stub
from tests.kafka_io import read_all
from tests.redis_io import replies
from udfs.incidents.config import IncidentConfig
from udfs.patterns.cooldown import LATENESS_MS
from udfs.risk.keypool import key_id_for

pytestmark = pytest.mark.integration

TEST_KEYS = ["sk-e2e-SECRET-aaaa1111", "sk-e2e-SECRET-bbbb2222"]


def risk_config(tmp_path: Path) -> Path:
    """Fast timeouts, generous key budgets."""
    risk = {
        "risk": {
            "llm": {"timeout_s": 2, "backoff_s": 0.05, "operator_timeout_s": 30},
            "pool": {"default_key": {"requests_per_min": 100_000, "tokens_per_min": 10**9}},
        }
    }
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(risk))
    return path


@pytest.fixture
def chaotic_llm() -> Iterator[str]:
    with running_stub(
        "--latency-ms", "20", "--fault-rate", "0.3", "--faults", "429,500,hang,malformed",
        "--hang-s", "5", "--retry-after-s", "1", "--seed", "7",
    ) as url:  # fmt: skip
        yield url


def assert_verdict_cooldown(high: list[RiskAssessment], alerts: list[TrafficAlert]) -> None:
    """Whatever order verdicts arrived in (LLM calls finish out of order), per camera: every
    alert is a high verdict's, alerts lie at least the cooldown (10 s) apart, and every high
    verdict lies within the cooldown of an alert."""
    assert alerts and len(alerts) <= len(high)
    by_id = {f"high_risk_verdict:{v.camera_id}:{v.frame_id}:{v.group_id}": v for v in high}
    assert {a.alert_id for a in alerts} <= set(by_id)
    for camera in {v.camera_id for v in high}:
        kept = sorted(a.start_ms for a in alerts if a.camera_id == camera)
        assert all(b - a >= 10_000 for a, b in itertools.pairwise(kept)), camera
        for v in (v for v in high if v.camera_id == camera):
            assert any(abs(v.captured_at_ms - t) < 10_000 for t in kept), (camera, v)
    assert LATENESS_MS >= 600_000  # the whole 10-minute run stays within the horizon


def simulate(bootstrap: str, topic: str, prefix: str, out: Path) -> dict[str, Any]:
    report = out / "sim-report.json"
    subprocess.run(
        [sys.executable, "-m", "simulator", "--cameras", "4", "--fps", "1", "--duration", "10m",
         "--camera-prefix", prefix, "--seed", "3", "--red-light-rate", "30",
         "--near-miss-rate", "30", "--wrong-way-rate", "20", "--congestion-rate", "6",
         "--congestion-length", "60", "--out-of-order", "0.2", "--out-of-order-bound", "3s",
         "--sink", "kafka", "--bootstrap", bootstrap,
         "--topic", topic, "--truth", str(out / "truth.jsonl"), "--report-json", str(report),
         "--no-progress"],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    counts: dict[str, Any] = json.loads(report.read_text())
    return counts


def test_simulated_cameras_end_to_end_with_chaotic_llm(
    kafka_bootstrap, redis_url, fresh_topic, chaotic_llm, tmp_path
):
    run = uuid.uuid4().hex[:6]
    prefix = f"e2e-{run}-"
    source, signals = fresh_topic(1), fresh_topic(1)
    failing_camera = f"{prefix}0003"  # every request about it answers 500: it must fall back
    post(chaotic_llm + "/control", {"when_text_contains": {f"Camera {failing_camera}.": "500"}})
    sim = simulate(kafka_bootstrap, source, prefix, tmp_path)
    assert sim["events"] == 2400 and sim["groups"] > 500
    labels = read_labels(tmp_path / "truth.jsonl")
    assert {label.kind for label in labels} >= set(KIND_OF_PATTERN.values())

    stale = redis.Redis.from_url(redis_url)  # key-pool health of earlier runs: not evidence
    stale.hdel(redis_keys.KEYPOOL_HEALTH, *(key_id_for(k) for k in TEST_KEYS))
    risk_file, patterns_file = risk_config(tmp_path), simulator_patterns(tmp_path)
    keys_file = tmp_path / "llm-keys.txt"
    keys_file.write_text("\n".join(TEST_KEYS) + "\n")
    logs = tmp_path / "flink-logs"
    logs.mkdir()
    job_log = tmp_path / "job.log"
    with job_log.open("w") as log:
        job = subprocess.run(
            bounded_job_command(
                "e2e", run, source, signals, 2, "--redis-url", redis_url,
                "--risk-config", str(risk_file), "--llm-base-url", chaotic_llm + "/v1",
                "--llm-model", "stub-vl", "--llm-api-keys-file", str(keys_file),
                "--patterns", str(patterns_file), "--congestion-capacity", "12",
                "--free-flow-speed-px-s", "100",
            ),
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=600,
            env={**os.environ, "FLINK_LOG_DIR": str(logs)},
        )  # fmt: skip
    assert job.returncode == 0, job_log.read_text()[-4000:]

    # Verdicts: exactly one per group; sources as the chaos and the cache imply.
    verdict_records = read_all(
        kafka_bootstrap, out_topic(run, topics.RISK_ASSESSMENT_RESULTS), idle_s=3
    )
    verdicts = [
        v for v in (parse(RiskAssessment, value) for _, value in verdict_records)
        if v.camera_id.startswith(prefix)
    ]  # fmt: skip
    per_group = Counter((v.camera_id, v.frame_id, v.group_id) for v in verdicts)
    assert len(per_group) == sim["groups"] and set(per_group.values()) == {1}
    sources = Counter(v.source for v in verdicts)
    assert sources["heuristic"] > 0 and sources["llm"] > 0 and sources["cache"] > 0
    for v in verdicts:
        if v.source == "fallback":
            assert "(" in v.reason and ")" in v.reason  # the cause is named
    failing = Counter(v.source for v in verdicts if v.camera_id == failing_camera)
    assert failing["fallback"] > 0 and failing["llm"] == 0, failing
    assert all(
        "LLM failed 3 times (server_error)" in v.reason
        for v in verdicts
        if v.camera_id == failing_camera and v.source == "fallback"
    )
    stub = get(chaotic_llm + "/stats")
    assert stub["outcomes"]["ok"] == sources["llm"]  # cache hits made no call
    assert set(stub["outcomes"]) >= {"429", "500", "hang", "malformed"}
    assert set(stub["by_key"]) == {key_id_for(k) for k in TEST_KEYS}

    # Alerts: recall and precision 1.0 on the simulator's ground truth.
    alert_records = read_all(kafka_bootstrap, out_topic(run, topics.TRAFFIC_ALERTS), idle_s=3)
    alerts = [
        a for a in (parse(TrafficAlert, value) for _, value in alert_records)
        if a.camera_id.startswith(prefix)
    ]  # fmt: skip
    assert len({a.alert_id for a in alerts}) == len(alerts)  # exactly once
    scores = score(alerts, labels, KIND_OF_PATTERN)
    for kind, result in scores.items():
        assert result.labels > 0, kind
        assert not result.missed, f"{kind} missed: {result.missed[:3]}; {summary(scores)}"
        assert not result.unmatched_alerts, (
            f"{kind} false alerts: {result.unmatched_alerts[:3]}; {summary(scores)}"
        )
    high = [v for v in verdicts if v.risk_level == "high"]
    assert_verdict_cooldown(high, [a for a in alerts if a.pattern == "high_risk_verdict"])
    assert all(a.evidence for a in alerts if a.pattern != "sustained_congestion_3_windows")

    # Incidents: every alert in exactly one; one per labelled situation the alerts found.
    incident_records = read_all(
        kafka_bootstrap, out_topic(run, topics.TRAFFIC_INCIDENTS), idle_s=3
    )
    incidents = newest_revisions(
        i for i in (parse(Incident, value) for _, value in incident_records)
        if i.camera_id.startswith(prefix)
    )  # fmt: skip
    assert incidents and all(i.status == "closed" for i in incidents)  # bounded input: all
    assert sum(i.alert_count for i in incidents) == len(alerts)
    assert len(incidents) < len(alerts)
    alert_scores = score(alerts, labels, KIND_OF_PATTERN)
    patterns_doc = yaml.safe_load(patterns_file.read_text())
    quiet = IncidentConfig.model_validate(patterns_doc["incidents"])
    for kind, found in score_incidents(scored(incidents), labels, LABEL_OF_KIND).items():
        verdict = judge(found, alert_scores[LABEL_OF_KIND[kind]], quiet.quiet_ms(kind))
        assert verdict["one_incident_per_situation"], (kind, verdict, found.split[:2])

    # Redis live views.
    client = replies(redis.Redis.from_url(redis_url))
    recent_alerts = {
        json.loads(doc)["alert_id"] for doc in client.zrange(redis_keys.ALERTS_RECENT, 0, -1)
    }
    newest = sorted(alerts, key=lambda a: a.end_ms)[-10:]
    assert {a.alert_id for a in newest} <= recent_alerts
    for incident in incidents:  # the newest revision, and closed: out of the open set
        stored = client.get(redis_keys.incident(incident.incident_id))
        assert stored is not None and parse(Incident, stored).revision == incident.revision
        assert client.zscore(redis_keys.INCIDENTS_OPEN, incident.incident_id) is None
    # Verdict and stats views are written by the operators that make the records
    # (udfs.views.flink): each camera's views hold exactly its newest records on Kafka.
    by_camera: dict[str, set[tuple[int, str]]] = {}
    for v in verdicts:
        by_camera.setdefault(v.camera_id, set()).add((v.frame_id, v.group_id))
    for camera, made in by_camera.items():
        members = client.zrange(redis_keys.risk_latest(camera), 0, -1)
        shown = {(v.frame_id, v.group_id) for v in (parse(RiskAssessment, d) for d in members)}
        if len(made) <= redis_keys.RISK_PER_CAMERA_MAX:
            assert shown == made, camera
        else:
            assert len(shown) == redis_keys.RISK_PER_CAMERA_MAX and shown <= made, camera
    stats_records = read_all(
        kafka_bootstrap, out_topic(run, topics.TRAFFIC_WINDOW_STATS), idle_s=3
    )
    windows: dict[str, list[WindowStats]] = {}
    for _, value in stats_records:
        window = parse(WindowStats, value)
        if window.camera_id.startswith(prefix):
            windows.setdefault(window.camera_id, []).append(window)
    assert windows
    for camera, own in windows.items():
        last = max(own, key=lambda w: w.window_start_ms)
        stored_latest = client.get(redis_keys.stats_latest(camera))
        assert stored_latest is not None and parse(WindowStats, stored_latest) == last, camera
        assert client.zcard(redis_keys.stats_series(camera)) == len(own), camera
    health = client.hgetall(redis_keys.KEYPOOL_HEALTH)
    assert {key_id_for(k) for k in TEST_KEYS} <= {k.decode() for k in health}

    # No secret anywhere a test run can see (keys from the environment: test_secrets_stay_out).
    places = {"job log": job_log.read_bytes(), **leaks.files_under(logs)}
    assert any(b"Python interpreter path" in data for data in places.values())  # workers' logs
    places["verdicts and alerts"] = b"\n".join(v or b"" for _, v in verdict_records + alert_records)
    places["keypool health"] = b"\n".join(k + b"\t" + v for k, v in health.items())
    leaks.assert_absent(TEST_KEYS, places)
