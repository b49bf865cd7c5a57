"""The incident engine against hand-built alerts: grouping, lifecycle, bounds, determinism."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from contract import Evidence, Incident, TrafficAlert
from udfs.incidents.config import IncidentConfig, load
from udfs.incidents.engine import IncidentEngine, new_state

T0 = 1_700_000_000_000
PATTERNS = Path(__file__).resolve().parents[3] / "flink-conf" / "patterns.yaml"
CFG = IncidentConfig.model_validate(
    {
        "quiet_s": 30,
        "kinds": {
            "conflict": {
                "patterns": ["high_risk_verdict", "conflict_then_high_verdict_30s"],
                "same_tracks": True,
            },
            "red_light": {"patterns": ["red_light_run"], "place": "stop_line", "same_tracks": True},
            "congestion": {"patterns": ["jam"], "quiet_s": 60},
        },
    }
)


def alert(
    pattern: str, at_s: float, tracks: tuple[int, ...] = (), camera: str = "cam-1", **extra: object
) -> TrafficAlert:
    ms = int(T0 + at_s * 1000)
    evidence = Evidence(camera_id=camera, frame_id=int(at_s), captured_at_ms=ms, group_id="g0")
    fields: dict[str, object] = {
        "schema_version": 1,
        "alert_id": f"{pattern}-{camera}-{ms}-{tracks}",
        "pattern": pattern,
        "camera_id": camera,
        "severity": "critical",
        "start_ms": ms,
        "end_ms": ms,
        "track_ids": tracks,
        "description": f"{pattern} at {at_s}",
        "evidence": (evidence,),
    }
    return TrafficAlert.model_validate({**fields, **extra})


def run(alerts: list[TrafficAlert], step_ms: int | None = 1000) -> list[Incident]:
    """Feed in the given order; the watermark trails the newest alert by 5 s, moved after
    every alert (or only at the end with step_ms None); then the end of input."""
    engine, state, out = IncidentEngine(CFG), new_state(), []
    newest = 0
    for a in alerts:
        out += engine.add(state, a)
        newest = max(newest, a.end_ms)
        if step_ms is not None:
            out += engine.advance(state, newest - 5000)
    out += engine.advance(state, 2**63 - 1)
    return out


def test_a_situation_raised_every_frame_is_one_incident() -> None:
    """The demo's bus with people beside it: a verdict and a conflict alert every second."""
    alerts = [alert("high_risk_verdict", s) for s in range(90)]
    alerts += [alert("conflict_then_high_verdict_30s", s + 0.5, (4, 7)) for s in range(90)]
    alerts.sort(key=lambda a: a.end_ms)
    out = run(alerts)
    assert {i.incident_id for i in out} == {out[0].incident_id}
    assert [i.revision for i in out] == list(range(1, 182))
    last = out[-1]
    assert (last.status, last.alert_count, last.kind, last.place) == (
        "closed",
        180,
        "conflict",
        "camera",
    )
    assert last.opened_at_ms == T0 and last.updated_at_ms == T0 + 89_500
    assert last.closed_at_ms == last.updated_at_ms + 30_000  # the deadline, not the watermark
    assert set(last.patterns) == {"high_risk_verdict", "conflict_then_high_verdict_30s"}
    assert len(last.alert_ids) == 32 and last.alert_ids[-1] == alerts[-1].alert_id
    assert len(last.evidence) == 16 and last.evidence[-1].frame_id == 89
    assert last.track_ids == (4, 7)
    assert all(i.status == "open" for i in out[:-1])


def test_quiet_period_closes_and_a_later_alert_opens_a_new_incident() -> None:
    out = run([alert("high_risk_verdict", 0), alert("high_risk_verdict", 29.9),
               alert("high_risk_verdict", 60), alert("high_risk_verdict", 89.9)])  # fmt: skip
    ids = list(dict.fromkeys(i.incident_id for i in out))
    assert len(ids) == 2  # 60 s is 30.1 s after 29.9 s: quiet long enough
    closed = [i for i in out if i.status == "closed"]
    assert [(c.alert_count, c.closed_at_ms) for c in closed] == [
        (2, T0 + 59_900), (2, T0 + 119_900)
    ]  # fmt: skip


def test_an_alert_at_the_end_of_the_quiet_period_opens_a_new_incident() -> None:
    out = run([alert("high_risk_verdict", 0), alert("high_risk_verdict", 30)])
    first, second = list(dict.fromkeys(i.incident_id for i in out))
    closed = {i.incident_id: i.closed_at_ms for i in out if i.status == "closed"}
    assert closed == {first: T0 + 30_000, second: T0 + 60_000}


def test_a_late_alert_within_the_lateness_joins_and_the_close_waits_for_it() -> None:
    """A high-verdict alert from a slow LLM call: the watermark already passed the quiet
    period, not yet the lateness after it."""
    engine, state = IncidentEngine(CFG), new_state()
    engine.add(state, alert("high_risk_verdict", 0))
    assert [i.revision for i in engine.advance(state, T0 + 89_999)] == [1]  # 30 s + 60 s
    [joined] = engine.add(state, alert("high_risk_verdict", 29))
    assert (joined.revision, joined.alert_count, joined.status) == (2, 2, "open")
    [closed] = engine.advance(state, T0 + 119_000)  # 29 s + 30 s quiet + 60 s lateness
    assert (closed.status, closed.closed_at_ms) == ("closed", T0 + 59_000)
    [alone] = engine.add(state, alert("high_risk_verdict", 59))  # its incident is gone
    assert alone.incident_id != closed.incident_id and alone.revision == 1


def test_an_alert_at_or_after_the_deadline_never_joins_even_before_the_close() -> None:
    engine, state = IncidentEngine(CFG), new_state()
    engine.add(state, alert("high_risk_verdict", 0))
    engine.add(state, alert("high_risk_verdict", 45))
    out = engine.advance(state, T0 + 50_000)  # the first is past its quiet period, not closed
    assert [(i.revision, i.status) for i in out] == [(1, "open"), (1, "open")]
    assert len({i.incident_id for i in out}) == 2


def test_same_tracks_keeps_road_users_apart_and_trackless_alerts_join() -> None:
    out = run([
        alert("red_light_run", 0, (1,)), alert("red_light_run", 0, (2,)),
        alert("conflict_then_high_verdict_30s", 1, (5, 6)),
        alert("conflict_then_high_verdict_30s", 2, (8, 9)),
        alert("high_risk_verdict", 3),  # names no track: joins the newest conflict
    ])  # fmt: skip
    final = {i.incident_id: i for i in out}
    by_tracks = {i.track_ids: i for i in final.values()}
    assert set(by_tracks) == {(1,), (2,), (5, 6), (8, 9)}
    assert by_tracks[(8, 9)].alert_count == 2 and by_tracks[(5, 6)].alert_count == 1
    assert {by_tracks[(1,)].place, by_tracks[(1,)].kind} == {"stop_line", "red_light"}


def test_cameras_kinds_and_unknown_patterns_are_separate() -> None:
    out = run([alert("jam", 0), alert("jam", 0, camera="cam-2"), alert("high_risk_verdict", 0),
               alert("queue_spill", 1, (3,))])  # fmt: skip
    final = {i.incident_id: i for i in out}
    assert sorted((i.camera_id, i.kind, i.closed_at_ms) for i in final.values()) == [
        ("cam-1", "conflict", T0 + 30_000), ("cam-1", "congestion", T0 + 60_000),
        ("cam-1", "queue_spill", T0 + 31_000),  # no configured kind: its own, default quiet
        ("cam-2", "congestion", T0 + 60_000),
    ]  # fmt: skip


def test_replays_give_the_same_incidents_whatever_the_arrival_order_and_watermarks() -> None:
    rng = random.Random(5)
    alerts = [alert("high_risk_verdict", s * 7) for s in range(20)]
    alerts += [alert("red_light_run", s * 11, (s % 3,)) for s in range(10)]
    alerts += [alert("jam", s * 13) for s in range(8)]
    ordered = run(sorted(alerts, key=lambda a: a.end_ms))
    arrivals = sorted(alerts, key=lambda a: a.end_ms + rng.uniform(0, 4000))
    assert run(arrivals) == ordered
    assert run(arrivals, step_ms=None) == ordered


def test_state_round_trips_through_json_mid_stream() -> None:
    alerts = [alert("high_risk_verdict", s * 4) for s in range(30)]
    expected = run(alerts)
    engine, state, out = IncidentEngine(CFG), new_state(), []
    for i, a in enumerate(alerts):
        out += engine.add(state, a)
        out += engine.advance(state, a.end_ms - 5000)
        if i % 5 == 0:
            state = json.loads(json.dumps(state))
    out += engine.advance(state, 2**63 - 1)
    assert out == expected


def test_an_alert_behind_the_watermark_is_taken_at_once() -> None:
    engine, state = IncidentEngine(CFG), new_state()
    engine.add(state, alert("high_risk_verdict", 10))
    [opened] = engine.advance(state, T0 + 20_000)
    [joined] = engine.add(state, alert("high_risk_verdict", 5))  # a match completed late
    assert (joined.incident_id, joined.revision, joined.alert_count) == (opened.incident_id, 2, 2)
    assert joined.updated_at_ms == T0 + 10_000  # never moves back
    assert engine.next_timer(state) == T0 + 100_000  # 30 s quiet + 60 s lateness


def test_bounded_lists_keep_the_newest() -> None:
    alerts = [alert("jam", s, tuple(range(s * 3, s * 3 + 3))) for s in range(40)]
    last = run(alerts)[-1]
    assert len(last.track_ids) == 64 and last.track_ids[-1] == 119
    assert last.alert_ids == tuple(a.alert_id for a in alerts[-32:])
    assert [e.frame_id for e in last.evidence] == list(range(24, 40))


def test_severity_is_the_highest_seen() -> None:
    out = run([alert("jam", 0, severity="info"), alert("jam", 1, severity="warning"),
               alert("jam", 2, severity="info")])  # fmt: skip
    assert [i.severity for i in out] == ["info", "warning", "warning", "warning"]


def test_ids_are_deterministic_and_differ_per_opening_alert() -> None:
    first = run([alert("red_light_run", 0, (1,))])[0].incident_id
    assert run([alert("red_light_run", 0, (1,))])[0].incident_id == first
    assert run([alert("red_light_run", 0, (2,))])[0].incident_id != first


def test_config_rejects_unknown_fields_and_a_pattern_in_two_kinds() -> None:
    with pytest.raises(ValidationError, match="colour"):
        IncidentConfig.model_validate({"kinds": {"a": {"patterns": ["p"], "colour": 1}}})
    with pytest.raises(ValidationError, match="'p' is in kinds 'a' and 'b'"):
        IncidentConfig.model_validate(
            {"kinds": {"a": {"patterns": ["p"]}, "b": {"patterns": ["p"]}}}
        )


def test_shipped_config_names_a_kind_for_every_shipped_pattern() -> None:
    import yaml

    cfg = load(PATTERNS)
    patterns = yaml.safe_load(PATTERNS.read_text())["cep"]["patterns"]
    names = [p["name"] for p in patterns if p["type"] != "blocked_crosswalk"]  # timeouts only
    names += [p["on_timeout"]["name"] for p in patterns if "on_timeout" in p]
    names += ["high_risk_verdict"]
    assert all(any(n in k.patterns for k in cfg.kinds.values()) for n in names), names
    assert cfg.kind_of("high_risk_verdict")[0] == cfg.kind_of("conflict_then_high_verdict_30s")[0]


def test_state_saved_under_one_config_restores_under_a_changed_one() -> None:
    """What a savepoint carries is this JSON: after a restore with other kinds and quiet
    periods, an open incident goes on (same id, next revision) and closes by the new rules."""
    engine, state = IncidentEngine(CFG), new_state()
    engine.add(state, alert("high_risk_verdict", 0))
    [opened] = engine.advance(state, T0 + 1_000)
    saved = json.dumps(state)
    changed = IncidentConfig.model_validate(
        {
            "quiet_s": 10,
            "lateness_s": 0,
            "kinds": {
                "conflict": {"patterns": ["high_risk_verdict"], "quiet_s": 20},
                "blocked_crosswalk": {"patterns": ["crosswalk_blocked_20s"], "place": "crosswalk"},
            },
        }
    )
    restored, state = IncidentEngine(changed), json.loads(saved)
    assert restored.add(state, alert("high_risk_verdict", 15)) == []
    [joined] = restored.advance(state, T0 + 34_999)
    assert (joined.incident_id, joined.revision) == (opened.incident_id, 2)
    [closed] = restored.advance(state, T0 + 35_000)  # 15 s + the new 20 s, no lateness
    assert closed.revision == 3 and closed.closed_at_ms == T0 + 35_000
