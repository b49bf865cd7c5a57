"""The scale benchmark's replayer: rendered simulator records, re-timed, are still contract
events with the frame ids and times of an endless stream."""

from __future__ import annotations

from benchmarks.replay import ReplayLog, record, render
from contract import DetectionEvent, parse


def test_rendered_records_re_timed_are_valid_events_of_a_continuing_stream() -> None:
    rendered = render(cameras=3, loop_s=5, prefix="t-")
    assert len(rendered) == 15 and rendered.due_ms == sorted(rendered.due_ms)
    start = 1_800_000_000_000
    for loop in (0, 1):
        for i in range(len(rendered)):
            due = start + loop * 5_000 + rendered.due_ms[i]
            event = parse(DetectionEvent, record(rendered, i, loop, due))
            assert event.captured_at_ms == due
            assert event.frame_id == loop * 5 + rendered.due_ms[i] // 1000
            assert event.camera_id.encode() == rendered.keys[i]
    assert sum(rendered.heads[i].count(b'"groups"') for i in range(15)) == 0  # split after ids
    assert rendered.groups > 0  # the default mix: frames with groups


def test_replay_log_finds_the_slice_that_closed_a_window() -> None:
    log = ReplayLog(start_ms=0, due_ms=[0, 100, 200], sent_ms=[5, 130, 260])
    assert log.sent_by(99) == 5 and log.sent_by(100) == log.sent_by(199) == 130
    assert log.sent_by(299) == 260 and log.sent_by(300) is None and log.sent_by(-1) is None
    assert log.max_behind_ms() == 60
