"""Alert-vs-truth scoring: matching by camera, time overlap and tracks."""

from __future__ import annotations

from contract import TrafficAlert
from simulator.scoring import score
from simulator.truth import IncidentLabel, Kind

KINDS = {"red_light_run": "red_light_run", "jam": "congestion"}


def label(kind: Kind, start: int, end: int, tracks: tuple[int, ...] = (), cam: str = "c1"):
    return IncidentLabel(
        kind=kind, camera_id=cam, start_ms=start, end_ms=end, track_ids=tracks, injected=True
    )


def alert(pattern: str, start: int, end: int, tracks: tuple[int, ...] = (), cam: str = "c1"):
    return TrafficAlert(
        schema_version=1, alert_id=f"{pattern}:{start}", pattern=pattern, camera_id=cam,
        severity="warning", start_ms=start, end_ms=end, track_ids=tracks, description="x",
    )  # fmt: skip


def test_matching_alert_gives_full_recall_and_precision() -> None:
    scores = score(
        [alert("red_light_run", 5_000, 5_000, (7,))],
        [label("red_light_run", 4_000, 5_000, (7,))],
        KINDS,
    )
    assert (scores["red_light_run"].recall, scores["red_light_run"].precision) == (1.0, 1.0)


def test_wrong_track_camera_or_time_is_a_miss_and_a_false_alert() -> None:
    truth = [label("red_light_run", 4_000, 5_000, (7,))]
    for wrong in (
        alert("red_light_run", 5_000, 5_000, (8,)),
        alert("red_light_run", 5_000, 5_000, (7,), cam="c2"),
        alert("red_light_run", 9_000, 9_000, (7,)),
    ):
        result = score([wrong], truth, KINDS)["red_light_run"]
        assert result.recall == 0.0 and result.precision == 0.0
        assert len(result.missed) == 1 and len(result.unmatched_alerts) == 1


def test_congestion_matches_by_overlap_whatever_the_tracks() -> None:
    scores = score(
        [alert("jam", 20_000, 50_000, (1,)), alert("other", 0, 1)],
        [label("congestion", 10_000, 40_000, (99,)), label("near_miss", 0, 1)],
        KINDS,
    )
    assert scores["congestion"].recall == 1.0 and scores["congestion"].alerts == 1
    assert set(scores) == {"red_light_run", "congestion"}
    assert scores["red_light_run"].labels == 0 and scores["red_light_run"].recall == 1.0
