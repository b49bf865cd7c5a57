"""Submitting the job to the local session cluster with Flink's own `flink run -py`, and the
`flink` command of the venv (`main`): PyFlink ships the CLI inside the package, off PATH."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from stack import paths
from stack.services import Flink

JOB_ENTRY = paths.REPO / "jobs" / "risk_job.py"


def launcher_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the venv's `flink`: the local stack's conf (python.executable,
    jars, log4j without secrets), lib and log folders once `./dev stack start` wrote them, so
    that `flink run -py jobs/risk_job.py` works as the README says. A FLINK_CONF_DIR the
    caller set wins (another cluster's configuration)."""
    env = dict(os.environ if environ is None else environ)
    cluster = Flink()
    if "FLINK_CONF_DIR" in env or not (cluster.conf_dir() / "config.yaml").is_file():
        return env
    return cluster.env(env)


def main(argv: list[str] | None = None) -> NoReturn:
    """`flink ...`: exec PyFlink's own CLI script with `launcher_env()`."""
    script = str(paths.flink_home() / "bin" / "flink")
    args = sys.argv[1:] if argv is None else argv
    os.execve(script, [script, *args], launcher_env())


def _flink(*args: str, timeout_s: float) -> str:
    done = subprocess.run(
        [str(paths.flink_home() / "bin" / "flink"), *args],
        env=Flink().env(), capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"flink {args[0]} failed (exit {done.returncode}):\n{tail}")
    return done.stdout + done.stderr


def flink_run(
    job_args: list[str],
    *,
    detached: bool,
    from_savepoint: str | None = None,
    entry: Path = JOB_ENTRY,
    timeout_s: float = 900,
) -> str:
    """Run `flink run [-d] [-s savepoint] -py <entry> <args>`; returns the job id."""
    output = _flink(
        "run",
        *(["-d"] if detached else []),
        *(["-s", from_savepoint] if from_savepoint else []),
        "-pyexec", sys.executable,
        "-pyclientexec", sys.executable,
        "-py", str(entry),
        *job_args,
        timeout_s=timeout_s,
    )  # fmt: skip
    found = re.search(r"JobID ([0-9a-f]{32})", output)
    if not found:
        raise RuntimeError(f"flink run printed no job id:\n{output[-3000:]}")
    return found.group(1)


def stop_with_savepoint(job_id: str, savepoint_dir: str, timeout_s: float = 300) -> str:
    """`flink stop --savepointPath`: stop after a savepoint; returns the savepoint's path."""
    output = _flink("stop", "--savepointPath", savepoint_dir, job_id, timeout_s=timeout_s)
    found = re.search(r"Savepoint completed\. Path: (\S+)", output)
    if not found:
        raise RuntimeError(f"no savepoint path in flink stop output:\n{output[-3000:]}")
    return found.group(1)


def job_status(job_id: str, rest: str = "http://127.0.0.1:8081") -> dict[str, Any]:
    with urllib.request.urlopen(f"{rest}/jobs/{job_id}", timeout=5) as response:
        status: dict[str, Any] = json.load(response)
    return status


def restarts(job_id: str, rest: str = "http://127.0.0.1:8081") -> int:
    """How often the job has restarted (Flink's `numRestarts` job metric)."""
    url = f"{rest}/jobs/{job_id}/metrics?get=numRestarts"
    with urllib.request.urlopen(url, timeout=5) as response:
        found = json.load(response)
    if not found:
        raise RuntimeError(f"job {job_id} reports no numRestarts metric")
    return int(float(found[0]["value"]))


TERMINAL = {"CANCELED", "FAILED", "FINISHED"}


def cancel(job_id: str, rest: str = "http://127.0.0.1:8081", wait_s: float = 60) -> None:
    """Cancel and wait until the job is over and, when no other job runs, its slots are free
    again: a job submitted right after a cancel otherwise fails for want of slots."""
    request = urllib.request.Request(f"{rest}/jobs/{job_id}?mode=cancel", method="PATCH")
    urllib.request.urlopen(request, timeout=5).close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and job_status(job_id, rest)["state"] not in TERMINAL:
        time.sleep(0.2)
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{rest}/overview", timeout=5) as response:
            overview = json.load(response)
        if overview["jobs-running"] or overview["slots-available"] >= overview["slots-total"]:
            return
        time.sleep(0.2)
