"""The five traffic patterns, built from configuration, and their alerts (pure Python).

Each pattern names the fact kinds it consumes, how facts are partitioned within a camera (one
matcher per partition, e.g. per track), and how a match reads as a `contract.TrafficAlert`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract import TrafficAlert
from udfs.cep.nfa import Match
from udfs.cep.pattern import Event, MatchedSoFar, Pattern, skip_past_last_event
from udfs.patterns.config import (
    CepConfig,
    ConflictThenVerdict,
    NearMiss,
    PatternConfig,
    RedLightRuns,
    SustainedCongestion,
    WrongWay,
)

_LEVELS = {"none": 0, "low": 1, "medium": 2, "high": 3}


def _whole_camera(fact: Event) -> str:
    return ""


def _per_track(fact: Event) -> str:
    return ",".join(str(t) for t in fact.get("track_ids", ()))


@dataclass(frozen=True)
class TrafficPattern:
    name: str
    severity: str
    pattern: Pattern
    consumes: frozenset[str]
    cooldown_ms: int
    describe: Callable[[Match], str]
    partition: Callable[[Event], str] = _whole_camera


def _kind(kind: str) -> Callable[[Event], bool]:
    return lambda fact: fact.get("kind") == kind


def _new_track(stage: str) -> Callable[[Event, MatchedSoFar], bool]:
    def check(fact: Event, ctx: MatchedSoFar) -> bool:
        seen = {t for e in ctx.events(stage) for t in e.get("track_ids", ())}
        return not seen.intersection(fact.get("track_ids", ()))

    return check


def _tracks(match: Match) -> list[int]:
    return sorted(
        {t for events in match.events.values() for e in events for t in e.get("track_ids", ())}
    )


def red_light_runs(cfg: RedLightRuns) -> TrafficPattern:
    pattern = (
        Pattern.begin("run", skip_past_last_event())
        .where(_kind("red_light_run"))
        .times(cfg.count)
        .within(int(cfg.within_s * 1000))
    )
    if cfg.distinct_tracks:
        pattern.where_iterative(_new_track("run"))
    return TrafficPattern(
        cfg.name,
        cfg.severity,
        pattern,
        frozenset({"red_light_run"}),
        int(cfg.cooldown_s * 1000),
        lambda m: f"{cfg.count} red-light runs within {cfg.within_s:g} s (tracks {_tracks(m)})",
    )


def conflict_then_verdict(cfg: ConflictThenVerdict) -> TrafficPattern:
    def high(fact: Event, ctx: MatchedSoFar) -> bool:
        if fact.get("kind") != "risk_verdict":
            return False
        if _LEVELS.get(str(fact.get("label")), 0) < _LEVELS[cfg.min_level]:
            return False
        return not cfg.same_group or fact.get("ref") == ctx.events("conflict")[0].get("ref")

    pattern = (
        Pattern.begin("conflict", skip_past_last_event())
        .where(_kind("conflict"))
        .followed_by("verdict")
        .where_iterative(high)
        .within(int(cfg.within_s * 1000))
    )
    return TrafficPattern(
        cfg.name,
        cfg.severity,
        pattern,
        frozenset({"conflict", "risk_verdict"}),
        int(cfg.cooldown_s * 1000),
        lambda m: (
            f"pedestrian-vehicle conflict followed by a {cfg.min_level}+ risk verdict "
            f"(tracks {_tracks(m)})"
        ),
    )


def sustained_congestion(cfg: SustainedCongestion) -> TrafficPattern:
    def adjacent(fact: Event, ctx: MatchedSoFar) -> bool:
        taken = ctx.events("jam")
        return not taken or str(taken[-1]["ref"]).split("-")[1] == str(fact["ref"]).split("-")[0]

    pattern = (
        (
            Pattern.begin("jam", skip_past_last_event())
            .where(lambda f: float(f.get("value", 0.0)) >= cfg.min_congestion_index)
            .where_iterative(adjacent)
            .times(cfg.windows)
            .consecutive()
        )
        if cfg.windows > 1
        else (
            Pattern.begin("jam").where(
                lambda f: float(f.get("value", 0.0)) >= cfg.min_congestion_index
            )
        )
    )
    return TrafficPattern(
        cfg.name,
        cfg.severity,
        pattern,
        frozenset({"window"}),
        int(cfg.cooldown_s * 1000),
        lambda m: (
            f"{cfg.windows} consecutive windows with congestion index >= "
            f"{cfg.min_congestion_index:g}"
        ),
    )


def wrong_way(cfg: WrongWay) -> TrafficPattern:
    pattern = (
        Pattern.begin("against", skip_past_last_event())
        .where(_kind("wrong_way"))
        .times(cfg.min_frames)
        .within(int(cfg.within_s * 1000))
    )
    return TrafficPattern(
        cfg.name,
        cfg.severity,
        pattern,
        frozenset({"wrong_way"}),
        int(cfg.cooldown_s * 1000),
        lambda m: (
            f"track {_tracks(m)} moved against lane {m.events['against'][0].get('lane')} "
            f"for {cfg.min_frames} frames"
        ),
        _per_track,
    )


def near_miss(cfg: NearMiss) -> TrafficPattern:
    pattern = Pattern.begin("approach").where(
        lambda f: f.get("value") is not None and float(f["value"]) < cfg.max_ttc_s
    )
    return TrafficPattern(
        cfg.name,
        cfg.severity,
        pattern,
        frozenset({"close_approach"}),
        int(cfg.cooldown_s * 1000),
        lambda m: (
            f"near miss: time to collision {m.events['approach'][0].get('value')} s "
            f"(tracks {_tracks(m)})"
        ),
    )


_BUILDERS: dict[str, Callable[[Any], TrafficPattern]] = {
    "red_light_runs": red_light_runs,
    "conflict_then_verdict": conflict_then_verdict,
    "sustained_congestion": sustained_congestion,
    "wrong_way": wrong_way,
    "near_miss": near_miss,
}


def build(pattern_cfg: PatternConfig) -> TrafficPattern:
    traffic = _BUILDERS[pattern_cfg.type](pattern_cfg)
    traffic.pattern.validate()
    return traffic


def build_all(cfg: CepConfig) -> list[TrafficPattern]:
    return [build(p) for p in cfg.patterns]


def alert_id(pattern: str, camera_id: str, match: Match) -> str:
    """Content hash of what matched: a replay of the same input yields the same id."""
    body = json.dumps([pattern, camera_id, match.events], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def to_alert(traffic: TrafficPattern, camera_id: str, match: Match) -> TrafficAlert:
    return TrafficAlert(
        schema_version=1,
        alert_id=alert_id(traffic.name, camera_id, match),
        pattern=traffic.name,
        camera_id=camera_id,
        severity=traffic.severity,  # type: ignore[arg-type]
        start_ms=match.start_ms,
        end_ms=match.end_ms,
        track_ids=tuple(_tracks(match)),
        description=traffic.describe(match)[:500],
    )
