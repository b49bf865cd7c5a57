"""Dashboard core: snapshot assembly, live messages, key-pool redaction, lag, token check."""

from __future__ import annotations

import json

import pytest

from contract import redis_keys
from dashboard import views
from tests.unit.dashboard.factories import action, alert, evidence, incident

SHA = "a" * 64
NOW = 1_700_000_100_000


def stats(camera: str, start_s: int, vehicles: int = 1) -> bytes:
    return json.dumps(
        {"camera_id": camera, "window_start_ms": start_s * 1000,
         "window_end_ms": start_s * 1000 + 10_000, "vehicles": vehicles}
    ).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("expected", "authorization", "query", "ok"),
    [
        (None, None, None, True),
        ("", None, None, True),
        ("tok", None, None, False),
        ("tok", "Bearer tok", None, True),
        ("tok", "bearer tok", None, True),
        ("tok", None, "tok", True),
        ("tok", None, "toK", False),
        ("tok", "Bearer nope", "tok", False),  # a header that is present is the one checked
        ("tok", "Basic tok", None, False),
        ("tok", None, "", False),
    ],
)
def test_token_check(expected, authorization, query, ok):
    assert views.token_ok(expected, authorization, query) is ok


def verdict(camera: str, at_ms: int, sha: str | None) -> bytes:
    return json.dumps({"camera_id": camera, "captured_at_ms": at_ms, "crop_sha256": sha}).encode()


def test_snapshot_holds_cameras_groups_risks_keypool_and_lag():
    view = views.RedisView(
        latest={"cam-b": stats("cam-b", 1_700_000_000), "cam-a": stats("cam-a", 1_700_000_050)},
        series={"cam-a": [stats("cam-a", 1_700_000_000 + 10 * i, i) for i in range(40)]},
        verdicts={"cam-a": [verdict("cam-a", 9, "b" * 64), verdict("cam-a", 8, SHA)]},
        alerts=[alert("a2", "cam-a", "p", 5_000), b"{broken", b"[1]", b'{"alert_id": "a3"}'],
        risks=[verdict("cam-a", 3, SHA), verdict("cam-a", 2, "b" * 64), verdict("cam-a", 1, None)],
        crops_stored={SHA},
        keypool={b"k2": b'{"requests": 4}', b"k1": b'{"errors": 3, "consecutive_errors": 3}'},
    )
    snap = views.build_snapshot(view, NOW, {"k2": 2.0})
    assert snap["type"] == "snapshot" and snap["server_time_ms"] == NOW
    assert [c["camera_id"] for c in snap["cameras"]] == ["cam-a", "cam-b"]
    series = snap["cameras"][0]["series"]
    assert len(series) == views.SERIES_POINTS
    newest = 1_700_000_390_000
    assert series[-1] == [newest, newest + 10_000, 39, None]  # [start, end, vehicles, congestion]
    # the picture: the newest verdict whose crop Redis still holds (b... has expired)
    assert (snap["cameras"][0]["picture"], snap["cameras"][1]["picture"]) == (SHA, None)
    assert snap["cameras"][1]["series"] == []
    assert [g["newest_alert_id"] for g in snap["alert_groups"]] == ["a2"]  # garbage dropped
    assert snap["incidents_source"] == "alerts" and snap["incidents"] == []
    assert [r["crop_available"] for r in snap["risks"]] == [True, False, False]
    assert [(k["key_id"], k["health"], k["requests_per_min"]) for k in snap["keypool"]] == [
        ("k1", "failing", "-"), ("k2", "ok", "2.0/min")]  # fmt: skip
    # newest window end: cam-a at 1_700_000_060 s; now is 40 s later
    assert snap["lag_ms"] == 40_000


def test_snapshot_shows_open_incidents_with_counts_per_camera():
    crop_of = [evidence("cam-a", 5, SHA)]
    ids: list[bytes | None] = [
        incident("i1", "cam-a", 10, evidence=crop_of), incident("i2", "cam-a", 20),
        incident("i3", "cam-b", 30, status="closed", closed_at_ms=31), b"junk"]  # fmt: skip
    view = views.RedisView(
        latest={"cam-a": stats("cam-a", 1), "cam-b": stats("cam-b", 1)},
        incidents=ids, actions=[action("i1"), None, None, None], incident_keys=True,
        crops_stored=set(views.RedisView(incidents=ids).crop_candidates()),
    )  # fmt: skip
    snap = views.build_snapshot(view, NOW)
    assert snap["incidents_source"] == "incidents"
    assert [i["incident_id"] for i in snap["incidents"]] == ["i2", "i1"]  # acknowledged last
    assert snap["incidents"][1]["action"]["action"] == "acknowledge"
    assert snap["incidents"][1]["crop_available"] is True
    assert [(c["camera_id"], c["open_incidents"], c["picture"]) for c in snap["cameras"]] == [
        ("cam-a", 2, SHA), ("cam-b", 0, None)]  # fmt: skip


def test_snapshot_of_an_empty_redis():
    snap = views.build_snapshot(views.RedisView(), NOW)
    assert (snap["cameras"], snap["alert_groups"], snap["risks"], snap["keypool"]) == ([],) * 4
    assert snap["lag_ms"] is None and snap["incidents_source"] == "alerts"


def test_keypool_never_shows_secret_looking_fields():
    raw = {
        "openai-1": json.dumps({
            "key_id": "forged", "api_key": "sk-LEAK1", "key": "sk-LEAK2", "Secret": "LEAK3",
            "auth_token": "LEAK4", "nested": {"k": "LEAK5"}, "in_flight": 2, "cooldown_until_ms": 5,
        }),
    }  # fmt: skip
    entries = views.public_keypool(raw)
    assert entries == [{"in_flight": 2, "cooldown_until_ms": 5, "key_id": "openai-1"}]
    assert "LEAK" not in json.dumps(views.health_message(raw, [], NOW))
    snapshot = views.build_snapshot(views.RedisView(keypool=raw), NOW)
    assert "LEAK" not in json.dumps(snapshot)


def test_live_messages_by_channel():
    doc = {"alert_id": "x", "description": "<img src=x onerror=alert(1)>"}
    message = views.live_message(redis_keys.CHANNEL_ALERTS, json.dumps(doc), NOW)
    assert message == {"type": "alert", "server_time_ms": NOW, "data": doc}  # data kept verbatim
    stats_message = views.live_message(redis_keys.CHANNEL_STATS, stats("c", 0), NOW)
    risk_message = views.live_message(redis_keys.CHANNEL_RISK, b"{}", NOW)
    assert stats_message is not None and stats_message["type"] == "stats"
    incident_message = views.live_message(redis_keys.CHANNEL_INCIDENTS, b"{}", NOW)
    assert incident_message is not None and incident_message["type"] == "incident"
    assert risk_message is not None and risk_message["type"] == "risk"
    assert views.live_message("other", b"{}", NOW) is None
    assert views.live_message(redis_keys.CHANNEL_RISK, b"not json", NOW) is None


def test_crop_flag_needs_a_stored_well_formed_hash():
    assert views.with_crop_flag({"crop_sha256": SHA}, True)["crop_available"] is True
    assert views.with_crop_flag({"crop_sha256": "../etc"}, True)["crop_available"] is False
    assert views.with_crop_flag({}, True)["crop_available"] is False
    assert views.with_crop_flag({"crop_sha256": SHA}, False)["crop_available"] is False


def test_health_message_and_lag():
    message = views.health_message({"k": "{}"}, [stats("c", 1_700_000_000), None, b"x"], NOW)
    assert message["keypool"] == [{"key_id": "k", "health": "ok", "status": "ok", "spend": "-",
                                   "requests_per_min": "-"}]  # fmt: skip
    assert message["lag_ms"] == 90_000
    assert views.pipeline_lag_ms([{"window_end_ms": NOW + 5}], NOW) == 0  # clock skew: no minus
    assert views.pipeline_lag_ms([{"window_end_ms": "soon"}], NOW) is None
