from __future__ import annotations

import pytest

from contract import DetectionEvent, RiskAssessment
from tests.factories import detection, detection_dict
from tests.unit.risk.helpers import CAR, PERSON, event_with
from udfs.risk import records
from udfs.risk.config import KeyPoolConfig, KeySpec, RiskConfig
from udfs.risk.keypool import KeyPool


def test_route_splits_heuristic_verdicts_from_llm_tasks() -> None:
    raw = detection_dict(signal_state=None)
    lone_car = {**raw["groups"][0], "group_id": "g1", "member_indices": [0], "features": {}}
    raw["groups"].append(lone_car)
    out = list(records.route(DetectionEvent.model_validate(raw), RiskConfig(), llm_enabled=True))
    assert [type(o).__name__ for o in out] == ["RiskTask", "RiskAssessment"]
    task, verdict = out
    assert isinstance(task, records.RiskTask) and isinstance(verdict, RiskAssessment)
    assert task.group.group_id == "g0" and len(task.event.groups) == 1
    assert task.tier == "high"  # ttc 1.5 s
    assert verdict.group_id == "g1" and verdict.source == "heuristic"
    assert verdict.tier == "low"
    assert records.RiskTask.model_validate_json(task.to_json_str()) == task


def test_without_llm_every_group_gets_a_heuristic_verdict() -> None:
    out = list(records.route(detection(), RiskConfig(), llm_enabled=False))
    assert len(out) == 1
    assert isinstance(out[0], RiskAssessment) and out[0].source == "heuristic"


def test_slots_are_stable_and_in_range() -> None:
    slots = {records.slot_of(f"cam-{i}", 4) for i in range(50)}
    assert slots == {0, 1, 2, 3}
    assert records.slot_of("cam-7", 4) == records.slot_of("cam-7", 4)


def test_fallback_keeps_lease_and_names_the_cause() -> None:
    event, _ = event_with([CAR, PERSON], {"time_to_collision_s": 1.0})
    task = records.RiskTask(event=event, tier="high", slot=1, key_id="k-1", reserved_tokens=9)
    result = records.fallback(task, "operator timeout")
    assert result.verdict.source == "fallback" and result.verdict.tier == "high"
    assert "operator timeout" in result.verdict.reason
    assert (result.slot, result.leased_key_id, result.reserved_tokens) == (1, "k-1", 9)


def test_book_applies_attempts_to_the_pool() -> None:
    spec = KeySpec()
    pool = KeyPool({"a": spec, "b": spec}, KeyPoolConfig(usd_per_1k_tokens=1.0))
    task = records.RiskTask(event=detection(), tier="low", slot=0, key_id="a", reserved_tokens=1000)
    base = records.fallback(task, "x")
    attempts = (
        records.Attempt(
            key_id="a", outcome="rate_limited", status=429, retry_after_s=5, at_ms=1000.0
        ),
        records.Attempt(key_id="b", outcome="server_error", status=500, at_ms=1100.0),
        records.Attempt(key_id="b", outcome="ok", status=200, tokens=300, at_ms=1200.0),
    )
    records.book(pool, base.model_copy(update={"attempts": attempts}))
    assert pool.keys["a"].cooldown_until_ms == 6000.0 and pool.keys["a"].rate_limited == 1
    a, b = pool.keys["a"], pool.keys["b"]
    assert (a.requests, b.requests) == (1, 2)
    assert (b.errors, b.consecutive_errors, b.tokens) == (1, 0, 300)
    assert b.spend_usd == pytest.approx(0.3)


def test_settle_books_failover_usage_and_refunds_failed_reservations() -> None:
    spec = KeySpec()
    pool = KeyPool({"a": spec, "b": spec}, KeyPoolConfig(usd_per_1k_tokens=1.0))
    lease = pool.acquire(0.0, "high", 1000)
    assert lease is not None and lease.key_id == "a"
    task = records.RiskTask(
        event=detection(), tier="high", slot=0, key_id="a", reserved_tokens=1000
    )
    attempts = (
        records.Attempt(
            key_id="a", outcome="rate_limited", status=429, retry_after_s=60, at_ms=1.0
        ),
        records.Attempt(key_id="b", outcome="ok", status=200, tokens=300, at_ms=2.0),
    )
    result = records.fallback(task, "x").model_copy(update={"attempts": attempts})
    records.settle(pool, result, now_ms=1000.0)
    a, b = pool.keys["a"], pool.keys["b"]
    assert a.cooldown_until_ms == 61_000.0 and a.rate_limited == 1
    assert (a.requests, a.tokens, a.spend_usd) == (1, 0, 0.0)  # asked once, used nothing
    assert (b.requests, b.tokens) == (1, 300)
    assert b.spend_usd == pytest.approx(0.3)


def test_settle_refunds_a_cache_hit_in_full() -> None:
    pool = KeyPool({"a": KeySpec()}, KeyPoolConfig(usd_per_1k_tokens=1.0))
    assert pool.acquire(0.0, "low", 1000) is not None
    task = records.RiskTask(event=detection(), tier="low", slot=0, key_id="a", reserved_tokens=1000)
    result = records.fallback(task, "cache").model_copy(update={"leased_key_id": "a"})
    records.settle(pool, result, now_ms=10.0)
    key = pool.keys["a"]
    assert (key.requests, key.tokens, key.spend_usd) == (0, 0, 0.0)


def test_a_batch_request_is_accounted_once_with_the_tokens_it_used() -> None:
    pool = KeyPool({"a": KeySpec()}, KeyPoolConfig(usd_per_1k_tokens=1.0))
    assert pool.acquire(0.0, "high", 3000) is not None  # one lease for 3 crops
    tasks = tuple(
        records.RiskTask(event=detection(frame_id=i), tier="high", slot=0) for i in range(3)
    )
    batch = records.RiskBatch(tasks=tasks, key_id="a", reserved_tokens=3000)
    results = records.fallback_batch(batch, "x")
    ok = records.Attempt(key_id="a", outcome="ok", status=200, tokens=1880, at_ms=1.0, images=3)
    results[0] = results[0].model_copy(update={"attempts": (ok,)})
    for result in results:
        records.settle(pool, result, now_ms=10.0)
    key = pool.keys["a"]
    assert (key.requests, key.tokens) == (1, 1880)
    assert key.spend_usd == pytest.approx(1.88)
    assert [r.leased_key_id for r in results] == ["a", None, None]


def test_a_pending_call_of_an_earlier_version_is_a_batch_of_one() -> None:
    task = records.RiskTask(
        event=detection(), tier="low", slot=2, key_id="a", start_ms=5.0, reserved_tokens=1000
    )
    batch = records.batch_from_state(task.to_json_str())
    assert (batch.key_id, batch.start_ms, batch.reserved_tokens, batch.slot) == ("a", 5.0, 1000, 2)
    assert batch.tasks[0].key_id is None and batch.tasks[0].reserved_tokens == 0
    assert records.batch_from_state(batch.to_json_str()) == batch
