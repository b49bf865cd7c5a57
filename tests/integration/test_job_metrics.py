"""The job's Prometheus metrics, scraped from the session cluster during a real run.

One run feeds good, malformed, oversized and late records; the TaskManager's and the
JobManager's /metrics must then hold the documented names with the values the input
implies, and the Grafana dashboard may only query names this scrape returned.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from contract import redis_keys
from contract.endpoints import Endpoints
from stack.flink_cli import cancel, flink_run
from stack.paths import REPO
from stack.topics import ensure_topics
from tests.factories import detection_dict
from tests.integration.job_harness import (
    BASE_MS,
    ON_SESSION_CLUSTER,
    frame_at,
    frames,
    job_args,
    llm_worthy,
    red_light_crossing,
    wait_for,
    wait_running,
)
from tests.integration.llm_stub import get, post, running_stub
from tests.kafka_io import produce
from tests.unit.dashboard.promql import dashboard_metric_names
from udfs.patterns.signals import SignalChange
from udfs.risk.keypool import key_id_for

pytestmark = [pytest.mark.integration, ON_SESSION_CLUSTER]

PROM_PORTS = range(9250, 9261)  # flink-conf: one port per JobManager/TaskManager, first free
OP = "flink_taskmanager_job_task_operator_"
ARTIFACTS = REPO / "test-artifacts"
DASHBOARD = REPO / "monitoring" / "grafana" / "traffic-risk-job.json"
METRICS_DOC = REPO / "docs" / "metrics.md"
TEST_KEY = "sk-metrics-SECRET-1"
LLM_FRAMES = (2, 7)  # frames with an LLM-worthy group
RUNS = (3, 9, 14)  # seconds of three red-light runs by tracks 1, 2, 3
MALFORMED = [b"{not json", json.dumps(detection_dict(schema_version=7)).encode(), b"[]"]
CLOCK_RESET = json.dumps(detection_dict(camera_id="clock-reset", captured_at_ms=5_000)).encode()

Values = dict[str, list[tuple[dict[str, str], float]]]


def scrape() -> dict[str, Values]:
    """Every reporter in the port range: {"jobmanager"|"taskmanager": name -> samples}."""
    found: dict[str, Values] = {}
    for port in PROM_PORTS:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
                text = r.read().decode()
        except (urllib.error.URLError, OSError):
            continue
        values: Values = defaultdict(list)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values[sample.name].append((sample.labels, sample.value))
        role = "taskmanager" if any(n.startswith("flink_taskmanager_") for n in values) else (
            "jobmanager")  # fmt: skip
        for name, samples in values.items():
            found.setdefault(role, defaultdict(list))[name].extend(samples)
    return found


def of_job(values: Values, name: str, job_id: str) -> list[float]:
    return [v for labels, v in values.get(name, []) if labels.get("job_id") == job_id]


def total(values: Values, name: str, job_id: str) -> float | None:
    """Sum over subtasks; None while the metric is not exported yet."""
    found = of_job(values, name, job_id)
    return sum(found) if found else None


@pytest.fixture(scope="module")
def llm() -> Iterator[str]:
    with running_stub("--latency-ms", "20") as url:
        post(url + "/control", {"script": ["500"]})  # one failed attempt, then a retry
        yield url


@pytest.fixture(scope="module")
def scraped(flink_session, kafka_bootstrap, redis_url, llm, tmp_path_factory) -> dict[str, Any]:
    flink_session.ensure_taskmanager()  # module scope: flink_cluster is per test
    run = uuid.uuid4().hex[:6]
    topic = f"test-metrics-{run}"
    ensure_topics(kafka_bootstrap, {topic: 1})  # module scope: fresh_topic is per test
    camera = f"m1-{run}"
    oversized = detection_dict(camera_id=camera, detector="x" * 3000, captured_at_ms=BASE_MS)
    special = {s: llm_worthy(camera, s) for s in LLM_FRAMES}
    special |= {s: red_light_crossing(camera, s, track) for track, s in enumerate(RUNS, 1)}
    # A camera that cannot see its light: the controller feed on the signal topic says red.
    blind = f"m2-{run}"
    signals = f"test-signals-{run}"
    ensure_topics(kafka_bootstrap, {signals: 1})

    def blind_frame(s: int) -> tuple[bytes, bytes]:
        if s in RUNS:
            return red_light_crossing(blind, s, 100 + s, signal_state="unknown")
        return frame_at(blind, s, signal_state="unknown")

    produce(kafka_bootstrap, topic, [
        # watermark -> 20 s: windows [0,10) and [10,20) fire, the red-light runs match
        *(item for s in range(26)
          for item in (special.get(s) or frames(camera, s, s)[0], blind_frame(s))),
        *((b"bad", raw) for raw in MALFORMED),
        (camera.encode(), json.dumps(oversized).encode()),
        (b"clock-reset", CLOCK_RESET),  # a camera whose clock went back to 1970
    ])  # fmt: skip
    produce(kafka_bootstrap, signals, [
        (blind.encode(), SignalChange(schema_version=1, camera_id=blind, state="red",
                                      changed_at_ms=BASE_MS + s * 1000).to_json())
        for s in (0, 25)  # the second moves the feed's watermark past the runs
    ])  # fmt: skip
    keys = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys.write_text(TEST_KEY + "\n")
    options = job_args(topic, run, parallelism=1, restart_attempts=0, max_event_bytes=3000,
                       kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, signal_topic=signals,
                       llm_base_url=llm + "/v1", llm_api_keys_file=keys)  # fmt: skip
    job_id = flink_run(options, detached=True, timeout_s=120)
    try:
        submitted = wait_running(job_id, 60)

        def emitted() -> float:
            found = scrape().get("taskmanager", {})
            return total(found, OP + "window_stats_emitted", job_id) or 0

        wait_for(lambda: emitted() >= 4, 40, "two windows of each camera emitted")
        produce(kafka_bootstrap, topic, frames(camera, 4, 4))  # its window fired: late

        def settled() -> dict[str, Values] | None:
            found = scrape()
            late = total(found.get("taskmanager", {}), OP + "dead_letters_late", job_id)
            verdicts = total(found.get("taskmanager", {}), OP + "risk_verdicts_llm", job_id)

            if verdicts != len(LLM_FRAMES):
                return None
            checkpoints = total(
                found.get("jobmanager", {}),
                "flink_jobmanager_job_numberOfCompletedCheckpoints",
                job_id,
            )
            return found if late == 1 and (checkpoints or 0) >= 1 else None  # fmt: skip

        found = wait_for(settled, 30, "late dead letter counted and a checkpoint done")
        # A Python operator's gauges reach Flink's reporter only after its first bundle: on a
        # loaded machine the verdict view's came a scrape after the verdicts were counted.
        # Give the names the tests below expect a few more scrapes, not a race.
        expected = documented_names() | dashboard_metric_names(json.loads(DASHBOARD.read_text()))
        deadline = time.monotonic() + 20
        while expected - {n for v in found.values() for n in v} and time.monotonic() < deadline:
            time.sleep(1)
            again = scrape()
            found = again if {"jobmanager", "taskmanager"} <= set(again) else found
    finally:
        cancel(job_id, Endpoints.from_env().flink_rest)
        views = redis.Redis.from_url(redis_url)  # leave no test camera on the dashboard
        for cam in (camera, blind):
            views.delete(redis_keys.stats_latest(cam), redis_keys.stats_series(cam))
            views.zrem(redis_keys.CAMERAS_ACTIVE, cam)
    names = sorted({n for values in found.values() for n in values})
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "scraped-metric-names.txt").write_text("\n".join(names) + "\n")
    return {"job_id": job_id, "names": set(names), "submitted": submitted, "run": run, **found}


def test_job_submitted_with_flink_run_has_readable_names(scraped):
    """`flink run -d -py jobs/risk_job.py` (stack.flink_cli): the web UI names the job and
    its operators as the docs do."""
    status = scraped["submitted"]
    assert status["state"] == "RUNNING"
    assert status["name"] == f"traffic-risk-it-{scraped['run']}"
    names = " | ".join(v["name"] for v in status["vertices"])
    for readable in ("detections_raw", "encode window stats", "redis: alerts views",
                     "encode dead letters", "window_stats_out", "dead_letter_out"):  # fmt: skip
        assert readable in names


def test_job_metrics_have_the_values_the_input_implies(scraped):
    tm, jm, job = scraped["taskmanager"], scraped["jobmanager"], scraped["job_id"]
    assert total(tm, OP + "window_stats_emitted", job) == 4  # 2 windows x 2 cameras
    assert total(tm, OP + "dead_letters_parse", job) == len(MALFORMED)
    assert total(tm, OP + "dead_letters_oversized", job) == 1
    assert total(tm, OP + "dead_letters_late", job) == 1
    assert total(tm, OP + "dead_letters_clock", job) == 1
    assert total(tm, OP + "redis_stats_pending", job) == 0  # Redis is up
    assert total(tm, OP + "numLateRecordsDropped", job) == 0  # late ones went to dead letters
    assert total(tm, OP + "pendingRecords", job) == 0  # the source has read everything
    assert (total(tm, OP + "KafkaSourceReader_KafkaConsumer_records_lag_max", job) or 0) >= 0
    for busy in of_job(tm, "flink_taskmanager_job_task_backPressuredTimeMsPerSecond", job):
        assert 0 <= busy <= 1000
    assert of_job(tm, "flink_taskmanager_job_task_isBackPressured", job)
    assert of_job(jm, "flink_jobmanager_job_lastCheckpointDuration", job)[0] >= 0
    assert of_job(jm, "flink_jobmanager_job_numberOfCompletedCheckpoints", job)[0] >= 1
    # Checkpoints triggered while tasks still deploy count as failed: only present, not 0.
    assert of_job(jm, "flink_jobmanager_job_numberOfFailedCheckpoints", job)[0] >= 0
    assert of_job(jm, "flink_jobmanager_job_numRestarts", job) == [0]


def test_risk_and_pattern_metrics_match_the_llm_server_and_the_input(scraped, llm):
    tm, job = scraped["taskmanager"], scraped["job_id"]
    assert total(tm, OP + "risk_groups_llm", job) == len(LLM_FRAMES)
    assert total(tm, OP + "risk_verdicts_llm", job) == len(LLM_FRAMES)
    assert (total(tm, OP + "risk_verdicts_fallback", job) or 0) == 0  # exported from its 1st inc
    assert (total(tm, OP + "risk_llm_latency_ms_total", job) or 0) > 0
    (requests,) = [n for n in tm if n.endswith("risk_llm_requests")]
    by_outcome: dict[str, float] = defaultdict(float)
    for labels, value in tm[requests]:
        if labels.get("job_id") == job:
            # The public id (the reporter writes '-' as '_'), never the key.
            assert labels["key_id"] == key_id_for(TEST_KEY).replace("-", "_")
            by_outcome[labels["outcome"]] += value
    server = get(llm + "/stats")
    assert sum(by_outcome.values()) == server["requests"] == len(LLM_FRAMES) + 1
    assert (by_outcome["ok"], by_outcome["server_error"]) == (len(LLM_FRAMES), 1)
    # The latency histogram (cumulative counters by bound `le`, docs/metrics.md): every
    # answered attempt once in `Inf`, no bound above a larger one; tokens per key counted.
    (latency,) = [n for n in tm if n.endswith("risk_llm_latency_ms")]
    buckets = {labels["le"]: value for labels, value in tm[latency] if labels.get("job_id") == job}
    assert buckets.pop("Inf") == by_outcome["ok"]
    cumulative = [value for _, value in sorted((float(le), v) for le, v in buckets.items())]
    assert len(cumulative) >= 5 and cumulative == sorted(cumulative)
    (tokens,) = [n for n in tm if n.endswith("risk_llm_tokens")]
    assert sum(v for labels, v in tm[tokens] if labels.get("job_id") == job) > 0
    (matches,) = [n for n in tm if n.endswith("cep_matches")]
    per_pattern: dict[str, float] = defaultdict(float)
    for labels, value in tm[matches]:
        if labels.get("job_id") == job:
            per_pattern[labels["pattern"]] += value
    # m1 sees red itself; m2 sees nothing and gets red from the signal-states feed.
    assert per_pattern["red_light_runs_3_in_60s"] == 2


def documented_names() -> set[str]:
    """Names in the sections of docs/metrics.md marked as scraped by this test."""
    sections = METRICS_DOC.read_text().split("\n## ")
    checked = [s for s in sections if "(scraped in tests)" in s.splitlines()[0]]
    assert checked, "docs/metrics.md has no section marked '(scraped in tests)'"
    return {n for s in checked for n in re.findall(r"`(flink_[A-Za-z0-9_]+)`", s)}


def test_documented_metrics_are_exported(scraped):
    documented = documented_names()
    assert len(documented) >= 15
    assert documented - scraped["names"] == set()


def test_grafana_dashboard_queries_only_scraped_metrics(scraped):
    dashboard = json.loads(DASHBOARD.read_text())
    used = dashboard_metric_names(dashboard)
    assert len(used) >= 10
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "grafana-metric-names.txt").write_text("\n".join(sorted(used)) + "\n")
    assert used - scraped["names"] == set(), "dashboard queries metrics the scrape did not return"
