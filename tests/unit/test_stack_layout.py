"""The local Flink cluster's layout knobs (stack/services.py): TaskManagers and slots."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stack.services import Flink, StackError


def test_layout_defaults_to_one_taskmanager_with_the_configured_slots() -> None:
    assert Flink.layout({}) == (1, None)
    assert Flink.layout({"TRAFFIC_FLINK_TASKMANAGERS": "2", "TRAFFIC_FLINK_SLOTS": "1"}) == (2, 1)
    with pytest.raises(StackError, match="must be >= 1"):
        Flink.layout({"TRAFFIC_FLINK_SLOTS": "0"})


def test_two_one_slot_taskmanagers_are_written_into_the_cluster_conf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAFFIC_FLINK_TASKMANAGERS", "2")
    monkeypatch.setenv("TRAFFIC_FLINK_SLOTS", "1")
    flink = Flink()
    flink.home = tmp_path
    flink.write_conf()
    conf = yaml.safe_load((tmp_path / "conf" / "config.yaml").read_text())
    assert conf["taskmanager"]["numberOfTaskSlots"] == 1
    assert conf["cluster"]["evenly-spread-out-slots"] is True
    assert (tmp_path / "conf" / "workers").read_text().split() == ["127.0.0.1", "127.0.0.1"]
    assert conf["python"]["executable"]  # the rest of the conf is still written


def test_default_conf_keeps_one_taskmanager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAFFIC_FLINK_TASKMANAGERS", raising=False)
    monkeypatch.delenv("TRAFFIC_FLINK_SLOTS", raising=False)
    flink = Flink()
    flink.home = tmp_path
    flink.write_conf()
    conf = yaml.safe_load((tmp_path / "conf" / "config.yaml").read_text())
    shipped = yaml.safe_load(Path("flink-conf/config.yaml").read_text())
    assert conf["taskmanager"]["numberOfTaskSlots"] == shipped["taskmanager"]["numberOfTaskSlots"]
    assert "cluster" not in conf
    assert (tmp_path / "conf" / "workers").read_text().split() == ["127.0.0.1"]
