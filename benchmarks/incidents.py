"""Benchmark: incidents against the simulator's ground truth, beside the alerts they group.

The simulator labels each situation it stages (red-light run, near miss, wrong-way driver,
congestion period). Its detection events, with one heuristic verdict per group and the
per-camera window statistics the job would compute, go through the pattern engine
(`udfs.patterns.engine`, as `benchmarks.cep_throughput`'s pure variant runs it: per-camera
event-time timers, 5 s watermark bound) with the patterns the end-to-end test tunes to the
simulator's scene (`tuned_patterns`), then through the incident engine
(`udfs.incidents.engine`, fed in the order alerts leave the pattern stage). Each incident's
newest revision is scored against the labels of its kind (`simulator.scoring`): recall,
precision, labels found by more than one incident (split), incidents covering more than one
label (merged), and alerts per incident. A `conflict` incident (near miss, high verdicts,
conflict-then-verdict of one pair of road users) that holds a near-miss alert is scored
against the near-miss labels; one opened by verdicts alone is counted, not scored.

The same input runs twice: with the shipped cooldowns, and with every cooldown at 0 (each
match an alert, as high verdicts were before they had one), to show that incidents stay one
per situation however many alerts a situation raises. Writes incidents.json to
--results-dir; exits 1 unless, in both runs, every labelled situation is one incident as far
as the incident stage can tell (`judge`): no label that an alert found is lost or split
over several incidents, no incident merges labels further apart than its kind's quiet
period plus the detection span, and no incident matches nothing unless an alert did.

    .venv/bin/python -m benchmarks.incidents --cameras 4 --duration-s 600
    .venv/bin/python -m benchmarks.incidents --smoke --results-dir /tmp/incidents
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from benchmarks.cep_throughput import MAX_TS, Message, build_messages, run_pure
from contract import Incident, RiskAssessment, TrafficAlert, parse
from simulator.scoring import (
    IncidentScore,
    KindScore,
    newest_revisions,
    read_labels,
    score,
    score_incidents,
)
from udfs.incidents.config import IncidentConfig
from udfs.incidents.engine import IncidentEngine, new_state
from udfs.patterns.config import CepConfig
from udfs.patterns.cooldown import admit
from udfs.risk.records import alert_for_verdict
from udfs.windows.stats import CongestionModel

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PATTERNS = REPO / "flink-conf" / "patterns.yaml"
# Incident kind -> the simulator's label kind it reports.
LABEL_OF_KIND = {
    "red_light": "red_light_run",
    "conflict": "near_miss",
    "wrong_way": "wrong_way",
    "congestion": "congestion",
}
# A `conflict` incident is a labelled near miss when a near-miss alert is in it; one opened
# by risk verdicts alone is the assessor's judgement, which the simulator does not label.
NEAR_MISS_PATTERN = "near_miss_ttc_1s"


def scored(incidents: list[Incident]) -> list[Incident]:
    """The incidents the simulator's labels can judge (see NEAR_MISS_PATTERN)."""
    return [i for i in incidents if i.kind != "conflict" or NEAR_MISS_PATTERN in i.patterns]


# Alert pattern -> label kind (the alert-level score beside the incidents').
KIND_OF_PATTERN = {
    "red_light_run": "red_light_run",
    "near_miss_ttc_1s": "near_miss",
    "wrong_way_driving": "wrong_way",
    "sustained_congestion_3_windows": "congestion",
}
# The simulator's scene, as the end-to-end test runs it (its congestion model too).
SCENE = ["--red-light-rate", "30", "--near-miss-rate", "30", "--wrong-way-rate", "20",
         "--congestion-rate", "6", "--congestion-length", "60"]  # fmt: skip
CONGESTION = CongestionModel(12, 100)
WINDOW_S = 10
# Two labels of one kind closer than its quiet period plus the longest span a tuned pattern
# needs to detect one (3 congestion windows) may be one incident: the alerts cannot tell
# them apart (a jam that dissipates into the next keeps alerting).
DETECTION_SPAN_MS = 3 * WINDOW_S * 1000


def tuned_patterns(doc: dict[str, Any]) -> dict[str, Any]:
    """The shipped patterns file tuned to the simulator's scene: its near-miss threshold
    (1.5 s), its wrong-way drivers (3-4 frames at 1 fps) and its jams (congestion index >= 0.3
    with capacity 12 vehicles, free flow 100 px/s), plus `red_light_run`, a pattern that alerts
    every single red-light run (in the `red_light` incident kind); congestion incidents close
    after 4 windows without an alert. Returns a new document."""
    doc = json.loads(json.dumps(doc))
    for pattern in doc["cep"]["patterns"]:
        if pattern["type"] == "near_miss":
            pattern["max_ttc_s"] = 1.5
        elif pattern["type"] == "wrong_way":
            pattern["min_frames"] = 3
        elif pattern["type"] == "sustained_congestion":
            pattern["min_congestion_index"] = 0.3
    doc["cep"]["patterns"].append(
        {"type": "red_light_runs", "name": "red_light_run", "count": 1, "severity": "warning"}
    )
    kinds = doc["incidents"]["kinds"]
    kinds["red_light"]["patterns"] = [*kinds["red_light"]["patterns"], "red_light_run"]
    kinds["congestion"]["quiet_s"] = 4 * WINDOW_S  # a lasting jam alerts every 3 windows
    return doc


def simulate(cameras: int, duration_s: int, seed: int, folder: Path) -> list[str]:
    cmd = [sys.executable, "-m", "simulator", "--sink", "jsonl", "--cameras", str(cameras),
           "--fps", "1", "--duration", f"{duration_s}s", "--seed", str(seed),
           "--out", str(folder / "detections.jsonl"), "--truth", str(folder / "truth.jsonl"),
           "--no-progress", *SCENE]  # fmt: skip
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    return cmd


def verdict_alerts(
    messages: list[Message], cfg: CepConfig, bound_ms: int
) -> list[tuple[int, TrafficAlert]]:
    """`high_risk_verdict` alerts as the job makes them beside the risk stage (the verdict's
    evidence, the cooldown in arrival order), each with the watermark when it arrives."""
    cooldown_ms = int(cfg.verdict_alerts.cooldown_s * 1000)
    kept: dict[str, list[int]] = defaultdict(list)
    out: list[tuple[int, TrafficAlert]] = []
    for ts, source, raw in messages:
        if source != "risk":
            continue
        alert = alert_for_verdict(parse(RiskAssessment, raw))
        if alert is not None and admit(kept[alert.camera_id], alert.start_ms, cooldown_ms):
            out.append((ts - bound_ms - 1, alert))
    return out


def group_alerts(collected: list[tuple[int, TrafficAlert]], cfg: IncidentConfig) -> list[Incident]:
    """Every incident revision, alerts fed per camera in emission order, the watermark
    advanced to the pattern stage's at each, then the end of input."""
    engine = IncidentEngine(cfg)
    states: dict[str, dict[str, Any]] = defaultdict(new_state)
    revisions: list[Incident] = []
    for watermark, alert in collected:
        state = states[alert.camera_id]
        revisions += engine.add(state, alert)
        revisions += engine.advance(state, watermark)
    for state in states.values():
        revisions += engine.advance(state, MAX_TS)
    return revisions


def without_cooldowns(doc: dict[str, Any]) -> dict[str, Any]:
    """Every pattern alerting each match (the job before cooldowns reached high verdicts)."""
    doc = json.loads(json.dumps(doc))
    for pattern in doc["cep"]["patterns"]:
        pattern["cooldown_s"] = 0
    doc["cep"]["verdict_alerts"] = {"cooldown_s": 0}
    return doc


def judge(found: IncidentScore, by_alerts: KindScore, quiet_ms: int) -> dict[str, Any]:
    """What the incident stage is answerable for: it loses no label the alerts found, splits
    none, and merges only labels closer than `quiet_ms` + DETECTION_SPAN_MS (the alerts of
    such labels can run into each other). Labels the patterns missed are the patterns'."""
    lost = [lb for lb in found.missed if lb not in by_alerts.missed]
    resolution = quiet_ms + DETECTION_SPAN_MS
    apart = [i for i in found.merged if _widest_gap(i, found) >= resolution]
    return {
        "lost_vs_alerts": len(lost),
        "merged_apart": len(apart),
        "one_incident_per_situation": not (lost or found.split or apart)
        and len(found.unmatched) <= len(by_alerts.unmatched_alerts),
    }


def _widest_gap(incident: Incident, found: IncidentScore) -> int:
    """The largest gap between consecutive labels an incident covers."""
    spans = sorted((lb.start_ms, lb.end_ms) for lb in found.covered.get(incident.incident_id, []))
    return max((b[0] - a[1] for a, b in itertools.pairwise(spans)), default=0)


def run(
    cameras: int, duration_s: int, seed: int, bound_ms: int, cooldowns: bool = True
) -> dict[str, Any]:
    doc = tuned_patterns(yaml.safe_load(PATTERNS.read_text()))
    if not cooldowns:
        doc = without_cooldowns(doc)
    cep_cfg = CepConfig.model_validate(doc["cep"])
    incident_cfg = IncidentConfig.model_validate(doc["incidents"])
    with tempfile.TemporaryDirectory(prefix="incidents-") as tmp:
        command = simulate(cameras, duration_s, seed, Path(tmp))
        labels = read_labels(Path(tmp) / "truth.jsonl")
        messages = build_messages(
            Path(tmp) / "detections.jsonl", WINDOW_S, bound_ms, cep_cfg.verdict_levels(), CONGESTION
        )
    collected: list[tuple[int, TrafficAlert]] = []
    run_pure(messages, cep_cfg, bound_ms, collect=collected)
    collected += verdict_alerts(messages, cep_cfg, bound_ms)
    collected.sort(key=lambda item: item[0])  # stable: each source keeps its own order
    started = time.perf_counter()
    revisions = group_alerts(collected, incident_cfg)
    grouping_s = time.perf_counter() - started
    incidents = newest_revisions(revisions)
    alerts = [a for _, a in collected]
    scores = score_incidents(scored(incidents), labels, LABEL_OF_KIND)
    alert_scores = score(alerts, labels, KIND_OF_PATTERN)
    per_kind = {
        kind: {
            **judge(s, alert_scores[LABEL_OF_KIND[kind]], incident_cfg.quiet_ms(kind)),
            "labels": s.labels,
            "incidents": s.incidents,
            "alerts": s.alerts,
            "alerts_per_incident": round(s.alerts_per_incident, 2),
            "recall": round(s.recall, 3),
            "precision": round(s.precision, 3),
            "split": len(s.split),
            "merged": len(s.merged),
            "alert_recall": round(alert_scores[LABEL_OF_KIND[kind]].recall, 3),
            "alert_precision": round(alert_scores[LABEL_OF_KIND[kind]].precision, 3),
        }
        for kind, s in scores.items()
    }
    kinds = Counter(i.kind for i in incidents)
    return {
        "config": {
            "cameras": cameras,
            "duration_s": duration_s,
            "fps": 1,
            "seed": seed,
            "bound_ms": bound_ms,
            "window_s": WINDOW_S,
            "simulator": " ".join(command[2:]).replace(tmp, "<tmp>"),
        },
        "alerts": len(alerts),
        "alerts_per_pattern": dict(sorted(Counter(a.pattern for a in alerts).items())),
        "incidents": len(incidents),
        "incidents_per_kind": dict(sorted(kinds.items())),
        "conflict_alerts": sum(
            1 for a in alerts if incident_cfg.kind_of(a.pattern)[0] == "conflict"
        ),
        "revisions": len(revisions),
        "alerts_per_incident": round(len(alerts) / len(incidents), 2) if incidents else 0.0,
        "grouping_alerts_per_s": round(len(alerts) / grouping_s, 1) if grouping_s else None,
        "per_kind": per_kind,
        "ok": all(k["one_incident_per_situation"] and k["labels"] > 0 for k in per_kind.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=4, help="simulated cameras")
    parser.add_argument("--duration-s", type=int, default=600, help="event-time seconds, 1 fps")
    parser.add_argument("--seed", type=int, default=3, help="simulator seed")
    parser.add_argument("--bound-ms", type=int, default=5000, help="watermark bound")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--smoke", action="store_true", help="tiny run (CI): 2 cameras, 5 min")
    args = parser.parse_args()
    if args.smoke:
        args.cameras, args.duration_s = 2, 300
    result = run(args.cameras, args.duration_s, args.seed, args.bound_ms)
    bare = run(args.cameras, args.duration_s, args.seed, args.bound_ms, cooldowns=False)
    result["without_cooldowns"] = {k: v for k, v in bare.items() if k != "config"}
    result["command"] = "python -m benchmarks.incidents " + " ".join(sys.argv[1:])
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / "incidents.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=2))
    print(f"wrote {path}")
    if not (result["ok"] and bare["ok"]):
        print("FAIL: a labelled situation is not exactly one incident", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
