"""The venv's `flink` (README: `flink run -py jobs/risk_job.py`) is PyFlink's own CLI, run with
the local stack's configuration: it prints its version and lists the session cluster's jobs."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlparse

import pytest

from stack.paths import REPO

pytestmark = pytest.mark.integration

FLINK = REPO / ".venv" / "bin" / "flink"


def flink(*args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(FLINK.parent), os.environ.get("PATH", "")])
    return subprocess.run(
        ["flink", *args], cwd=REPO, env={**os.environ, "PATH": path}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def test_flink_on_the_venv_path_prints_the_pinned_version():
    from pyflink.version import __version__

    done = flink("--version")
    assert done.returncode == 0, done.stderr
    assert f"Version: {__version__}" in done.stdout


def test_flink_lists_the_session_clusters_jobs(flink_cluster):
    address = urlparse(flink_cluster).netloc
    done = flink("list", "-m", address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Waiting for response..." in done.stdout
