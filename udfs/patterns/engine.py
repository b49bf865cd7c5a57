"""Per-camera CEP over traffic facts: buffer by watermark, join signals, run every pattern.

The state is two plain parts, so the Flink operator can keep them in keyed state:
- pending facts, in a `PendingStore` (timestamp -> facts), and
- the core: {"signals": SignalTimeline state, "nfa": {"pattern|partition": matcher state},
  "cooldown": {"pattern|partition": end_ms of the last alert}, "watermark": int | None}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contract import TrafficAlert
from udfs.cep.buffer import DictStore, PendingStore, add_pending, take_ready
from udfs.cep.nfa import Matcher, Step, Timeout
from udfs.patterns import facts
from udfs.patterns.catalogue import TrafficPattern, build_all, timeout_alert, to_alert
from udfs.patterns.config import CepConfig
from udfs.patterns.signals import SignalTimeline


class CepTimeout(BaseModel):
    """A partial match that timed out (the operator's side output), as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str = Field(description="Pattern name.")
    camera_id: str = Field(description="Camera.")
    partition: str = Field(description="Partition within the camera (e.g. track), or ''.")
    start_ms: int = Field(description="Event time of the first matched fact.")
    timed_out_at_ms: int = Field(description="Event time at which it could no longer match.")
    matched: dict[str, int] = Field(description="Facts matched per stage.")
    track_ids: tuple[int, ...] = Field(default=(), description="Tracks in the partial match.")


@dataclass
class EngineOutput:
    alerts: list[TrafficAlert] = field(default_factory=list)
    timeouts: list[CepTimeout] = field(default_factory=list)
    suppressed: int = 0


def new_core() -> dict[str, Any]:
    return {"signals": [], "nfa": {}, "cooldown": {}, "watermark": None}


class TrafficCep:
    """The traffic patterns of one configuration; stateless itself, state is passed in."""

    def __init__(self, cfg: CepConfig) -> None:
        self.cfg = cfg
        self.patterns: list[TrafficPattern] = build_all(cfg)
        self._by_name = {p.name: p for p in self.patterns}

    def ingest(self, store: PendingStore, core: dict[str, Any], fact: dict[str, Any]) -> bool:
        """Buffer a fact; False when late (at or behind the watermark already processed)."""
        watermark = core.get("watermark")
        if watermark is not None and fact["ts_ms"] <= watermark:
            return False
        add_pending(store, int(fact["ts_ms"]), fact)
        return True

    def advance(
        self, store: PendingStore, core: dict[str, Any], camera_id: str, watermark: int
    ) -> EngineOutput:
        """Process every buffered fact up to the watermark in event-time order."""
        out = EngineOutput()
        for key in [k for k in core["nfa"] if k.split("|", 1)[0] not in self._by_name]:
            del core["nfa"][key]  # a pattern removed or renamed since the savepoint
        signals = SignalTimeline(core["signals"])
        for ts, fact in take_ready(store, watermark, facts.rank):
            if fact["kind"] == "signal":
                signals.add(ts, str(fact["label"]))
                continue
            if fact["kind"] == "stop_line_crossing":
                resolved = facts.red_light_run(dict(fact), signals.state_at(ts))
                if resolved is None:
                    continue
                fact = resolved
            self._match(core, camera_id, dict(fact), ts, out)
        self._expire(core, camera_id, watermark, out)
        signals.prune(watermark)
        core["watermark"] = watermark
        return out

    def advance_step(
        self,
        core: dict[str, Any],
        camera_id: str,
        facts_due: list[tuple[int, dict[str, Any]]],
        until: int,
    ) -> EngineOutput:
        """One camera through a step of the operator's timer grid, ending at `until`: the
        same advances that a timer per fact time and one per match deadline would make
        (each distinct fact time and each deadline up to `until`, in time order), so the
        grid changes when results come out, never what they are."""
        store = DictStore()
        for ts, fact in facts_due:
            add_pending(store, ts, fact)
        times = sorted({ts for ts, _ in facts_due if ts <= until})
        out, done, i = EngineOutput(), None, 0
        while True:
            deadline = self.next_deadline_ms(core)
            stops = [t for t in (times[i] if i < len(times) else None, deadline) if t is not None]
            stops = [t for t in stops if t <= until and (done is None or t > done)]
            if not stops:
                return out
            done = min(stops)
            step = self.advance(store, core, camera_id, done)
            out.alerts += step.alerts
            out.timeouts += step.timeouts
            out.suppressed += step.suppressed
            while i < len(times) and times[i] <= done:
                i += 1

    def next_deadline_ms(self, core: dict[str, Any]) -> int | None:
        """When the oldest partial match times out: the operator sets a timer for it."""
        deadlines = [
            d
            for key, state in core["nfa"].items()
            if key.split("|", 1)[0] in self._by_name
            and (d := Matcher(self._pattern(key).pattern, state).next_deadline_ms()) is not None
        ]
        return min(deadlines, default=None)

    def _pattern(self, key: str) -> TrafficPattern:
        return self._by_name[key.split("|", 1)[0]]

    def _match(
        self, core: dict[str, Any], camera: str, fact: dict[str, Any], ts: int, out: EngineOutput
    ) -> None:
        for traffic in self.patterns:
            if fact["kind"] not in traffic.consumes:
                continue
            partition = traffic.partition(fact)
            key = f"{traffic.name}|{partition}"
            matcher = Matcher(traffic.pattern, core["nfa"].get(key))
            step = matcher.process(fact, ts)
            self._store(core, key, matcher)
            self._emit(core, traffic, camera, partition, step, out)
        _forget_cooldowns(core, ts, self._by_name)

    def _expire(self, core: dict[str, Any], camera: str, watermark: int, out: EngineOutput) -> None:
        for key in list(core["nfa"]):
            traffic = self._pattern(key)
            matcher = Matcher(traffic.pattern, core["nfa"][key])
            # Time passing ends runs: timeouts, or matches of a trailing not_followed_by.
            step = matcher.advance(watermark)
            self._store(core, key, matcher)
            self._emit(core, traffic, camera, key.split("|", 1)[1], step, out)

    @staticmethod
    def _emit(
        core: dict[str, Any],
        traffic: TrafficPattern,
        camera: str,
        partition: str,
        step: Step,
        out: EngineOutput,
    ) -> None:
        """A matcher step's timeouts and matches as output: matches as alerts (unless the
        kind alerts only on timeouts), timeouts as alerts too when the pattern declares
        `on_timeout`. An alert inside the pattern's cooldown after the previous one of the
        same partition (and sort: match or timeout) is suppressed."""
        key = f"{traffic.name}|{partition}"
        out.timeouts.extend(_timeout(traffic.name, camera, partition, t) for t in step.timeouts)
        if traffic.on_timeout is not None:
            for timeout in step.timeouts:
                alert = timeout_alert(traffic, camera, timeout)
                _cooled_down(core, f"{key}|timeout", traffic, alert, out)
        if traffic.alerts_on_match:
            for match in step.matches:
                _cooled_down(core, key, traffic, to_alert(traffic, camera, match), out)

    @staticmethod
    def _store(core: dict[str, Any], key: str, matcher: Matcher) -> None:
        if matcher.idle:
            core["nfa"].pop(key, None)
        else:
            core["nfa"][key] = matcher.state


def _cooled_down(
    core: dict[str, Any], key: str, traffic: TrafficPattern, alert: TrafficAlert, out: EngineOutput
) -> None:
    """Emit the alert unless it starts within the cooldown after the last one of `key`."""
    last = core["cooldown"].get(key)
    if last is not None and alert.start_ms < last + traffic.cooldown_ms:
        out.suppressed += 1
        return
    core["cooldown"][key] = alert.end_ms
    out.alerts.append(alert)


def _forget_cooldowns(core: dict[str, Any], now: int, patterns: dict[str, TrafficPattern]) -> None:
    """A cooldown that has passed is no longer state (keeps per-track state bounded). A match
    or timeout reported now may have started up to the pattern's `within` earlier, so the
    cooldown is kept that much longer."""
    for key, end in list(core["cooldown"].items()):
        traffic = patterns.get(key.split("|", 1)[0])
        if traffic is None or now >= end + traffic.cooldown_ms + (traffic.pattern.window_ms or 0):
            del core["cooldown"][key]


def _timeout(pattern: str, camera: str, partition: str, timeout: Timeout) -> CepTimeout:
    tracks = {
        t for events in timeout.events.values() for e in events for t in e.get("track_ids", ())
    }
    return CepTimeout(
        pattern=pattern,
        camera_id=camera,
        partition=partition,
        start_ms=timeout.start_ms,
        timed_out_at_ms=timeout.timed_out_at_ms,
        matched={stage: len(events) for stage, events in timeout.events.items()},
        track_ids=tuple(sorted(tracks)),
    )
