"""Benchmark: the simulator's own maximum rate per sink, and the job consuming its output.

1. Generation alone (`--sink null`), JSON lines and the real Kafka broker, same seed and size,
   one after the other in one run: events/s each (the simulator's report).
2. The job (`jobs/risk_job.py --bounded`, mini cluster) reads what went to Kafka; every event
   must be counted in exactly one window (sum of `frames` over the cameras' windows).
Writes benchmarks/results/simulator_rate.json.

    .venv/bin/python -m benchmarks.simulator_rate --cameras 1000 --duration-s 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract import WindowStats, parse, topics
from stack.config import Endpoints
from stack.paths import REPO
from stack.topics import ensure_topics
from tests.integration.job_harness import out_topic, output_args
from tests.kafka_io import read_all

RESULTS = REPO / "benchmarks" / "results"


def simulate(
    sink: str, cameras: int, duration_s: int, prefix: str, work: Path, **kafka: str
) -> dict[str, Any]:
    """Run the simulator CLI; return its JSON report."""
    report = work / f"report-{sink}.json"
    extra = [f"--{k}={v}" for k, v in kafka.items()]
    out = ["--out", str(work / "events.jsonl")] if sink == "jsonl" else []
    subprocess.run(
        [sys.executable, "-m", "simulator", "--cameras", str(cameras), "--fps", "1",
         "--duration", f"{duration_s}s", "--camera-prefix", prefix, "--seed", "1",
         "--sink", sink, *out, *extra, "--truth", str(work / f"truth-{sink}.jsonl"),
         "--report-json", str(report), "--no-progress"],
        cwd=REPO, check=True, timeout=1800,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def consume(bootstrap: str, topic: str, prefix: str, work: Path) -> dict[str, Any]:
    """The job reads the topic to its end; count the events its windows saw."""
    run = uuid.uuid4().hex[:6]
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(REPO / "jobs" / "risk_job.py"), "--bounded", "--start", "earliest",
         "--source-topic", topic, "--signal-topic", "", "--group-id", f"simbench-{run}",
         "--window-s", "10", "--checkpoint-interval-s", "5", "--parallelism", "2",
         "--transactional-id-prefix", f"simbench-{run}", "--job-name", f"simbench-{run}",
         "--restart-attempts", "0", *output_args(run)],
        cwd=REPO, check=True, timeout=3600, stdout=(work / "job.log").open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    seconds = time.monotonic() - started
    windows = [
        s
        for s in (
            parse(WindowStats, v)
            for _, v in read_all(bootstrap, out_topic(run, topics.TRAFFIC_WINDOW_STATS))
        )
        if s.camera_id.startswith(prefix)
    ]
    return {
        "job_wall_s": round(seconds, 1),
        "windows": len(windows),
        "cameras_with_windows": len({s.camera_id for s in windows}),
        "events_in_windows": sum(s.frames for s in windows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=1000, help="simulated cameras")
    parser.add_argument("--duration-s", type=int, default=60, help="event time per camera")
    parser.add_argument("--no-job", action="store_true", help="skip the job consuming them")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    bootstrap = Endpoints.from_env().kafka_bootstrap
    topic = f"bench-sim-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: 4})
    prefix = f"sim-{uuid.uuid4().hex[:4]}-"
    rows = {}
    with tempfile.TemporaryDirectory(prefix="simbench-") as tmp:
        work = Path(tmp)
        for sink in ("null", "jsonl", "kafka"):
            kafka = {"bootstrap": bootstrap, "topic": topic} if sink == "kafka" else {}
            report = simulate(sink, args.cameras, args.duration_s, prefix, work, **kafka)
            rows[sink] = {
                "events": report["events"],
                "seconds": report["seconds"],
                "events_per_s": report["events_per_s"],
                "groups": report["groups"],
                "labels": report["labels"],
            }
            print(f"sink {sink}: {report['events']:,} events at {report['events_per_s']:,} ev/s")
        job = None if args.no_job else consume(bootstrap, topic, prefix, work)
    result = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": f".venv/bin/python -m benchmarks.simulator_rate --cameras {args.cameras} "
        f"--duration-s {args.duration_s}",
        "cameras": args.cameras,
        "duration_s": args.duration_s,
        "sinks": rows,
        "job": job,
    }
    if job:
        # The claim: every event sent is counted in exactly one window (the simulator injects
        # no late events here). A shortfall is a failed run, never a figure.
        job["all_counted"] = job["events_in_windows"] == rows["kafka"]["events"]
        print(
            f"job: {job['events_in_windows']:,} of {rows['kafka']['events']:,} events in "
            f"{job['windows']:,} windows of {job['cameras_with_windows']} cameras, "
            f"{job['job_wall_s']} s wall (JVM start included)"
        )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "simulator_rate.json").write_text(json.dumps(result, indent=2))
    if job and not job["all_counted"]:
        print("FAILED: the job did not count every event sent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
