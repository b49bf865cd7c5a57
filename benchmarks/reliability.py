"""Reliability suite: faults injected into a running job; what was lost and how long recovery took.

Each scenario runs the job on the local session cluster over a fresh topic of known
frames (tests/integration/job_harness.py), injects one fault, then scores the
read_committed window output against the expected windows: missing = lost, repeated =
duplicated. Recovery time is from the fault until the first window that closed after it
is on Kafka. `taskmanager-killed-simulator` kills the TaskManager under simulator cameras
with injected incidents and scores every output against the simulator's ground truth:
windows, one verdict per group, and alerts (recall and precision per incident kind).
`rescale-1-to-2` and `rescale-2-to-1` stop the job with a savepoint and restore it at the
other parallelism (the key-pool and pattern state across a rescale: test_job_rescale.py).
Writes benchmarks/results/reliability.json. Goal: nothing lost, < 60 s.

    .venv/bin/python -m benchmarks.reliability            # all scenarios
    .venv/bin/python -m benchmarks.reliability --only fuzz --fuzz-count 1000   # smoke
    .venv/bin/python -m benchmarks.reliability --only llm-chaos                 # LLM faults
    .venv/bin/python -m benchmarks.reliability --only poison-pills --pill-rounds 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract import DeadLetter, RiskAssessment, TrafficAlert, WindowStats, parse, topics
from simulator.scoring import read_labels
from simulator.scoring import score as score_alerts
from stack.config import Endpoints
from stack.flink_cli import cancel, flink_run, restarts, stop_with_savepoint
from stack.paths import REPO
from stack.services import SERVICES, Flink, Kafka, Redis
from stack.topics import ensure_topics
from tests import contract_fuzz, poison
from tests.integration.job_harness import (
    KIND_OF_PATTERN,
    by_camera_number,
    by_window,
    committed_windows,
    expected_windows,
    frames,
    job_args,
    out_topic,
    simulator_patterns,
    wait_for,
    wait_running,
)
from tests.integration.llm_stub import get, running_stub
from tests.kafka_io import produce, read_all

RESULTS = REPO / "benchmarks" / "results"
BEFORE, AFTER, CLOSE = (0, 34), (35, 69), (100, 100)


def cameras_frames(run: str, span: tuple[int, int]) -> list[tuple[bytes, bytes]]:
    return frames(f"r1-{run}", *span) + frames(f"r2-{run}", *span)


def score(bootstrap: str, run: str) -> dict[str, int]:
    cameras = {f"r1-{run}", f"r2-{run}"}
    expected = expected_windows(cameras_frames(run, (BEFORE[0], AFTER[1])))
    got = by_window(committed_windows(bootstrap, cameras, run))
    return {
        "expected_windows": len(expected),
        "lost": len(set(expected) - set(got)),
        "duplicated": sum(n - 1 for n in got.values() if n > 1),
    }


def scenario(
    name: str,
    fault: Callable[[str, str], str | None],
    judge: Callable[[str, str], dict[str, Any]] | None = None,
    parallelism: int = 2,
) -> dict[str, Any]:
    """Start a job, let windows flow, inject ``fault`` (returns a replacement job id, if any),
    publish the rest, and measure recovery and output; ``judge(job_id, topic)`` adds its own
    scores while the job still runs."""
    bootstrap = Endpoints.from_env().kafka_bootstrap
    run = uuid.uuid4().hex[:6]
    topic = f"rel-{run}"
    ensure_topics(bootstrap, {topic: 2})
    cameras = {f"r1-{run}", f"r2-{run}"}
    produce(bootstrap, topic, cameras_frames(run, BEFORE), by_camera_number)
    job = job_args(topic, run, restart_attempts=30, parallelism=parallelism)
    job_id = flink_run(job, detached=True)
    wait_running(job_id)
    wait_for(lambda: len(committed_windows(bootstrap, cameras, run)) >= 4, 120, "first windows")
    fault_at = time.monotonic()
    job_id = fault(job_id, topic) or job_id
    produce(
        bootstrap, topic, cameras_frames(run, AFTER) + cameras_frames(run, CLOSE), by_camera_number
    )
    wait_for(lambda: (f"r1-{run}", 60) in by_window(committed_windows(bootstrap, cameras, run)),
             300, f"{name}: windows after the fault")  # fmt: skip
    recovery_s = round(time.monotonic() - fault_at, 1)
    expected = set(expected_windows(cameras_frames(run, (BEFORE[0], AFTER[1]))))
    # The other camera's last windows may sit in the next checkpoint's transaction; what
    # is still missing after a minute is scored below as lost.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: expected <= set(by_window(committed_windows(bootstrap, cameras, run))),
                 60, f"{name}: every expected window")  # fmt: skip
    time.sleep(3)  # one more checkpoint: duplicates would show now
    judged = judge(job_id, topic) if judge else {}
    cancel(job_id)
    return {"scenario": name, "recovery_s": recovery_s, **judged, **score(bootstrap, run)}


def kill_taskmanager(job_id: str, _topic: str) -> None:
    cluster = Flink()
    cluster.kill_taskmanagers()
    cluster.start_taskmanager()
    wait_running(job_id, 180)


def savepoint_and_code_change(job_id: str, topic: str) -> str:
    path = stop_with_savepoint(job_id, f"file://{REPO}/.stack/flink/savepoints")
    run = topic.removeprefix("rel-")
    # The "new version": different options (congestion model, bundle) on the same state.
    changed = job_args(topic, run, restart_attempts=30, congestion_capacity=30)
    new_id = flink_run(changed, detached=True, from_savepoint=path)
    wait_running(new_id)
    return new_id


def rescale_to(parallelism: int) -> Callable[[str, str], str]:
    """Stop with a savepoint and restore the same job at ``parallelism``."""

    def rescale(job_id: str, topic: str) -> str:
        path = stop_with_savepoint(job_id, f"file://{REPO}/.stack/flink/savepoints")
        run = topic.removeprefix("rel-")
        args = job_args(topic, run, restart_attempts=30, parallelism=parallelism)
        new_id = flink_run(args, detached=True, from_savepoint=path)
        wait_running(new_id)
        return new_id

    return rescale


def restart_kafka(_job_id: str, _topic: str) -> None:
    broker = Kafka()
    broker.stop()
    time.sleep(5)
    broker.start(120)


def redis_down_30s(_job_id: str, _topic: str) -> None:
    store = Redis()
    store.stop()
    time.sleep(30)
    store.start(60)


def fuzz(count: int, seed: int = 3) -> dict[str, Any]:
    """``count`` records the contract must reject, between good ones: all dead-lettered,
    windows exact. The records come from tests/contract_fuzz.py, which derives them from the
    contract's JSON Schema alone (an outsider's view), not from the job's check."""
    bootstrap = Endpoints.from_env().kafka_bootstrap
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    topic = f"fuzz-{run}"
    ensure_topics(bootstrap, {topic: 2})
    good = cameras_frames(run, (BEFORE[0], AFTER[1])) + cameras_frames(run, CLOSE)
    bad = [(b"fuzz", case.payload) for case in invalid_cases(count, seed)]
    mixed = good + bad
    rng.shuffle(mixed)  # event-time order no longer holds, so use a wide bound
    started = time.monotonic()
    produce(bootstrap, topic, mixed)
    job_id = flink_run(job_args(topic, run, bounded=True, watermark_bound_s=200), detached=False)
    dead_letters = read_all(bootstrap, out_topic(run, topics.DEAD_LETTER), idle_s=3)
    letters = [parse(DeadLetter, v) for _k, v in dead_letters]
    mine = [d for d in letters if d.source_topic == topic]
    reasons = dict(Counter(letter.reason_code for letter in mine))
    return {"scenario": f"fuzz {count} malformed", "job": job_id,
            "recovery_s": round(time.monotonic() - started, 1),
            "malformed_sent": count, "dead_lettered": len(mine), "reasons": reasons,
            **score(bootstrap, run)}  # fmt: skip


def invalid_cases(count: int, seed: int) -> list[contract_fuzz.Case]:
    """``count`` generated records of the classes the contract must reject."""
    cases = [case for case in contract_fuzz.build_cases(2 * count + 100, seed, valid_share=0.0)
             if case.kind in contract_fuzz.GUARANTEED_INVALID][:count]  # fmt: skip
    assert len(cases) == count, f"generated {len(cases)} invalid records, wanted {count}"
    return cases


def poison_pills(rounds: int) -> dict[str, Any]:
    """Every class of poison pill (tests/poison.py), ``rounds`` times, between the good frames
    of two cameras, into an unbounded job that may restart: windows exact, every pill
    dead-lettered exactly once with an expected reason code, and no restart."""
    sent: list[poison.Pill] = []

    def send_pills(_job_id: str, topic: str) -> None:
        run = topic.removeprefix("rel-")
        sent.extend(pill for n in range(rounds) for pill in poison.pills(f"p{n}-{run}"))
        keys = [f"r{1 + i % 2}-{run}".encode() for i in range(len(sent))]
        records = [(k, p.value) for k, p in zip(keys, sent, strict=True)]
        produce(Endpoints.from_env().kafka_bootstrap, topic, records, by_camera_number)

    def judge(job_id: str, topic: str) -> dict[str, Any]:
        run = topic.removeprefix("rel-")
        letters = [
            parse(DeadLetter, v)
            for _k, v in read_all(
                Endpoints.from_env().kafka_bootstrap, out_topic(run, topics.DEAD_LETTER), idle_s=3
            )
        ]
        mine = [d for d in letters if d.source_topic == topic]
        return {"restarts": restarts(job_id), **poison.score(sent, mine)}

    # One name whatever the counts, so a new run replaces the row in reliability.json.
    return {**scenario("poison pills", send_pills, judge), "rounds": rounds,
            "classes": len(sent) // rounds}  # fmt: skip


def simulate(work: Path, prefix: str, cameras: int, duration_s: int, *options: str) -> Any:
    """Run the simulator (ground truth to work/truth.jsonl); its report as a dict."""
    subprocess.run(
        [sys.executable, "-m", "simulator", "--cameras", str(cameras), "--duration",
         f"{duration_s}s", "--camera-prefix", prefix, "--truth", str(work / "truth.jsonl"),
         "--report-json", str(work / "sim.json"), "--no-progress", *options],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    return json.loads((work / "sim.json").read_text())


def llm_chaos(cameras: int = 4, duration_s: int = 180) -> dict[str, Any]:
    """Simulator cameras through the job while the LLM server fails 30% of calls (429, 500,
    hangs, garbage): every group must end with exactly one verdict, LLM or explicit fallback."""
    bootstrap = Endpoints.from_env().kafka_bootstrap
    run = uuid.uuid4().hex[:6]
    topic, prefix = f"chaos-{run}", f"chaos-{run}-"
    ensure_topics(bootstrap, {topic: 2})
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        work = Path(tmp)
        sim = simulate(work, prefix, cameras, duration_s, "--seed", "5", "--sink", "kafka",
                       "--bootstrap", bootstrap, "--topic", topic)  # fmt: skip
        groups = sim["groups"]
        keys = work / "keys.txt"
        keys.write_text("sk-chaos-1\nsk-chaos-2\n")
        risk = work / "risk.yaml"
        risk.write_text(
            "risk:\n  llm: {timeout_s: 2, backoff_s: 0.05}\n"
            "  pool: {default_key: {requests_per_min: 100000, tokens_per_min: 1000000000}}\n"
        )
        with running_stub(
            "--latency-ms",
            "50",
            "--fault-rate",
            "0.3",
            "--faults",
            "429,500,hang,malformed",
            "--hang-s",
            "5",
            "--seed",
            "11",
        ) as url:
            started = time.monotonic()
            flink_run(
                job_args(topic, run, bounded=True, signal_topic="", risk_config=risk,
                         llm_base_url=url + "/v1", llm_api_keys_file=keys),
                detached=False,
            )  # fmt: skip
            wall = time.monotonic() - started
            server = get(url + "/stats")
    verdicts = [
        parse(RiskAssessment, v)
        for _k, v in read_all(bootstrap, out_topic(run, topics.RISK_ASSESSMENT_RESULTS), idle_s=3)
    ]
    mine = Counter((v.camera_id, v.frame_id, v.group_id) for v in verdicts
                   if v.camera_id.startswith(prefix))  # fmt: skip
    sources = Counter(v.source for v in verdicts if v.camera_id.startswith(prefix))
    return {"scenario": "llm-chaos-30pct", "recovery_s": round(wall, 1),
            "expected_windows": None, "expected_verdicts": groups,
            "lost": groups - len(mine), "duplicated": sum(n - 1 for n in mine.values()),
            "verdict_sources": dict(sources), "server_outcomes": server["outcomes"]}  # fmt: skip


def taskmanager_killed_simulated(cameras: int = 4, duration_s: int = 360) -> dict[str, Any]:
    """Simulator cameras with injected incidents through the whole job (heuristic verdicts);
    the TaskManager is killed after the first half of the event time. Scored against the
    simulator: each window once, each group one verdict, each labelled incident alerted and
    no alert without a label, nothing twice (read_committed)."""
    bootstrap = Endpoints.from_env().kafka_bootstrap
    run = uuid.uuid4().hex[:6]
    topic, prefix = f"tmk-{run}", f"tmk-{run}-"
    ensure_topics(bootstrap, {topic: 2})
    with tempfile.TemporaryDirectory(prefix="tmk-") as tmp:
        work = Path(tmp)
        sim = simulate(work, prefix, cameras, duration_s, "--seed", "9", "--red-light-rate",
                       "30", "--near-miss-rate", "30", "--wrong-way-rate", "20",
                       "--congestion-rate", "6", "--congestion-length", "60", "--sink", "jsonl",
                       "--out", str(work / "events.jsonl"))  # fmt: skip
        labels = read_labels(work / "truth.jsonl")
        groups = sim["groups"]
        lines = (work / "events.jsonl").read_text().splitlines()
        values = [json.loads(line)["value"].encode() for line in lines]  # {"key", "value"}
        docs = [json.loads(value) for value in values]
        patterns = simulator_patterns(work)
        records = [(d["camera_id"].encode(), v) for d, v in zip(docs, values, strict=True)]
        first_ms = min(d["captured_at_ms"] for d in docs)
        last_ms = max(d["captured_at_ms"] for d in docs)
        split_ms = first_ms + (last_ms - first_ms) // 2
        ids = sorted({d["camera_id"] for d in docs})
        closing = [  # an empty frame a minute later per camera: closes every window and timer
            (cam.encode(), json.dumps({"schema_version": 1, "camera_id": cam, "frame_id": 10**6,
             "captured_at_ms": last_ms + 60_000, "frame": {"width": 640, "height": 480},
             "objects": [], "detector": "closing"}).encode())
            for cam in ids
        ]  # fmt: skip

        def partition(key: bytes | None) -> int:
            return ids.index((key or b"").decode()) % 2  # both partitions carry cameras

        before = [r for r, d in zip(records, docs, strict=True) if d["captured_at_ms"] < split_ms]
        after = [r for r, d in zip(records, docs, strict=True) if d["captured_at_ms"] >= split_ms]
        produce(bootstrap, topic, before, partition)
        job_id = flink_run(
            job_args(topic, run, restart_attempts=30, signal_topic="", patterns=patterns,
                     congestion_capacity=12, free_flow_speed_px_s=100), detached=True,
        )  # fmt: skip
        wait_running(job_id)

        def windows() -> list[WindowStats]:
            return committed_windows(bootstrap, set(ids), run)

        wait_for(lambda: len(windows()) >= 4, 180, "first windows")
        fault_at = time.monotonic()
        kill_taskmanager(job_id, topic)
        produce(bootstrap, topic, after + closing, partition)
        wait_for(lambda: any(w.window_start_ms >= split_ms for w in windows()), 300,
                 "windows after the kill")  # fmt: skip
        recovery_s = round(time.monotonic() - fault_at, 1)
        expected = {(d["camera_id"], d["captured_at_ms"] // 10_000 * 10_000) for d in docs}

        def seen() -> Counter[tuple[str, int]]:
            return Counter((w.camera_id, w.window_start_ms) for w in windows())

        with contextlib.suppress(AssertionError):  # what is still missing is scored as lost
            wait_for(lambda: expected <= set(seen()), 120, "every window")
        time.sleep(5)  # a few more checkpoints: duplicates and late alerts would show now
        got_windows = seen()
        cancel(job_id)
    verdicts = Counter(
        (v.camera_id, v.frame_id, v.group_id)
        for v in (parse(RiskAssessment, value) for _, value in
                  read_all(bootstrap, out_topic(run, topics.RISK_ASSESSMENT_RESULTS), idle_s=3))
        if v.camera_id.startswith(prefix)
    )  # fmt: skip
    alerts = [
        a for a in (parse(TrafficAlert, value) for _, value in
                    read_all(bootstrap, out_topic(run, topics.TRAFFIC_ALERTS), idle_s=3))
        if a.camera_id.startswith(prefix)
    ]  # fmt: skip
    unique = list({a.alert_id: a for a in alerts}.values())
    scores = score_alerts(unique, labels, KIND_OF_PATTERN)
    detail = {
        "windows": {"expected": len(expected), "lost": len(expected - set(got_windows)),
                    "duplicated": sum(n - 1 for k, n in got_windows.items() if k in expected)},
        "verdicts": {"expected": groups, "lost": groups - len(verdicts),
                     "duplicated": sum(n - 1 for n in verdicts.values())},
        "alerts": {"labels": sum(s.labels for s in scores.values()),
                   "missed": sum(len(s.missed) for s in scores.values()),
                   "false": sum(len(s.unmatched_alerts) for s in scores.values()),
                   "duplicated": len(alerts) - len(unique)},
    }  # fmt: skip
    return {
        "scenario": "taskmanager-killed-simulator", "recovery_s": recovery_s,
        "expected_windows": len(expected),
        "lost": sum(d["lost"] for d in (detail["windows"], detail["verdicts"]))
        + detail["alerts"]["missed"],
        "duplicated": sum(d["duplicated"] for d in detail.values()),
        "ground_truth": detail,
    }  # fmt: skip


SCENARIOS: dict[str, Callable[[str, str], str | None]] = {
    "taskmanager-killed": kill_taskmanager,
    "savepoint-code-change-restore": savepoint_and_code_change,
    "kafka-broker-restart": restart_kafka,
    "redis-down-30s": redis_down_30s,
    "rescale-1-to-2": rescale_to(2),
    "rescale-2-to-1": rescale_to(1),
}
# Parallelism a scenario's job starts at (2 unless named here).
START_PARALLELISM = {"rescale-1-to-2": 1}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    extra = ["taskmanager-killed-simulator", "fuzz", "poison-pills", "llm-chaos"]
    parser.add_argument("--only", nargs="*", choices=[*SCENARIOS, *extra], default=None)
    parser.add_argument("--fuzz-count", type=int, default=10_000)
    parser.add_argument(
        "--pill-rounds",
        type=int,
        default=20,
        help="how often every poison-pill class is sent (CI: 1)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where to write")
    args = parser.parse_args()
    for service in SERVICES.values():
        print(service().start())
    chosen = args.only or [*SCENARIOS, *extra]
    rows = []
    suite_started = time.monotonic()
    for name in chosen:
        began = time.monotonic()
        try:
            if name == "fuzz":
                row = fuzz(args.fuzz_count)
            elif name == "poison-pills":
                row = poison_pills(args.pill_rounds)
            elif name == "llm-chaos":
                row = llm_chaos()
            elif name == "taskmanager-killed-simulator":
                row = taskmanager_killed_simulated()
            else:
                row = scenario(name, SCENARIOS[name], parallelism=START_PARALLELISM.get(name, 2))
        except (AssertionError, RuntimeError, ValueError) as err:  # a failed scenario is a
            # result too (ValueError: an output that breaks the contract)
            row = {"scenario": name, "error": str(err)[:300], "recovery_s": None,
                   "expected_windows": None, "lost": None, "duplicated": None}  # fmt: skip
        row["wall_s"] = round(time.monotonic() - began, 1)  # the whole scenario, setup included
        print(json.dumps(row), flush=True)
        rows.append(row)
    # A partial run (--only) replaces its scenarios' rows and keeps the others.
    path = args.results_dir / "reliability.json"
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    names = {row["scenario"] for row in rows}
    merged = [row for row in old if row["scenario"] not in names] + rows
    result = {"benchmark": "reliability", "rows": merged,
              "suite_wall_s": round(time.monotonic() - suite_started, 1),
              "scenarios_run": chosen,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
