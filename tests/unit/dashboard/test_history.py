"""The camera page: one camera's last hour."""

from __future__ import annotations

import json

from dashboard import history
from tests.unit.dashboard.factories import action, evidence, incident

HOUR = history.HOUR_MS
NOW = 1_700_000_000_000
SHA = "d" * 64


def test_the_hour_ends_at_the_newest_window_when_the_camera_stopped():
    assert history.window_of_interest(None, NOW) == (NOW - HOUR, NOW)
    assert history.window_of_interest(NOW - 5 * HOUR, NOW) == (NOW - 6 * HOUR, NOW - 5 * HOUR)
    assert history.window_of_interest(NOW + 10, NOW) == (NOW - HOUR, NOW)  # clock skew


def test_camera_page_keeps_this_cameras_hour():
    window = {"camera_id": "cam", "window_start_ms": NOW - 60_000, "vehicles": 3}
    verdicts = [{"camera_id": "cam", "captured_at_ms": NOW - 1, "crop_sha256": SHA},
                {"camera_id": "other", "captured_at_ms": NOW - 2}]  # fmt: skip
    docs = [incident("open-old", "cam", NOW - 3 * HOUR, evidence=[evidence("cam", 5, SHA)]),
            incident("closed-old", "cam", NOW - 2 * HOUR, status="closed"),
            incident("closed-new", "cam", NOW - 60_000, status="closed"),
            incident("elsewhere", "other", NOW), None]  # fmt: skip
    read = history.CameraRead(
        "cam", NOW - HOUR, NOW, windows=[json.dumps(window).encode(), b"oops"],
        verdicts=[json.dumps(v).encode() for v in verdicts],
        incidents=docs, actions=[action("open-old"), None, None, None, None],
    )  # fmt: skip
    read.crops_stored = set(read.crop_candidates())
    page = history.camera_page(read)
    assert page["windows"] == [window]
    shown = [(v["captured_at_ms"], v["crop_available"]) for v in page["verdicts"]]
    assert shown == [(NOW - 1, True)]
    assert [i["incident_id"] for i in page["incidents"]] == ["closed-new", "open-old"]
    assert page["incidents"][1]["action"]["action"] == "acknowledge"
    assert (page["from_ms"], page["to_ms"]) == (NOW - HOUR, NOW)
    assert page["picture"] == SHA
    read.crops_stored = set()
    assert history.camera_page(read)["picture"] is None  # expired: the page says so
