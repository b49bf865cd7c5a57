"""The `traffic-sim` command: options, JSON-lines output, truth file and report."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from contract import DetectionEvent, parse
from simulator import FaultConfig, SimConfig, read_jsonl, simulate
from simulator.cli import config_from, epoch_ms, main, parser, seconds


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for action in parser()._actions:
        assert action.help, action.dest
        for flag in action.option_strings:
            assert flag in text


@pytest.mark.parametrize(
    ("text", "value"),
    [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1.5h", 5400.0), ("500ms", 0.5)],
)
def test_durations(text: str, value: float) -> None:
    assert seconds(text) == value


def test_start_time_forms() -> None:
    assert epoch_ms("1700000000000") == 1_700_000_000_000
    assert epoch_ms("2024-01-01T00:00:00Z") == 1_704_067_200_000
    assert epoch_ms("2024-01-01T00:00:00") == 1_704_067_200_000


def test_options_reach_the_config() -> None:
    args = parser().parse_args(
        [
            "--cameras",
            "3",
            "--fps",
            "2",
            "--count",
            "40",
            "--malformed",
            "0.1",
            "--seed",
            "9",
            "--out-of-order-bound",
            "5s",
            "--idle-cameras",
            "1",
            "--red",
            "12s",
        ]
    )
    cfg = config_from(args)
    assert (cfg.cameras, cfg.fps, cfg.count, cfg.duration_s, cfg.seed) == (3, 2.0, 40, None, 9)
    assert cfg.faults.malformed_share == 0.1 and cfg.faults.out_of_order_bound_ms == 5000
    assert cfg.faults.idle_cameras == 1 and cfg.scene.signal.red_s == 12.0
    assert config_from(parser().parse_args([])).duration_s == 60.0


def test_jsonl_run_writes_events_truth_and_report(tmp_path: Path, capsys) -> None:
    out, report = tmp_path / "d.jsonl", tmp_path / "r.json"
    code = main(
        [
            "--cameras",
            "4",
            "--duration",
            "90s",
            "--seed",
            "3",
            "--out",
            str(out),
            "--report-json",
            str(report),
            "--no-progress",
            "--malformed",
            "0.05",
        ]
    )
    assert code == 0
    messages = read_jsonl(out)
    summary = json.loads(report.read_text())
    assert len(messages) == summary["messages"] == summary["sink"]["sent"]
    assert summary["events"] == 4 * 90 and summary["events_per_s"] > 0
    faults = FaultConfig(malformed_share=0.05)
    sim = simulate(SimConfig(cameras=4, duration_s=90, seed=3, faults=faults))
    assert messages == list(sim)  # the file holds exactly the API's messages
    truth = (tmp_path / "d.truth.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in truth] == [x.model_dump(mode="json") for x in sim.labels]
    valid = 0
    for key, value in messages:
        with contextlib.suppress(ValueError):
            valid += parse(DetectionEvent, value).key == key
    assert valid == summary["events"]
    assert "events/s" in capsys.readouterr().out


def test_bad_option_is_reported(capsys) -> None:
    assert main(["--cameras", "0", "--sink", "null", "--no-progress"]) == 2
    assert "cameras" in capsys.readouterr().err
