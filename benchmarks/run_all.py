"""Run every benchmark in one go and write BENCHMARKS.md (tables and PNG plots).

    .venv/bin/python -m benchmarks.run_all            # full (hours: ~90 s per scale run)
    .venv/bin/python -m benchmarks.run_all --smoke    # tiny sizes, into a temp folder
    .venv/bin/python -m benchmarks.run_all --only scale risk_llm     # some, then the report

Rows: the scale curve (the whole job's steady state, lag slope, latency and CPU beside the
pure-SQL ceiling, until this machine no longer keeps up); the job beside the plain-Python
peers; the job at parallelism 1 beside 2 (the scaling rule's check); the contract check's
cost in the JVM; the simulator's rate;
the LLM stage versus its ideal bounds and the calls the filter and cache avoid; the pattern
operator; the detector service versus a bare model loop. Each benchmark writes its JSON to the
results folder; `run_all.json` there records each one's command and wall time. The local
stack (Kafka, Redis, Flink) is started when it is not running. The reliability suite is
separate: `.venv/bin/python -m benchmarks.reliability`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import OUT, RESULTS
from stack.paths import REPO

SCALE_CURVE = ["500", "1000", "1500", "2000", "2500", "3000", "5000"]
FULL = {
    # Warm-up 45 s: near its ceiling the job drains the backlog of its own start-up (Python
    # workers booting) slowly, and that backlog is not the steady state.
    "scale": [
        *("--cameras", *SCALE_CURVE),
        *("--rounds", "3", "--warmup-s", "45"),
        *("--measure-s", "45", "--stop-when-saturated"),
    ],
    # The job beside the plain-Python peers (docs/operations.md), its own section.
    "scale_peers": [
        *("--cameras", "1500", "3000", "5000", "--rounds", "3", "--warmup-s", "20"),
        *("--measure-s", "40", "--variants", "job", "asyncio", "asyncio2", "quix", "quix2"),
        *("--results-file", "scale-peers.json", "--camera-prefix", "sp-"),
    ],
    # The scaling rule's check (docs/operations.md, Sizing): parallelism 1 beside 2.
    "scale_parallelism": [
        *("--cameras", "500", "1000", "1500", "--rounds", "3", "--warmup-s", "20"),
        *("--measure-s", "40", "--variants", "job1", "job", "sql"),
        *("--results-file", "scale-parallelism.json", "--camera-prefix", "spp-"),
    ],
    "contract_check": ["--events", "2000", "--seconds", "6", "--rounds", "3"],
    "simulator_rate": ["--cameras", "1000", "--duration-s", "60"],
    "risk_llm": [],
    "cep_throughput": ["--cameras", "1000", "--duration-s", "60"],
    "detector_fps": ["--frames", "200", "--yolo-frames", "100"],
    "incidents": ["--cameras", "10", "--duration-s", "1800"],
}
# entries that run another entry's module
MODULES = {"scale_peers": "scale", "scale_parallelism": "scale"}
SMOKE = {
    "scale": ["--cameras", "50", "--rounds", "1", "--warmup-s", "5", "--measure-s", "20"],
    "scale_peers": [
        *("--cameras", "50", "--rounds", "1", "--warmup-s", "5", "--measure-s", "20"),
        *("--variants", "asyncio", "quix", "--results-file", "scale-peers.json"),
        *("--camera-prefix", "sp-"),
    ],
    "scale_parallelism": [
        *("--cameras", "50", "--rounds", "1", "--warmup-s", "5", "--measure-s", "20"),
        *("--variants", "job1", "--results-file", "scale-parallelism.json"),
        *("--camera-prefix", "spp-"),
    ],
    "contract_check": ["--events", "200", "--seconds", "1", "--rounds", "1"],
    "simulator_rate": ["--cameras", "10", "--duration-s", "20"],
    "risk_llm": ["--smoke", "--paths", "asyncio"],
    "cep_throughput": ["--smoke"],
    "detector_fps": ["--frames", "5", "--yolo-frames", "0", "--paced-s", "3"],
    "incidents": ["--smoke"],
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes into a temp folder")
    parser.add_argument("--only", nargs="+", choices=list(FULL), help="run just these")
    args = parser.parse_args()
    from stack.services import SERVICES

    for service in SERVICES.values():  # Kafka, Redis, Flink: no-op when already up
        print(service().start(), flush=True)
    results = Path(tempfile.mkdtemp(prefix="bench-")) if args.smoke else RESULTS
    out = results / "BENCHMARKS.md" if args.smoke else OUT
    chosen = {k: v for k, v in (SMOKE if args.smoke else FULL).items() if k in (args.only or FULL)}
    timings: dict[str, dict[str, object]] = {}
    failed: list[str] = []
    started = time.monotonic()
    for name, options in chosen.items():
        command = [sys.executable, "-m", f"benchmarks.{MODULES.get(name, name)}", *options]
        print(f"== benchmarks.{name} {' '.join(options)}", flush=True)
        began = time.monotonic()
        # A benchmark whose own assertion fails exits non-zero: the others still run and the
        # report is still written (it marks the row), then this run fails.
        code = subprocess.run([*command, "--results-dir", str(results)], cwd=REPO).returncode
        wall = round(time.monotonic() - began, 1)
        timings[name] = {"command": f"python -m benchmarks.{name} {' '.join(options)}".strip(),
                         "wall_s": wall, "exit_code": code}  # fmt: skip
        if code:
            failed.append(name)
        print(f"== benchmarks.{name}: {wall} s" + (f", FAILED (exit {code})" if code else ""),
              flush=True)  # fmt: skip
    total = round(time.monotonic() - started, 1)
    summary = {"smoke": args.smoke, "total_s": total, "benchmarks": timings,
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    if args.only and not args.smoke:  # keep the wall times of the benchmarks not re-run
        previous = results / "run_all.json"
        if previous.exists():
            earlier = json.loads(previous.read_text()).get("benchmarks", {})
            summary["benchmarks"] = {**earlier, **timings}
    (results / "run_all.json").write_text(json.dumps(summary, indent=2) + "\n")
    subprocess.run([sys.executable, "-m", "benchmarks.report", "--results-dir", str(results),
                    "--out", str(out)], cwd=REPO, check=True)  # fmt: skip
    print(f"all benchmarks in {total} s; results in {results}, report {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
