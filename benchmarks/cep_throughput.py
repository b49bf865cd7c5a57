"""Benchmark: throughput of the CEP stage with the five patterns of flink-conf/patterns.yaml.

Input is the traffic simulator's detection events (crops included, as they arrive on Kafka;
the Flink variant drops them in SQL as the job does), plus what the job would feed the CEP
next to them: per-camera tumbling window
statistics (congestion index as the job computes it) and one heuristic risk verdict per group.
All messages go in one arrival order: a frame, then its verdicts; a window's stats just before
the first frame that could close it, so nothing is late. Two variants over the same input:

(a) pure: `udfs.patterns.engine.TrafficCep` alone in this process. Facts are derived first (timed
    apart), then fed per camera with a Flink-like timer service: one `advance` per distinct
    (camera, fact time) once the watermark (max time - bound - 1 ms) passes it, plus the
    engine's match deadlines, then a final flush.
(b) flink: the job's pattern stage on a local mini cluster in a child process: a collection
    source with the job's SQL watermark (time - bound - 1 ms), detection events checked by
    PARSE_DETECTION and batched per key slot and step in SQL (`candidate_batches`: crops
    dropped, TUMBLE, ARRAY_AGG) into `BatchFacts`, windows and verdicts into `ToFacts`, then
    `build_cep`. The JVM start and a warm-up job are left out: the rate is timed from the
    first element the Python worker sees to the end of the job.

Writes cep_throughput.json to --results-dir.

    .venv/bin/python -m benchmarks.cep_throughput --cameras 1000 --duration-s 60
    .venv/bin/python -m benchmarks.cep_throughput --smoke --results-dir /tmp/cep
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import FlatMapFunction, RuntimeContext, StreamExecutionEnvironment
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from contract import VEHICLE_CLASSES, DetectionEvent, TrafficAlert, WindowStats, parse
from contract.workspace import flink_jars_dir
from jobs.config import JobConfig
from udfs.cep.buffer import DictStore
from udfs.ingest import sql as ingest_sql
from udfs.patterns import facts
from udfs.patterns.config import CepConfig, OperatorLayout, load
from udfs.patterns.engine import TrafficCep, new_core
from udfs.patterns.flink import BatchFacts, ToFacts, build_cep, candidate_batches
from udfs.patterns.sql import CANDIDATES_VIEW
from udfs.risk.rules import heuristic_verdict
from udfs.rows import FACT_ROW
from udfs.windows.stats import CongestionModel

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PATTERNS = REPO / "flink-conf" / "patterns.yaml"
MAX_TS = 2**63 - 1  # Flink's final watermark at the end of bounded input
# Smoke: short signal cycles (the simulator stages at most one red-light run per cycle) and
# many incidents per camera-hour, so a few cameras for a minute still give alerts.
SMOKE_SCENE = ["--green", "14", "--yellow", "3", "--red", "10", "--red-light-rate", "5000",
               "--near-miss-rate", "600", "--wrong-way-rate", "600"]  # fmt: skip

Message = tuple[int, str, str]  # (event time ms, source, raw JSON)


def simulate(cameras: int, duration_s: int, out: Path, extra: list[str]) -> list[str]:
    """Run the simulator to a JSON-lines file; returns the command (for the results)."""
    cmd = [sys.executable, "-m", "simulator", "--sink", "jsonl", "--cameras", str(cameras),
           "--fps", "1", "--duration", f"{duration_s}s", "--out", str(out), "--no-progress",
           *extra]  # fmt: skip
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    return cmd


def _window_json(
    camera: str,
    start: int,
    end: int,
    frames: list[DetectionEvent],
    model: CongestionModel | None = None,
) -> str:
    """WindowStats of one camera window, congestion index as the job's SQL + model give it."""
    vehicles = [o for f in frames for o in f.objects if o.class_name in VEHICLE_CLASSES]
    speeds = [math.hypot(*o.velocity_px_s) for o in vehicles if o.velocity_px_s is not None]
    mean_vehicles = round(len(vehicles) / len(frames), 4)
    speed = round(sum(speeds) / len(speeds), 3) if speeds else None
    tracks = {o.track_id for f in frames for o in f.objects if o.track_id is not None}
    stats = WindowStats(
        schema_version=1,
        camera_id=camera,
        window_start_ms=start,
        window_end_ms=end,
        frames=len(frames),
        objects=sum(len(f.objects) for f in frames),
        vehicles=len(vehicles),
        pedestrians=sum(1 for f in frames for o in f.objects if o.class_name == "person"),
        distinct_tracks=len(tracks),
        mean_vehicles_per_frame=mean_vehicles,
        peak_vehicles_per_frame=max(
            sum(o.class_name in VEHICLE_CLASSES for o in f.objects) for f in frames
        ),
        mean_vehicle_speed_px_s=speed,
        congestion_index=(model or CongestionModel()).index(mean_vehicles, speed),
    )
    return stats.to_json().decode()


def build_messages(
    sim_out: Path,
    window_s: int,
    bound_ms: int,
    levels: frozenset[str],
    model: CongestionModel | None = None,
) -> list[Message]:
    """Detections, their verdicts and window stats, in the arrival order described above.
    As in the job, only verdicts of `levels` (those a pattern waits for) are passed on."""
    window_ms = window_s * 1000
    keyed: list[tuple[int, int, Message]] = []  # (arrival ms, tie-break, message)
    windows: dict[tuple[str, int], list[DetectionEvent]] = defaultdict(list)
    with sim_out.open() as lines:
        for line in lines:
            raw = json.loads(line)["value"]
            event = parse(DetectionEvent, raw)
            ts = event.captured_at_ms
            keyed.append((ts, 1, (ts, "detection", raw)))
            for group in event.groups:
                verdict = heuristic_verdict(event, group)
                if verdict.risk_level in levels:
                    keyed.append((ts, 2, (ts, "risk", verdict.to_json().decode())))
            windows[(event.camera_id, ts // window_ms * window_ms)].append(event)
    for (camera, start), frames in windows.items():
        end = start + window_ms
        doc = _window_json(camera, start, end, frames, model)
        keyed.append((end - 1 + bound_ms, 0, (end - 1, "window", doc)))  # before closing frame
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [message for _, _, message in keyed]


def run_pure(
    messages: list[Message],
    cfg: CepConfig,
    bound_ms: int,
    collect: list[tuple[int, TrafficAlert]] | None = None,
) -> dict[str, Any]:
    """Variant (a): the plain-Python engine with a per-camera event-time timer service.
    `collect`, if given, receives (watermark, alert) of every alert in emission order."""
    start = time.perf_counter()
    derived = [
        (ts, [f.as_event() for f in facts.from_message(src, raw, cfg.facts)])  # type: ignore[arg-type]
        for ts, src, raw in messages
    ]
    derive_s = time.perf_counter() - start
    engine = TrafficCep(cfg)
    stores: dict[str, DictStore] = defaultdict(DictStore)
    cores: dict[str, dict[str, Any]] = defaultdict(new_core)
    timers: list[tuple[int, str]] = []
    registered: set[tuple[int, str]] = set()
    alerts: Counter[str] = Counter()
    counts = {"facts": 0, "late": 0, "advance_calls": 0, "timeouts": 0, "suppressed": 0}

    def register(ts: int, camera: str) -> None:
        if (ts, camera) not in registered:
            registered.add((ts, camera))
            heapq.heappush(timers, (ts, camera))

    def fire(watermark: int) -> None:
        while timers and timers[0][0] <= watermark:
            ts, camera = heapq.heappop(timers)
            registered.discard((ts, camera))
            core = cores[camera]
            out = engine.advance(stores[camera], core, camera, ts)
            counts["advance_calls"] += 1
            counts["timeouts"] += len(out.timeouts)
            counts["suppressed"] += out.suppressed
            alerts.update(a.pattern for a in out.alerts)
            if collect is not None:
                collect.extend((ts, a) for a in out.alerts)
            deadline = engine.next_deadline_ms(core)
            if deadline is not None and deadline > ts:
                register(deadline, camera)

    watermark, max_seen = -(2**63), -(2**63)
    start = time.perf_counter()
    for ts, found in derived:
        max_seen = max(max_seen, ts)
        for fact in found:
            camera = fact["camera_id"]
            counts["facts"] += 1
            if fact["ts_ms"] <= watermark or not engine.ingest(stores[camera], cores[camera], fact):
                counts["late"] += 1
                continue
            register(int(fact["ts_ms"]), camera)
        if max_seen - bound_ms - 1 > watermark:
            watermark = max_seen - bound_ms - 1
            fire(watermark)
    fire(MAX_TS)
    match_s = time.perf_counter() - start
    detections = sum(1 for _, src, _ in messages if src == "detection")
    return {
        "derive_s": round(derive_s, 3),
        "match_s": round(match_s, 3),
        "facts_per_s": round(counts["facts"] / match_s, 1),
        "detection_events_per_s": round(detections / match_s, 1),
        "messages_per_s": round(len(messages) / match_s, 1),
        "derive_messages_per_s": round(len(messages) / derive_s, 1),
        "detection_events_per_s_incl_derive": round(detections / (derive_s + match_s), 1),
        **counts,
        "alerts": sum(alerts.values()),
        "alerts_per_pattern": {p.name: alerts[p.name] for p in cfg.patterns},
    }


def run_flink(
    messages: list[Message],
    cfg_path: Path,
    operator: OperatorLayout,
    bound_ms: int,
    warmup: int,
    parallelism: int,
    flink_conf: dict[str, str],
    timeout_s: int,
) -> dict[str, Any]:
    """Variant (b): the PyFlink operator in a child process (its own JVM, as the tests do)."""
    with tempfile.TemporaryDirectory(prefix="cep-bench-") as tmp:
        work = Path(tmp)
        with (work / "input.tsv").open("w") as out:
            for ts, src, raw in messages:
                out.write(f"{ts}\t{src}\t{raw}\n")  # compact JSON holds no raw tab or newline
        spec = {"patterns": str(cfg_path), "bound_ms": bound_ms, "warmup": warmup,
                "operator": operator.model_dump(),
                "parallelism": parallelism, "flink_conf": flink_conf}  # fmt: skip
        (work / "spec.json").write_text(json.dumps(spec))
        # The Python workers unpickle TaggedFacts by reference: they must import this module.
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.cep_throughput", "--flink-child", str(work)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"flink child failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads((work / "result.json").read_text())
    detections = sum(1 for _, src, _ in messages if src == "detection")
    result["detection_events_per_s"] = round(detections / result["processing_s"], 1)
    result["messages_per_s"] = round(len(messages) / result["processing_s"], 1)
    result["detection_events_per_s_from_submit"] = round(detections / result["submit_to_end_s"], 1)
    return result


def _flink_child(work: Path) -> None:
    """Child process: JVM start, a warm-up job, then the timed job; writes result.json."""
    begin = time.perf_counter()
    from pyflink.common import Configuration

    spec = json.loads((work / "spec.json").read_text())
    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("restart-strategy.type", "none")
    jars = sorted(flink_jars_dir().glob("*.jar"))  # the job's: PARSE_DETECTION, KEY_SLOT
    conf.set_string("pipeline.jars", ";".join(f"file://{jar}" for jar in jars))
    conf.set_string("table.local-time-zone", "UTC")
    for key, value in spec["flink_conf"].items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(int(spec["parallelism"]))
    t_env = StreamTableEnvironment.create(env)
    for ddl in ingest_sql.functions_ddl():
        t_env.execute_sql(ddl)
    jvm_s = time.perf_counter() - begin
    cfg = load(spec["patterns"])
    cfg = cfg.model_copy(update={"operator": OperatorLayout(**spec["operator"])})
    rows = []
    for line in (work / "input.tsv").read_text().splitlines():
        ts, source, raw = line.split("\t", 2)
        rows.append(Row(int(ts), source, raw))
    row_type = Types.ROW_NAMED(
        ["ts", "source", "message"], [Types.LONG(), Types.STRING(), Types.STRING()]
    )
    # The job's watermark is max time - bound; the messages were built for max - bound - 1.
    lag = f"INTERVAL '{(int(spec['bound_ms']) + 1) / 1000}' SECOND"

    def job(elements: list[Row], marker: Path) -> dict[str, Any]:
        built = time.time()
        for view in ("bench_messages", "detections_checked", CANDIDATES_VIEW):
            t_env.drop_temporary_view(view)
        table = t_env.from_data_stream(
            env.from_collection(elements, type_info=row_type),
            Schema.new_builder()
            .column("ts", DataTypes.BIGINT())
            .column("source", DataTypes.STRING())
            .column("message", DataTypes.STRING())
            .column_by_expression("rowtime", "TO_TIMESTAMP_LTZ(ts, 3)")
            .watermark("rowtime", f"rowtime - {lag}")
            .build(),
        )
        t_env.create_temporary_view("bench_messages", table)
        # What the job's check hands the pattern stage: accepted frames, parsed in the JVM.
        t_env.create_temporary_view(
            "detections_checked",
            t_env.sql_query(
                "SELECT d.camera_id, d.fact_candidate, d.fact_payload, rowtime, "
                "d.error AS reason FROM bench_messages, "
                "LATERAL TABLE(PARSE_DETECTION(CAST(message AS BYTES))) AS d "
                "WHERE source = 'detection'"
            ),
        )
        batches = candidate_batches(t_env, cfg).flat_map(
            Marked(BatchFacts(cfg.facts), str(marker)), output_type=FACT_ROW
        )
        others = t_env.to_data_stream(
            t_env.sql_query(
                "SELECT source, message FROM bench_messages WHERE source <> 'detection'"
            )
        ).flat_map(TaggedFacts(cfg, str(marker)), output_type=FACT_ROW)
        alert_stream = build_cep(batches.union(others), cfg)
        submitted = time.time()
        alerts: Counter[str] = Counter()
        with alert_stream.execute_and_collect("cep-throughput") as results:
            for alert in results:
                alerts[json.loads(alert)["pattern"]] += 1
        ended = time.time()
        first = float(marker.read_text())
        return {
            "build_s": round(submitted - built, 3),
            "submit_to_first_s": round(first - submitted, 3),
            "processing_s": round(ended - first, 3),
            "submit_to_end_s": round(ended - submitted, 3),
            "alerts": sum(alerts.values()),
            "alerts_per_pattern": {p.name: alerts[p.name] for p in cfg.patterns},
        }

    warmup = int(spec["warmup"])
    warm = job(rows[:warmup], work / "warm.mark")["submit_to_end_s"] if warmup else None
    timed = job(rows, work / "first.mark")
    result = {"jvm_start_s": round(jvm_s, 3), "warmup_job_s": warm,
              "parallelism": int(spec["parallelism"]), **timed}  # fmt: skip
    (work / "result.json").write_text(json.dumps(result))


def _stamp(marker: str) -> None:
    """The first element to reach Python (of either input) writes the time; later ones not."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(repr(time.time()))


class Marked(FlatMapFunction):
    """A fact function that stamps when its first element reached Python."""

    def __init__(self, inner: ToFacts, marker: str) -> None:
        self.inner, self.marker, self.seen = inner, marker, False

    def open(self, runtime_context: RuntimeContext) -> None:
        self.inner.open(runtime_context)

    def flat_map(self, value: Row) -> Iterator[Row]:
        if not self.seen:
            self.seen = True
            _stamp(self.marker)
        yield from self.inner.flat_map(value)


class TaggedFacts(FlatMapFunction):
    """`ToFacts` of the row's source (window, risk); stamps when it first reached Python."""

    def __init__(self, cfg: CepConfig, marker: str) -> None:
        self.parts = {
            s: ToFacts(s, cfg.facts, key_slots=cfg.operator.key_slots) for s in ("window", "risk")
        }
        self.marker, self.seen = marker, False

    def open(self, runtime_context: RuntimeContext) -> None:
        for part in self.parts.values():
            part.open(runtime_context)

    def flat_map(self, value: Row) -> Iterator[Row]:
        if not self.seen:
            self.seen = True
            _stamp(self.marker)
        yield from self.parts[value[0]].flat_map(value[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=1000, help="simulated cameras")
    parser.add_argument("--duration-s", type=int, default=60, help="event-time seconds, 1 fps")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--smoke", action="store_true", help="tiny run (CI): 10 cameras, 70 s")
    parser.add_argument("--window-s", type=int, default=10, help="window stats length")
    parser.add_argument("--bound-ms", type=int, default=5000, help="watermark bound")
    parser.add_argument("--parallelism", type=int, default=1, help="Flink parallelism")
    parser.add_argument(
        "--warmup", type=int, default=2000, help="messages in the warm-up job; 0: none"
    )
    parser.add_argument(
        "--flink-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Flink option for variant (b) over the job's, e.g. python.state.cache-size=4000",
    )
    parser.add_argument(
        "--key-slots", type=int, help="the operator's key slots (default: patterns.yaml)"
    )
    parser.add_argument(
        "--step-ms", type=int, help="the operator's timer step (default: patterns.yaml)"
    )
    parser.add_argument("--flink-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flink_child:
        _flink_child(args.flink_child)
        return 0
    if args.smoke:
        args.cameras, args.duration_s, args.warmup = 10, 70, 0
    cfg = load(PATTERNS)
    operator = cfg.operator.model_copy(
        update={k: v for k, v in (("key_slots", args.key_slots), ("step_ms", args.step_ms)) if v}
    )
    with tempfile.TemporaryDirectory(prefix="cep-sim-") as tmp:
        sim_out = Path(tmp) / "detections.jsonl"
        command = simulate(
            args.cameras, args.duration_s, sim_out, SMOKE_SCENE if args.smoke else []
        )
        messages = build_messages(sim_out, args.window_s, args.bound_ms, cfg.verdict_levels())
    load_start = os.getloadavg()[0]  # a shared machine skews the rates: keep the load beside them
    sources = Counter(src for _, src, _ in messages)
    print(f"input: {dict(sources)} messages; pure engine ...", flush=True)
    pure = run_pure(messages, cfg, args.bound_ms)
    print(f"pure: {pure}", flush=True)
    # The job's own Python options (state cache), then what the caller set.
    cache = str(JobConfig.model_fields["python_state_cache_size"].default)
    flink_conf = {"python.state.cache-size": cache, "python.map-state.read-cache-size": cache}
    flink_conf.update(option.split("=", 1) for option in args.flink_conf)
    flink = run_flink(
        messages,
        PATTERNS,
        operator,
        args.bound_ms,
        args.warmup,
        args.parallelism,
        flink_conf,
        timeout_s=300 if args.smoke else 3600,
    )
    print(f"flink: {flink}", flush=True)
    result = {
        "config": {
            "cameras": args.cameras,
            "duration_s": args.duration_s,
            "fps": 1,
            "window_s": args.window_s,
            "bound_ms": args.bound_ms,
            "patterns": [p.name for p in cfg.patterns],
            "operator": operator.model_dump(),
            "simulator": " ".join(command[2:]),
            "smoke": args.smoke,
            "cpus": os.cpu_count(),
            "flink_conf": flink_conf,
            "load_avg_1m": {"start": load_start, "end": os.getloadavg()[0]},
            "flink_timing": "first element in the Python worker -> end of job (collect done); "
            "JVM start and a warm-up job excluded",
        },
        "input": {"messages": len(messages), **{f"{k}_messages": v for k, v in sources.items()}},
        "variants": {"pure_engine": pure, "flink_operator": flink},
        "alerts_agree": pure["alerts_per_pattern"] == flink["alerts_per_pattern"],
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / "cep_throughput.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\npure engine : {pure['facts_per_s']:>9} facts/s  "
        f"{pure['detection_events_per_s']:>9} detection events/s  "
        f"({pure['facts']} facts in {pure['match_s']} s; derive {pure['derive_s']} s)"
    )
    print(f"flink       : {flink['detection_events_per_s']:>9} detection events/s  "
          f"(processing {flink['processing_s']} s, from submit {flink['submit_to_end_s']} s, "
          f"JVM start {flink['jvm_start_s']} s)")  # fmt: skip
    print(f"alerts pure : {pure['alerts_per_pattern']}")
    print(f"alerts flink: {flink['alerts_per_pattern']}  agree={result['alerts_agree']}")
    print(f"wrote {path}")
    if not result["alerts_agree"]:
        print("FAILED: the Flink stage's alerts differ from the plain engine's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
