"""What every traffic pattern shares: the `PatternKind` base class its module subclasses, the
built `TrafficPattern`, condition and partition helpers, and the alert a match becomes.

Pure Python: no PyFlink. A pattern kind is a pydantic model (its `patterns:` entry in
patterns.yaml) that also knows how to build its `udfs.cep` pattern, so one module holds all of
one pattern.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from contract import TrafficAlert
from contract.models import RiskLevel
from udfs.cep.nfa import Match, Timeout
from udfs.cep.pattern import Event, MatchedSoFar, Pattern
from udfs.patterns.evidence import evidence

Severity = Literal["info", "warning", "critical"]
# Risk levels from lowest to highest, as the contract declares them.
RISK_LEVELS: tuple[str, ...] = get_args(RiskLevel)


@dataclass(frozen=True)
class FactNeeds:
    """The facts one pattern reads. The job turns a message into facts only when some pattern
    needs them (`CepConfig.verdict_levels`, `CepConfig.min_congestion_index`), so Python sees no
    more than it must."""

    kinds: frozenset[str]  # fact kinds the pattern consumes (udfs/patterns/facts.py)
    verdict_levels: frozenset[str] = frozenset(RISK_LEVELS)  # of `risk_verdict` facts
    min_congestion_index: float = 0.0  # of `window` facts


def whole_camera(fact: Event) -> str:
    """Partition of a pattern that matches over all of a camera's facts."""
    return ""


def per_track(fact: Event) -> str:
    """Partition of a pattern with one matcher per track (or set of tracks)."""
    return ",".join(str(t) for t in fact.get("track_ids", ()))


class OnTimeout(BaseModel):
    """What a partial match of the pattern that times out means: it becomes an alert of its
    own (`timed_out: true`), e.g. a vehicle stopped in the crosswalk that is not cleared in
    time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="The alert's `pattern`; unique like names.")
    severity: Severity = Field(default="warning", description="The alert's severity.")
    description: str = Field(
        min_length=1, max_length=300, description="What it means, for humans (the alert's)."
    )


@dataclass(frozen=True)
class TrafficPattern:
    """A configured pattern, ready to match: what `TrafficCep` runs per camera."""

    name: str
    severity: Severity
    pattern: Pattern
    consumes: frozenset[str]
    cooldown_ms: int
    describe: Callable[[Match], str]
    partition: Callable[[Event], str] = whole_camera
    on_timeout: OnTimeout | None = None
    alerts_on_match: bool = True


class PatternKind(BaseModel, ABC):
    """One kind of traffic pattern: its `patterns:` entry and how it is built.

    A module of `udfs.patterns.catalogue` subclasses this once, adds
    `type: Literal["<module name>"]` and its own fields, and implements `needs`, `pattern`
    and `describe`. Stage names and stage order are part of the savepoint state: keep them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Alert `pattern` field; unique.")
    severity: Severity = Field(default="warning", description="Alert severity.")
    cooldown_s: float = Field(
        default=0.0, ge=0, description="Suppress alerts of the same partition this long after one."
    )
    on_timeout: OnTimeout | None = Field(
        default=None,
        description="Alert a partial match that times out (its own name, severity and "
        "description; the same cooldown); none: timeouts are only counted.",
    )

    @classmethod
    def type_name(cls) -> str:
        """The `type:` value that selects this kind in patterns.yaml."""
        field = cls.model_fields.get("type")
        values = get_args(field.annotation) if field is not None else ()
        if len(values) != 1 or not isinstance(values[0], str):
            raise TypeError(f"{cls.__name__} needs a field `type: Literal['<kind>']`")
        return values[0]

    @abstractmethod
    def needs(self) -> FactNeeds:
        """The facts this pattern reads."""

    @abstractmethod
    def pattern(self) -> Pattern:
        """The `udfs.cep` pattern over those facts."""

    @abstractmethod
    def describe(self, match: Match) -> str:
        """The alert's description of a match."""

    def partition(self, fact: Event) -> str:
        """Which matcher of the camera a fact goes to; the whole camera unless overridden."""
        return whole_camera(fact)

    def alerts_on_match(self) -> bool:
        """Whether a completed match is an alert; a kind whose meaning is its timeout (the
        awaited event never came) says no."""
        return True

    def build(self) -> TrafficPattern:
        return TrafficPattern(
            name=self.name,
            severity=self.severity,
            pattern=self.pattern().validate(),
            consumes=self.needs().kinds,
            cooldown_ms=int(self.cooldown_s * 1000),
            describe=self.describe,
            partition=self.partition,
            on_timeout=self.on_timeout,
            alerts_on_match=self.alerts_on_match(),
        )


def kind_is(kind: str) -> Callable[[Event], bool]:
    """Condition: the fact is of this kind."""
    return lambda fact: fact.get("kind") == kind


def new_track(stage: str) -> Callable[[Event, MatchedSoFar], bool]:
    """Iterative condition: the fact's tracks took no part in `stage` so far."""

    def check(fact: Event, ctx: MatchedSoFar) -> bool:
        seen = {t for e in ctx.events(stage) for t in e.get("track_ids", ())}
        return not seen.intersection(fact.get("track_ids", ()))

    return check


def tracks(match: Match | Timeout) -> list[int]:
    """Every track in a match, sorted."""
    return sorted(
        {t for events in match.events.values() for e in events for t in e.get("track_ids", ())}
    )


def alert_id(pattern: str, camera_id: str, match: Match | Timeout) -> str:
    """Content hash of what matched: a replay of the same input yields the same id."""
    body = json.dumps([pattern, camera_id, match.events], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def to_alert(traffic: TrafficPattern, camera_id: str, match: Match) -> TrafficAlert:
    return TrafficAlert(
        schema_version=1,
        alert_id=alert_id(traffic.name, camera_id, match),
        pattern=traffic.name,
        camera_id=camera_id,
        severity=traffic.severity,
        start_ms=match.start_ms,
        end_ms=match.end_ms,
        track_ids=tuple(tracks(match)),
        description=traffic.describe(match)[:500],
        evidence=evidence(camera_id, (e for events in match.events.values() for e in events)),
    )


def timeout_alert(traffic: TrafficPattern, camera_id: str, timeout: Timeout) -> TrafficAlert:
    """A timed-out partial match as the alert its pattern's `on_timeout` declares: from its
    first to its last matched event (emitted when it timed out), `timed_out: true`."""
    assert traffic.on_timeout is not None
    taken = [e for events in timeout.events.values() for e in events]
    last = max((int(e["ts_ms"]) for e in taken), default=timeout.start_ms)
    return TrafficAlert(
        schema_version=1,
        alert_id=alert_id(traffic.on_timeout.name, camera_id, timeout),
        pattern=traffic.on_timeout.name,
        camera_id=camera_id,
        severity=traffic.on_timeout.severity,
        start_ms=timeout.start_ms,
        end_ms=last,
        track_ids=tuple(tracks(timeout)),
        description=(
            f"{traffic.on_timeout.description} (tracks {tracks(timeout)}; timed out at "
            f"{timeout.timed_out_at_ms})"
        )[:500],
        evidence=evidence(camera_id, taken),
        timed_out=True,
    )
