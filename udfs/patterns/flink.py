"""Thin PyFlink adapter: facts in, `TrafficAlert` JSON out, timeouts counted.

All logic is in `udfs.patterns.engine` and `udfs.patterns.slots` (plain Python). This module
owns the Flink parts: keyed state per key slot (pending facts by step, the engine's core per
camera; JSON strings, so checkpoints and savepoints carry partial matches), event-time
timers, metrics.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import (
    DataStream,
    FlatMapFunction,
    KeyedProcessFunction,
    MapFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.metrics import Counter
from pyflink.table import StreamTableEnvironment

from contract import ContractError
from udfs.patterns import facts, slots, sql
from udfs.patterns.config import CepConfig, FactRules
from udfs.patterns.cooldown import admit
from udfs.patterns.engine import TrafficCep, new_core
from udfs.patterns.facts import WindowFacts
from udfs.patterns.slots import slot_of
from udfs.risk.outputs import VerdictOutputs
from udfs.rows import FACT_ROW, KEYED_JSON


def _facts_row(slot: int, step: int | None, found: list[dict[str, Any]]) -> Row:
    return Row(slot, step, json.dumps(found, separators=(",", ":")))


class ToFacts(FlatMapFunction):
    """Message JSON of one source -> a `FACT_ROW` (slot, None, its facts' JSON list) when it
    holds facts; invalid input is counted and skipped (the job's parse stage dead-letters it
    before this point)."""

    def __init__(self, source: facts.Source, rules: FactRules, key_slots: int = 1) -> None:
        self.source, self.rules, self.key_slots = source, rules, key_slots
        self.invalid: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        self.invalid = group.counter(f"cep_invalid_{self.source}")

    def events(self, raw: str) -> list[dict[str, Any]]:
        """The facts of one message, as the engine's events; [] for an invalid one."""
        try:
            return [fact.as_event() for fact in facts.from_message(self.source, raw, self.rules)]
        except ContractError:
            self.invalid.inc()
            return []

    def flat_map(self, value: str | Row) -> Iterator[Row]:
        raw = value if isinstance(value, str) else value[0]  # JSON, or a SQL row's first field
        found = self.events(raw)
        if found:
            yield _facts_row(slot_of(str(found[0]["camera_id"]), self.key_slots), None, found)


class BatchFacts(ToFacts):
    """A slot's candidate frames of one step (`udfs.patterns.sql.batches_sql`: slot, step's
    last ms, frames) -> one `FACT_ROW` (slot, step, every fact's JSON list)."""

    def __init__(self, rules: FactRules) -> None:
        super().__init__("detection", rules)

    def flat_map(self, value: str | Row) -> Iterator[Row]:
        found = [event for raw in value[2] for event in self.events(raw)]
        if found:
            yield _facts_row(int(value[0]), int(value[1]), found)


class TrafficCepFunction(KeyedProcessFunction):
    """Keyed by slot (`udfs.patterns.slots`): buffers facts until the watermark passes their
    step, then runs each camera of the step through the engine.

    State per slot, all JSON text so checkpoints and savepoints carry partial matches:
    MapState `cep-slot-pending` (facts and wake-ups by step, layout in `slots`) and MapState
    `cep-slot-cores` (camera -> the engine's core: matchers, signal timeline, cooldowns).
    One event-time timer per slot and step with work due.
    """

    def __init__(self, cfg: CepConfig) -> None:
        self.cfg = cfg
        self.step_ms = cfg.operator.step_ms
        self.counters: dict[str, Any] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        self.engine = TrafficCep(self.cfg)
        self.pending = runtime_context.get_map_state(
            MapStateDescriptor("cep-slot-pending", Types.STRING(), Types.STRING())
        )
        self.cores = runtime_context.get_map_state(
            MapStateDescriptor("cep-slot-cores", Types.STRING(), Types.STRING())
        )
        self.prefix = uuid.uuid4().hex[:8]  # unique per worker: fact keys never collide
        self.seq = 0
        # Timers this worker has set (slot, step): Flink keeps one per key and time anyway,
        # this only saves the call; forgotten once the watermark passes.
        self.timers_set: set[tuple[int, int]] = set()
        group = runtime_context.get_metrics_group()
        for name in ("alerts", "timeouts", "late_facts", "suppressed"):
            self.counters[name] = group.counter(f"cep_{name}")

    def _timer(self, ctx: KeyedProcessFunction.Context, slot: int, step: int) -> None:
        if (slot, step) not in self.timers_set:
            self.timers_set.add((slot, step))
            ctx.timer_service().register_event_time_timer(step)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        slot, step, raw = int(value[0]), value[1], value[2]
        if step is not None:  # a batch from SQL's window: whole, and before its step's timer
            self._put(ctx, slot, int(step), raw)
            return
        # Timers fire in order, so the matcher never ran past the operator's watermark: a fact
        # ahead of it is not late, without reading the matcher state.
        watermark = ctx.timer_service().current_watermark()
        found = json.loads(raw)
        by_step: dict[int, list[Any]] = {}
        for fact in found:
            ts = int(fact["ts_ms"])
            if ts > watermark:
                by_step.setdefault(slots.step_end(ts, self.step_ms), []).append(fact)
        late = len(found) - sum(len(f) for f in by_step.values())
        self.counters["late_facts"].inc(late)
        for at, kept in by_step.items():
            self._put(ctx, slot, at, raw if len(by_step) == 1 and not late else json.dumps(kept))
        yield from ()

    def _put(self, ctx: KeyedProcessFunction.Context, slot: int, step: int, raw: str) -> None:
        self.seq += 1
        self.pending.put(slots.fact_key(step, f"{self.prefix}{self.seq}"), raw)
        self._timer(ctx, slot, step)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        slot = int(ctx.get_current_key())
        self.timers_set = {t for t in self.timers_set if t[1] > timestamp}
        work = slots.due_work(list(self.pending.items()), timestamp, json.loads)
        for key in work.keys:
            self.pending.remove(key)
        for camera in work.cameras():
            raw = self.cores.get(camera)
            core = json.loads(raw) if raw else new_core()
            out = self.engine.advance_step(core, camera, work.facts.get(camera, []), timestamp)
            self.cores.put(camera, json.dumps(core, separators=(",", ":")))
            deadline = self.engine.next_deadline_ms(core)
            if deadline is not None and deadline > timestamp:
                step = slots.step_end(deadline, self.step_ms)
                self.pending.put(slots.wake_key(step, camera), "")
                self._timer(ctx, slot, step)
            self.counters["alerts"].inc(len(out.alerts))
            self.counters["timeouts"].inc(len(out.timeouts))
            self.counters["suppressed"].inc(out.suppressed)
            for alert in out.alerts:
                yield alert.to_json().decode()


def build_cep(fact_stream: DataStream, cfg: CepConfig) -> DataStream:
    """(slot, fact JSON) rows with timestamps and watermarks -> alert JSON. Timeouts are
    counted (`cep_timeouts`); those a pattern alerts on are alerts."""
    return (
        fact_stream.key_by(lambda row: row[0], key_type=Types.INT())
        .process(TrafficCepFunction(cfg), output_type=Types.STRING())
        .name("cep: traffic patterns")
        .uid("cep-traffic-patterns-by-slot")
    )


class KeyAlert(MapFunction):
    """Alert JSON from the CEP operator -> (camera id, alert JSON); counts `cep_matches` per
    pattern (label `pattern`). Counted here, in an operator of its own: counters registered in
    the keyed CEP function never reached Flink's reporter in our runs (PyFlink 2.2.1)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self.matches: dict[str, Counter] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        self.matches = {
            name: group.add_group("pattern", name).counter("cep_matches") for name in self.patterns
        }

    def map(self, value: str) -> Row:
        alert = json.loads(value)
        if alert["pattern"] in self.matches:
            self.matches[alert["pattern"]].inc()
        return Row(alert["camera_id"], value)


class VerdictAlertCooldown(KeyedProcessFunction):
    """Keyed by camera: (camera, high-risk alert JSON) rows pass `udfs.patterns.cooldown.admit`
    (arrival order; the kept start times in one ValueState)."""

    def __init__(self, cooldown_ms: int) -> None:
        self.cooldown_ms = cooldown_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self.kept = runtime_context.get_state(
            ValueStateDescriptor("verdict-alert-cooldown", Types.STRING())
        )

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        raw = self.kept.value()
        kept: list[int] = json.loads(raw) if raw else []
        if admit(kept, int(json.loads(value[1])["start_ms"]), self.cooldown_ms):
            self.kept.update(json.dumps(kept))
            yield value


def window_facts(cfg: CepConfig) -> WindowFacts | None:
    """Which windows the windows stage hands the patterns as facts; None: no pattern reads
    windows."""
    least = cfg.min_congestion_index()
    return None if least is None else WindowFacts(least, cfg.operator.key_slots)


def verdict_outputs(cfg: CepConfig) -> VerdictOutputs:
    """Which verdicts the risk stage hands the patterns as facts, on which key slots."""
    return VerdictOutputs(fact_levels=cfg.verdict_levels(), key_slots=cfg.operator.key_slots)


def throttle_verdict_alerts(alerts: DataStream, cfg: CepConfig) -> DataStream:
    """(camera id, `high_risk_verdict` alert JSON) rows, thinned by the configured cooldown."""
    cooldown_ms = int(cfg.verdict_alerts.cooldown_s * 1000)
    if cooldown_ms == 0:
        return alerts
    return (
        alerts.key_by(lambda row: row[0], key_type=Types.STRING())
        .process(VerdictAlertCooldown(cooldown_ms), output_type=KEYED_JSON)
        .name("alerts: high-risk cooldown")
        .uid("alerts-high-risk-cooldown")
    )


def candidate_batches(t_env: StreamTableEnvironment, cfg: CepConfig) -> DataStream:
    """Accepted frames that may hold a fact, batched in SQL per key slot and step (`sql`)."""
    t_env.create_temporary_view(
        sql.CANDIDATES_VIEW, t_env.sql_query(sql.candidates_sql(cfg.operator.key_slots))
    )
    return t_env.to_data_stream(t_env.sql_query(sql.batches_sql(cfg.operator.step_ms)))


def detect(
    cfg: CepConfig,
    detections: DataStream,
    window_facts: DataStream | None = None,
    verdict_facts: DataStream | None = None,
    signals: DataStream | None = None,
) -> DataStream:
    """Facts of every source, matched per camera in event time -> (camera id, alert JSON).

    `detections`: `candidate_batches` (slot, step, frames' JSON); `window_facts` and
    `verdict_facts`: FACT_ROWs the windows and risk stages made where the window or verdict
    is (`window_facts`, `verdict_outputs`); `signals`: signal changes (JSON). A source is
    used only when a configured pattern consumes its facts, so Python sees no more than it
    must.
    """
    fact_streams = [
        detections.flat_map(BatchFacts(cfg.facts), output_type=FACT_ROW)
        .name("cep: detection facts")
        .uid("cep-facts-detection-batches")
    ]
    if window_facts is not None and cfg.min_congestion_index() is not None:
        fact_streams.append(window_facts)
    if signals is not None:
        fact_streams.append(
            signals.flat_map(
                ToFacts("signal", cfg.facts, key_slots=cfg.operator.key_slots),
                output_type=FACT_ROW,
            )
            .name("cep: signal facts")
            .uid("cep-facts-signal")
        )
    if verdict_facts is not None and cfg.verdict_levels():
        fact_streams.append(verdict_facts)
    alerts = build_cep(fact_streams[0].union(*fact_streams[1:]), cfg)
    return (
        alerts.map(KeyAlert(tuple(p.name for p in cfg.patterns)), output_type=KEYED_JSON)
        .start_new_chain()  # its metrics reach the reporter only outside the CEP chain
        .name("key alerts")
        .uid("key-alerts")
    )
