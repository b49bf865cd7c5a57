"""A tiny run of benchmarks.cep_throughput, so the CEP benchmark cannot rot (no timing limits).

Needs a Flink JVM (a local mini cluster in the benchmark's child process), no services.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.paths import REPO

pytestmark = pytest.mark.integration


def test_cep_benchmark_smoke_measures_both_variants(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cep_throughput", "--smoke", "--results-dir",
         str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "cep_throughput.json").read_text())
    pure, flink = result["variants"]["pure_engine"], result["variants"]["flink_operator"]
    assert pure["facts_per_s"] > 0 and pure["detection_events_per_s"] > 0
    assert flink["detection_events_per_s"] > 0 and flink["processing_s"] > 0
    patterns = set(result["config"]["patterns"])
    for variant in (pure, flink):
        assert set(variant["alerts_per_pattern"]) == patterns
        assert variant["alerts"] == sum(variant["alerts_per_pattern"].values()) > 0
    assert pure["late"] == 0
