"""The job's whole graph (`jobs.risk_job.build`) on a local mini cluster, without Kafka or
Redis: the `JobIO` seam takes records from a list and writes every output to files.

It proves the seam and the graph: each valid frame is counted in exactly one window, each
bad record becomes exactly one dead letter with its reason code, each group gets one
verdict, a red-light burst is alerted, a conflict followed by its high verdict is alerted,
and the live views see the same records as the outputs they sit beside.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from stack.paths import REPO
from tests.graph_io import read_output
from tests.integration.job_harness import (
    BASE_MS,
    WINDOW_S,
    cooled_down,
    expected_windows,
    frames,
    llm_worthy,
    red_light_crossing,
)

pytestmark = pytest.mark.integration

# Bad records as a producer could send them, with the reason code the contract gives them.
BAD = [
    (None, "null_value"),
    (b"{not json", "parse"),
    (b'{"schema_version": 1}', "contract"),
    (b"\xff\xfe\x00", "parse"),
]


def test_whole_graph_runs_on_file_io(tmp_path: Path) -> None:
    good = frames("g1-cam", 0, 39) + frames("g2-cam", 0, 39)
    burst = [red_light_crossing("g3-cam", s, track=100 + s) for s in (1, 2, 3)]
    risky = [llm_worthy("g4-cam", s) for s in (5, 6)]
    valid = good + burst + risky
    # The last frame moves the watermark past every window, then the input ends.
    records: list[bytes | None] = [value for _key, value in valid]
    records[40:40] = [value for value, _code in BAD]
    lines = ["-" if r is None else base64.b64encode(r).decode() for r in records]
    (tmp_path / "records.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "tests.graph_io", str(tmp_path / "records.txt"), str(out), "--",
         "--window-s", str(WINDOW_S), "--watermark-bound-s", "60", "--checkpoint-interval-s", "1",
         "--parallelism", "1", "--job-name", "graph-test"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]

    windows = read_output(out, "window_stats_out")
    got = {
        (w["camera_id"], (w["window_start_ms"] - BASE_MS) // 1000): (w["frames"], w["objects"])
        for _k, w in windows
    }
    assert got == expected_windows(valid)
    assert len(windows) == len(got)  # each window once

    dead = read_output(out, "dead_letter_out")
    assert sorted(d["reason_code"] for _k, d in dead) == sorted(code for _v, code in BAD)
    assert {k for k, _d in dead} == {f"0:{40 + i}" for i in range(len(BAD))}

    verdicts = read_output(out, "risk_out")
    groups = sum(len(json.loads(v)["groups"]) for _k, v in risky)
    assert len(verdicts) == groups
    assert {v["source"] for _k, v in verdicts} == {"heuristic"}

    alerts = read_output(out, "alerts_out")
    patterns = Counter(a["pattern"] for _k, a in alerts)
    assert patterns["red_light_runs_3_in_60s"] == 1, patterns
    high = sorted(v["captured_at_ms"] for _k, v in verdicts if v["risk_level"] == "high")
    assert patterns["high_risk_verdict"] == len(cooled_down(high, 10_000)), (patterns, high)
    # the risk stage hands high verdicts to the patterns as facts: the conflict, then its verdict
    assert patterns["conflict_then_high_verdict_30s"] == (1 if high else 0), patterns
    assert all(a["evidence"] for _k, a in alerts)  # every alert here matched a frame

    revisions = read_output(out, "incidents_out")
    last = {i["incident_id"]: i for _k, i in sorted(revisions, key=lambda r: r[1]["revision"])}
    kinds = sorted((i["camera_id"], i["kind"], i["status"]) for i in last.values())
    expected = [("g3-cam", "red_light", "closed")]
    expected += [("g4-cam", "conflict", "closed")] if high else []
    assert kinds == expected, kinds
    red = next(i for i in last.values() if i["kind"] == "red_light")
    assert red["track_ids"] == [101, 102, 103] and red["place"] == "stop_line"

    # Views of streams; the stats and verdict views are written by the operators that make
    # them (FileIO keeps none of those): test_job_end_to_end checks them in Redis.
    views = {"alerts": "alerts_out", "incidents": "incidents_out"}
    for view, table in views.items():
        assert sorted(map(str, read_output(out, f"view_{view}"))) == sorted(
            map(str, read_output(out, table))
        ), view
