"""Delivery faults: counts match the report and the stream shows what was asked for."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest

from contract import ContractError, DetectionEvent, parse
from simulator import FaultConfig, SimConfig
from simulator.faults import FaultInjector, malformed
from tests.unit.simulator.conftest import Result, run


def _run(**faults: Any) -> Result:
    return run(SimConfig(cameras=5, duration_s=200, seed=5, faults=FaultConfig(**faults)))


def _valid(value: bytes) -> DetectionEvent | None:
    try:
        return parse(DetectionEvent, value)
    except ContractError:
        return None


def _lateness(result: Result) -> list[int]:
    newest, out = -1, []
    for _, value in result.messages:
        t = json.loads(value)["captured_at_ms"]
        out.append(newest - t)
        newest = max(newest, t)
    return out


@pytest.mark.parametrize("share", ["0.1", "0.25", "0.013"])
def test_malformed_share_is_exact(share: str) -> None:
    result = _run(malformed_share=float(share), duplicate_share=0.03)
    bad = [v for _, v in result.messages if _valid(v) is None]
    total = len(result.messages)
    assert len(bad) == int(Fraction(share) * total)  # floor(share x messages)
    assert len(bad) == result.report.faults.as_dict()["malformed_total"]
    duplicates = result.report.faults.duplicates
    assert total == result.report.messages == result.report.events + duplicates + len(bad)


def test_malformed_share_of_a_round_total_equals_the_share() -> None:
    result = run(SimConfig(cameras=3, count=900, faults=FaultConfig(malformed_share=0.1)))
    assert len(result.messages) == 1000
    assert sum(_valid(v) is None for _, v in result.messages) == 100


def test_each_malformed_kind_is_rejected_with_a_reason() -> None:
    good = _run().messages[3][1]
    for kind in ("truncated_json", "missing_field", "bad_value", "wrong_version"):
        with pytest.raises(ContractError):
            parse(DetectionEvent, malformed(good, kind))


def test_out_of_order_within_bound_never_exceeds_it() -> None:
    result = _run(out_of_order_share=0.2, out_of_order_bound_ms=3000)
    late = [x for x in _lateness(result) if x > 0]
    counts = result.report.faults
    assert late and max(late) <= 3000
    assert len(late) == counts.out_of_order_within_bound and counts.out_of_order_beyond_bound == 0
    assert counts.held_within_bound >= len(late)
    assert sorted(result.messages) == sorted(_run().messages)  # same events, other order


def test_beyond_bound_and_late_events_exceed_the_bound() -> None:
    result = _run(
        beyond_bound_share=0.05, late_share=0.02, out_of_order_bound_ms=2000, late_delay_ms=60_000
    )
    lateness = _lateness(result)
    counts = result.report.faults
    assert counts.out_of_order_beyond_bound == sum(x > 2000 for x in lateness) > 0
    assert max(lateness) > 50_000 and counts.max_lateness_ms == max(lateness)
    assert counts.held_late > 0 and counts.held_beyond_bound > 0


def test_duplicates_repeat_the_previous_message() -> None:
    result = _run(duplicate_share=0.05)
    repeats = sum(1 for a, b in zip(result.messages, result.messages[1:], strict=False) if a == b)
    assert repeats == result.report.faults.duplicates > 0
    assert len(result.messages) == result.report.events + repeats


def test_oversized_copies_are_big_valid_events() -> None:
    result = _run(oversized_share=0.01, oversized_bytes=50_000)
    big = [v for _, v in result.messages if len(v) > 50_000]
    assert len(big) == result.report.faults.oversized > 0
    assert all(_valid(v) is not None for v in big)


def test_injector_releases_everything_once() -> None:
    import random

    injector = FaultInjector(FaultConfig(out_of_order_share=0.5, late_share=0.2), random.Random(1))
    out = [m for t in range(100) for m in injector.push(b"k", str(t).encode(), t * 100)]
    out += list(injector.flush())
    assert sorted(int(v) for _, v in out) == list(range(100))
