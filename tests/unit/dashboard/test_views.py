"""Dashboard core: snapshot assembly, live messages, key-pool redaction, lag, token check."""

from __future__ import annotations

import json

import pytest

from contract import redis_keys
from dashboard import views

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


def test_snapshot_holds_cameras_series_alerts_risks_keypool_and_lag():
    view = views.RedisView(
        latest={"cam-b": stats("cam-b", 1_700_000_000), "cam-a": stats("cam-a", 1_700_000_050)},
        series={"cam-a": [stats("cam-a", 1_700_000_000 + 10 * i, i) for i in range(40)]},
        alerts=[json.dumps({"alert_id": "a2"}).encode(), b"{broken", b"[1]"],
        risks=[
            json.dumps({"camera_id": "cam-a", "crop_sha256": SHA}).encode(),
            json.dumps({"camera_id": "cam-a", "crop_sha256": "b" * 64}).encode(),
            json.dumps({"camera_id": "cam-a"}).encode(),
        ],
        crops_stored={SHA},
        keypool={b"k2": b'{"healthy": true}', b"k1": b'{"errors": 3}'},
    )
    snap = views.build_snapshot(view, NOW)
    assert snap["type"] == "snapshot" and snap["server_time_ms"] == NOW
    assert [c["camera_id"] for c in snap["cameras"]] == ["cam-a", "cam-b"]
    series = snap["cameras"][0]["series"]
    assert len(series) == views.SERIES_POINTS and series[-1]["vehicles"] == 39  # newest kept
    assert snap["cameras"][1]["series"] == []
    assert snap["alerts"] == [{"alert_id": "a2"}]  # garbage never reaches the page
    assert [r["crop_available"] for r in snap["risks"]] == [True, False, False]
    assert snap["keypool"] == [{"errors": 3, "key_id": "k1"}, {"healthy": True, "key_id": "k2"}]
    # newest window end: cam-a at 1_700_000_060 s; now is 40 s later
    assert snap["lag_ms"] == 40_000


def test_snapshot_of_an_empty_redis():
    snap = views.build_snapshot(views.RedisView(), NOW)
    assert (snap["cameras"], snap["alerts"], snap["risks"], snap["keypool"]) == ([], [], [], [])
    assert snap["lag_ms"] is None


def test_keypool_never_shows_secret_looking_fields():
    raw = {
        "openai-1": json.dumps({
            "key_id": "forged", "api_key": "sk-LEAK1", "key": "sk-LEAK2", "Secret": "LEAK3",
            "auth_token": "LEAK4", "nested": {"k": "LEAK5"}, "in_flight": 2, "cooldown_until_ms": 5,
        }),
    }  # fmt: skip
    entries = views.public_keypool(raw)
    assert entries == [{"in_flight": 2, "cooldown_until_ms": 5, "key_id": "openai-1"}]
    snapshot = views.build_snapshot(views.RedisView(keypool=raw), NOW)
    assert "LEAK" not in json.dumps(snapshot)


def test_live_messages_by_channel():
    doc = {"alert_id": "x", "description": "<img src=x onerror=alert(1)>"}
    message = views.live_message(redis_keys.CHANNEL_ALERTS, json.dumps(doc), NOW)
    assert message == {"type": "alert", "server_time_ms": NOW, "data": doc}  # data kept verbatim
    stats_message = views.live_message(redis_keys.CHANNEL_STATS, stats("c", 0), NOW)
    risk_message = views.live_message(redis_keys.CHANNEL_RISK, b"{}", NOW)
    assert stats_message is not None and stats_message["type"] == "stats"
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
    assert message["keypool"] == [{"key_id": "k"}]
    assert message["lag_ms"] == 90_000
    assert views.pipeline_lag_ms([{"window_end_ms": NOW + 5}], NOW) == 0  # clock skew: no minus
    assert views.pipeline_lag_ms([{"window_end_ms": "soon"}], NOW) is None
