"""Thin PyFlink adapters of the risk stage, and `build_risk_stage` that wires them.

detection JSON -> RouteGroups --side: heuristic verdicts-------------------------.
                      | tasks (slot, task JSON)                                     |
                      v key_by(slot)                                                |
                 KeyPoolGate (keyed ValueState: pacing, spend, key leases)          |
                      v AsyncDataStream.unordered_wait(AssessAsync)                 |
                 key_by(slot) -> KeyPoolLedger (keyed ValueState: 429s, tokens)     |
                      v verdict JSON  <---------------------------- union ----------'
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Time, Types
from pyflink.datastream import (
    AsyncDataStream,
    AsyncFunction,
    DataStream,
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import ValueStateDescriptor

from contract import ContractError, DetectionEvent, RiskAssessment, parse
from udfs.risk import records
from udfs.risk.config import RiskConfig
from udfs.risk.keypool import KeyPool, load_keys

log = logging.getLogger(__name__)

TASK_ROW = Types.ROW_NAMED(["slot", "task"], [Types.INT(), Types.STRING()])
HEURISTIC_TAG = OutputTag("risk-heuristic", Types.STRING())


def llm_enabled(cfg: RiskConfig) -> bool:
    return cfg.llm.base_url is not None


class RouteGroups(ProcessFunction):
    """Detection JSON -> heuristic verdicts (side output) and LLM tasks (main output)."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg

    def open(self, runtime_context: RuntimeContext) -> None:
        if not llm_enabled(self.cfg):
            log.warning("risk stage: no LLM configured; the heuristic assesses every group")

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            event = parse(DetectionEvent, value)
        except ContractError as exc:  # the job's parse stage dead-letters these already
            log.warning("risk stage skipped an invalid detection event: %s", exc.reason)
            return
        for item in records.route(event, self.cfg, llm_enabled(self.cfg)):
            if isinstance(item, RiskAssessment):
                yield HEURISTIC_TAG, item.to_json().decode()
            else:
                yield Row(item.slot, item.to_json_str())


def _pool_state(cfg: RiskConfig, raw: str | None) -> KeyPool | None:
    _, specs = load_keys(cfg)  # secrets are read only to derive key ids, then dropped
    if not specs:
        return None
    pool = KeyPool(specs, cfg.pool, share=1 / cfg.pool.slots)
    return pool.restore(json.loads(raw) if raw else None)


class KeyPoolGate(KeyedProcessFunction):
    """Leases a key to each task from the slot's pool (keyed state: pacing, spend, counters)."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("keypool", Types.STRING()))

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        task = records.RiskTask.model_validate_json(value[1])
        pool = _pool_state(self.cfg, self.state.value())
        if pool is None:
            task = task.model_copy(update={"refused": "no API keys configured"})
            yield Row(task.slot, task.to_json_str())
            return
        tokens = self.cfg.llm.est_prompt_tokens + self.cfg.llm.max_tokens
        lease = pool.acquire(time.time() * 1000, task.tier, tokens)
        if lease is None:
            update: dict[str, Any] = {"refused": f"no key budget within {task.tier} max wait"}
        else:
            update = {
                "key_id": lease.key_id,
                "start_ms": lease.start_ms,
                "alternates": lease.alternates,
                "reserved_tokens": tokens,
            }
        self.state.update(json.dumps(pool.state()))
        task = task.model_copy(update=update)
        yield Row(task.slot, task.to_json_str())


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

    async def async_invoke(self, value: Row) -> list[str]:
        task = records.RiskTask.model_validate_json(value[1])
        if task.refused or task.key_id is None:
            return [records.fallback(task, task.refused or "no key leased").to_json_str()]
        if self.assessor is None:
            self.assessor = self._make_assessor()
        if self.assessor is None:
            return [records.fallback(task, "no API keys on this worker").to_json_str()]
        budget = max(1.0, self.cfg.llm.operator_timeout_s - 2.0)
        try:
            result = await asyncio.wait_for(self.assessor.assess(task), budget)
        except TimeoutError:
            result = records.fallback(task, "assessment timed out")
        return [result.to_json_str()]

    def timeout(self, value: Row) -> list[str]:
        task = records.RiskTask.model_validate_json(value[1])
        return [records.fallback(task, "operator timeout").to_json_str()]


class KeyPoolLedger(KeyedProcessFunction):
    """Books what the calls reported (429 cooldowns, errors, used tokens) into the slot's
    keyed state and emits the verdict JSON; counts verdicts per source in metrics."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.counters: dict[str, Any] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("ledger", Types.STRING()))
        group = runtime_context.get_metrics_group()
        for source in ("llm", "cache", "fallback"):
            self.counters[source] = group.counter(f"risk_verdicts_{source}")
        self.counters["rate_limited"] = group.counter("risk_llm_429")

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        result = records.RiskResult.model_validate_json(value)
        self.counters[result.verdict.source].inc()
        if result.attempts:
            pool = _pool_state(self.cfg, self.state.value())
            if pool is not None:
                records.book(pool, result)
                self.state.update(json.dumps(pool.state()))
        self.counters["rate_limited"].inc(
            sum(1 for a in result.attempts if a.outcome == "rate_limited")
        )
        yield result.verdict.to_json().decode()


def build_risk_stage(detections: DataStream, cfg: RiskConfig) -> DataStream:
    """detection JSON strings -> RiskAssessment JSON strings, one per group."""
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
        results.key_by(lambda s: json.loads(s)["slot"], key_type=Types.INT())
        .process(KeyPoolLedger(cfg), output_type=Types.STRING())
        .name("risk: key-pool ledger")
        .uid("risk-keypool-ledger")
    )
    return heuristic.union(llm_verdicts)
