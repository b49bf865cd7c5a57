"""Benchmark: the job's throughput versus the same windowed aggregation in pure Flink SQL.

Both read the same Kafka topic (bounded), on the local session cluster, alternately, in
one run; throughput = events / job duration from Flink's REST API (start to finish,
deployment included for both). Writes benchmarks/results/job_vs_sql.json.

    .venv/bin/python -m benchmarks.job_vs_sql --cameras 1000 --seconds 120
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from pathlib import Path

from tqdm import tqdm

from stack.config import Endpoints
from stack.flink_cli import flink_run, job_status
from stack.paths import REPO
from stack.services import SERVICES
from stack.topics import ensure_topics
from tests.kafka_io import produce

RESULTS = REPO / "benchmarks" / "results"
BASELINE = REPO / "benchmarks" / "sql_baseline_job.py"
CLASSES = ["car", "car", "car", "truck", "bus", "person", "person", "bicycle", "motorcycle"]


def events(cameras: int, seconds: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """1 frame/s per camera, 3-8 objects, event times disordered within 2 s."""
    rng = random.Random(seed)
    start = 1_700_000_040_000
    out = []
    for second in tqdm(range(seconds), desc="generating", unit="s"):
        for cam in range(cameras):
            objects = [
                {"class_name": rng.choice(CLASSES), "confidence": 0.8, "track_id": cam * 10 + i,
                 "box": {"x1": 10.0 * i, "y1": 5.0, "x2": 10.0 * i + 30, "y2": 40.0},
                 "velocity_px_s": [rng.uniform(-20, 20), rng.uniform(-5, 5)]}
                for i in range(rng.randint(3, 8))
            ]  # fmt: skip
            jitter = rng.randint(-2000, 0)
            camera_id = f"bench-{cam:05d}"
            doc = {"schema_version": 1, "camera_id": camera_id, "frame_id": second,
                   "captured_at_ms": start + second * 1000 + jitter, "frame": {"width": 640,
                   "height": 480}, "objects": objects, "detector": "bench"}  # fmt: skip
            out.append((camera_id.encode(), json.dumps(doc).encode()))
    return out


def timed_run(entry: Path, topic: str, label: str) -> float:
    run = uuid.uuid4().hex[:6]
    args = ["--source-topic", topic, "--group-id", f"bench-{run}", "--start", "earliest",
            "--bounded", "--restart-attempts", "0", "--transactional-id-prefix", f"bench-{run}",
            "--job-name", f"bench-{label}-{run}", "--parallelism", "2"]  # fmt: skip
    job_id = flink_run(args, detached=False, entry=entry)
    status = job_status(job_id)
    assert status["state"] == "FINISHED", status["state"]
    duration_ms: int = status["duration"]
    return duration_ms / 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=120, help="event-time span, 1 frame/s")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where to write")
    args = parser.parse_args()
    for service in SERVICES.values():
        print(service().start())
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topics(names={topic: 2})
    records = events(args.cameras, args.seconds)
    started = time.monotonic()
    produce(Endpoints.from_env().kafka_bootstrap, topic, tqdm(records, desc="producing"))
    print(f"produced {len(records)} events in {time.monotonic() - started:.1f} s")

    durations: dict[str, list[float]] = {"job": [], "sql": []}
    for round_no in range(args.rounds):
        for label, entry in (("job", REPO / "jobs" / "risk_job.py"), ("sql", BASELINE)):
            seconds = timed_run(entry, topic, label)
            durations[label].append(seconds)
            print(f"round {round_no + 1}: {label:>3} {seconds:6.1f} s "
                  f"({len(records) / seconds:,.0f} events/s)")  # fmt: skip
    best = {k: min(v) for k, v in durations.items()}
    result = {
        "benchmark": "job_vs_sql",
        "events": len(records), "cameras": args.cameras, "seconds": args.seconds,
        "durations_s": durations,
        "job_events_per_s": round(len(records) / best["job"]),
        "sql_events_per_s": round(len(records) / best["sql"]),
        "ratio_job_over_sql": round(best["sql"] / best["job"], 3),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "how": "best of alternating bounded runs on the local session cluster, parallelism 2; "
               "duration from Flink REST (includes deployment)",
    }  # fmt: skip
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "job_vs_sql.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
