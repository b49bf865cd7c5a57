"""The simulated signal controller's feed (`signal-states`): agrees with what the cameras saw,
conforms to the contract's schema, and lets blind cameras' red-light runs be told."""

from __future__ import annotations

import bisect
import itertools
import json
from collections import Counter
from pathlib import Path

import jsonschema

from contract import DetectionEvent, SignalChange, parse, topics
from contract.schemas import load
from simulator import SimConfig, read_jsonl
from simulator.cli import main
from simulator.config import SceneConfig, SignalConfig
from simulator.signals import signal_feed
from tests.unit.simulator.conftest import BUSY, run


def _state_at(feed: list[SignalChange], camera: str, ts: int) -> str | None:
    """The feed's state for a frame at ``ts``: the newest change at or before it (the job's
    join rule, written out here independently)."""
    changes = [c for c in feed if c.camera_id == camera]
    i = bisect.bisect_right([c.changed_at_ms for c in changes], ts)
    return changes[i - 1].state if i else None


def test_feed_agrees_with_every_frame_the_cameras_saw() -> None:
    cfg = SimConfig(cameras=4, duration_s=300, seed=11, incidents=BUSY)
    feed = signal_feed(cfg)
    events = run(cfg).events()
    assert len(events) == 4 * 300
    disagree = [
        (e.camera_id, e.frame_id)
        for e in events
        if _state_at(feed, e.camera_id, e.captured_at_ms) != e.signal_state
    ]
    assert not disagree, disagree[:5]
    # One record per phase change plus the state at the start, per camera: 300 s of a 40 s
    # cycle change 22-23 times.
    per_camera = Counter(c.camera_id for c in feed)
    assert set(per_camera) == {e.camera_id for e in events}
    assert all(22 <= n <= 24 for n in per_camera.values()), per_camera


def test_changes_follow_the_configured_cycle() -> None:
    cycle = SignalConfig(green_s=30, yellow_s=4, red_s=26)
    cfg = SimConfig(cameras=2, duration_s=600, scene=SceneConfig(signal=cycle))
    for camera in ("cam-0000", "cam-0001"):
        changes = [c for c in signal_feed(cfg) if c.camera_id == camera]
        order = {"green": "yellow", "yellow": "red", "red": "green"}
        for before, after in itertools.pairwise(changes):
            assert after.state == order[before.state]
            held = (after.changed_at_ms - before.changed_at_ms) / 1000
            if before is not changes[0]:  # the first record is the state at the start
                expected = {"green": 30, "yellow": 4, "red": 26}[before.state]
                assert abs(held - expected) <= 0.002, (before, after)


def test_every_record_is_valid_by_the_published_schema() -> None:
    schema = load(topics.SIGNAL_STATES)
    feed = signal_feed(SimConfig(cameras=3, duration_s=120))
    for change in feed:
        jsonschema.validate(json.loads(change.to_json()), schema)
        assert parse(SignalChange, change.to_json()) == change
    assert [c.changed_at_ms for c in feed] == sorted(c.changed_at_ms for c in feed)


def test_blind_cameras_report_unknown_and_the_feed_is_unchanged() -> None:
    seeing = SimConfig(cameras=3, duration_s=200, seed=5, incidents=BUSY)
    blind = seeing.model_copy(
        update={"scene": seeing.scene.model_copy(update={"camera_sees_signal": False})}
    )
    blind_events = run(blind).events()
    assert {e.signal_state for e in blind_events} == {"unknown"}
    assert signal_feed(blind) == signal_feed(seeing)
    # The world is the same: only the reading changed.
    seeing_events = run(seeing).events()
    assert [e.objects for e in blind_events] == [e.objects for e in seeing_events]


def test_cli_writes_the_feed_beside_the_events(tmp_path: Path, capsys) -> None:
    out = tmp_path / "det.jsonl"
    code = main(["--cameras", "2", "--duration", "90s", "--blind-cameras", "--signal-feed",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    feed = [parse(SignalChange, value) for _, value in read_jsonl(tmp_path / "det.signals.jsonl")]
    events = [parse(DetectionEvent, value) for _, value in read_jsonl(out)]
    assert len(events) == 180 and {e.signal_state for e in events} == {"unknown"}
    assert feed == signal_feed(SimConfig(cameras=2, duration_s=90))
    assert f"signal changes {len(feed)}" in capsys.readouterr().out
