"""Benchmark: end-to-end latency and CPU versus simulated cameras (LLM stage excluded), and
the scale curve up to where this machine saturates.

Cameras publish one detection event per second each, stamped with the wall clock, to a fresh
topic; the job runs on the local session cluster with every stage on (no LLM configured: the
heuristic gives each group its verdict). Every fifth frame of a camera carries a group of a car
and a pedestrian, so the risk stage and the pattern facts work too. A window [s, e) can close
once an event with time >= e + watermark bound has arrived, so its latency is the moment its
statistics appear on Redis pub/sub (`live:stats`) minus the publish time of that event. CPU is
the whole machine's busy share during the run (/proc/stat). A size "keeps up" when at least 99%
of its windows reached Redis by the end of the run and p99 latency stayed under two windows;
`--stop-when-saturated` ends the curve at the first size that does not.
Writes benchmarks/results/latency.json.

    .venv/bin/python -m benchmarks.latency --cameras 100 1000 2000 3000 --seconds 60 \
        --stop-when-saturated
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import Producer

from contract import redis_keys
from stack.config import Endpoints
from stack.flink_cli import cancel, flink_run
from stack.paths import REPO
from stack.services import SERVICES
from stack.topics import ensure_topics
from tests.integration.job_harness import output_args, wait_running

RESULTS = REPO / "benchmarks" / "results"
WINDOW_S, BOUND_S = 10, 2


def cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


GROUP_EVERY = 5  # frames per camera between frames with a group


def frame(camera: str, frame_id: int, now_ms: int, rng: random.Random) -> bytes:
    objects = [
        {"class_name": rng.choice(["car", "car", "bus", "person"]), "confidence": 0.8,
         "track_id": i, "box": {"x1": 10.0 * i, "y1": 5.0, "x2": 10.0 * i + 30, "y2": 40.0}}
        for i in range(rng.randint(3, 8))
    ]  # fmt: skip
    event = {"schema_version": 1, "camera_id": camera, "frame_id": frame_id,
             "captured_at_ms": now_ms, "frame": {"width": 640, "height": 480},
             "objects": objects, "detector": "bench"}  # fmt: skip
    if frame_id % GROUP_EVERY == 0:
        objects[:2] = [{**objects[0], "class_name": "car"}, {**objects[1], "class_name": "person"}]
        event["groups"] = [{**GROUP, "group_id": f"g{frame_id}"}]
    return json.dumps(event).encode()


GROUP = {  # a car and a pedestrian 40 px apart: the smart filter's kind of group
    "group_id": "g0", "member_indices": [0, 1],
    "box": {"x1": 0.0, "y1": 5.0, "x2": 40.0, "y2": 40.0},
    "crop": {"kind": "inline", "media_type": "image/jpeg",
             "data_b64": base64.b64encode(b"\xff\xd8bench-crop\xff\xd9").decode()},
    "crop_sha256": hashlib.sha256(b"\xff\xd8bench-crop\xff\xd9").hexdigest(),
    "features": {"min_ped_vehicle_distance_px": 40.0, "time_to_collision_s": 4.0},
}  # fmt: skip


def closing_time(batches: list[int], window_end_ms: int) -> int:
    """When the window could first close: the first batch past its end + the bound."""
    due = window_end_ms - 1 + BOUND_S * 1000
    return next(t for t in batches if t >= due)


def listen(url: str, prefix: str, seen: list[tuple[int, int]], stop: threading.Event) -> None:
    """Record (window end ms, receive ms) of every window of our cameras."""
    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.subscribe(redis_keys.CHANNEL_STATS)
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            doc = json.loads(message["data"])
            if doc["camera_id"].startswith(prefix):
                seen.append((doc["window_end_ms"], int(time.time() * 1000)))


def run(cameras: int, seconds: int) -> dict[str, Any]:
    endpoints = Endpoints.from_env()
    run_id = uuid.uuid4().hex[:6]
    topic, prefix = f"latency-{run_id}", f"lat-{run_id}-"
    ensure_topics(names={topic: 2})
    job_id = flink_run(
        ["--source-topic", topic, "--group-id", f"lat-{run_id}", "--start", "earliest",
         "--window-s", str(WINDOW_S), "--watermark-bound-s", str(BOUND_S),
         "--transactional-id-prefix", f"lat-{run_id}", "--job-name", f"latency-{cameras}",
         "--restart-attempts", "0",
         *output_args(run_id)],  # cancelled at the end: keep its open transactions to itself
        detached=True,
    )  # fmt: skip
    wait_running(job_id)
    seen: list[tuple[int, int]] = []
    stop = threading.Event()
    listener = threading.Thread(target=listen, args=(endpoints.redis_url, prefix, seen, stop))
    listener.start()
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap, "linger.ms": 5,
                         "compression.type": "lz4"})  # fmt: skip
    rng = random.Random(1)
    busy0, total0 = cpu_times()
    start, first_ms = time.monotonic(), int(time.time() * 1000)
    batches: list[int] = []  # event time (= publish time) of each second's frames
    try:
        for second in range(seconds + WINDOW_S + BOUND_S + 2):
            now_ms = int(time.time() * 1000)
            batches.append(now_ms)
            for cam in range(cameras):
                producer.produce(topic, key=f"{prefix}{cam}", value=frame(
                    f"{prefix}{cam}", second, now_ms, rng))  # fmt: skip
                producer.poll(0)
            producer.flush(10)
            time.sleep(max(0.0, start + second + 1 - time.monotonic()))
        time.sleep(3)
    finally:
        busy1, total1 = cpu_times()
        stop.set()
        listener.join()
        cancel(job_id)
    warmup_end = first_ms + WINDOW_S * 1000  # the first window is partial: skip it
    latencies = sorted(got - closing_time(batches, end) for end, got in seen if end > warmup_end)
    # Windows that could close during the run: ends after the warm-up, closing time before
    # the last batch.
    ends = {(t // (WINDOW_S * 1000) + 1) * WINDOW_S * 1000 for t in batches}
    closable = [e for e in ends if e > warmup_end and e - 1 + BOUND_S * 1000 <= batches[-1]]
    expected = len(closable) * cameras
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else None
    return {
        "cameras": cameras,
        "events_per_s": cameras,
        "windows_expected": expected,
        "windows_measured": len(latencies),
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p99": p99,
        "cpu_busy_pct": round(100 * (busy1 - busy0) / max(1, total1 - total0), 1),
        "keeps_up": bool(
            len(latencies) >= 0.99 * expected and p99 is not None and p99 < 2 * WINDOW_S * 1000
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--seconds", type=int, default=60, help="measured span per size")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where to write")
    parser.add_argument(
        "--stop-when-saturated",
        action="store_true",
        help="skip the larger sizes once one does not keep up (the end of the scale curve)",
    )
    args = parser.parse_args()
    for service in SERVICES.values():
        print(service().start())
    rows = []
    for cameras in args.cameras:
        row = run(cameras, args.seconds)
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.stop_when_saturated and not row["keeps_up"]:
            break
    result = {
        "benchmark": "latency", "window_s": WINDOW_S, "watermark_bound_s": BOUND_S,
        "seconds": args.seconds, "rows": rows,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "how": "wall-clock stamped events at 1 frame/s per camera, every 5th with a car + "
               "pedestrian group (heuristic verdicts, no LLM); latency = Redis pub/sub "
               "arrival - publish time of the first frame past window end + watermark bound "
               "(the frame that lets the window close); job (all stages) on the local session "
               "cluster; keeps up = >= 99% of windows arrived and p99 < 2 windows",
    }  # fmt: skip
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "latency.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
