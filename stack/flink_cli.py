"""Submitting the job to the local session cluster with Flink's own `flink run -py`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

from stack import paths
from stack.services import Flink

JOB_ENTRY = paths.REPO / "jobs" / "risk_job.py"


def flink_run(job_args: list[str], *, detached: bool, timeout_s: float = 900) -> str:
    """Run `flink run [-d] -py jobs/risk_job.py -- <args>`; returns the job id."""
    cluster = Flink()
    cmd = [
        str(paths.flink_home() / "bin" / "flink"),
        "run",
        *(["-d"] if detached else []),
        "-pyexec",
        sys.executable,
        "-pyclientexec",
        sys.executable,
        "-py",
        str(JOB_ENTRY),
        *job_args,
    ]
    done = subprocess.run(
        cmd, env=cluster.env(), capture_output=True, text=True, timeout=timeout_s
    )
    found = re.search(r"JobID ([0-9a-f]{32})", done.stdout + done.stderr)
    if done.returncode != 0 or not found:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"flink run failed (exit {done.returncode}):\n{tail}")
    return found.group(1)


def job_status(job_id: str, rest: str = "http://127.0.0.1:8081") -> dict[str, object]:
    with urllib.request.urlopen(f"{rest}/jobs/{job_id}", timeout=5) as response:
        return json.load(response)


def cancel(job_id: str, rest: str = "http://127.0.0.1:8081") -> None:
    request = urllib.request.Request(f"{rest}/jobs/{job_id}?mode=cancel", method="PATCH")
    urllib.request.urlopen(request, timeout=5).close()
