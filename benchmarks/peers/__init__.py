"""Peers of the job for `benchmarks.scale`: the same per-camera windows and heuristic verdicts
computed from the same topic by plain Python consumers, so the job's figures stand next to
what users would otherwise build (docs/performance.md)."""
