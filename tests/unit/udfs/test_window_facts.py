"""A window's pattern fact, made where the WindowStats is (udfs.patterns.facts.WindowFacts):
the same fact the pattern stage made from the window's JSON message before, only for the
windows a pattern counts."""

from __future__ import annotations

import json

from contract import WindowStats
from udfs.patterns import facts
from udfs.patterns.config import FactRules
from udfs.patterns.facts import WindowFacts
from udfs.patterns.slots import slot_of


def window(congestion: float, camera: str = "cam-3") -> WindowStats:
    return WindowStats.model_validate(
        {"schema_version": 1, "camera_id": camera, "window_start_ms": 1_700_000_000_000,
         "window_end_ms": 1_700_000_010_000, "frames": 10, "objects": 40, "vehicles": 30,
         "pedestrians": 10, "distinct_tracks": 12, "mean_vehicles_per_frame": 3.0,
         "peak_vehicles_per_frame": 5, "class_counts": {"car": 30, "person": 10},
         "mean_vehicle_speed_px_s": 20.0, "line_crossings": {}, "lane_flow": {},
         "congestion_index": congestion}
    )  # fmt: skip


def test_a_congested_window_becomes_its_fact_on_its_cameras_slot():
    made = window(0.8)
    found = WindowFacts(min_congestion=0.7, key_slots=16).of(made)
    assert found is not None
    slot, fact_json = found
    assert slot == slot_of("cam-3", 16)
    from_message = facts.from_message("window", made.to_json(), FactRules())
    assert json.loads(fact_json) == [f.as_event() for f in from_message]


def test_the_threshold_is_inclusive_and_quieter_windows_make_no_fact():
    rule = WindowFacts(min_congestion=0.7)
    assert rule.of(window(0.7)) is not None
    assert rule.of(window(0.69)) is None
    assert rule.of(window(0.0)) is None
