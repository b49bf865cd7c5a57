"""Thin PyFlink adapters of the risk stage, and `build_risk_stage` that wires them.

detection JSON -> RouteGroups --side: heuristic verdicts' records----------------------.
                      | tasks (slot, task JSON)                                         |
                      v key_by(slot)                                                    |
                 AssessPerSlot (keyed state: the pool - pacing, spend, cooldowns -       |
                      |        and the calls in flight; async calls on its own loop,    |
                      |        settled into the pool as they finish)                     |
                      v CountVerdicts (metrics) -> LLM verdicts' records  <-- union ----'

Each verdict leaves as its records (`udfs.risk.outputs`): its own, a high-risk alert, a
pattern fact; three streams of `RiskStreams`, made where the verdict is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple, get_args

from pyflink.common import Row, Types
from pyflink.datastream import (
    DataStream,
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.datastream.time_domain import TimeDomain

from contract import ContractError, DetectionEvent, RiskAssessment, parse
from udfs.risk import meters, records
from udfs.risk.batching import BatchBuffer
from udfs.risk.calls import CallsInFlight
from udfs.risk.config import RiskConfig
from udfs.risk.keypool import KeyPool, load_keys
from udfs.risk.outputs import VerdictOutputs
from udfs.rows import FACT_ROW, KEYED_JSON, side_output
from udfs.views.flink import RedisView
from udfs.views.redis import EncodedVerdict

log = logging.getLogger(__name__)

TASK_ROW = Types.ROW_NAMED(["slot", "task"], [Types.INT(), Types.STRING()])
VERDICT_TAG = OutputTag("risk-verdicts", KEYED_JSON)  # (camera id, verdict JSON)
ALERT_TAG = OutputTag("risk-high-alerts", KEYED_JSON)  # (camera id, TrafficAlert JSON)
FACT_TAG = OutputTag("risk-facts", FACT_ROW)  # (slot, None, facts JSON) for the patterns


class VerdictSink:
    """Where an operator that makes verdicts sends each: its records (`udfs.risk.outputs`),
    each on its side output, and the Redis verdict views, written right there (`views`)."""

    def __init__(self, outputs: VerdictOutputs, views: RedisView | None) -> None:
        self.outputs, self.views = outputs, views
        self.writer: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        if self.views is not None:
            self.writer = self.views.open(runtime_context)

    def emit(self, verdict: RiskAssessment) -> Iterator[Any]:
        own, alert, fact = self.outputs.of(verdict)
        if self.writer is not None:  # the JSON just made for Kafka, not made again
            self.writer.write(EncodedVerdict(verdict.camera_id, own[1], verdict.captured_at_ms))
        yield VERDICT_TAG, Row(*own)
        if alert is not None:
            yield ALERT_TAG, Row(*alert)
        if fact is not None:
            yield FACT_TAG, Row(fact[0], None, fact[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def llm_enabled(cfg: RiskConfig) -> bool:
    return cfg.llm.base_url is not None


class RouteGroups(ProcessFunction):
    """Detection JSON -> heuristic verdicts' records (side outputs) and LLM tasks (main)."""

    def __init__(self, cfg: RiskConfig, sink: VerdictSink) -> None:
        self.cfg, self.sink = cfg, sink
        self.counters: dict[str, Any] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sink.open(runtime_context)
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
                yield from self.sink.emit(item)
            else:
                self.counters["llm"].inc()
                yield Row(item.slot, item.to_json_str())

    def close(self) -> None:
        self.sink.close()


POLL_MS = 50  # how often a slot with calls in flight collects the finished ones
# An event-time timer that fires only when the input ends (or `flink stop --drain`): the
# watermark reaches Long.MAX_VALUE. Processing-time timers do not fire after the end of
# input, so this one waits for the slot's last calls.
END_OF_INPUT = 2**63 - 1
HEALTH_EVERY_MS = 2_000


class AssessPerSlot(KeyedProcessFunction):
    """Keyed by key-pool slot: batches the slot's tasks (`batch.*`), leases a key per batch
    from the slot's pool, starts the vision-LLM call without waiting for it, and settles each
    finished call back into the same pool.

    Keyed state is the whole truth of a slot: the pool (pacing, reserved spend, 429
    cooldowns, errors), the tasks waiting for a batch (`waiting`, task JSON by id) and the
    calls not yet finished (`pending`, batch JSON by call id). So a restore keeps cooling keys
    cold and spend counted, and starts again the calls that were in flight at the checkpoint
    (their verdicts had not been emitted). Calls run on this instance's own event loop
    (`CallsInFlight`); a processing-time timer per slot collects them every POLL_MS while any
    is pending, another sends a partial batch when its wait is over. Nothing is shared with
    another operator.
    """

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.specs: dict[str, Any] = {}
        self.health: Any = None
        self.last_health_ms: dict[int, float] = {}
        self.calls: CallsInFlight[int, list[records.RiskResult]] | None = None
        self.assessor: Any = None
        self.buffers: dict[int, BatchBuffer] = {}  # slot -> tasks waiting (mirrors `waiting`)
        self.next_poll_ms: dict[int, int] = {}  # slot -> its registered collection timer
        self.next_flush_ms: dict[int, int] = {}  # slot -> its registered batch timer
        self.resumed: set[int] = set()  # slots whose state this instance has taken over
        self.drain_armed: set[int] = set()  # slots with their END_OF_INPUT timer registered

    def open(self, runtime_context: RuntimeContext) -> None:
        self.pool_state = runtime_context.get_state(ValueStateDescriptor("keypool", Types.STRING()))
        self.pending = runtime_context.get_map_state(
            MapStateDescriptor("pending", Types.STRING(), Types.STRING())
        )
        self.waiting = runtime_context.get_map_state(
            MapStateDescriptor("waiting", Types.STRING(), Types.STRING())
        )
        _, self.specs = load_keys(self.cfg)  # secrets are read only to derive key ids
        self.calls = CallsInFlight(name="risk-llm-calls")
        if self.cfg.cache.redis_url:
            from udfs.views.redis import KeyPoolHealthWriter

            self.health = KeyPoolHealthWriter(self.cfg.cache.redis_url)

    def _pool(self) -> KeyPool | None:
        if not self.specs:
            return None
        raw = self.pool_state.value()
        pool = KeyPool(self.specs, self.cfg.pool, share=1 / self.cfg.pool.slots)
        return pool.restore(json.loads(raw) if raw else None)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        task = records.RiskTask.model_validate_json(value[1])
        pool = self._pool()
        if pool is None:
            yield records.fallback(task, "no API keys configured").to_json_str()
            return
        now_ms = time.time() * 1000
        self._resume(task.slot, now_ms)
        call_id = uuid.uuid4().hex
        self.waiting.put(call_id, value[1])
        self.buffers[task.slot].add(call_id, task, now_ms)
        if task.slot not in self.drain_armed:
            self.drain_armed.add(task.slot)
            ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        yield from self._send_due(task.slot, pool, ctx, now_ms)
        yield from self._collect(task.slot, pool, now_ms)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[str]:
        slot = int(ctx.get_current_key())
        for registered in (self.next_poll_ms, self.next_flush_ms):
            if registered.get(slot) == timestamp:
                del registered[slot]
        pool = self._pool()
        if pool is None:
            return
        now_ms = time.time() * 1000
        self._resume(slot, now_ms)
        if ctx.time_domain() == TimeDomain.EVENT_TIME:  # END_OF_INPUT: send all, the last calls
            yield from self._send_due(slot, pool, ctx, now_ms, flush_all=True)
            assert self.calls is not None
            if not self.calls.wait_idle(slot, self.cfg.llm.operator_timeout_s):
                log.warning("risk stage: slot %d has LLM calls left at the end of input", slot)
        else:
            yield from self._send_due(slot, pool, ctx, now_ms)
        now_ms = time.time() * 1000
        yield from self._collect(slot, pool, now_ms)
        if not self.pending.is_empty():
            self._poll_later(slot, ctx, now_ms)

    def _resume(self, slot: int, now_ms: float) -> None:
        """Once per slot and instance: take over the waiting tasks and start again the calls
        a restore left pending (state of an earlier version holds one task per call)."""
        if slot in self.resumed:
            return
        self.resumed.add(slot)
        buffer = self.buffers[slot] = BatchBuffer(self.cfg.batch)
        for call_id, task_json in list(self.waiting.items()):
            buffer.add(call_id, records.RiskTask.model_validate_json(task_json), now_ms)
        for call_id, saved in list(self.pending.items()):
            log.info("risk stage: slot %d restarts call %s after a restore", slot, call_id)
            self._start(slot, call_id, records.batch_from_state(saved))

    def _send_due(
        self,
        slot: int,
        pool: KeyPool,
        ctx: KeyedProcessFunction.Context,
        now_ms: float,
        flush_all: bool = False,
    ) -> Iterator[str]:
        """Lease a key for each batch that is due and start its call (or fall back at once
        when no key has budget within the tier's wait); a timer for the next partial one."""
        buffer = self.buffers[slot]
        per_image = self.cfg.llm.est_prompt_tokens + self.cfg.llm.max_tokens
        for due in buffer.take_due(now_ms, flush_all):
            for waiting in due:
                self.waiting.remove(waiting.call_id)
            batch = records.RiskBatch(tasks=tuple(w.task for w in due))
            tokens = per_image * len(due)
            lease = pool.acquire(now_ms, batch.tier, tokens)
            if lease is None:
                note = f"no key budget within {batch.tier} max wait"
                yield from (r.to_json_str() for r in records.fallback_batch(batch, note))
                continue
            batch = batch.model_copy(
                update={"key_id": lease.key_id, "start_ms": lease.start_ms,
                        "alternates": lease.alternates, "reserved_tokens": tokens}
            )  # fmt: skip
            call_id = due[0].call_id
            self.pending.put(call_id, batch.to_json_str())
            self._start(slot, call_id, batch)
            self._poll_later(slot, ctx, now_ms)
        deadline = buffer.deadline_ms()
        if deadline is not None and slot not in self.next_flush_ms:
            self.next_flush_ms[slot] = at = int(deadline) + 1
            ctx.timer_service().register_processing_time_timer(at)

    def _poll_later(self, slot: int, ctx: KeyedProcessFunction.Context, now_ms: float) -> None:
        """One collection timer per slot at a time."""
        if slot not in self.next_poll_ms:
            at = int(now_ms) + POLL_MS
            self.next_poll_ms[slot] = at
            ctx.timer_service().register_processing_time_timer(at)

    def _start(self, slot: int, call_id: str, batch: records.RiskBatch) -> None:
        assert self.calls is not None
        capacity = max(self.cfg.scheduler.max_in_flight * 2, 2)
        if not self.calls.wait_below(capacity, self.cfg.llm.operator_timeout_s):
            log.warning("risk stage: %d LLM calls still in flight after %.0f s",
                        self.calls.in_flight(), self.cfg.llm.operator_timeout_s)  # fmt: skip
        self.calls.start(slot, call_id, lambda: self._assess(batch))

    def _collect(self, slot: int, pool: KeyPool, now_ms: float) -> Iterator[str]:
        """Settle the slot's finished calls into its pool and emit their results."""
        assert self.calls is not None
        finished = self.calls.take(slot)
        for call_id, results in finished:
            if self.pending.contains(call_id):  # else a call started before a restore
                self.pending.remove(call_id)
                for result in results:
                    records.settle(pool, result, now_ms)
                    yield result.to_json_str()
        self.pool_state.update(json.dumps(pool.state()))
        # Health every few seconds, and at once when calls were made (429s show up promptly).
        due = now_ms - self.last_health_ms.get(slot, 0) >= HEALTH_EVERY_MS
        called = any(r.attempts for _, results in finished for r in results)
        if self.health is not None and (due or called):
            self.last_health_ms[slot] = now_ms
            self.health.write(slot if self.cfg.pool.slots > 1 else None, pool.health())

    def _make_assessor(self) -> Any:
        from udfs.risk.assessor import Assessor

        secrets, specs = load_keys(self.cfg)
        kv = None
        if self.cfg.cache.redis_url:
            import redis.asyncio as aioredis

            kv = aioredis.Redis.from_url(self.cfg.cache.redis_url, socket_timeout=2)
        return Assessor(self.cfg, secrets, specs, kv)

    async def _assess(self, batch: records.RiskBatch) -> list[records.RiskResult]:
        """Never raises: every way a call can end is a result per task (a fallback says why)."""
        if self.assessor is None:  # made on the calls' loop: its HTTP session belongs there
            self.assessor = self._make_assessor()
        budget = max(1.0, self.cfg.llm.operator_timeout_s - 2.0)
        try:
            results: list[records.RiskResult] = await asyncio.wait_for(
                self.assessor.assess_batch(batch), budget
            )
            return results
        except TimeoutError:
            return records.fallback_batch(batch, "assessment timed out")
        except Exception as exc:  # a defect must not leave the call pending forever
            log.exception("risk stage: assessment failed")
            return records.fallback_batch(batch, f"assessment failed: {type(exc).__name__}")

    def close(self) -> None:
        if self.calls is not None:
            if self.assessor is not None:
                try:
                    self.calls.run_on_loop(self.assessor.close, timeout_s=5)
                except Exception:  # closing must not fail the task's shutdown
                    log.warning("risk stage: closing the LLM provider failed", exc_info=True)
            self.calls.close()
        if self.health is not None:
            self.health.close()


class CountVerdicts(ProcessFunction):
    """RiskResult JSON -> the verdict's records (side outputs, as `RouteGroups`). Metrics
    (docs/metrics.md): verdicts per source; per key id: HTTP attempts by outcome, tokens,
    spend (micro-USD) and a latency histogram (per provider too); cache misses; the sum of
    verdict latencies."""

    def __init__(self, cfg: RiskConfig, sink: VerdictSink) -> None:
        self.cfg, self.sink = cfg, sink
        self.counters: dict[str, Any] = {}
        self.by_key: dict[tuple[str, str, str], Any] = {}  # meters.increments' keys

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sink.open(runtime_context)
        group = runtime_context.get_metrics_group()
        for source in ("llm", "cache", "fallback"):
            self.counters[source] = group.counter(f"risk_verdicts_{source}")
        self.counters["rate_limited"] = group.counter("risk_llm_429")
        self.counters["latency"] = group.counter("risk_llm_latency_ms_total")
        self.counters["cache_miss"] = group.counter("risk_cache_misses")
        _, specs = load_keys(self.cfg)  # key ids only: registered up front, labelled
        provider = group.add_group("provider", self.cfg.llm.provider)
        for key_id in specs:
            by_key = group.add_group("key_id", key_id)
            for outcome in get_args(records.Outcome):
                counter = by_key.add_group("outcome", outcome).counter("risk_llm_requests")
                self.by_key[("requests", key_id, outcome)] = counter
            self.by_key[("tokens", key_id, "")] = by_key.counter("risk_llm_tokens")
            spend = by_key.counter("risk_llm_spend_microusd")
            self.by_key[("spend_microusd", key_id, "")] = spend
            histogram = provider.add_group("key_id", key_id)
            for le in meters.LE_LABELS:
                counter = histogram.add_group("le", le).counter("risk_llm_latency_ms")
                self.by_key[("latency", key_id, le)] = counter

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        result = records.RiskResult.model_validate_json(value)
        verdict = result.verdict
        self.counters[verdict.source].inc()
        price = self.cfg.pool.usd_per_1k_tokens
        for name, amount in meters.increments(result, price).items():
            counter = self.by_key.get(name)
            if counter is not None and amount:
                counter.inc(amount)
        self.counters["rate_limited"].inc(
            sum(1 for a in result.attempts if a.outcome == "rate_limited")
        )
        if verdict.source == "llm" and verdict.latency_ms is not None:
            self.counters["latency"].inc(int(verdict.latency_ms))
        if result.sent and self.cfg.cache.redis_url:
            self.counters["cache_miss"].inc()
        yield from self.sink.emit(verdict)

    def close(self) -> None:
        self.sink.close()


class RiskStreams(NamedTuple):
    verdicts: DataStream  # KEYED_JSON: (camera id, verdict JSON), one per group
    high_risk: DataStream  # KEYED_JSON: (camera id, `high_risk_verdict` alert JSON)
    facts: DataStream  # FACT_ROW: the verdicts some pattern waits for, as facts


def build_risk_stage(
    detections: DataStream,
    cfg: RiskConfig,
    outputs: VerdictOutputs | None = None,
    views: RedisView | None = None,
) -> RiskStreams:
    """detection JSON strings -> the verdicts' records (`udfs.risk.outputs`); `views`: the
    Redis verdict views, written by the operators that make the verdicts."""
    outputs = outputs or VerdictOutputs()
    routed = (
        detections.process(RouteGroups(cfg, VerdictSink(outputs, views)), output_type=TASK_ROW)
        .name("risk: filter + tier")
        .uid("risk-route")
    )
    results = (
        routed.key_by(lambda r: r[0], key_type=Types.INT())
        .process(AssessPerSlot(cfg), output_type=Types.STRING())
        .name("risk: key pool + async LLM calls")
        .uid("risk-keypool-gate")  # the uid of the pool's state since the first version
    )
    assessed = (
        results.process(CountVerdicts(cfg, VerdictSink(outputs, views)), output_type=Types.STRING())
        .start_new_chain()  # metrics of Python functions chained to keyed ones were lost
        .name("risk: count verdicts")
        .uid("risk-count-verdicts")
    )
    verdicts, high_risk, found = (
        side_output(routed, tag).union(side_output(assessed, tag))
        for tag in (VERDICT_TAG, ALERT_TAG, FACT_TAG)
    )
    return RiskStreams(verdicts, high_risk, found)
