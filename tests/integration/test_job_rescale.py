"""Rescaling through savepoints, the move users make when they outgrow a size: the job runs
at parallelism 1, is stopped with a savepoint and restored at 2, then stopped again and
restored at 1. Window, key-pool and pattern state are carried: every window exactly once in
read_committed output, the key that got a 429 (Retry-After 3600 s) stays cold, and a
red-light partial match begun before each rescale completes after it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from contract import RiskAssessment, TrafficAlert, WindowStats, parse, redis_keys, topics
from stack.flink_cli import cancel, flink_run, stop_with_savepoint
from tests.integration.job_harness import (
    BASE_MS,
    ON_SESSION_CLUSTER,
    WINDOW_S,
    by_camera_number,
    frame_at,
    frames,
    job_args,
    key_pool_health,
    llm_worthy,
    out_topic,
    red_light_crossing,
    wait_for,
    wait_running,
)
from tests.integration.llm_stub import get, post
from tests.kafka_io import produce, read_all
from udfs.risk.keypool import key_id_for

pytestmark = [pytest.mark.integration, ON_SESSION_CLUSTER]

TEST_KEYS = ["sk-rescale-SECRET-0001", "sk-rescale-SECRET-0002"]
RED_LIGHTS = "red_light_runs_3_in_60s"
# Seconds of camera 1 that are not plain frames: an LLM-worthy group (the first one is
# answered 429), and red-light runs of new tracks; each rescale falls between the second and
# third run of a match (5, 10 | 40 and 50, 55 | 75).
SPECIAL = {3: "llm", 5: "red", 10: "red", 40: "red", 45: "llm", 50: "red", 55: "red",
           75: "red", 85: "llm"}  # fmt: skip
PHASES = ((0, 30), (31, 70), (71, 110))
CLOSE_S = 130  # both cameras: moves the watermark past every window of the phases


def phase_records(run: str, first_s: int, last_s: int) -> list[tuple[bytes, bytes]]:
    camera = f"c1-{run}"
    special = {"llm": lambda s: llm_worthy(camera, s),
               "red": lambda s: red_light_crossing(camera, s, track=100 + s)}  # fmt: skip
    own = [
        special[SPECIAL[s]](s) if s in SPECIAL else frame_at(camera, s)
        for s in range(first_s, last_s + 1)
    ]
    return own + frames(f"c2-{run}", first_s, last_s)


def window_of(camera: str, at_ms: int) -> tuple[str, int]:
    """(camera, window number since BASE_MS) of an event time or window start."""
    return camera, (at_ms - BASE_MS) // 1000 // WINDOW_S


def committed(bootstrap: str, run: str, topic: str, model: type) -> list[Any]:
    found: list[Any] = [parse(model, v) for _, v in read_all(bootstrap, out_topic(run, topic), 2)]
    return [m for m in found if m.camera_id.endswith(run)]


def test_rescale_1_to_2_to_1_carries_windows_keys_and_partial_matches(
    flink_cluster, kafka_bootstrap, redis_url, fresh_topic, cooling_llm, tmp_path: Path
):
    topic, run = fresh_topic(2), uuid.uuid4().hex[:6]
    keys_file, risk_file = tmp_path / "keys.txt", tmp_path / "risk.yaml"
    keys_file.write_text("\n".join(TEST_KEYS) + "\n")
    budget = {"requests_per_min": 100_000, "tokens_per_min": 10**9}
    risk_file.write_text(yaml.safe_dump({"risk": {"pool": {"default_key": budget}}}))
    client = redis.Redis.from_url(redis_url)
    health = partial(key_pool_health, client, TEST_KEYS)
    client.hdel(redis_keys.KEYPOOL_HEALTH, *(key_id_for(k) for k in TEST_KEYS))
    post(cooling_llm + "/control", {"script": ["429"]})  # the first call: 429, Retry-After 3600 s

    def args(parallelism: int) -> list[str]:
        return job_args(
            topic, run, signal_topic="", redis_url=redis_url, risk_config=risk_file,
            llm_base_url=cooling_llm + "/v1", llm_api_keys_file=keys_file, parallelism=parallelism,
        )  # fmt: skip

    def red_light_alerts() -> list[TrafficAlert]:
        found = committed(kafka_bootstrap, run, topics.TRAFFIC_ALERTS, TrafficAlert)
        return [a for a in found if a.pattern == RED_LIGHTS]

    def llm_verdict_at(second: int) -> list[RiskAssessment]:
        found = committed(kafka_bootstrap, run, topics.RISK_ASSESSMENT_RESULTS, RiskAssessment)
        return [v for v in found if v.frame_id == second and v.source == "llm"]

    savepoints = f"file://{tmp_path}/savepoints"
    produce(kafka_bootstrap, topic, phase_records(run, *PHASES[0]), by_camera_number)
    job_id = flink_run(args(1), detached=True)
    try:
        wait_running(job_id)
        wait_for(lambda: llm_verdict_at(3), 120, "the first verdict (after the 429)")
        cooled = wait_for(lambda: health() or None, 30, "key-pool health")
        cooled_key = next(k for k, h in cooled.items() if h["rate_limited"] == 1)
        other_key = next(k for k in cooled if k != cooled_key)
        time.sleep(3)  # the watermark passes the first two red-light runs: a partial match
        assert red_light_alerts() == []
        savepoint = stop_with_savepoint(job_id, savepoints)
        post(cooling_llm + "/reset", {})

        produce(kafka_bootstrap, topic, phase_records(run, *PHASES[1]), by_camera_number)
        job_id = flink_run(args(2), detached=True, from_savepoint=savepoint)
        wait_running(job_id)
        wait_for(lambda: len(red_light_alerts()) == 1, 120, "the match begun at parallelism 1")
        wait_for(lambda: llm_verdict_at(45), 120, "a verdict at parallelism 2")
        time.sleep(3)  # runs at 50 and 55 s: the next partial match
        savepoint = stop_with_savepoint(job_id, savepoints)

        close = [frame_at(f"c1-{run}", CLOSE_S), *frames(f"c2-{run}", CLOSE_S, CLOSE_S)]
        later = [*phase_records(run, *PHASES[2]), *close]
        produce(kafka_bootstrap, topic, later, by_camera_number)
        job_id = flink_run(args(1), detached=True, from_savepoint=savepoint)
        wait_running(job_id)
        alerts = wait_for(
            lambda: red_light_alerts() if len(red_light_alerts()) == 2 else None,
            120, "the match begun at parallelism 2",
        )  # fmt: skip
        wait_for(lambda: llm_verdict_at(85), 120, "a verdict after scaling back to 1")

        expected = Counter(
            window_of(doc["camera_id"], doc["captured_at_ms"])
            for first, last in PHASES
            for doc in (json.loads(value) for _key, value in phase_records(run, first, last))
        )

        def windows() -> list[WindowStats] | None:
            found = committed(kafka_bootstrap, run, topics.TRAFFIC_WINDOW_STATS, WindowStats)
            return found if len(found) >= len(expected) else None

        stats = wait_for(windows, 120, "every window")
        time.sleep(3)  # one more checkpoint: a duplicate would show now
        stats = committed(kafka_bootstrap, run, topics.TRAFFIC_WINDOW_STATS, WindowStats)
        got = Counter(window_of(w.camera_id, w.window_start_ms) for w in stats)
        assert max(got.values()) == 1, "a window was counted twice"
        frames_in = {window_of(w.camera_id, w.window_start_ms): w.frames for w in stats}
        assert frames_in == dict(expected)

        assert [(a.track_ids, a.start_ms, a.end_ms) for a in alerts] == [
            ((105, 110, 140), BASE_MS + 5_000, BASE_MS + 40_000),
            ((150, 155, 175), BASE_MS + 50_000, BASE_MS + 75_000),
        ]
        assert get(cooling_llm + "/stats")["by_key"] == {other_key: 2}  # the cooled key stayed cold
        after = wait_for(lambda: health() or None, 30, "key-pool health at the end")
        assert after[cooled_key]["cooldown_until_ms"] == cooled[cooled_key]["cooldown_until_ms"]
    finally:
        cancel(job_id)
