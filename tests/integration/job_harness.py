"""Shared pieces of the job's recovery tests: synthetic frames, expected windows, waits."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from benchmarks.incidents import tuned_patterns
from contract import WindowStats, parse, sha256_hex, topics
from stack.flink_cli import job_status
from stack.paths import REPO
from tests.factories import CROP_BYTES, detection_dict
from tests.kafka_io import read_all

T = TypeVar("T")
# `./dev test` runs two pytest-xdist workers: one runs every test that uses the shared Flink
# session cluster, one after another (its slots, TaskManager kills); the other runs the rest
# (mini-cluster jobs, detector, dashboard, unit tests) beside it.
ON_SESSION_CLUSTER = pytest.mark.xdist_group("flink-session")
WINDOW_S = 10
BASE_MS = 1_700_000_040_000  # a multiple of WINDOW_S
# Alert pattern -> the simulator's ground-truth kind it detects (see simulator_patterns).
KIND_OF_PATTERN = {
    "red_light_run": "red_light_run",
    "near_miss_ttc_1s": "near_miss",
    "wrong_way_driving": "wrong_way",
    "sustained_congestion_3_windows": "congestion",
}


def simulator_patterns(folder: Path) -> Path:
    """flink-conf/patterns.yaml tuned to the simulator's scene (`benchmarks.incidents.
    tuned_patterns`: near miss under 1.5 s, wrong way for 3 frames, congestion index >= 0.3
    with capacity 12 vehicles, free flow 100 px/s: pass those to the job), plus a pattern that
    alerts every single red-light run. Returns the written file."""
    patterns = tuned_patterns(yaml.safe_load((REPO / "flink-conf" / "patterns.yaml").read_text()))
    path = folder / "patterns.yaml"
    path.write_text(yaml.safe_dump(patterns))
    return path


def cooled_down(times: list[int], cooldown_ms: int) -> list[int]:
    """The times that alert under a cooldown: each at least `cooldown_ms` after the last
    one let through (`udfs.patterns.cooldown`, in time order)."""
    kept: list[int] = []
    for t in sorted(times):
        if not kept or t >= kept[-1] + cooldown_ms:
            kept.append(t)
    return kept


def frames(camera: str, first_s: int, last_s: int) -> list[tuple[bytes, bytes]]:
    """One frame per second; second s carries (s % 3) + 1 cars with stable track ids."""
    out = []
    for second in range(first_s, last_s + 1):
        objects = [
            {"class_name": "car", "confidence": 0.9, "track_id": n,
             "box": {"x1": 10 * n, "y1": 0, "x2": 10 * n + 8, "y2": 8}}
            for n in range(second % 3 + 1)
        ]  # fmt: skip
        doc = detection_dict(camera_id=camera, frame_id=second, objects=objects, groups=[],
                             captured_at_ms=BASE_MS + second * 1000)  # fmt: skip
        out.append((camera.encode(), json.dumps(doc).encode()))
    return out


def frame_at(camera: str, second: int, **fields: Any) -> tuple[bytes, bytes]:
    """One frame: a parked car (track 900) on red, no groups; `fields` override any field."""
    doc = detection_dict(
        camera_id=camera, frame_id=second, captured_at_ms=BASE_MS + second * 1000,
        objects=[{"class_name": "car", "confidence": 0.9, "track_id": 900,
                  "box": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}}],
        groups=[], signal_state="red",
    )  # fmt: skip
    doc.update(fields)
    return camera.encode(), json.dumps(doc).encode()


def red_light_crossing(camera: str, second: int, track: int, **fields: Any) -> tuple[bytes, bytes]:
    """Track `track` crosses the stop line while the camera sees red (unless `fields` say)."""
    box = {"x1": 10, "y1": 20, "x2": 110, "y2": 90}
    car = {"class_name": "car", "confidence": 0.9, "track_id": track, "box": box,
           "crossed_lines": ["stop_line"]}  # fmt: skip
    return frame_at(camera, second, objects=[car], **fields)


def llm_worthy(camera: str, second: int) -> tuple[bytes, bytes]:
    """A car + pedestrian group (ttc 1.5 s, LLM-worthy) with a crop of its own: no cache hit."""
    base = detection_dict()
    crop = CROP_BYTES + f"-{camera}-{second}".encode()
    group = {**base["groups"][0], "crop_sha256": sha256_hex(crop)}
    group["crop"] = {**group["crop"], "data_b64": base64.b64encode(crop).decode()}
    return frame_at(camera, second, objects=base["objects"], groups=[group])


def by_camera_number(key: bytes | None) -> int:
    """Partition of a test camera `c1-...`/`c2-...`/`r1-...`: its number minus one, so each
    of the two partitions carries one camera and neither goes idle."""
    return int((key or b"x1")[1:2]) - 1


def expected_windows(records: list[tuple[bytes, bytes]]) -> dict[tuple[str, int], tuple[int, int]]:
    """(camera, window start s) -> (frames, vehicles), computed independently of Flink."""
    frames_in: Counter[tuple[str, int]] = Counter()
    vehicles_in: Counter[tuple[str, int]] = Counter()
    for _key, value in records:
        doc = json.loads(value)
        start = (doc["captured_at_ms"] - BASE_MS) // 1000 // WINDOW_S * WINDOW_S
        frames_in[(doc["camera_id"], start)] += 1
        vehicles_in[(doc["camera_id"], start)] += len(doc["objects"])
    return {k: (frames_in[k], vehicles_in[k]) for k in frames_in}


# Job flag -> contract topic of each output. Each run writes its own copies (out_topic): a
# transaction another job left open would hold read_committed readers of a shared topic back
# for 15 minutes (docs/operations.md, "Output topics and open transactions").
OUTPUT_FLAGS = {
    "--window-stats-topic": topics.TRAFFIC_WINDOW_STATS,
    "--risk-topic": topics.RISK_ASSESSMENT_RESULTS,
    "--alerts-topic": topics.TRAFFIC_ALERTS,
    "--incidents-topic": topics.TRAFFIC_INCIDENTS,
    "--dead-letter-topic": topics.DEAD_LETTER,
}


def out_topic(run: str, topic: str) -> str:
    """The run's own copy of the output ``topic`` (what job_args points the job at)."""
    return f"it-{run}-{topic}"


def output_args(run: str) -> list[str]:
    """Flags that send every output of a job to the run's own topics."""
    return [x for flag, topic in OUTPUT_FLAGS.items() for x in (flag, out_topic(run, topic))]


def bounded_job_command(
    name: str, run: str, source: str, signals: str, parallelism: int, *options: str
) -> list[str]:
    """`python jobs/risk_job.py` reading ``source`` and ``signals`` from the start to their end
    (10 s windows, 5 s watermark bound, checkpoints every 2 s, no restarts), every output to
    the run's own topics; ``options`` add to or override these."""
    return [
        sys.executable, str(REPO / "jobs" / "risk_job.py"), "--bounded", "--start", "earliest",
        "--source-topic", source, "--signal-topic", signals, "--group-id", f"{name}-{run}",
        "--window-s", "10", "--watermark-bound-s", "5", "--checkpoint-interval-s", "2",
        "--parallelism", str(parallelism), "--transactional-id-prefix", f"{name}-{run}",
        "--job-name", f"{name}-{run}", "--restart-attempts", "0", *output_args(run), *options,
    ]  # fmt: skip


def committed_windows(bootstrap: str, cameras: set[str], run: str) -> list[WindowStats]:
    """Every read_committed window record of ``cameras`` in the run's topic, duplicates
    included."""
    records = read_all(bootstrap, out_topic(run, topics.TRAFFIC_WINDOW_STATS), idle_s=2)
    found = [parse(WindowStats, value) for _key, value in records]
    return [s for s in found if s.camera_id in cameras]


def by_window(stats: list[WindowStats]) -> Counter[tuple[str, int]]:
    return Counter((s.camera_id, (s.window_start_ms - BASE_MS) // 1000) for s in stats)


def wait_for(predicate: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def wait_running(job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        status = job_status(job_id)
        assert status["state"] not in {"FAILED", "CANCELED", "FINISHED"}, status["state"]
        vertices_up = all(v["status"] == "RUNNING" for v in status["vertices"])
        return status if status["state"] == "RUNNING" and vertices_up else None

    return wait_for(running, timeout_s, f"job {job_id} RUNNING")


def job_args(topic: str, run: str, **extra: object) -> list[str]:
    """Options for a test job; its outputs go to the run's own topics (out_topic). The idle
    timeout exceeds every injected pause: a split that turned idle during a pause would let
    the watermark run ahead of it, and its records would then reach already-fired windows
    (docs/architecture.md). So every partition must carry data: publish with
    `by_camera_number` on a two-partition topic."""
    options: dict[str, object] = {
        "--source-topic": topic, "--group-id": f"it-{run}", "--start": "earliest",
        "--window-s": WINDOW_S, "--watermark-bound-s": 5, "--idle-timeout-s": 60,
        "--checkpoint-interval-s": 1, "--parallelism": 2,
        "--transactional-id-prefix": f"it-{run}", "--job-name": f"traffic-risk-it-{run}",
    }  # fmt: skip
    options.update({flag: out_topic(run, topic) for flag, topic in OUTPUT_FLAGS.items()})
    options.update({f"--{k.replace('_', '-')}": v for k, v in extra.items()})
    # A value of True is a bare flag (e.g. --bounded).
    return [str(x) for flag, v in options.items() for x in ([flag] if v is True else [flag, v])]


def assert_exactly_once(
    stats: list[WindowStats], expected: dict[tuple[str, int], tuple[int, int]]
) -> None:
    """Each expected window exactly once, with exactly the expected counts."""
    counts = by_window(stats)
    duplicated = {k: n for k, n in counts.items() if n > 1}
    assert not duplicated, f"windows counted twice: {duplicated}"
    assert set(counts) == set(expected), (
        f"missing {set(expected) - set(counts)}, unexpected {set(counts) - set(expected)}"
    )
    got = {
        (s.camera_id, (s.window_start_ms - BASE_MS) // 1000): (s.frames, s.vehicles) for s in stats
    }
    assert got == expected


def key_pool_health(client: Any, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The key pool's health in Redis (`keypool:health`) of the given API keys, by key id."""
    from contract import redis_keys
    from tests.redis_io import replies
    from udfs.risk.keypool import key_id_for

    ids = {key_id_for(k) for k in keys}
    raw = replies(client).hgetall(redis_keys.KEYPOOL_HEALTH)
    return {k.decode(): json.loads(v) for k, v in raw.items() if k.decode() in ids}
