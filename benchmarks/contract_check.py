"""Benchmark: what the schema-driven contract check costs the JVM ingest path, in events/s.

The job's PARSE_DETECTION (jvm/udf) before this check existed (a hand-written check of the
fields the windows read, compiled from git `--before`) against the current one (the whole
contract, interpreted from contract/schemas/detection-results.v1.json), on the same events in
one run, rounds alternating; each figure is eval() calls/s on one core after a warm-up, via
ContractCheck --bench. The pure-SQL ceiling of the whole path is in the scale benchmark.
Asserts that every event is accepted by both (the check must not refuse good traffic). Writes
benchmarks/results/contract_check.json.

    .venv/bin/python -m benchmarks.contract_check --events 2000 --seconds 6 --rounds 3
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyflink

from stack.paths import REPO

RESULTS = REPO / "benchmarks" / "results"
CLASSES = ["car", "car", "car", "truck", "bus", "person", "person", "bicycle", "motorcycle"]
UDF_JAR = REPO / ".jvm" / "flink" / "traffic-risk-udfs.jar"
FLINK_LIB = Path(os.path.dirname(pyflink.__file__)) / "lib"
# The last commit whose ParseDetection restated the rules by hand.
BEFORE = "b8633eb"
PARSE_DETECTION = "jvm/udf/src/io/trafficrisk/flink/ParseDetection.java"


def events(cameras: int, seconds: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """1 frame/s per camera, 3-8 objects, event times disordered within 2 s (the events of
    the retired job_vs_sql benchmark, so the figures stay comparable)."""
    rng = random.Random(seed)
    start = 1_700_000_040_000
    out = []
    for second in range(seconds):
        for cam in range(cameras):
            objects = [
                {"class_name": rng.choice(CLASSES), "confidence": 0.8, "track_id": cam * 10 + i,
                 "box": {"x1": 10.0 * i, "y1": 5.0, "x2": 10.0 * i + 30, "y2": 40.0},
                 "velocity_px_s": [rng.uniform(-20, 20), rng.uniform(-5, 5)]}
                for i in range(rng.randint(3, 8))
            ]  # fmt: skip
            camera_id = f"bench-{cam:05d}"
            doc = {"schema_version": 1, "camera_id": camera_id, "frame_id": second,
                   "captured_at_ms": start + second * 1000 + rng.randint(-2000, 0),
                   "frame": {"width": 640, "height": 480}, "objects": objects,
                   "detector": "bench"}  # fmt: skip
            out.append((camera_id.encode(), json.dumps(doc).encode()))
    return out


def compile_before(commit: str, work: Path) -> Path:
    """The old ParseDetection as classes that shadow the jar's (first on the class path)."""
    src = work / "src" / "ParseDetection.java"
    src.parent.mkdir(parents=True)
    src.write_text(subprocess.run(["git", "show", f"{commit}:{PARSE_DETECTION}"], cwd=REPO,
                                  check=True, capture_output=True, text=True).stdout)  # fmt: skip
    classes = work / "classes"
    # The jar on the class path too: a later ParseDetection uses its ContractJson and schema.
    subprocess.run(["javac", "--release", "17", "-cp", f"{FLINK_LIB}/*{os.pathsep}{UDF_JAR}",
                    "-d", str(classes), str(src)], check=True)  # fmt: skip
    return classes


def bench(classpath: str, cases: Path, seconds: float) -> tuple[float, int]:
    done = subprocess.run(
        ["java", "-cp", classpath, "io.trafficrisk.flink.ContractCheck", "--bench", str(cases),
         str(seconds)], check=True, capture_output=True, text=True,
    )  # fmt: skip
    rate, accepted = done.stdout.split()
    return float(rate), int(accepted)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="distinct events cycled over")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, help="git commit of the old check")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    cameras = max(1, args.events // 10)
    payloads = [value for _key, value in events(cameras, 10)][: args.events]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = work / "cases.txt"
        cases.write_text("".join(base64.b64encode(p).decode() + "\n" for p in payloads))
        jars = f"{UDF_JAR}:{FLINK_LIB}/*"
        variants = {"before": f"{compile_before(args.before, work)}:{jars}", "after": jars}
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for round_no in range(args.rounds):
            for name, classpath in variants.items():
                rate, accepted = bench(classpath, cases, args.seconds)
                if accepted == 0 or accepted % len(payloads):
                    print(
                        f"{name}: accepted {accepted}, not a multiple of {len(payloads)} "
                        "good events: the check refused good traffic",
                        file=sys.stderr,
                    )
                    return 1
                rates[name].append(rate)
                print(f"round {round_no + 1} {name}: {rate:,.0f} events/s", flush=True)
    median = {name: statistics.median(r) for name, r in rates.items()}
    result = {
        "benchmark": "contract_check",
        "events": len(payloads),
        "mean_event_bytes": round(sum(map(len, payloads)) / len(payloads)),
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "before_commit": args.before,
        "events_per_s": rates,
        "median_events_per_s": median,
        "after_over_before": round(median["after"] / median["before"], 3),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps({k: result[k] for k in ("median_events_per_s", "after_over_before")}))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "contract_check.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
