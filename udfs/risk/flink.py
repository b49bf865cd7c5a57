"""Thin PyFlink adapters of the risk stage, and `build_risk_stage` that wires them.

detection JSON -> RouteGroups --side: heuristic verdicts-------------------------.
                      | tasks (slot, task JSON)                                     |
                      v key_by(slot)                                                |
                 KeyPoolGate (keyed ValueState: the pool - pacing, spend, cooldowns)|
                      v  ^ finished tasks settle back (same process, chained)       |
                 AsyncDataStream.unordered_wait(AssessAsync)                        |
                      v CountVerdicts (metrics) -> verdict JSON  <--- union --------'
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, get_args

from pyflink.common import Row, Time, Types
from pyflink.datastream import (
    AsyncDataStream,
    AsyncFunction,
    DataStream,
    FlatMapFunction,
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import ValueStateDescriptor

from contract import ContractError, DetectionEvent, RiskAssessment, parse
from udfs.risk import records
from udfs.risk.config import RiskConfig
from udfs.risk.keypool import KeyPool, load_keys
from udfs.rows import KEYED_JSON, VERDICT_ROW

log = logging.getLogger(__name__)

TASK_ROW = Types.ROW_NAMED(["slot", "task"], [Types.INT(), Types.STRING()])
HEURISTIC_TAG = OutputTag("risk-heuristic", VERDICT_ROW)


def llm_enabled(cfg: RiskConfig) -> bool:
    return cfg.llm.base_url is not None


class RouteGroups(ProcessFunction):
    """Detection JSON -> heuristic verdicts (side output) and LLM tasks (main output)."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.counters: dict[str, Any] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        if not llm_enabled(self.cfg):
            log.warning("risk stage: no LLM configured; the heuristic assesses every group")
        group = runtime_context.get_metrics_group()
        for path in ("heuristic", "llm"):
            self.counters[path] = group.counter(f"risk_groups_{path}")

    def process_element(self, value: str | Row, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:  # a JSON string, or a Row whose first field is one (from the job's SQL)
            event = parse(DetectionEvent, value if isinstance(value, str) else value[0])
        except ContractError as exc:  # the job's parse stage dead-letters these already
            log.warning("risk stage skipped an invalid detection event: %s", exc.reason)
            return
        for item in records.route(event, self.cfg, llm_enabled(self.cfg)):
            if isinstance(item, RiskAssessment):
                self.counters["heuristic"].inc()
                yield HEURISTIC_TAG, verdict_row(item)
            else:
                self.counters["llm"].inc()
                yield Row(item.slot, item.to_json_str())


# Finished tasks reported by AssessAsync to the KeyPoolGate of their slot. The gate and the
# async operator are chained (forward edge, same parallelism), so they share one Python worker
# process: this is the feedback edge that Flink 2.x DataStreams lack (no iterations). Keyed by
# slot, and each slot belongs to exactly one gate subtask.
_SETTLEMENTS: dict[int, list[str]] = {}
_OUTSTANDING: dict[int, int] = {}  # slot -> tasks passed on by the gate, not yet reported
_LOCK = threading.Lock()  # the async function reports from its event-loop thread
HEALTH_EVERY_MS = 2_000


def _report(slot: int, result_json: str) -> None:
    with _LOCK:
        _SETTLEMENTS.setdefault(slot, []).append(result_json)
        _OUTSTANDING[slot] = _OUTSTANDING.get(slot, 1) - 1


class KeyPoolGate(KeyedProcessFunction):
    """Leases a key to each task from the slot's pool. Keyed state (key = slot) is the whole
    pool: pacing, reserved spend, 429 cooldowns and errors settled from finished calls, so a
    restore from a savepoint keeps cooling keys cold and spend counted."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.specs: dict[str, Any] = {}
        self.health: Any = None
        self.last_health_ms: dict[int, float] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("keypool", Types.STRING()))
        _, self.specs = load_keys(self.cfg)  # secrets are read only to derive key ids
        if self.cfg.cache.redis_url:
            from udfs.views.redis import KeyPoolHealthWriter

            self.health = KeyPoolHealthWriter(self.cfg.cache.redis_url)

    def _pool(self) -> KeyPool | None:
        if not self.specs:
            return None
        raw = self.state.value()
        pool = KeyPool(self.specs, self.cfg.pool, share=1 / self.cfg.pool.slots)
        return pool.restore(json.loads(raw) if raw else None)

    def _settle(self, slot: int, pool: KeyPool, now_ms: float) -> None:
        with _LOCK:
            reported = _SETTLEMENTS.pop(slot, [])
        finished = [records.RiskResult.model_validate_json(r) for r in reported]
        for result in finished:
            records.settle(pool, result, now_ms)
        self.state.update(json.dumps(pool.state()))
        # Health every few seconds, and at once when calls were made (429s show up promptly).
        due = now_ms - self.last_health_ms.get(slot, 0) >= HEALTH_EVERY_MS
        if self.health is not None and (due or any(r.attempts for r in finished)):
            self.last_health_ms[slot] = now_ms
            self.health.write(slot if self.cfg.pool.slots > 1 else None, pool.health())

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        task = records.RiskTask.model_validate_json(value[1])
        pool = self._pool()
        if pool is None:
            task = task.model_copy(update={"refused": "no API keys configured"})
            yield Row(task.slot, task.to_json_str())
            return
        now_ms = time.time() * 1000
        tokens = self.cfg.llm.est_prompt_tokens + self.cfg.llm.max_tokens
        lease = pool.acquire(now_ms, task.tier, tokens)
        if lease is None:
            update: dict[str, Any] = {"refused": f"no key budget within {task.tier} max wait"}
        else:
            update = {
                "key_id": lease.key_id,
                "start_ms": lease.start_ms,
                "alternates": lease.alternates,
                "reserved_tokens": tokens,
            }
        self._settle(task.slot, pool, now_ms)
        with _LOCK:
            _OUTSTANDING[task.slot] = _OUTSTANDING.get(task.slot, 0) + 1
        # Settle what finishes after the last task too (before the next checkpoint).
        ctx.timer_service().register_processing_time_timer(int(now_ms // 1000 + 1) * 1000)
        task = task.model_copy(update=update)
        yield Row(task.slot, task.to_json_str())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
        slot = int(ctx.get_current_key())
        pool = self._pool()
        if pool is not None:
            self._settle(slot, pool, time.time() * 1000)
            if _OUTSTANDING.get(slot, 0) > 0:
                ctx.timer_service().register_processing_time_timer(timestamp + 1000)
        yield from ()

    def close(self) -> None:
        if self.health is not None:
            self.health.close()


class AssessAsync(AsyncFunction):
    """Calls the LLM for a leased task; the aiohttp session is made lazily on the loop."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.assessor: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.assessor = None

    def _make_assessor(self) -> Any:
        from udfs.risk.assessor import Assessor

        secrets, specs = load_keys(self.cfg)
        kv = None
        if self.cfg.cache.redis_url:
            import redis.asyncio as aioredis

            kv = aioredis.Redis.from_url(self.cfg.cache.redis_url, socket_timeout=2)
        return Assessor(self.cfg, secrets, specs, kv) if specs else None

    async def _assess(self, task: records.RiskTask) -> records.RiskResult:
        if task.refused or task.key_id is None:
            return records.fallback(task, task.refused or "no key leased")
        if self.assessor is None:
            self.assessor = self._make_assessor()
        if self.assessor is None:
            return records.fallback(task, "no API keys on this worker")
        budget = max(1.0, self.cfg.llm.operator_timeout_s - 2.0)
        try:
            return await asyncio.wait_for(self.assessor.assess(task), budget)
        except TimeoutError:
            return records.fallback(task, "assessment timed out")

    async def async_invoke(self, value: Row) -> list[str]:
        result = await self._assess(records.RiskTask.model_validate_json(value[1]))
        result_json = result.to_json_str()
        _report(int(value[0]), result_json)
        return [result_json]

    def timeout(self, value: Row) -> list[str]:
        task = records.RiskTask.model_validate_json(value[1])
        result_json = records.fallback(task, "operator timeout").to_json_str()
        _report(task.slot, result_json)
        return [result_json]


class CountVerdicts(MapFunction):
    """RiskResult JSON -> verdict JSON. Metrics: verdicts per source, HTTP attempts per key id
    and outcome (labels `key_id`, `outcome`), LLM latency, cache misses."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.counters: dict[str, Any] = {}
        self.requests: dict[tuple[str, str], Any] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        for source in ("llm", "cache", "fallback"):
            self.counters[source] = group.counter(f"risk_verdicts_{source}")
        self.counters["rate_limited"] = group.counter("risk_llm_429")
        self.counters["latency"] = group.counter("risk_llm_latency_ms_total")
        self.counters["cache_miss"] = group.counter("risk_cache_misses")
        _, specs = load_keys(self.cfg)  # key ids only: registered up front, labelled
        for key_id in specs:
            by_key = group.add_group("key_id", key_id)
            for outcome in get_args(records.Outcome):
                counter = by_key.add_group("outcome", outcome).counter("risk_llm_requests")
                self.requests[(key_id, outcome)] = counter

    def map(self, value: str) -> Row:
        result = records.RiskResult.model_validate_json(value)
        verdict = result.verdict
        self.counters[verdict.source].inc()
        for attempt in result.attempts:
            counter = self.requests.get((attempt.key_id, attempt.outcome))
            if counter is not None:
                counter.inc()
        self.counters["rate_limited"].inc(
            sum(1 for a in result.attempts if a.outcome == "rate_limited")
        )
        if verdict.source == "llm" and verdict.latency_ms is not None:
            self.counters["latency"].inc(int(verdict.latency_ms))
        if result.attempts and self.cfg.cache.redis_url:
            self.counters["cache_miss"].inc()
        return verdict_row(verdict)


def build_risk_stage(detections: DataStream, cfg: RiskConfig) -> DataStream:
    """detection JSON strings -> verdict rows (udfs.rows.VERDICT_ROW), one per group."""
    routed = (
        detections.process(RouteGroups(cfg), output_type=TASK_ROW)
        .name("risk: filter + tier")
        .uid("risk-route")
    )
    heuristic = routed.get_side_output(HEURISTIC_TAG)
    leased = (
        routed.key_by(lambda r: r[0], key_type=Types.INT())
        .process(KeyPoolGate(cfg), output_type=TASK_ROW)
        .name("risk: key-pool gate")
        .uid("risk-keypool-gate")
    )
    results = AsyncDataStream.unordered_wait(
        leased,
        AssessAsync(cfg),
        Time.milliseconds(int(cfg.llm.operator_timeout_s * 1000)),
        capacity=max(cfg.scheduler.max_in_flight * 2, 2),
        output_type=Types.STRING(),
    ).uid("risk-llm-async")
    llm_verdicts = (
        results.map(CountVerdicts(cfg), output_type=VERDICT_ROW)
        .start_new_chain()  # metrics of Python functions chained to the async one are lost
        .name("risk: count verdicts")
        .uid("risk-count-verdicts")
    )
    return heuristic.union(llm_verdicts)


def verdict_row(verdict: RiskAssessment) -> Row:
    """The typed row a verdict travels in between operators (udfs.rows.VERDICT_ROW)."""
    return Row(verdict.camera_id, verdict.risk_level, verdict.to_json().decode())


class HighRiskAlerts(FlatMapFunction):
    """Verdict row -> a TrafficAlert row for each high-risk verdict (`high_risk_verdict`);
    only high verdicts are parsed."""

    def flat_map(self, value: Row) -> Iterator[Row]:
        if value[1] != "high":
            return
        alert = records.alert_for_verdict(parse(RiskAssessment, value[2]))
        if alert is not None:
            yield Row(alert.camera_id, alert.to_json().decode())


def keyed_verdicts(verdicts: DataStream) -> DataStream:
    """Verdict rows -> (camera id, verdict JSON) rows for the risk topic and Redis."""
    return verdicts.map(lambda row: Row(row[0], row[2]), output_type=KEYED_JSON).name(
        "key verdicts"
    )


def high_risk_alerts(verdicts: DataStream) -> DataStream:
    """Verdict rows -> (camera id, TrafficAlert JSON) rows of the high-risk verdicts."""
    return (
        verdicts.flat_map(HighRiskAlerts(), output_type=KEYED_JSON)
        .name("alerts: high-risk verdicts")
        .uid("alerts-high-risk")
    )
