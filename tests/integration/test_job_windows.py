"""The job on the real broker and Redis: exact window counts, dead letters, late events."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import redis

from contract import DeadLetter, WindowStats, parse, redis_keys, topics
from stack.paths import REPO
from tests.factories import detection_dict
from tests.integration.job_harness import out_topic, output_args
from tests.kafka_io import produce, read_all
from tests.redis_io import replies

pytestmark = pytest.mark.integration

BASE_MS = 1_700_000_040_000  # a multiple of 10 s: windows are [BASE + 10k s, ...)
WINDOW_S = 10


def obj(cls: str, track: int | None) -> dict[str, Any]:
    o: dict[str, Any] = {
        "class_name": cls,
        "confidence": 0.9,
        "box": {"x1": 1, "y1": 1, "x2": 20, "y2": 20},
    }
    if track is not None:
        o["track_id"] = track
    return o


def event(
    camera: str, frame: int, at_s: float, objects: list[dict[str, Any]]
) -> tuple[bytes, bytes]:
    doc = detection_dict(
        camera_id=camera,
        frame_id=frame,
        captured_at_ms=int(BASE_MS + at_s * 1000),
        objects=objects,
        groups=[],
    )
    return camera.encode(), json.dumps(doc).encode()


def wait_for(predicate, timeout_s: float, what: str, job: subprocess.Popen[bytes], log_path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if job.poll() is not None:
            raise AssertionError(f"job exited ({job.returncode}): {log_path.read_text()[-3000:]}")
        result = predicate()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def stats_of(bootstrap: str, cameras: set[str], run: str) -> dict[tuple[str, int], WindowStats]:
    found = {}
    for _key, value in read_all(bootstrap, out_topic(run, topics.TRAFFIC_WINDOW_STATS), idle_s=2):
        stats = parse(WindowStats, value)
        if stats.camera_id in cameras:
            found[(stats.camera_id, (stats.window_start_ms - BASE_MS) // 1000)] = stats
    return found


def original(letter: DeadLetter) -> bytes:
    """The rejected record's bytes (every letter of this test keeps them)."""
    assert letter.original_b64 is not None, letter
    return base64.b64decode(letter.original_b64)


def test_exact_windows_with_disorder_late_and_malformed_input(
    kafka_bootstrap, redis_url, fresh_topic, tmp_path
):
    topic = fresh_topic(1)
    run = uuid.uuid4().hex[:6]
    cam_a, cam_b, cam_clock = f"a-{run}", f"b-{run}", f"clock-{run}"
    car, bus, person = (lambda t: obj("car", t)), (lambda t: obj("bus", t)), obj("person", None)
    moving_car = {
        **car(1),
        "velocity_px_s": [30.0, 40.0],
        "zones": ["lane_n"],
        "crossed_lines": ["stop_line"],
    }

    # Window [0,10): A has 4 frames, out of order within the 5 s bound (3 before 1).
    batch1 = [
        event(cam_a, 0, 0.0, [car(1), person]),
        event(cam_a, 1, 3.0, [moving_car, bus(2), car(3)]),
        event(cam_a, 2, 1.0, [car(1)]),
        event(cam_b, 0, 2.0, [person]),
        event(cam_a, 3, 7.0, []),
        event(cam_a, 4, 12.0, [car(4), person]),
        event(cam_a, 5, 11.0, [car(4)]),
        event(cam_b, 1, 14.0, [bus(9), bus(9)]),
        event(cam_clock, 0, 16.0, []),  # watermark -> 11 s: window [0,10) closes
        (b"x", b"{not json"),
        (b"x", json.dumps(detection_dict(schema_version=7)).encode()),
        (b"x", json.dumps(detection_dict(detector="x" * 3000)).encode()),  # oversized
    ]
    produce(kafka_bootstrap, topic, batch1)

    log = (tmp_path / "job.log").open("wb")
    options = {
        "--source-topic": topic, "--group-id": f"it-{run}", "--start": "earliest",
        "--window-s": WINDOW_S, "--watermark-bound-s": 5, "--max-event-bytes": 3000,
        "--checkpoint-interval-s": 1, "--parallelism": 1, "--restart-attempts": 0,
        "--transactional-id-prefix": f"it-{run}", "--redis-url": redis_url,
        "--kafka-bootstrap": kafka_bootstrap,
    }  # fmt: skip
    job = subprocess.Popen(
        [sys.executable, str(REPO / "jobs" / "risk_job.py"),
         *(str(x) for pair in options.items() for x in pair), *output_args(run)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
        env={**os.environ, "FLINK_LOG_DIR": str(tmp_path)},
    )  # fmt: skip
    try:
        wait_for(
            lambda: (cam_a, 0) in stats_of(kafka_bootstrap, {cam_a}, run),
            120,
            "first window of camera A",
            job,
            tmp_path / "job.log",
        )
        # Window [0,10) of A has fired, so an event at 4 s is now late: dead-lettered.
        produce(
            kafka_bootstrap,
            topic,
            [
                event(cam_a, 6, 4.0, [car(1)]),
                event(cam_a, 7, 25.0, [person]),
                event(cam_clock, 1, 60.0, []),  # watermark -> 55 s: everything else closes
            ],
        )
        expected_keys = {(cam_a, 0), (cam_a, 10), (cam_a, 20), (cam_b, 0), (cam_b, 10)}
        stats = wait_for(
            lambda: (
                (s := stats_of(kafka_bootstrap, {cam_a, cam_b}, run)).keys() >= expected_keys and s
            ),
            90,
            "all windows",
            job,
            tmp_path / "job.log",
        )
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(30)
        log.close()

    def counts(s: WindowStats) -> tuple[int, ...]:
        return (
            s.frames,
            s.objects,
            s.vehicles,
            s.pedestrians,
            s.distinct_tracks,
            s.peak_vehicles_per_frame,
        )

    assert set(stats) == expected_keys
    assert counts(stats[(cam_a, 0)]) == (4, 6, 5, 1, 3, 3)
    assert stats[(cam_a, 0)].mean_vehicles_per_frame == 1.25
    assert counts(stats[(cam_a, 10)]) == (2, 3, 2, 1, 1, 1)
    assert counts(stats[(cam_a, 20)]) == (1, 1, 0, 1, 0, 0)
    assert counts(stats[(cam_b, 0)]) == (1, 1, 0, 1, 0, 0)
    assert counts(stats[(cam_b, 10)]) == (1, 2, 2, 0, 1, 2)
    assert stats[(cam_a, 0)].window_end_ms - stats[(cam_a, 0)].window_start_ms == 10_000
    first = stats[(cam_a, 0)]
    assert first.class_counts == {"car": 4, "bus": 1, "person": 1}
    assert first.mean_vehicle_speed_px_s == 50.0  # only the tracked, moving car has a speed
    assert (first.line_crossings, first.lane_flow) == ({"stop_line": 1}, {"lane_n": 1})
    assert first.congestion_index == 0.0  # at free-flow speed: not congested
    assert stats[(cam_b, 10)].class_counts == {"bus": 2}
    assert stats[(cam_b, 10)].congestion_index == 0.1  # 2 vehicles per frame / 20, no speed

    letters = [
        parse(DeadLetter, v)
        for _k, v in read_all(kafka_bootstrap, out_topic(run, topics.DEAD_LETTER))
    ]
    mine = {original(d): d for d in letters if d.source_topic == topic}
    assert mine[b"{not json"].reason == "parse: not valid JSON"
    assert mine[b"{not json"].reason_code == "parse"
    assert mine[b"{not json"].offset == 9
    assert any(d.reason.startswith("schema_version: ") and d.reason_code == "contract"
               for d in mine.values())  # fmt: skip
    oversized = [d for d in mine.values() if d.stage == "oversized"]
    assert len(oversized) == 1 and oversized[0].reason.endswith("bytes > 3000")
    late = [d for d in mine.values() if d.stage == "late"]
    assert len(late) == 1 and json.loads(original(late[0]))["frame_id"] == 6
    assert len(mine) == 4

    client = replies(redis.Redis.from_url(redis_url))
    latest = parse(WindowStats, client.get(redis_keys.stats_latest(cam_a)))
    assert latest == stats[(cam_a, 20)]
    series = client.zrange(redis_keys.stats_series(cam_a), 0, -1)
    assert [parse(WindowStats, m) for m in series] == [stats[(cam_a, w)] for w in (0, 10, 20)]
    newest_end = {cam: client.zscore(redis_keys.CAMERAS_ACTIVE, cam) for cam in (cam_a, cam_b)}
    assert newest_end == {
        cam_a: stats[(cam_a, 20)].window_end_ms,
        cam_b: stats[(cam_b, 10)].window_end_ms,
    }
