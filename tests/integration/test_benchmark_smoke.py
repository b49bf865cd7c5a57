"""Short runs of the benchmark and reliability suites, so they cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.paths import REPO

pytestmark = pytest.mark.integration


def test_benchmarks_smoke_writes_a_report_with_figures(flink_cluster, redis_url):
    done = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = done.stdout.strip().splitlines()[-1].split()[2].rstrip(",")
    folder = Path(results)
    throughput = json.loads((folder / "job_vs_sql.json").read_text())
    assert throughput["job_events_per_s"] > 0 and throughput["sql_events_per_s"] > 0
    latency = json.loads((folder / "latency.json").read_text())["rows"][0]
    assert latency["windows_measured"] > 0 and latency["latency_ms_p50"] is not None
    simulator = json.loads((folder / "simulator_rate.json").read_text())["sinks"]
    assert all(simulator[sink]["events"] == 200 for sink in ("null", "jsonl", "kafka"))
    assert simulator["kafka"]["events_per_s"] > 0
    report = (folder / "BENCHMARKS.md").read_text()
    assert "Ratio job / SQL" in report and (folder / "latency.png").stat().st_size > 1000


def test_reliability_smoke_dead_letters_every_fuzzed_message(flink_cluster, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.reliability", "--only", "fuzz", "--fuzz-count", "300",
         "--results-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (row,) = json.loads((tmp_path / "reliability.json").read_text())["rows"]
    assert row["dead_lettered"] == row["malformed_sent"] == 300
    assert (row["lost"], row["duplicated"]) == (0, 0)
