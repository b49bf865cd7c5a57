"""Write BENCHMARKS.md from the result files in benchmarks/results/ (never by hand)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stack.paths import REPO

RESULTS = REPO / "benchmarks" / "results"
OUT = REPO / "BENCHMARKS.md"


def scale_peers(r: dict[str, Any]) -> list[str]:
    """The peers' comparison: the same table, its own section."""
    return scale(
        r, "## Peers: the job beside plain Python consumers computing the same windows and verdicts"
    )


def scale_parallelism(r: dict[str, Any]) -> list[str]:
    """The scaling rule checked: the job at parallelism 1 and 2 side by side, its own section."""
    return scale(
        r, "## Parallelism: the job at 1 and at 2 beside pure Flink SQL, the scaling rule's check"
    )


def scale(
    r: dict[str, Any],
    heading: str = "## The scale curve: steady state of the whole job beside pure Flink SQL on "
    "the same input",
) -> list[str]:
    lines = [
        heading,
        "",
        f"Command: `{r['command']}`; measured {r['measured_at']}.",
        "How: the simulator's default mix (groups with inline crops, zones, crossings, signal "
        "states; heuristic verdicts, no LLM) pre-rendered and replayed at 1 frame/s per camera "
        f"on the wall clock into a fresh {r['partitions']}-partition topic per run; the job "
        "(`jobs/risk_job.py`, every stage) and the pure Flink SQL baseline "
        "(`benchmarks/sql_baseline_job.py`: same source, checks and windows) alternate on the "
        "local session cluster at parallelism 2 (`job1`, where measured: the job at "
        "parallelism 1), and where measured the peers: `asyncio` "
        "(the seed's first stage: one confluent-kafka + redis.asyncio process computing the "
        "same windows and heuristic verdicts; no checkpoints, patterns or Kafka outputs) and "
        "`asyncio2` (two such processes, partitions split between them), `quix` / `quix2` (the "
        "same as a Quix Streams 3.28 application: tumbling window, `final()`, one or two "
        f"processes in one consumer group); {r['warmup_s']} s warm-up, then "
        f"{r['measure_s']} s measured from Flink's own metrics (Kafka source `numRecordsOut` "
        "and `pendingRecords` over REST every 3 s: achieved rate and lag slope are "
        "least-squares slopes); latency = a window's arrival on Redis pub/sub minus the time "
        f"the frame that let it close was sent ({r['window_s']} s windows, "
        f"{r['watermark_bound_s']} s watermark bound). {r['rounds']} rounds per size: "
        "medians, with the spread of the achieved rate.",
        "**Keeps up** = the load was offered (replayer never > 1 s behind), lag slope <= 1% "
        "of the offered rate (a growing backlog fails however low p99 still is) with under a "
        "second of input pending at the end, and for the job and the peers >= 99% of closable "
        "windows with p99 < 2 s. While both keep up each reads what is offered, so compare "
        "their CPU: "
        "the SQL baseline's share is the machine's pure-SQL cost of the same input.",
        "",
        "| cameras | variant | offered ev/s | read ev/s (spread) | lag slope /s | p50 ms | "
        "p99 ms | CPU % | keeps up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        for variant in ("job", "job1", "sql", "asyncio", "asyncio2", "quix", "quix2"):
            v = row.get(variant)
            if not v:
                continue
            low, high = v["achieved_spread"]
            lines.append(
                f"| {row['cameras']:,} | {variant} | {v['offered_per_s']:,.0f} | "
                f"{v['achieved_per_s']:,.0f} ({low:,.0f}-{high:,.0f}) | "
                f"{v['lag_slope_per_s']:+,.1f} | {v['latency_ms_p50'] or '-'} | "
                f"{v['latency_ms_p99'] or '-'} | {v['cpu_busy_pct']} | "
                + ("yes" if v["keeps_up"] else "**no**")
                + " |"
            )
    lines.append("")
    for variant in ("job", "job1", "asyncio", "asyncio2", "quix", "quix2"):
        sizes = [row["cameras"] for row in r["rows"] if variant in row]
        kept = [row["cameras"] for row in r["rows"] if row.get(variant, {}).get("keeps_up")]
        if sizes:
            lines.append(
                f"`{variant}` keeps up to {max(kept):,} cameras on this machine by this rule."
                if kept
                else f"`{variant}` kept up at none of the sizes measured ({sizes})."
            )
    lines += [
        "",
        "Per run (busiest operator chain = highest `busyTimeMsPerSecond` at the end; the "
        "TaskManager column says whether it died natively on the final cancel, see "
        "docs/operations.md):",
        "",
        "| cameras | variant | round | read ev/s | lag start -> end | p99 ms | windows | "
        "busiest chain (ms/s) | load 1m | TM died on cancel | missed (keeps-up rule) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in r["runs"]:
        windows = (
            f"{run['windows_measured']}/{run['windows_expected']}"
            if run["windows_expected"] is not None
            else "-"
        )
        lines.append(
            f"| {run['cameras']:,} | {run['variant']} | {run['round']} | "
            f"{run['achieved_per_s']:,.0f} | {run['lag_start']:,} -> {run['lag_end']:,} | "
            f"{run['latency_ms_p99'] or '-'} | {windows} | `{run['busiest']}` "
            f"({run['busiest_ms_per_s']:.0f}) | {run.get('load_avg_1m', '-')} | "
            f"{run['taskmanager_died_on_cancel']} | "
            f"{'; '.join(run.get('shortfalls', run['problems'])) or '-'} |"
        )
    return [*lines, ""]


def contract_check(r: dict[str, Any]) -> list[str]:
    med = r["median_events_per_s"]
    return [
        "## Contract check in the JVM: before and after the schema-driven check",
        "",
        f"Command: `.venv/bin/python -m benchmarks.contract_check --events {r['events']} "
        f"--seconds {r['seconds_per_round']:g} --rounds {r['rounds']}`; measured "
        f"{r['measured_at']}. PARSE_DETECTION's eval() calls/s on one core after warm-up, "
        f"{r['events']:,} synthetic events ({r['mean_event_bytes']} bytes, 3-8 objects) cycled; "
        f"before = the hand-written check of commit {r['before_commit']} (only the fields the "
        "windows read), after = the whole contract from its JSON Schema; rounds alternate.",
        "",
        "| check | events/s (median) | rounds |",
        "|---|---|---|",
        f"| before (hand-written, partial) | {med['before']:,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in r['events_per_s']['before'])} |",
        f"| after (contract schema, complete) | {med['after']:,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in r['events_per_s']['after'])} |",
        "",
        f"**after / before: {r['after_over_before']}**. For scale: the job reads a few "
        "thousand events/s on 2 cores (the scale curve), so the check is a small share of it.",
        "",
    ]


def reliability(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Reliability: faults injected into a running job",
        "",
        f"Command: `./dev reliability` (`.venv/bin/python -m benchmarks.reliability`); "
        f"measured {r['measured_at']}"
        + (
            f"; the run of {len(r['scenarios_run'])} scenarios took {r['suite_wall_s']:,.0f} s"
            if "suite_wall_s" in r
            else ""
        )
        + ".",
        "How: known frames of two cameras on a fresh topic; the fault is injected after the "
        "first windows are on Kafka; read_committed output scored against the expected "
        "windows. Recovery: fault until the first window that closed after it is on Kafka "
        "(for fuzz and LLM chaos: the whole bounded run, job start included). Goal: nothing lost "
        "or duplicated, < 60 s.",
        "",
        "| scenario | recovery s | expected windows | lost | duplicated | notes |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        notes = f"FAILED: {row['error']}" if row.get("error") else ""
        if "expected_verdicts" in row:
            notes = (f"{row['expected_verdicts']:,} groups -> verdicts by source "
                     f"{row['verdict_sources']}; LLM server outcomes {row['server_outcomes']}; "
                     "lost/duplicated count verdicts")  # fmt: skip
        if "ground_truth" in row:
            truth = row["ground_truth"]
            notes = (f"simulator ground truth: windows {truth['windows']}; verdicts "
                     f"{truth['verdicts']}; alerts {truth['alerts']} (missed = incident "
                     "labels no alert found, false = alerts of no label)")  # fmt: skip
        if "pills_sent" in row:
            notes = (f"{row['pills_sent']} pills sent ({row.get('classes', '?')} classes x "
                     f"{row.get('rounds', '?')} rounds), {row['pills_dead_lettered']} "
                     f"dead-lettered once, repeated {row['pills_repeated']}, wrong reason "
                     f"code {len(row['pills_wrong_code'])}, missing {len(row['pills_missing'])}; "
                     f"job restarts {row['restarts']}")  # fmt: skip
        if "malformed_sent" in row:
            notes = (f"{row['malformed_sent']} malformed sent (generated from the contract's "
                     f"JSON Schema, tests/contract_fuzz.py), {row['dead_lettered']} "
                     f"dead-lettered, by reason code: {row['reasons']}")  # fmt: skip
        lines.append(
            f"| {row['scenario']} | {row['recovery_s']} | {row['expected_windows']} | "
            f"{row['lost']} | {row['duplicated']} | {notes} |"
        )
    return [*lines, ""]


def detector_fps(r: dict[str, Any]) -> list[str]:
    paced_s = r.get("paced_s", 0)
    lines = [
        "## Detector service versus a bare model loop, and 10 cameras at 1 frame/s",
        "",
        f"Command: `.venv/bin/python -m benchmarks.detector_fps --frames {r['frames']} "
        f"--yolo-frames {r['yolo_frames']} --paced-s {paced_s}`; measured {r['measured_at']}.",
        f"How: {r['how']}. Goal: service / bare >= 0.9; {r['cameras']} cameras at 1 frame/s "
        "need a service rate >= 10 frames/s.",
    ]
    if "rows_machine_cpu_busy_pct" in r:
        lines.append(
            f"Machine during these rows: CPU busy {r['rows_machine_cpu_busy_pct']} % of "
            f"all cores (this process included), load average before "
            f"{r['rows_load_avg_before']}."
        )
    if r.get("yolo_skipped"):
        lines.append(f"YOLO row skipped: {r['yolo_skipped']}.")
    lines += [
        "",
        "| backend (model) | workers x threads | frames | bare fps | bare fps/core | "
        "service fps | service fps/core | service / bare | per core | tracker |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        b, s = row["bare"], row["service"]
        pool = f"{row['workers']} x {row['threads_per_worker']}" if "workers" in row else "1"
        lines.append(
            f"| {row['backend']} (`{row['model']}`) | {pool} | {b['frames']} | {b['fps']} | "
            f"{b['fps_per_core']} | {s['fps']} | {s['fps_per_core']} | "
            f"{row['ratio_service_over_bare']} | {row['ratio_per_core']} | {s['tracker']} |"
        )
    p = r.get("paced")
    if p:
        lines += [
            "",
            f"The bar, {p['cameras']} cameras paced at {p['sample_fps']} frame/s for "
            f"{p['seconds']} s: {r['how_paced']}.",
            "",
            "| workers x threads | offered | analysed | fps | dropped (behind) | late (> 1 s) "
            "| age mean s | age p95 <= s | process cores busy | machine CPU busy % "
            "| load avg before | keeps up |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {p['workers']} x {p['threads_per_worker']} | {p['offered']} | {p['analysed']} "
            f"| {p['fps']} | {p['dropped_behind']} | {p['late_over_1s']} | {p['age_mean_s']} "
            f"| {p['age_p95_at_most_s']} | {p['process_cores_busy']} of {p['cpus']} "
            f"| {p['machine_cpu_busy_pct']} | {p['load_avg_before']} | {p['keeps_up']} |",
        ]
    return [*lines, ""]


def simulator_rate(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Simulator: its own maximum rate, and the job consuming its output",
        "",
        f"Command: `{r['command']}`; measured {r['measured_at']}.",
        f"How: {r['cameras']:,} cameras x {r['duration_s']} s at 1 frame/s, seed 1, one run per "
        "sink back to back (rate = the simulator's own report: events / wall time, Kafka "
        "including delivery of every message); then `jobs/risk_job.py --bounded` (mini "
        "cluster, parallelism 2) reads the Kafka topic and every event must land in one window.",
        "",
        "| sink | events | groups | seconds | events/s |",
        "|---|---|---|---|---|",
    ]
    for sink, row in r["sinks"].items():
        lines.append(
            f"| {sink} | {row['events']:,} | {row['groups']:,} | {row['seconds']} | "
            f"{row['events_per_s']:,} |"
        )
    job = r.get("job")
    if job:
        failed = job.get("all_counted") is False
        lines += [
            "",
            ("**FAILED (not every event counted):** " if failed else "")
            + f"Job: {job['events_in_windows']:,} of {r['sinks']['kafka']['events']:,} events "
            f"counted in {job['windows']:,} windows of {job['cameras_with_windows']:,} cameras; "
            f"{job['job_wall_s']} s wall clock including JVM start and the risk and pattern "
            "stages (heuristic verdicts).",
        ]
    return [*lines, ""]


def risk_llm(r: dict[str, Any]) -> list[str]:
    lines = [
        "## LLM stage: achieved versus its ideal bound, and calls avoided",
        "",
        f"Command: `.venv/bin/python -m benchmarks.risk_llm`; measured {r['measured_at']}.",
        "How: the real stub server (`stack/openai_stub.py`) with set latency and per-key "
        "limits; drivers side by side in one run: "
        + "; ".join(f"**{k}** = {v}" for k, v in r["paths"].items())
        + ".",
        "",
        "| measurement | driver | tasks | achieved req/s | ideal bound | ratio | 429 share | "
        "fallbacks | goal met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["concurrency"]["runs"]:
        bound = row["max_in_flight"] / (row["stub_latency_ms"] / 1000)
        lines.append(
            f"| concurrency ({row['max_in_flight']} in flight, {row['stub_latency_ms']:.0f} ms) "
            f"| {row['path']} | {row['tasks']:,} | {row['achieved_req_per_s']} | {bound:.0f} | "
            f"{row['achieved_req_per_s'] / bound:.3f} | - | "
            f"{sum(row['fallback_reasons'].values())} | {row['goal_met']} (>= 0.95) |"
        )
    for row in r["key_pool"]["runs"]:
        lines.append(
            f"| key pool ({row['keys']} keys x {row['requests_per_min_per_key']}/min) | "
            f"{row['path']} | {row['tasks']:,} | {row['achieved_req_per_s']} | "
            f"{row['combined_cap_req_per_s']:.0f} | {row['achieved_vs_cap']} | "
            f"{row['share_429']} | {row['fallbacks']} | {row['goal_met']} (>= 0.95, < 1% 429) |"
        )
    lines += risk_batching(r)
    lines += risk_near_cache(r)
    for row in r["filter_cache"]["runs"]:
        lines += [
            "",
            f"Filter + cache ({row['path']} driver): {row['cameras']} simulator cameras x "
            f"{row['duration']}, {row['groups']:,} groups; the smart filter sent "
            f"{row['llm_worthy_groups']:,} to the LLM path ({row['calls_avoided_by_filter_pct']}% "
            f"avoided by the filter alone); {row['calls_made']:,} calls made: "
            f"**{row['calls_avoided_pct']}% of calls avoided** (goal >= 50%); verdicts "
            f"{row['verdict_sources']}. Ground-truth near-miss groups: "
            f"{row['incident_groups']}, on the LLM path {row['incident_groups_llm_path']}, "
            f"heuristic only {row['incident_groups_not_llm_path']}. The simulator reuses "
            f"{row['distinct_crops_on_llm_path']} distinct crops, so its cache hit rate is "
            "higher than live video would give; the filter figure is the conservative one.",
        ]
    return [*lines, ""]


def risk_batching(r: dict[str, Any]) -> list[str]:
    """Rows of the batching measurement (batch sizes side by side, one run), if measured."""
    section = r.get("batching")
    if not section or not section["runs"]:
        return []
    first = section["runs"][0]
    lines = [
        "",
        f"Batching, measured {section['measured_at']}: {first['groups_sent']:,} LLM-worthy groups "
        f"offered at {first['offered_per_s']:g}/s; stub latency {first['stub_latency_ms']:g} "
        f"+- {first['stub_jitter_ms']:g} ms per request, {first['keys']} keys x "
        f"{first['requests_per_min_per_key']}/min at the stub and in the pool; a partial batch "
        f"leaves after {first['max_wait_ms']} ms. Verdict latency: the frame entering the stage "
        "to its verdict leaving it. Tokens as the stub books them (200 + 560 per image). "
        f"One crop per request needs {first['offered_per_s']:g} requests/s against the keys' "
        f"{first['keys'] * first['requests_per_min_per_key'] / 60:g}/s: the asyncio driver "
        "falls back when a task would wait longer than its tier's `pool.max_wait_s`; the Flink "
        "operator backpressures its input at 2 x `scheduler.max_in_flight` calls, so tasks "
        "queue before the key gate instead (no fallbacks, longer latency)." + load_note(section),
        "",
        "| crops per request | driver | groups sent | verdicts | calls | calls / group | 429s "
        "| tokens / llm verdict | verdict p50 ms | p95 ms | p99 ms | fallbacks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in section["runs"]:
        lat = row["verdict_latency_ms"]
        verdicts = f"{row['verdicts_counted']:,}"
        if not row["verdicts_match"]:
            verdicts = f"**FAILED: {verdicts} != groups**"
        lines.append(
            f"| {row['max_images']} | {row['path']} | {row['groups_sent']:,} | {verdicts} | "
            f"{row['calls']:,} | {row['calls_per_group']} | {row['calls_429']} | "
            f"{row['tokens_per_llm_verdict']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | "
            f"{row['fallbacks']} |"
        )
    return lines


def load_note(section: dict[str, Any]) -> str:
    load = section.get("load_avg_1m")
    return "" if load is None else f" Machine load (1 min) at the start: {load}."


def risk_near_cache(r: dict[str, Any]) -> list[str]:
    """Rows of the near-duplicate cache measurement, if measured."""
    section = r.get("near_cache")
    if not section or not section["runs"]:
        return []
    sizes = section["sizes"]
    lines = [
        "",
        f"Near-duplicate cache, measured {section['measured_at']}: {sizes['near_cameras']} "
        f"simulator cameras x {sizes['near_duration']} whose crops are re-rendered every frame "
        "(`--rendered-crops`: no two frames share bytes, as on live video), every LLM-worthy "
        "group in event-time order through the assessor (cache TTL 300 s of event time); the "
        "stub answers high exactly for crops with the risk marker. Marked crops not high must "
        "be 0: a marked crop never got an unmarked crop's verdict.",
        "",
        "The rows marked *detector* run the same on the detector's own output for the bundled "
        "sample cameras (real photos panned like a slow camera, crops cut by the detector); "
        "those crops carry no marker.",
        "",
        "| crops | cache | LLM-path groups | distinct crops | exact hits | near hits | calls | "
        "calls avoided | marked crops | marked not high | unmarked high |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in section["runs"]:
        missed = row["marked_not_high"]
        source = "detector" if row["crops"].startswith("the detector") else "simulator"
        lines.append(
            f"| {source} | {row['cache']} | {row['llm_path_groups']:,} | "
            f"{row['distinct_crops']:,} | {row['exact_hit_pct']}% | {row['near_hit_pct']}% | "
            f"{row['calls']:,} | "
            f"{row['calls_avoided_pct']}% | {row['marked_groups']} | "
            f"{f'**FAILED: {missed}**' if missed else 0} | {row['unmarked_high']} |"
        )
    return lines


def cep_throughput(r: dict[str, Any]) -> list[str]:
    cfg, pure, flink = r["config"], r["variants"]["pure_engine"], r["variants"]["flink_operator"]
    return [
        "## Pattern operator (CEP) throughput, five traffic patterns",
        "",
        f"Command: `.venv/bin/python -m benchmarks.cep_throughput --cameras {cfg['cameras']} "
        f"--duration-s {cfg['duration_s']}`; machine load {cfg['load_avg_1m']}.",
        f"How: {r['input']['messages']:,} messages (simulator detections, their high-risk "
        "verdicts, window stats) through the plain-Python engine and through the Flink operator "
        f"(mini cluster, parallelism {flink['parallelism']}; {cfg['flink_timing']}).",
        "",
        "| variant | detection events/s | other | alerts |",
        "|---|---|---|---|",
        f"| plain-Python engine (matching only) | {pure['detection_events_per_s']:,} | "
        f"{pure['facts_per_s']:,} facts/s; with fact derivation "
        f"{pure['detection_events_per_s_incl_derive']:,} ev/s | {pure['alerts']} |",
        "| Flink: the job's pattern stage (SQL batches per key slot and step -> "
        "`BatchFacts` / `ToFacts` -> `build_cep`, keyed by slot) | "
        f"{flink['detection_events_per_s']:,} | {flink['messages_per_s']:,} messages/s | "
        f"{flink['alerts']} |",
        "",
        f"Alerts agree between the two: {r['alerts_agree']} ({pure['alerts_per_pattern']}). "
        "The Flink stage against the plain engine deriving and matching the same input: "
        f"{flink['detection_events_per_s'] / pure['detection_events_per_s_incl_derive']:.2f}x"
        f" (operator layout {cfg.get('operator', 'per camera')}).",
        "",
    ]


def incidents(r: dict[str, Any]) -> list[str]:
    cfg, bare = r["config"], r["without_cooldowns"]
    lines = [
        "## Incidents on simulator ground truth: one per labelled situation",
        "",
        f"Command: `.venv/bin/{r['command']}`; measured {r['measured_at']}.",
        f"How: the simulator (`{cfg['simulator']}`) labels every situation it stages; its "
        "detections, one heuristic verdict per group and 10 s window statistics go through "
        "the pattern engine (patterns tuned to the scene as the end-to-end test tunes them, "
        f"{cfg['bound_ms'] // 1000} s watermark bound) and then the incident engine; each "
        "incident's newest revision is scored against the labels of its kind. Split = a "
        "label found by several incidents; merged = an incident covering several labels "
        "(in brackets: of labels further apart than the kind's quiet period plus the 30 s "
        "detection span, which the alerts could have told apart); recall and precision of "
        "the alerts alone beside them. The same input runs with the shipped cooldowns and "
        "with every cooldown at 0.",
        "",
        "| kind | labels | incidents | recall (alerts) | precision (alerts) | split | merged | "
        "alerts | alerts/incident | alerts, no cooldowns | alerts/incident, no cooldowns |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, k in r["per_kind"].items():
        b = bare["per_kind"][kind]
        lines.append(
            f"| {kind} | {k['labels']} | {k['incidents']} | {k['recall']} "
            f"({k['alert_recall']}) | {k['precision']} ({k['alert_precision']}) | {k['split']} | "
            f"{k['merged']} ({k['merged_apart']}) | {k['alerts']} | {k['alerts_per_incident']} | "
            f"{b['alerts']} | {b['alerts_per_incident']} |"
        )
    lines += [
        "",
        f"All kinds: {r['alerts']:,} alerts -> {r['incidents']:,} incidents "
        f"({r['alerts_per_incident']} alerts per incident; {r['incidents_per_kind']}); without "
        f"cooldowns {bare['alerts']:,} alerts -> {bare['incidents']:,} incidents "
        f"({bare['alerts_per_incident']}). A `conflict` incident groups a pair of road users' "
        "near miss, high verdicts and conflict-then-verdict alerts "
        f"({r['conflict_alerts']:,} alerts, {bare['conflict_alerts']:,} without cooldowns) and "
        "is scored against the near-miss labels when a near-miss alert is in it (one opened "
        "by verdicts alone is counted, not scored). "
        "Every labelled situation the alerts found is one incident (nothing lost, split or "
        f"merged apart; the benchmark's assertion): {r['ok'] and bare['ok']}.",
        "",
    ]
    return lines


SECTIONS = {
    "scale.json": scale,
    "scale-peers.json": scale_peers,
    "scale-parallelism.json": scale_parallelism,
    "contract_check.json": contract_check,
    "detector_fps.json": detector_fps,
    "reliability.json": reliability,
    "simulator_rate.json": simulator_rate,
    "risk_llm.json": risk_llm,
    "cep_throughput.json": cep_throughput,
    "incidents.json": incidents,
}


def suite_times(results: Path) -> list[str]:
    """How long each benchmark of the last `benchmarks.run_all` took (its run_all.json)."""
    path = results / "run_all.json"
    if not path.exists():
        return []
    timings = json.loads(path.read_text())["benchmarks"]
    total = sum(t["wall_s"] for t in timings.values())
    lines = [
        "## How long the suite takes",
        "",
        f"`./dev bench` (`python -m benchmarks.run_all`): {total:,.0f} s in all "
        f"({total / 60:.1f} min), per benchmark as last run:",
        "",
        "| benchmark | command | wall s | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | `{t['command']}` | {t['wall_s']} | "
        + ("ok" if not t.get("exit_code") else f"**FAILED (exit {t['exit_code']})**")
        + " |"
        for name, t in timings.items()
    ]
    return [*lines, ""]


def plots(results: Path) -> list[str]:
    """PNG charts of the results that have a shape worth seeing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    scale_file = results / "scale.json"
    if scale_file.exists():
        rows = [r["job"] for r in json.loads(scale_file.read_text())["rows"] if "job" in r]
        cams = [r["cameras"] for r in json.loads(scale_file.read_text())["rows"] if "job" in r]
        fig, left = plt.subplots(figsize=(6, 3.5))
        left.plot(cams, [r["latency_ms_p50"] for r in rows], "o-", label="p50 latency")
        left.plot(cams, [r["latency_ms_p99"] for r in rows], "s--", label="p99 latency")
        left.set_xlabel("simulated cameras (1 frame/s each, default mix)")
        left.set_ylabel("ms")
        right = left.twinx()
        right.plot(cams, [r["cpu_busy_pct"] for r in rows], "^:", color="gray", label="CPU %")
        right.set_ylabel("machine CPU busy %")
        left.legend(loc="upper left")
        fig.tight_layout()
        fig.savefig(results / "scale.png", dpi=100)
        plt.close(fig)
        made.append("![job latency and CPU versus cameras](benchmarks/results/scale.png)")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    lines = [
        "# Benchmarks",
        "",
        "Generated by `.venv/bin/python -m benchmarks.report` from `benchmarks/results/`. "
        "Machine: 2 cores, shared; ratios are measured side by side in one run.",
        "",
    ]
    lines += suite_times(args.results_dir)
    for name, render in SECTIONS.items():
        path = args.results_dir / name
        if path.exists():
            lines += render(json.loads(path.read_text()))
    lines += ["## Plots", "", *plots(args.results_dir), ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
