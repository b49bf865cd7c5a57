"""The scale benchmark's keeps-up rule (benchmarks/scale.py docstring), one clause at a time:
a run that misses any clause does not keep up, and its verdict names the clause."""

from __future__ import annotations

import pytest

from benchmarks.scale import Run


def steady(variant: str = "job") -> Run:
    """1,000 cameras offered and read, flat lag, every window on time."""
    return Run(variant=variant, cameras=1000, round=0, offered_per_s=1000.0,
               achieved_per_s=1000.0, replayer_max_behind_ms=40, lag_start=120, lag_end=130,
               lag_slope_per_s=0.5, windows_expected=1000, windows_measured=1000,
               latency_ms_p50=900.0, latency_ms_p99=1300.0)  # fmt: skip


def test_a_steady_run_keeps_up_with_nothing_missed():
    run = steady()
    assert run.keeps_up and run.shortfalls == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"replayer_max_behind_ms": 1500}, "replayer 1,500 ms behind"),
        ({"lag_slope_per_s": 10.5}, "lag grows +10.5/s > 10.0/s"),
        ({"lag_end": 1001}, "1,001 pending at the end"),
        ({"windows_measured": 989}, "windows 989/1000 < 99%"),
        ({"windows_expected": 0}, "no windows could be measured"),
        ({"latency_ms_p99": 2000.0}, "p99 2000.0 ms not < 2,000 ms"),
        ({"latency_ms_p99": None}, "p99 None ms"),
        ({"problems": ["job FAILED"]}, "job FAILED"),
    ],
)
def test_each_missed_clause_fails_the_run_and_is_named(change: dict[str, object], named: str):
    run = steady()
    for name, value in change.items():
        setattr(run, name, value)
    assert not run.keeps_up
    assert any(named in missed for missed in run.shortfalls), run.shortfalls


def test_a_slow_backlog_of_one_record_per_second_is_tolerated_at_small_sizes():
    run = steady()
    run.offered_per_s, run.lag_end, run.lag_slope_per_s = 50.0, 9, 1.0
    assert run.keeps_up, run.shortfalls


def test_the_sql_baseline_is_judged_without_windows():
    run = steady("sql")
    run.windows_expected = run.windows_measured = run.latency_ms_p99 = None
    assert run.keeps_up, run.shortfalls
