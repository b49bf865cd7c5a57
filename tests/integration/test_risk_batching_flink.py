"""The risk stage's Flink operator with batches of 4 crops on simulator frames, against the
stub server that decides from the pixels: every group gets exactly one verdict, and exactly
the groups whose crop carries the risk marker come back high, so batching through keyed
state, one lease per request and per-image results maps every verdict to its own group.

Runs `build_risk_stage` on a local mini cluster (the benchmark's child job runner): the code
under test is this checkout's, whatever a session cluster has loaded.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from benchmarks.risk_llm import SMOKE, Case, risk_config, run_flink, write_keys
from simulator import IncidentConfig, SimConfig, simulate
from tests.integration.llm_stub import get, running_stub

pytestmark = pytest.mark.integration


def near_miss(event: dict[str, Any], group: dict[str, Any]) -> bool:
    """The simulator's marker rule, from the event's own fields."""
    ttc = group["features"].get("time_to_collision_s")
    classes = {event["objects"][i]["class_name"] for i in group["member_indices"]}
    return ttc is not None and ttc < 1.5 and "person" in classes


def test_batched_verdicts_map_back_to_their_marked_groups() -> None:
    sim = SimConfig(
        cameras=3, duration_s=120, seed=5, incidents=IncidentConfig(near_miss_per_hour=120)
    )
    lines = [value.decode() for _, value in simulate(sim)]
    events = [json.loads(line) for line in lines]
    marked = {(e["camera_id"], e["frame_id"], g["group_id"])
              for e in events for g in e["groups"] if near_miss(e, g)}  # fmt: skip
    groups = sum(len(e["groups"]) for e in events)
    assert len(marked) >= 3
    with running_stub("--latency-ms", "30") as url, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keys_file, _ = write_keys(work, SMOKE.pool_keys, "batch-it")
        cfg = risk_config(
            url + "/v1", SMOKE, "batch-it", batch={"max_images": 4, "max_wait_ms": 100}
        )
        case = Case("batching", "flink", None, None, lines, cfg, 200.0, [])  # type: ignore[arg-type]
        [(verdicts, _)] = run_flink([case], keys_file, work)
        stats = get(url + "/stats")
    by_group = {(v["camera_id"], v["frame_id"], v["group_id"]): v for v in verdicts}
    assert len(verdicts) == len(by_group) == groups  # exactly one verdict per group
    llm = {g: v["risk_level"] for g, v in by_group.items() if v["source"] == "llm"}
    assert marked <= set(llm)  # every marked group was asked (the filter lets TTC < 3 s through)
    assert {g for g, level in llm.items() if level == "high"} == marked
    assert stats["images"]["seen"] == len(llm) and stats["images"]["marked"] == len(marked)
    sizes = {int(n): c for n, c in stats["batch_sizes"].items()}
    assert max(sizes) == 4 and stats["requests"] < len(llm) / 2
