"""The signal controller's feed end to end: cameras that cannot see their light, a feed that
can, and bad feed records among the good.

Simulator (`--blind-cameras --signal-feed`: every event says `unknown`, the feed carries the
phases) -> Kafka -> jobs/risk_job.py (mini cluster, bounded) -> read_committed topics. Before
the feed, records generated from the `signal-states` JSON Schema alone and broken so that the
contract must reject them (tests/contract_fuzz.py), a null value and an oversized record.
- every labelled red-light run is alerted and every red-light alert has its label (recall and
  precision 1.0): the state can only have come from the feed;
- each bad record is one dead letter naming the signal topic, its offset and a reason, and no
  good record is dead-lettered.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from contract import DeadLetter, DetectionEvent, TrafficAlert, parse, topics
from contract.schemas import schema_path
from simulator.scoring import read_labels, score, summary
from stack.paths import REPO
from tests.contract_fuzz import GUARANTEED_INVALID, applicable_kinds, build_cases
from tests.integration.job_harness import bounded_job_command, out_topic, simulator_patterns
from tests.kafka_io import produce, read_all

pytestmark = pytest.mark.integration

MAX_EVENT_BYTES = 65_536
RED_LIGHT = {"red_light_run": "red_light_run"}


def bad_signal_records() -> list[bytes | None]:
    """Contract violations drawn from the published schema, a tombstone and an oversized one."""
    path = schema_path(topics.SIGNAL_STATES)
    kinds = [k for k in applicable_kinds(path, 3) if k in GUARANTEED_INVALID]
    cases = build_cases(len(kinds) * 3, 3, valid_share=0.0, schema_path=path, kinds=kinds)
    huge = json.dumps({"schema_version": 1, "camera_id": "x", "changed_at_ms": 1,
                       "state": "red", "source": "y" * MAX_EVENT_BYTES}).encode()  # fmt: skip
    return [case.payload for case in cases] + [None, huge]


def simulate(bootstrap: str, source: str, signals: str, prefix: str, out: Path) -> dict[str, Any]:
    report = out / "sim-report.json"
    subprocess.run(
        [sys.executable, "-m", "simulator", "--cameras", "3", "--duration", "6m",
         "--camera-prefix", prefix, "--seed", "9", "--red-light-rate", "40",
         "--near-miss-rate", "0", "--wrong-way-rate", "0", "--congestion-rate", "0",
         "--blind-cameras", "--signal-feed", "--signal-topic", signals,
         "--sink", "kafka", "--bootstrap", bootstrap, "--topic", source, "--partitions", "2",
         "--truth", str(out / "truth.jsonl"), "--report-json", str(report), "--no-progress"],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def test_blind_cameras_alert_red_light_runs_from_the_feed(
    kafka_bootstrap, redis_url, fresh_topic, tmp_path
):
    run = uuid.uuid4().hex[:6]
    prefix = f"sig-{run}-"
    source, signals = fresh_topic(2), fresh_topic(1)
    bad = bad_signal_records()
    produce(kafka_bootstrap, signals, [(b"bad", value) for value in bad])
    sim = simulate(kafka_bootstrap, source, signals, prefix, tmp_path)
    assert sim["events"] == 3 * 360 and sim["signal_changes"] > 3 * 8
    labels = read_labels(tmp_path / "truth.jsonl")
    assert sum(label.kind == "red_light_run" for label in labels) >= 3
    events = [parse(DetectionEvent, v) for _, v in read_all(kafka_bootstrap, source, idle_s=6)]
    assert len(events) == sim["events"] and {e.signal_state for e in events} == {"unknown"}

    log = tmp_path / "job.log"
    with log.open("w") as out:
        job = subprocess.run(
            bounded_job_command(
                "sig", run, source, signals, 1, "--max-event-bytes", str(MAX_EVENT_BYTES),
                "--redis-url", redis_url, "--patterns", str(simulator_patterns(tmp_path)),
            ),
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=600,
        )  # fmt: skip
    assert job.returncode == 0, log.read_text()[-4000:]

    alerts = [
        a for a in (parse(TrafficAlert, v) for _, v in
                    read_all(kafka_bootstrap, out_topic(run, topics.TRAFFIC_ALERTS), idle_s=3))
        if a.camera_id.startswith(prefix)
    ]  # fmt: skip
    scores = score(alerts, labels, RED_LIGHT)
    result = scores["red_light_run"]
    assert result.labels >= 3 and not result.missed, summary(scores)
    assert not result.unmatched_alerts, summary(scores)

    letters = [
        parse(DeadLetter, v)
        for _, v in read_all(kafka_bootstrap, out_topic(run, topics.DEAD_LETTER), idle_s=3)
    ]
    from_feed = [d for d in letters if d.source_topic == signals]
    # each bad record exactly once, no good one
    assert sorted(d.offset or 0 for d in from_feed) == list(range(len(bad)))
    assert all(d.reason and d.partition == 0 for d in from_feed)
    by_offset = {d.offset: d for d in from_feed}
    assert by_offset[len(bad) - 2].reason_code == "null_value"
    assert by_offset[len(bad) - 1].reason_code == "oversized"
    for offset, value in enumerate(bad[:-2]):
        letter = by_offset[offset]
        if value is None:  # the generator's own empty-and-null class
            assert letter.reason_code == "null_value" and letter.original_sha256 is None
        else:
            assert letter.reason_code in {"parse", "contract"}, letter
            assert letter.original_sha256 == hashlib.sha256(value).hexdigest()
