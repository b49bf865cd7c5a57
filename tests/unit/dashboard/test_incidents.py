"""Open incidents and grouped alerts as the page gets them."""

from __future__ import annotations

from dashboard import incidents
from tests.unit.dashboard.factories import action, alert, evidence, incident

A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_alerts_group_by_camera_and_pattern_with_count_and_last_seen():
    raws = [alert(f"x{i}", "cam-1", "red_light", 1_000 + i * 1_000) for i in range(40)]
    raws += [alert("y0", "cam-1", "near_miss", 5_000, "critical"),
             alert("y1", "cam-1", "near_miss", 9_000, "info", description="newest"),
             alert("z0", "cam-2", "red_light", 50_000),
             b"{not json", b'{"alert_id": "x"}']  # fmt: skip
    raws.append(raws[0])  # a replay of a known id counts once
    groups = incidents.RecentAlerts.from_raw(raws).groups()
    summary = [(g["camera_id"], g["pattern"], g["count"], g["severity"]) for g in groups]
    # the most severe first, then the most recently seen
    assert summary == [("cam-1", "near_miss", 2, "critical"), ("cam-2", "red_light", 1, "warning"),
                       ("cam-1", "red_light", 40, "warning")]  # fmt: skip
    near = groups[0]
    assert (near["first_seen_ms"], near["last_seen_ms"]) == (0, 9_000)
    assert (near["newest_alert_id"], near["description"]) == ("y1", "newest")
    assert groups[2]["last_seen_ms"] == 40_000


def test_grouping_keeps_only_the_newest_alerts_like_redis():
    recent = incidents.RecentAlerts(limit=3)
    for i in range(5):
        recent.add_raw(alert(f"a{i}", "cam", "p", i * 10_000))
    assert sorted(recent.alerts) == ["a2", "a3", "a4"]
    group = recent.group("cam", "p")
    assert group is not None and (group["count"], group["first_seen_ms"]) == (3, 15_000)
    assert recent.group("cam", "other") is None


def test_a_group_shows_the_newest_crop_of_its_alerts():
    raws = [alert("1", "cam", "p", 10_000, crops=((9_000, A), (8_000, B))),
            alert("2", "cam", "p", 20_000, crops=((19_000, None),)),  # type: ignore[arg-type]
            alert("3", "cam", "p", 15_000, crops=((14_000, C),))]  # fmt: skip
    (group,) = incidents.RecentAlerts.from_raw(raws).groups()
    assert group["crop_sha256"] == C  # newest frame that has a crop, not the newest alert
    flagged = incidents.with_crop_flags([group], {A})
    assert flagged[0]["crop_available"] is False and "crop_available" not in group


def test_incident_view_with_crop_and_action():
    raw = incident("inc-1", "cam-1", 100_000,
                   evidence=[evidence("cam-1", 90_000, A), evidence("cam-1", 95_000, B),
                             evidence("cam-1", 99_000)])  # fmt: skip
    view = incidents.incident_view(raw, action("inc-1", "acknowledge", 7), {B})
    assert view is not None
    assert (view["crop_sha256"], view["crop_available"]) == (B, True)
    assert view["action"] == {"action": "acknowledge", "actor": "op", "note": "", "at_ms": 7}
    assert "evidence" not in view and view["severity"] == "critical"
    gone = incidents.incident_view(raw, None, set())  # crop expired from Redis
    assert gone is not None and (gone["crop_available"], gone["action"]) == (False, None)
    assert incidents.incident_view(raw, action("other-id"), set())["action"] is None  # type: ignore[index]
    assert incidents.incident_view(b'{"incident_id": "x"}') is None
    assert incidents.incident_view(None) is None


def test_incidents_sort_severe_and_recent_first_acknowledged_last():
    cases = (("old-crit", 1_000, "critical", None), ("new-warn", 9_000, "warning", None),
             ("new-crit", 5_000, "critical", None),
             ("acked-crit", 9_500, "critical", action("acked-crit")))  # fmt: skip
    docs = [incidents.incident_view(incident(i, "c", t, severity=s), a) for i, t, s, a in cases]
    order = [d["incident_id"] for d in incidents.sort_incidents(d for d in docs if d)]
    assert order == ["new-crit", "old-crit", "new-warn", "acked-crit"]

