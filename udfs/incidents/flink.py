"""Thin PyFlink adapter of the incident stage: (camera, alert JSON) rows in, (camera,
incident JSON) rows out, one per revision.

All logic is in `udfs.incidents.engine` (plain Python). This module owns keyed state (one
ValueState per camera: the engine's JSON state, so checkpoints and savepoints carry open
incidents and buffered alerts) and the event-time timers (the next buffered alert or close
deadline).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from contract import Incident, TrafficAlert, parse
from udfs.incidents.config import IncidentConfig
from udfs.incidents.engine import IncidentEngine, new_state
from udfs.rows import KEYED_JSON


class IncidentFunction(KeyedProcessFunction):
    """Keyed by camera id: alerts wait for the watermark, incidents close on it."""

    def __init__(self, cfg: IncidentConfig) -> None:
        self.cfg = cfg

    def open(self, runtime_context: RuntimeContext) -> None:
        self.engine = IncidentEngine(self.cfg)
        self.state = runtime_context.get_state(ValueStateDescriptor("incidents", Types.STRING()))

    def _load(self) -> dict[str, Any]:
        raw = self.state.value()
        return json.loads(raw) if raw else new_state()

    def _save(self, state: dict[str, Any], ctx: KeyedProcessFunction.Context) -> None:
        self.state.update(json.dumps(state, separators=(",", ":")))
        due = self.engine.next_timer(state)
        if due is not None:
            ctx.timer_service().register_event_time_timer(due)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        state = self._load()
        changes = self.engine.add(state, parse(TrafficAlert, value[1]))
        self._save(state, ctx)
        yield from _rows(changes)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
        state = self._load()
        changes = self.engine.advance(state, timestamp)
        self._save(state, ctx)
        yield from _rows(changes)


def _rows(changes: list[Incident]) -> Iterator[Row]:
    for incident in changes:
        yield Row(incident.camera_id, incident.to_json().decode())


def build_incidents(alerts: DataStream, cfg: IncidentConfig) -> DataStream:
    """(camera id, alert JSON) rows with event time -> (camera id, incident JSON) rows."""
    return (
        alerts.key_by(lambda row: row[0], key_type=Types.STRING())
        .process(IncidentFunction(cfg), output_type=KEYED_JSON)
        .name("incidents: group alerts")
        .uid("incidents")
    )
