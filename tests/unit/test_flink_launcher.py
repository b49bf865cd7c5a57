"""The venv's `flink` (stack.flink_cli.main): PyFlink's CLI with the local stack's folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import paths
from stack.flink_cli import launcher_env


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "STATE", tmp_path)
    return tmp_path


def test_without_a_local_stack_the_environment_is_left_alone(state: Path) -> None:
    assert launcher_env({"PATH": "/usr/bin"}) == {"PATH": "/usr/bin"}


def test_with_the_local_stack_its_conf_lib_and_logs_are_used(state: Path) -> None:
    (state / "flink" / "conf").mkdir(parents=True)
    (state / "flink" / "conf" / "config.yaml").write_text("{}\n")
    env = launcher_env({"PATH": "/usr/bin"})
    assert env["FLINK_CONF_DIR"] == str(state / "flink" / "conf")
    assert env["FLINK_LOG_DIR"] == str(state / "flink" / "log")
    assert env["FLINK_LIB_DIR"] == str(state / "flink" / "lib")
    assert env["PATH"].endswith(":/usr/bin")  # the venv's python first


def test_a_conf_dir_the_caller_chose_wins(state: Path) -> None:
    (state / "flink" / "conf").mkdir(parents=True)
    (state / "flink" / "conf" / "config.yaml").write_text("{}\n")
    chosen = {"PATH": "/usr/bin", "FLINK_CONF_DIR": "/etc/flink"}
    assert launcher_env(chosen) == chosen
