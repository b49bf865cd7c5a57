"""Run every benchmark in one go and write BENCHMARKS.md (tables and PNG plots).

    .venv/bin/python -m benchmarks.run_all            # full (~20 min on 2 cores)
    .venv/bin/python -m benchmarks.run_all --smoke    # tiny sizes, into a temp folder

The reliability suite is separate: `.venv/bin/python -m benchmarks.reliability`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.report import OUT, RESULTS
from stack.paths import REPO

FULL = {
    "job_vs_sql": ["--cameras", "1000", "--seconds", "300", "--rounds", "2"],
    "latency": ["--cameras", "100", "1000", "2000", "--seconds", "60"],
    "simulator_rate": ["--cameras", "1000", "--duration-s", "60"],
}
SMOKE = {
    "job_vs_sql": ["--cameras", "20", "--seconds", "30", "--rounds", "1"],
    "latency": ["--cameras", "20", "--seconds", "15"],
    "simulator_rate": ["--cameras", "10", "--duration-s", "20", "--no-job"],
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes into a temp folder")
    args = parser.parse_args()
    results = Path(tempfile.mkdtemp(prefix="bench-")) if args.smoke else RESULTS
    out = results / "BENCHMARKS.md" if args.smoke else OUT
    for name, options in (SMOKE if args.smoke else FULL).items():
        print(f"== benchmarks.{name} {' '.join(options)}", flush=True)
        subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *options,
                        "--results-dir", str(results)], cwd=REPO, check=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "benchmarks.report", "--results-dir", str(results),
                    "--out", str(out)], cwd=REPO, check=True)  # fmt: skip
    print(f"results in {results}, report {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
