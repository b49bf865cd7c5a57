"""The simulator publishes to the real broker: topic created, every message read back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from contract import DetectionEvent, parse
from simulator import FaultConfig, SimConfig, simulate
from simulator.cli import main
from tests.kafka_io import read_all

pytestmark = pytest.mark.integration


def test_cli_publishes_a_run_that_reads_back_whole(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"test-sim-{uuid.uuid4().hex[:10]}"
    report = tmp_path / "report.json"
    code = main(
        [
            "--sink",
            "kafka",
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topic,
            "--partitions",
            "3",
            "--cameras",
            "20",
            "--duration",
            "30s",
            "--seed",
            "4",
            "--duplicates",
            "0.02",
            "--malformed",
            "0.01",
            "--compression",
            "zstd",
            "--truth",
            str(tmp_path / "t.jsonl"),
            "--report-json",
            str(report),
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads(report.read_text())
    assert summary["sink"]["delivered"] == summary["messages"] == summary["sink"]["sent"]

    meta = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(topic, timeout=10)
    assert len(meta.topics[topic].partitions) == 3

    received = read_all(kafka_bootstrap, topic)
    assert len(received) == summary["messages"]
    expected = list(
        simulate(
            SimConfig(
                cameras=20,
                duration_s=30,
                seed=4,
                faults=FaultConfig(duplicate_share=0.02, malformed_share=0.01),
            )
        )
    )
    assert sorted(received) == sorted(expected)
    events = []
    for key, value in received:
        try:
            event = parse(DetectionEvent, value)
        except ValueError:
            continue
        assert key == event.key
        events.append(event)
    assert (
        len(events)
        == summary["events"] + summary["faults"]["duplicates"]
        == 20 * 30 + (summary["faults"]["duplicates"])
    )
