"""A short run of the risk-stage LLM benchmark, so it cannot rot (figures only, no timing goals)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stack.paths import REPO

pytestmark = pytest.mark.integration

KEY_MARK = "-SECRET"  # every made-up benchmark key ends so; none may be printed


def test_risk_llm_benchmark_smoke_writes_three_sections(redis_url, tmp_path):
    done = subprocess.run(
        # asyncio driver only: the Flink stage runs in the job's end-to-end test already, and
        # a second JVM here would cost CI a minute.
        [sys.executable, "-m", "benchmarks.risk_llm", "--smoke", "--results-dir", str(tmp_path),
         "--redis-url", redis_url, "--paths", "asyncio"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert KEY_MARK not in done.stdout + done.stderr
    report = json.loads((tmp_path / "risk_llm.json").read_text())

    runs = report["concurrency"]["runs"]
    assert {r["path"] for r in runs} == {"asyncio"}
    for row in runs:
        assert row["requests"] == row["tasks"] > 0
        assert row["achieved_req_per_s"] > 0 and row["peak_in_flight"] > 0
        assert row["verdict_sources"].get("llm", 0) > 0

    runs = report["key_pool"]["runs"]
    assert {r["path"] for r in runs} == {"asyncio"}
    for row in runs:
        assert row["requests"] > 0 and row["achieved_req_per_s"] > 0
        assert 0 <= row["share_429"] <= 1
        assert sum(row["verdict_sources"].values()) == row["tasks"]

    (fc,) = report["filter_cache"]["runs"]
    assert fc["path"] == "asyncio"
    assert fc["groups"] > 0 and fc["verdicts"] == fc["groups"]
    assert 0 < fc["calls_made"] <= fc["llm_worthy_groups"] <= fc["groups"]
    assert (
        fc["incident_groups"] == fc["incident_groups_llm_path"] + fc["incident_groups_not_llm_path"]
    )
