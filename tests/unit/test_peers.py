"""The peers' shared logic (benchmarks/peers/logic.py) computes what the job computes: the
windows of the job's SQL (fields written out here from udfs/windows/sql.py's definitions, not
from the peer's code), Flink's per-partition watermark, one heuristic verdict per group."""

from __future__ import annotations

import json
import math
import zlib
from collections import defaultdict
from typing import Any

import pytest

from benchmarks.peers.logic import PeerCore, WindowAccumulator
from contract import VEHICLE_CLASSES, DetectionEvent, parse
from simulator import SimConfig, simulate
from udfs.risk.rules import heuristic_verdict
from udfs.windows.stats import CongestionModel, parse_crossings

WINDOW_MS = 10_000


def _sql_windows(
    docs: list[dict[str, Any]], model: CongestionModel
) -> dict[tuple[str, int], dict[str, Any]]:
    """The window fields as udfs/windows/sql.py defines them, computed by brute force."""
    rows: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        ts = doc["captured_at_ms"]
        rows[(doc["camera_id"], ts - ts % WINDOW_MS)].append(doc)
    out = {}
    for key, frames in rows.items():
        objects = [o for f in frames for o in f["objects"]]
        speeds = [math.hypot(*o["velocity_px_s"]) for o in objects
                  if o["class_name"] in VEHICLE_CLASSES and o.get("velocity_px_s")]  # fmt: skip
        vehicles = sum(o["class_name"] in VEHICLE_CLASSES for o in objects)
        tokens = ";".join(
            "|".join(o.get("zones", ())) + ">" + "|".join(o["crossed_lines"])
            for o in objects if o.get("crossed_lines")
        )  # fmt: skip
        mean_vehicles = round(vehicles / len({f["frame_id"] for f in frames}), 4)
        speed = round(sum(speeds) / len(speeds), 3) if speeds else None
        lines, lanes = parse_crossings(tokens)
        out[key] = {
            "frames": len({f["frame_id"] for f in frames}),
            "objects": len(objects),
            "vehicles": vehicles,
            "pedestrians": sum(o["class_name"] == "person" for o in objects),
            "distinct_tracks": len({o["track_id"] for o in objects} - {None}),
            "peak_vehicles_per_frame": max(
                sum(o["class_name"] in VEHICLE_CLASSES for o in f["objects"]) for f in frames
            ),
            "mean_vehicle_speed_px_s": speed,
            "line_crossings": lines,
            "lane_flow": lanes,
            "congestion_index": model.index(mean_vehicles, speed),
        }
    return out


@pytest.fixture(scope="module")
def messages() -> list[tuple[bytes, bytes]]:
    return list(simulate(SimConfig(cameras=5, duration_s=120, seed=4)))


def test_windows_match_the_jobs_sql_definitions(messages: list[tuple[bytes, bytes]]) -> None:
    model = CongestionModel(12, 100)
    core = PeerCore(window_s=10, bound_s=2, congestion=model)
    records = [(zlib.crc32(key) % 2, value) for key, value in messages]
    windows = core.add(records).windows
    docs = [json.loads(value) for _, value in messages]
    expected = _sql_windows(docs, model)
    newest = {p: max(json.loads(v)["captured_at_ms"] for q, v in records if q == p) for p in (0, 1)}
    watermark = min(newest.values()) - 2000
    closable = {k: v for k, v in expected.items() if k[1] + WINDOW_MS <= watermark}
    got = {(w.camera_id, w.window_start_ms): w for w in windows}
    assert set(got) == set(closable) and len(windows) == len(got) > 40
    for key, fields in closable.items():
        stats = got[key].model_dump()
        assert {name: stats[name] for name in fields} == fields, key
    assert core.late == core.invalid == 0 and core.events == len(messages)


def test_a_window_waits_for_the_slowest_partition_and_late_events_are_counted() -> None:
    def frame(camera: str, ts: int) -> bytes:
        return json.dumps({"camera_id": camera, "frame_id": ts, "captured_at_ms": ts,
                           "objects": [], "groups": []}).encode()  # fmt: skip

    core = PeerCore(window_s=10, bound_s=2)
    assert core.add([(0, frame("a", 1_000)), (1, frame("b", 1_500))]).windows == []
    # partition 0 passes 10 s + bound, partition 1 does not: nothing closes yet
    assert core.add([(0, frame("a", 12_000))]).windows == []
    closed = core.add([(1, frame("b", 12_000))]).windows
    got = [(w.camera_id, w.window_start_ms, w.frames) for w in closed]
    assert got == [("a", 0, 1), ("b", 0, 1)]
    core.add([(0, frame("a", 9_999)), (0, None), (0, b"{not json")])
    assert core.late == 1 and core.invalid == 2 and core.events == 7


def test_one_heuristic_verdict_per_group(messages: list[tuple[bytes, bytes]]) -> None:
    verdicts = PeerCore().add((0, value) for _, value in messages).verdicts
    events = [parse(DetectionEvent, value) for _, value in messages]
    expected = [heuristic_verdict(e, g) for e in events for g in e.groups]
    assert verdicts == expected and len(expected) > 100


def test_window_state_round_trips_through_json(messages: list[tuple[bytes, bytes]]) -> None:
    """Quix keeps the accumulator in its JSON state store: nothing may be lost there."""
    direct, stored = WindowAccumulator(), WindowAccumulator().to_state()
    for _, value in messages[:200]:
        doc = json.loads(value)
        direct.add(doc)
        again = WindowAccumulator.from_state(json.loads(json.dumps(stored)))
        again.add(doc)
        stored = again.to_state()
    model = CongestionModel()
    assert WindowAccumulator.from_state(stored).stats("c", 0, 10_000, model) == direct.stats(
        "c", 0, 10_000, model
    )
    assert direct.objects > 200 and direct.crossings
