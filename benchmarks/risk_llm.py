"""The risk stage's LLM path against the local stub server: concurrency, key pool, filter + cache.

Three measurements, each against a fresh `stack/openai_stub.py` subprocess (no paid API):

1. concurrency: stub latency 2 s, `scheduler.max_in_flight` 100, generous key budgets ->
   achieved requests/s (goal >= 0.95 x 100 / 2 s = 47.5) and peak in flight at the stub.
2. key pool: 4 keys, stub capped at 600 requests/min per key, pool paced at the same 600 ->
   achieved requests/s versus the combined 40/s (goal >= 0.95) and share of 429s (goal < 1 %),
   with tier-high tasks offered above the cap.
3. filter + cache: a simulator stream (`python -m simulator`, with ground truth) through the
   risk stage with the smart filter and the real Redis verdict cache -> LLM calls avoided
   versus one call per group (goal >= 50 %), and whether every ground-truth near-miss group
   was assessed by the LLM or the cache rather than only the heuristic.
5. near-duplicate cache: a simulator stream whose crops are re-rendered every frame
   (`--rendered-crops`: no two frames share bytes, as on live video) through the assessor in
   event-time order, one group after the other, with the stub deciding from the pixels; the
   exact-hash cache alone and with the near-duplicate cache at several distances -> hit
   rates, calls, and marked (near-miss) crops that did not get `high` (must be 0: a marked
   crop never got an unmarked crop's cached verdict). In-process, no Flink: the cache logic
   is the assessor's.
4. batching: the same paced stream of LLM-worthy groups at `batch.max_images` 1, 4 and 8, stub
   with per-request latency (+- jitter) and a per-key limit, pool paced at that limit -> calls,
   tokens (as the stub booked them) per group, p50/p99 verdict latency (from the frame entering
   the stage to its verdict leaving it), fallbacks.

Every case checks that it counted one verdict per group it sent and the run exits 1 when one
did not (the row says `verdicts_match: false`).

(1) and (2) run twice, side by side: `flink` is the real PyFlink stage (`build_risk_stage`) on
a local mini cluster in a child process, after an unmeasured warm-up job; `asyncio` is
`udfs.risk.assessor.Assessor` driven directly, leased and settled by an in-process `KeyPool` as
the Flink gate does, without Flink's per-record Python and bundle overhead. (3) runs through
the Flink stage (replayed at 10x real time with 10x shorter stub latency and cache TTL). All
Flink jobs run one after the other in a single child process. Keys are made-up secrets handed
over in a file (`TRAFFIC_LLM_API_KEYS_FILE`) and never printed; their named fields in
`keypool:health` are removed afterwards.

    .venv/bin/python -m benchmarks.risk_llm                 # full run, several minutes
    .venv/bin/python -m benchmarks.risk_llm --smoke --results-dir /tmp/r
    .venv/bin/python -m benchmarks.risk_llm --only batching  # one measurement, merged into
                                                             # the existing results file
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.request import urlopen

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
KEYS_FILE_ENV = "TRAFFIC_LLM_API_KEYS_FILE"
Sample = tuple[float, int, int, int]  # (monotonic s, requests, ok, in flight) at the stub
CACHE_TTL_S = 300  # the default cache.ttl_s, in real time
GENEROUS = {"requests_per_min": 1_000_000, "tokens_per_min": 10**9, "daily_spend_cap_usd": 1e6}


@dataclass(frozen=True)
class Sizes:
    """How much load each measurement offers (smoke: just enough to produce figures)."""

    conc_tasks: int = 3000
    conc_latency_ms: float = 2000.0
    max_in_flight: int = 100
    pool_keys: int = 4
    pool_rpm: int = 600
    pool_seconds: float = 90.0
    pool_offered_per_s: float = 50.0
    pool_latency_ms: float = 500.0
    sim_cameras: int = 20
    sim_duration: str = "5m"
    sim_near_miss_rate: float = 20.0
    sim_latency_ms: float = 200.0
    sim_speedup: float = 10.0
    warmup_tasks: int = 1000  # Flink only: an unmeasured job first (0: none)
    batch_sizes: tuple[int, ...] = (1, 4, 8)
    batch_offered_per_s: float = 20.0
    batch_seconds: float = 30.0
    batch_latency_ms: float = 800.0
    batch_jitter_ms: float = 200.0
    batch_rpm: int = 150  # per key, all `pool_keys` keys: 4 x 150/min = 10 requests/s
    batch_max_wait_ms: int = 200
    near_cameras: int = 10
    near_duration: str = "10m"
    near_miss_rate: float = 30.0
    near_distances: tuple[int, ...] = (2, 4, 6)
    near_detector_frames: int = 90  # per sample camera (3), 1 frame/s of its panned photo


SMOKE = Sizes(
    warmup_tasks=0,
    conc_tasks=200,
    pool_seconds=8.0,
    sim_cameras=2,
    sim_duration="1m",
    sim_near_miss_rate=300.0,
    batch_seconds=5.0,
    batch_latency_ms=200.0,
    batch_jitter_ms=50.0,
    near_cameras=2,
    near_duration="2m",
    near_miss_rate=120.0,
    near_detector_frames=8,
)
KINDS = ("concurrency", "key_pool", "filter_cache", "batching", "near_cache")
STAMP = '"captured_at_ms":1700000000000'  # worthy_events' event time, stamped on entry


# -- the stub server ------------------------------------------------------------------------


class Stub:
    """One `stack.openai_stub` subprocess; `stats()` reads its GET /stats."""

    def __init__(
        self, latency_ms: float, rpm_per_key: int | None = None, jitter_ms: float = 0.0
    ) -> None:
        cmd = [sys.executable, "-m", "stack.openai_stub", "--port", "0"]
        cmd += ["--latency-ms", f"{latency_ms:g}", "--jitter-ms", f"{jitter_ms:g}"]
        if rpm_per_key is not None:
            cmd += ["--rpm-per-key", str(rpm_per_key)]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on"):
            self.close()
            raise RuntimeError(f"stub did not start: {line!r}")
        self.url = "http://" + line.split()[-1]
        self.base_url = self.url + "/v1"

    def stats(self) -> dict[str, Any]:
        with urlopen(self.url + "/stats", timeout=5) as resp:
            return dict(json.load(resp))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def stub_server(
    latency_ms: float, rpm_per_key: int | None = None, jitter_ms: float = 0.0
) -> Iterator[Stub]:
    stub = Stub(latency_ms, rpm_per_key, jitter_ms)
    try:
        yield stub
    finally:
        stub.close()


class Poller:
    """Samples the stub's counters every `period_s` in a thread: request rates over time are
    read off the stub, the one place every path's calls end up."""

    def __init__(self, stub: Stub, period_s: float = 0.25) -> None:
        self.stub, self.period_s = stub, period_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                s = self.stub.stats()
                ok = s["outcomes"].get("ok", 0)
                self.samples.append((time.monotonic(), s["requests"], ok, s["in_flight"]))
            self._stop.wait(self.period_s)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def steady_rate(samples: list[Sample], col: int, lo: float = 0.1) -> float:
    """Per second over the middle of the run (from `lo` to 1 - `lo` of the final count), so
    the mini cluster's start and the last stragglers do not dilute the figure."""
    final = samples[-1][col] if samples else 0
    if final <= 0:
        return 0.0
    first = next(s for s in samples if s[col] >= lo * final)
    last = next(s for s in samples if s[col] >= (1 - lo) * final)
    if last[0] <= first[0]:
        return 0.0
    return (last[col] - first[col]) / (last[0] - first[0])


def active_seconds(samples: list[Sample]) -> float:
    """From the first sample that saw a request to the first that saw them all answered."""
    final = samples[-1][1] if samples else 0
    if final <= 0:
        return 0.0
    first = next(s[0] for s in samples if s[1] > 0)
    last = next((s[0] for s in samples if s[1] >= final and s[3] == 0), samples[-1][0])
    return last - first


# -- inputs ---------------------------------------------------------------------------------


def worthy_events(n: int, run: str) -> list[str]:
    """n frames with one LLM-worthy group each (car + pedestrian, ttc 1.5 s: tier high), every
    crop distinct so the cache can never answer."""
    import base64

    from contract import DetectionEvent, sha256_hex
    from tests.factories import CROP_BYTES, detection_dict

    out = []
    for i in range(n):
        crop = CROP_BYTES + f"{run}-{i}".encode()
        raw = detection_dict(camera_id=f"bench-{i % 8}", frame_id=i, signal_state=None)
        group = raw["groups"][0]
        group["crop"] = {**group["crop"], "data_b64": base64.b64encode(crop).decode()}
        group["crop_sha256"] = sha256_hex(crop)
        out.append(DetectionEvent.model_validate(raw).to_json().decode())
    return out


def write_keys(folder: Path, n: int, run: str) -> tuple[Path, list[str]]:
    """Made-up API keys in a file (only its path travels in env vars and logs)."""
    keys = [f"sk-bench-{run}-{i:02d}-SECRET" for i in range(n)]
    path = folder / "llm-keys.txt"
    path.write_text("\n".join(keys) + "\n")
    path.chmod(0o600)
    return path, keys


def key_names(sizes: Sizes, run: str) -> list[str]:
    """Public key ids of this run's keys: they name its fields in the `keypool:health` hash
    that the gate writes to Redis, so they can be told apart and removed afterwards."""
    return [f"bench-{run}-k{i}" for i in range(sizes.pool_keys)]


def risk_config(
    base_url: str,
    sizes: Sizes,
    run: str,
    budget: dict[str, Any] = GENEROUS,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    """RiskConfig data: every key named and given `budget` (generous by default)."""
    keys = [{"name": name, **budget} for name in key_names(sizes, run)]
    data: dict[str, Any] = {
        "llm": {"base_url": base_url, "timeout_s": 30, "backoff_s": 0.05},
        "scheduler": {"max_in_flight": sizes.max_in_flight},
        "pool": {"keys": keys, "default_key": budget},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


# -- the two ways to drive the stage ---------------------------------------------------------


@dataclass
class Case:
    """One measurement on one path: its own stub (and sampler), inputs and stage config."""

    kind: str  # one of KINDS
    path: str  # flink | asyncio
    stub: Stub
    poll: Poller
    lines: list[str]
    cfg: dict[str, Any]
    rate: float | None  # events offered per second; None: all at once
    labels: list[dict[str, Any]]  # near-miss ground truth (filter_cache only)


def run_flink(cases: list[Case], keys_file: Path, work: Path) -> list[tuple[list[Any], float]]:
    """Every Flink case as one job after the other in one child process (one JVM start for
    all), whose JVM and Python workers get the key file in their env; per case: the verdicts
    and the job's wall time."""
    logs = work / "flink-log"
    logs.mkdir(exist_ok=True)
    jobs: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        events = work / f"events-{i}.jsonl"
        events.write_text("\n".join(case.lines) + "\n")
        jobs.append(
            {"events": str(events), "count": len(case.lines), "out": str(work / f"out-{i}.jsonl"),
             "cfg": case.cfg, "rate": case.rate, "name": f"risk-llm-{case.kind}",
             "stamp": case.kind == "batching"}
        )  # fmt: skip
    spec, timings = work / "flink-jobs.json", work / "flink-timings.json"
    spec.write_text(json.dumps({"jobs": jobs, "timings": str(timings)}))
    env = {k: v for k, v in os.environ.items() if k != "TRAFFIC_LLM_API_KEYS"}
    env |= {KEYS_FILE_ENV: str(keys_file), "FLINK_LOG_DIR": str(logs), "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.risk_llm", "--flink-child", str(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if child.returncode != 0:
        raise RuntimeError(f"flink child failed:\n{child.stdout[-2000:]}\n{child.stderr[-4000:]}")
    walls = json.loads(timings.read_text())
    out = []
    for job, wall in zip(jobs, walls, strict=True):
        out_file = Path(job["out"])
        text = out_file.read_text() if out_file.exists() else ""
        out.append(([json.loads(line) for line in text.splitlines() if line.strip()], wall))
    return out


def python_bundle_conf() -> dict[str, str]:
    """The session cluster's Python bundle settings (flink-conf/config.yaml), so the mini
    cluster batches records to the Python workers as the deployed job does."""
    import yaml

    raw = yaml.safe_load((REPO / "flink-conf" / "config.yaml").read_text()) or {}
    bundle = raw.get("python", {}).get("fn-execution", {}).get("bundle", {})
    return {f"python.fn-execution.bundle.{k}": str(v) for k, v in bundle.items()}


def flink_child(spec_path: str) -> None:
    """Child process: per job, a datagen index sequence (paced at `rate`/s) -> event line ->
    `build_risk_stage` -> verdict lines appended to a file. `env.execute`, not
    `execute_and_collect`: the latter fails on this stage with a uid hash collision on
    "risk-keypool-gate"."""
    from pyflink.common import Configuration, Row, Types
    from pyflink.datastream import (
        MapFunction,
        ProcessFunction,
        RuntimeContext,
        StreamExecutionEnvironment,
    )
    from pyflink.table import StreamTableEnvironment

    from udfs.risk.config import RiskConfig
    from udfs.risk.flink import build_risk_stage

    class LineAt(MapFunction):
        """Row(i) -> line i of the events file (read once per worker); `stamp`: its event
        time set to now, the moment it enters the stage (verdict latency)."""

        def __init__(self, path: str, stamp: bool) -> None:
            self.path, self.stamp = path, stamp
            self.lines: list[str] = []

        def open(self, runtime_context: RuntimeContext) -> None:
            self.lines = Path(self.path).read_text().splitlines()

        def map(self, value: Any) -> str:
            line = self.lines[int(value[0])]
            return stamped(line) if self.stamp else line

    class WriteLines(ProcessFunction):
        """Appends every verdict (JSON, the last field of a (camera, verdict) row) to the file,
        with the time it left the stage (`_out_ms`)."""

        def __init__(self, path: str) -> None:
            self.path = path
            self.file: Any = None

        def open(self, runtime_context: RuntimeContext) -> None:
            self.file = open(self.path, "a")  # noqa: SIM115 (closed in close())

        def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Iterator[str]:
            self.file.write(with_out_ms(value[1]) + "\n")
            yield from ()

        def close(self) -> None:
            if self.file is not None:
                self.file.close()

    spec = json.loads(Path(spec_path).read_text())
    walls: list[float] = []
    for job in spec["jobs"]:
        conf = Configuration()
        conf.set_string("python.executable", sys.executable)
        conf.set_string("python.client.executable", sys.executable)
        conf.set_string("restart-strategy.type", "none")
        for key, value in python_bundle_conf().items():
            conf.set_string(key, value)
        env = StreamExecutionEnvironment.get_execution_environment(conf)
        env.set_parallelism(1)
        t_env = StreamTableEnvironment.create(env)
        t_env.execute_sql(
            "CREATE TEMPORARY TABLE idx (i BIGINT) WITH ('connector' = 'datagen', "
            f"'rows-per-second' = '{job['rate'] or 100_000:g}', 'fields.i.kind' = 'sequence', "
            f"'fields.i.start' = '0', 'fields.i.end' = '{job['count'] - 1}')"
        )
        ids = t_env.to_data_stream(t_env.from_path("idx"))
        events = ids.map(LineAt(job["events"], job["stamp"]), output_type=Types.STRING())
        verdicts = build_risk_stage(events, RiskConfig.model_validate(job["cfg"])).verdicts
        verdicts.process(WriteLines(job["out"]), output_type=Types.STRING()).print()
        started = time.monotonic()
        env.execute(job["name"])
        walls.append(round(time.monotonic() - started, 1))
        Path(spec["timings"]).write_text(json.dumps(walls))


def stamped(line: str) -> str:
    """The event with its event time set to now (worthy_events lines only)."""
    return line.replace(STAMP, f'"captured_at_ms":{int(time.time() * 1000)}', 1)


def with_out_ms(verdict_json: str) -> str:
    """The verdict JSON with `_out_ms`: when it left the stage (verdict latency)."""
    return verdict_json[:-1] + f',"_out_ms":{time.time() * 1000:.1f}}}'


def run_asyncio(case: Case, keys_file: Path) -> tuple[list[dict[str, Any]], float]:
    """`Assessor` directly: route each frame, batch the tasks (`batching.BatchBuffer`, as the
    operator does; batches of one leave at once), lease a key per batch from an in-process
    pool like the Flink gate, assess concurrently, settle each result as it finishes."""
    started = time.monotonic()
    stamp = case.kind == "batching"
    verdicts = asyncio.run(_drive_assessor(case.cfg, case.lines, keys_file, case.rate, stamp))
    return verdicts, round(time.monotonic() - started, 1)


async def _drive_assessor(
    cfg_data: dict[str, Any], lines: list[str], keys_file: Path, rate: float | None, stamp: bool
) -> list[dict[str, Any]]:
    from contract import DetectionEvent, RiskAssessment, parse
    from udfs.risk import records
    from udfs.risk.assessor import Assessor, now_ms
    from udfs.risk.batching import BatchBuffer
    from udfs.risk.config import RiskConfig
    from udfs.risk.keypool import KeyPool, load_keys

    cfg = RiskConfig.model_validate(cfg_data)
    secrets, specs = load_keys(cfg, {KEYS_FILE_ENV: str(keys_file)})
    kv = None
    if cfg.cache.redis_url:
        import redis.asyncio as aioredis

        kv = aioredis.Redis.from_url(cfg.cache.redis_url, socket_timeout=2)
    assessor = Assessor(cfg, secrets, specs, kv)
    pool, buffer = KeyPool(specs, cfg.pool), BatchBuffer(cfg.batch)
    per_image = cfg.llm.est_prompt_tokens + cfg.llm.max_tokens
    verdicts: list[str] = []
    pending: set[asyncio.Task[None]] = set()

    async def assess(batch: records.RiskBatch) -> None:
        for result in await assessor.assess_batch(batch):
            records.settle(pool, result, now_ms())
            verdicts.append(with_out_ms(result.verdict.to_json().decode()))

    def send_due(flush_all: bool = False) -> None:
        for due in buffer.take_due(now_ms(), flush_all):
            batch = records.RiskBatch(tasks=tuple(w.task for w in due))
            lease = pool.acquire(now_ms(), batch.tier, per_image * len(due))
            update: dict[str, Any] = (
                {"refused": f"no key budget within {batch.tier} max wait"}
                if lease is None
                else {"key_id": lease.key_id, "start_ms": lease.start_ms,
                      "alternates": lease.alternates, "reserved_tokens": per_image * len(due)}
            )  # fmt: skip
            job = asyncio.create_task(assess(batch.model_copy(update=update)))
            pending.add(job)
            job.add_done_callback(pending.discard)

    t0 = time.monotonic()
    for i, line in enumerate(lines):
        if rate:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        for item in records.route(parse(DetectionEvent, stamped(line) if stamp else line),
                                  cfg, True):  # fmt: skip
            if isinstance(item, RiskAssessment):
                verdicts.append(with_out_ms(item.to_json().decode()))
            else:
                buffer.add(str(i), item, now_ms())
        send_due()
    send_due(flush_all=True)
    while pending:
        await asyncio.gather(*list(pending))
    await assessor.close()
    if kv is not None:
        await kv.aclose()
    return [json.loads(v) for v in verdicts]


# -- the measurements ------------------------------------------------------------------


@dataclass(frozen=True)
class SimInput:
    """The simulator's stream, its near-miss labels and the Redis of the verdict cache."""

    lines: list[str]
    labels: list[dict[str, Any]]
    redis_url: str


def open_case(
    stack: contextlib.ExitStack,
    kind: str,
    path: str,
    sizes: Sizes,
    run: str,
    sim: SimInput | None,
    images: int = 1,
) -> Case:
    """Start the case's stub and sampler (closed by `stack`) and build its config."""
    labels: list[dict[str, Any]] = []
    if kind == "batching":
        limit = {"requests_per_min": sizes.batch_rpm}
        stub = stack.enter_context(
            stub_server(sizes.batch_latency_ms, sizes.batch_rpm, sizes.batch_jitter_ms)
        )
        batch = {"max_images": images, "max_wait_ms": sizes.batch_max_wait_ms}
        cfg = risk_config(stub.base_url, sizes, run, limit, batch=batch, llm={"timeout_s": 20})
        rate = sizes.batch_offered_per_s
        tag = f"{run}-{kind}{images}-{path}"
        lines = worthy_events(round(rate * sizes.batch_seconds), tag)
    elif kind == "concurrency":
        stub = stack.enter_context(stub_server(sizes.conc_latency_ms))
        cfg = risk_config(stub.base_url, sizes, run, llm={"timeout_s": 20})
        lines, rate = worthy_events(sizes.conc_tasks, f"{run}-{kind}-{path}"), None
    elif kind == "key_pool":
        stub = stack.enter_context(stub_server(sizes.pool_latency_ms, sizes.pool_rpm))
        cfg = risk_config(stub.base_url, sizes, run, {"requests_per_min": sizes.pool_rpm})
        rate = sizes.pool_offered_per_s
        lines = worthy_events(round(rate * sizes.pool_seconds), f"{run}-{kind}-{path}")
    else:
        assert sim is not None
        stub = stack.enter_context(stub_server(sizes.sim_latency_ms))
        lines, labels = sim.lines, sim.labels
        cache = {"redis_url": sim.redis_url, "ttl_s": cache_ttl(sizes)}
        llm = {"prompt_version": f"bench-{run}-{path}", "timeout_s": 10}
        cfg = risk_config(stub.base_url, sizes, run, cache=cache, llm=llm)
        rate = sizes.sim_cameras * sizes.sim_speedup  # 1 frame/s per camera, sped up
    poll = stack.enter_context(Poller(stub))
    return Case(kind, path, stub, poll, lines, cfg, rate, labels)


def warmup_case(stack: contextlib.ExitStack, sizes: Sizes, run: str) -> Case:
    """An unmeasured Flink job on a stub of its own, run first: the first job of a fresh JVM
    and Python worker is slower (JIT, imports; concurrency 44-46 req/s first versus 48-50
    later in one child process), a one-off that a long-running job pays at start."""
    stub = stack.enter_context(stub_server(200.0))
    cfg = risk_config(stub.base_url, sizes, run, llm={"timeout_s": 20})
    lines = worthy_events(sizes.warmup_tasks, f"{run}-warmup")
    return Case("warmup", "flink", stub, stack.enter_context(Poller(stub)), lines, cfg, None, [])


def cache_ttl(sizes: Sizes) -> int:
    """The default TTL in replay time: a sped-up replay shrinks it by the same factor."""
    return max(1, round(CACHE_TTL_S / sizes.sim_speedup))


def _sources(verdicts: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(v["source"] for v in verdicts))


def _fallback_reasons(verdicts: list[dict[str, Any]]) -> dict[str, int]:
    """Fallback causes (the note in brackets at the end of the heuristic reason)."""
    notes = Counter(
        v["reason"].rsplit("(", 1)[-1].rstrip(")") for v in verdicts if v["source"] == "fallback"
    )
    return dict(notes.most_common(5))


def finish(case: Case, sizes: Sizes, verdicts: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """The report row of a finished case, from the stub's counters and the verdicts."""
    stats = case.stub.stats()
    row: dict[str, Any] = {"path": case.path, "tasks": len(case.lines), "wall_s": wall}
    row |= {"requests": stats["requests"], "outcomes": stats["outcomes"]}
    row["requests_by_key"] = sorted(stats["by_key"].values(), reverse=True)
    row["verdict_sources"] = _sources(verdicts)
    row["fallback_reasons"] = _fallback_reasons(verdicts)
    row |= counted(case.lines, verdicts)
    if case.kind == "batching":
        row |= batching_row(case, sizes, verdicts, stats)
    elif case.kind == "concurrency":
        goal = 0.95 * sizes.max_in_flight / (sizes.conc_latency_ms / 1000)
        rate = steady_rate(case.poll.samples, 1)
        active = max(active_seconds(case.poll.samples), 1e-9)
        row |= {
            "stub_latency_ms": sizes.conc_latency_ms,
            "max_in_flight": sizes.max_in_flight,
            "achieved_req_per_s": round(rate, 2),
            "first_to_last_req_per_s": round(stats["requests"] / active, 2),
            "peak_in_flight": stats["peak_in_flight"],
            "goal_req_per_s": goal,
            "goal_met": rate >= goal,
        }
    elif case.kind == "key_pool":
        cap = sizes.pool_keys * sizes.pool_rpm / 60
        ok_rate = steady_rate(case.poll.samples, 2)
        share_429 = stats["outcomes"].get("429", 0) / max(1, stats["requests"])
        row |= {
            "offered_per_s": case.rate,
            "offered_s": sizes.pool_seconds,
            "keys": sizes.pool_keys,
            "requests_per_min_per_key": sizes.pool_rpm,
            "stub_latency_ms": sizes.pool_latency_ms,
            "combined_cap_req_per_s": cap,
            "achieved_req_per_s": round(ok_rate, 2),
            "achieved_vs_cap": round(ok_rate / cap, 3),
            "share_429": round(share_429, 4),
            "fallbacks": row["verdict_sources"].get("fallback", 0),
            "goal_met": ok_rate >= 0.95 * cap and share_429 < 0.01,
        }
    else:
        row |= filter_cache_row(case, sizes, verdicts, stats["requests"])
    return row


def counted(lines: list[str], verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Groups sent versus verdicts counted: exactly one verdict per group, or the row fails."""
    sent = {(e["camera_id"], e["frame_id"], g["group_id"])
            for e in map(json.loads, lines) for g in e["groups"]}  # fmt: skip
    got = Counter((v["camera_id"], v["frame_id"], v["group_id"]) for v in verdicts)
    ok = set(got) == sent and set(got.values()) <= {1}
    return {"groups_sent": len(sent), "verdicts_counted": len(verdicts), "verdicts_match": ok}


def percentile(values: list[float], q: int) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-len(ordered) * q // 100)  # ceil(n q / 100)
    return round(ordered[min(len(ordered), max(1, rank)) - 1], 1)


def batching_row(
    case: Case, sizes: Sizes, verdicts: list[dict[str, Any]], stats: dict[str, Any]
) -> dict[str, Any]:
    """Calls, tokens and verdict latency (stage entry to exit) at one batch size."""
    latency = [v["_out_ms"] - v["captured_at_ms"] for v in verdicts]
    llm = sum(1 for v in verdicts if v["source"] == "llm")
    answered = sum(stats["outcomes"].get(o, 0) for o in ("ok", "partial", "malformed"))
    return {
        "max_images": case.cfg["batch"]["max_images"],
        "max_wait_ms": sizes.batch_max_wait_ms,
        "offered_per_s": case.rate,
        "offered_s": sizes.batch_seconds,
        "stub_latency_ms": sizes.batch_latency_ms,
        "stub_jitter_ms": sizes.batch_jitter_ms,
        "keys": sizes.pool_keys,
        "requests_per_min_per_key": sizes.batch_rpm,
        "calls": stats["requests"],
        "calls_answered": answered,
        "calls_429": stats["outcomes"].get("429", 0),
        "batch_sizes": stats.get("batch_sizes", {}),
        "tokens": stats.get("tokens", 0),
        "llm_verdicts": llm,
        "tokens_per_llm_verdict": round(stats.get("tokens", 0) / llm, 1) if llm else None,
        "calls_per_group": round(stats["requests"] / max(1, len(case.lines)), 3),
        "verdict_latency_ms": {f"p{q}": percentile(latency, q) for q in (50, 95, 99)},
        "fallbacks": sum(1 for v in verdicts if v["source"] == "fallback"),
    }


def near_cache_rows(sizes: Sizes, work: Path) -> list[dict[str, Any]]:
    """The near-duplicate measurement (module docstring, 5): one row per cache setting."""
    out = work / "sim-rendered.jsonl"
    cmd = [sys.executable, "-m", "simulator", "--sink", "jsonl", "--out", str(out), "--seed", "3"]
    cmd += ["--cameras", str(sizes.near_cameras), "--duration", sizes.near_duration]
    cmd += ["--near-miss-rate", f"{sizes.near_miss_rate:g}", "--rendered-crops", "--no-progress"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True, timeout=600)
    lines = [json.loads(row)["value"] for row in out.read_text().splitlines() if row.strip()]
    settings: list[int | None] = [None, *sizes.near_distances]
    rows = [asyncio.run(_near_cache_row(lines, distance)) for distance in settings]
    detected = detector_lines(sizes.near_detector_frames, work)
    if detected:
        for distance in settings:
            row = asyncio.run(_near_cache_row(detected, distance))
            rows.append(row | {"crops": "the detector's own (sample cameras)"})
    return rows


def detector_lines(frames: int, work: Path) -> list[str]:
    """Detection events of the bundled sample cameras as the detector publishes them (its
    model, tracker, grouping and crops: real photos panned like a slow camera), through a
    fresh Kafka topic; empty when the sample photos are not fetched."""
    from detector.cli import publish_camera
    from detector.sample import CACHE, ULTRALYTICS_WHEEL_GLOB, build_sample
    from stack.config import Endpoints
    from stack.topics import ensure_topics
    from tests.kafka_io import read_all

    if frames <= 0 or not list(CACHE.glob(ULTRALYTICS_WHEEL_GLOB)):
        print("near cache: no sample photos (./dev setup fetches them): detector rows skipped")
        return []
    bootstrap, topic = Endpoints.from_env().kafka_bootstrap, f"bench-near-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: 1})
    folders = build_sample(frames, work / "sample")
    start_ms = int(time.time() * 1000)
    for camera, folder in folders.items():
        publish_camera(camera, str(folder), bootstrap=bootstrap, topic=topic, fps=1.0,
                       start_ms=start_ms, limit=None, quiet=True)  # fmt: skip
    return [value.decode() for _, value in read_all(bootstrap, topic, idle_s=3) if value]


async def _near_cache_row(lines: list[str], distance: int | None) -> dict[str, Any]:
    """Every LLM-worthy group in event-time order through one assessor whose caches live in
    memory (their TTL by event time: the video's), against an in-process stub."""
    from contract import DetectionEvent, parse
    from simulator.crops import marker_seen
    from stack import openai_stub
    from udfs.risk import records
    from udfs.risk.assessor import Assessor
    from udfs.risk.config import RiskConfig
    from udfs.risk.keypool import load_keys

    runner, port = await openai_stub.start(openai_stub.StubConfig(latency_ms=0))
    cache = {"redis_url": "redis://in-memory", "near_max_distance": distance}
    cfg = RiskConfig.model_validate({"llm": {"base_url": f"http://127.0.0.1:{port}/v1"},
                                     "cache": cache})  # fmt: skip
    secrets, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": "sk-bench-near-SECRET"})
    assessor = Assessor(cfg, secrets, specs, MemoryKV())
    (key,) = specs
    routed = (t for line in lines for t in records.route(parse(DetectionEvent, line), cfg, True))
    tasks = sorted(
        (t for t in routed if isinstance(t, records.RiskTask)),
        key=lambda t: t.event.captured_at_ms,
    )
    seen: set[tuple[str, int, str]] = set()
    hits: Counter[str] = Counter()
    marked = marked_not_high = unmarked_high = 0
    try:
        for task in tasks:
            result = await assessor.assess(task.model_copy(update={"key_id": key}))
            hits[result.cache_hit or result.verdict.source] += 1
            seen.add((result.verdict.camera_id, result.verdict.frame_id, result.verdict.group_id))
            is_marked = marker_seen(_decoded(task))
            marked += is_marked
            marked_not_high += is_marked and result.verdict.risk_level != "high"
            unmarked_high += not is_marked and result.verdict.risk_level == "high"
        stats = runner.app[openai_stub.STATE].stats()
    finally:
        await assessor.close()
        await runner.cleanup()
    n = max(1, len(tasks))
    return {
        "path": "asyncio",
        "cache": "exact" if distance is None else f"exact + near <= {distance} bits",
        "near_max_distance": distance,
        "crops": "rendered every frame",
        "llm_path_groups": len(tasks),
        "distinct_crops": len({t.group.crop_sha256 for t in tasks}),
        "calls": stats["requests"],
        "exact_hits": hits["exact"],
        "near_hits": hits["near"],
        "exact_hit_pct": round(100 * hits["exact"] / n, 1),
        "near_hit_pct": round(100 * hits["near"] / n, 1),
        "calls_avoided_pct": round(100 * (1 - stats["requests"] / n), 1),
        "marked_groups": marked,
        "marked_not_high": marked_not_high,
        "unmarked_high": unmarked_high,
        "fallbacks": hits["fallback"],
        "verdicts_match": len(seen) == len(tasks),
    }


def _decoded(task: Any) -> Any:
    import base64

    import cv2
    import numpy as np

    raw = base64.b64decode(task.group.crop.data_b64)
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)


class MemoryKV:
    """In-memory get/set for the caches (the Redis commands they use; TTLs by event time in
    the caches themselves)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, name: str) -> bytes | None:
        return self.data.get(name)

    async def set(self, name: str, value: bytes, ex: int | None = None) -> bool:
        self.data[name] = value
        return True


def simulate(sizes: Sizes, work: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Simulator events (the `value` of each JSON line) and the near-miss labels."""
    out = work / "sim.jsonl"
    cmd = [sys.executable, "-m", "simulator", "--sink", "jsonl", "--out", str(out)]
    cmd += ["--cameras", str(sizes.sim_cameras), "--duration", sizes.sim_duration, "--fps", "1"]
    cmd += ["--near-miss-rate", f"{sizes.sim_near_miss_rate:g}", "--no-progress"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True, timeout=600)
    lines = [json.loads(row)["value"] for row in out.read_text().splitlines() if row.strip()]
    truth = [json.loads(row) for row in (work / "sim.truth.jsonl").read_text().splitlines()]
    return lines, [t for t in truth if t["kind"] == "near_miss"]


def incident_groups(
    lines: list[str], labels: list[dict[str, Any]]
) -> tuple[set[tuple[str, int, str]], int]:
    """(camera, frame, group) of every group holding all of a near-miss label's tracks in a
    frame of its span; and how many labels matched no group at all."""
    by_camera: dict[str, list[int]] = {}
    for n, label in enumerate(labels):
        by_camera.setdefault(label["camera_id"], []).append(n)
    found: set[tuple[str, int, str]] = set()
    hit_labels: set[int] = set()
    for line in lines:
        event = json.loads(line)
        for n in by_camera.get(event["camera_id"], []):
            label = labels[n]
            if not label["start_ms"] <= event["captured_at_ms"] <= label["end_ms"]:
                continue
            for group in event["groups"]:
                members = {event["objects"][i].get("track_id") for i in group["member_indices"]}
                if set(label["track_ids"]) <= members:
                    found.add((event["camera_id"], event["frame_id"], group["group_id"]))
                    hit_labels.add(n)
    return found, len(labels) - len(hit_labels)


def filter_cache_row(
    case: Case, sizes: Sizes, verdicts: list[dict[str, Any]], calls: int
) -> dict[str, Any]:
    """Calls made versus one per group (and versus the filter alone); near-miss groups' path."""
    from contract import DetectionEvent, RiskAssessment, parse
    from udfs.risk import records
    from udfs.risk.config import RiskConfig

    cfg = RiskConfig.model_validate(case.cfg)
    groups = worthy = 0
    for line in case.lines:
        for item in records.route(parse(DetectionEvent, line), cfg, True):
            groups += 1
            worthy += not isinstance(item, RiskAssessment)
    source_of = {(v["camera_id"], v["frame_id"], v["group_id"]): v["source"] for v in verdicts}
    incidents, unmatched = incident_groups(case.lines, case.labels)
    by_source = Counter(source_of.get(g, "missing") for g in incidents)
    llm_path = by_source["llm"] + by_source["cache"]
    crops = {v.get("crop_sha256") for v in verdicts if v["source"] in ("llm", "cache")}
    return {
        "cameras": sizes.sim_cameras,
        "duration": sizes.sim_duration,
        "events": len(case.lines),
        "replay_speedup": sizes.sim_speedup,
        "stub_latency_ms": sizes.sim_latency_ms,
        "stub_latency_ms_at_real_time": sizes.sim_latency_ms * sizes.sim_speedup,
        "cache_ttl_s": case.cfg["cache"]["ttl_s"],
        "groups": groups,
        "verdicts": len(verdicts),
        "calls_without_filter_or_cache": groups,
        "llm_worthy_groups": worthy,
        "calls_avoided_by_filter_pct": round(100 * (1 - worthy / max(1, groups)), 1),
        "calls_made": calls,
        "calls_avoided_pct": round(100 * (1 - calls / max(1, groups)), 1),
        "distinct_crops_on_llm_path": len(crops),
        "near_miss_labels": len(case.labels),
        "near_miss_labels_without_group": unmatched,
        "incident_groups": len(incidents),
        "incident_groups_llm_path": llm_path,
        "incident_groups_not_llm_path": len(incidents) - llm_path,
        "incident_group_sources": dict(by_source),
        "goal_met": calls <= 0.5 * groups and llm_path == len(incidents),
    }


# -- report ----------------------------------------------------------------------------------


def runs(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = report.get(kind, {}).get("runs", [])
    return rows


def summary(report: dict[str, Any]) -> str:
    lines = []
    for row in runs(report, "concurrency"):
        lines.append(
            f"concurrency [{row['path']}]: {row['achieved_req_per_s']} req/s steady "
            f"(goal {row['goal_req_per_s']:g}), peak in flight {row['peak_in_flight']}, "
            f"{row['requests']} requests, job {row['wall_s']} s -> goal met: {row['goal_met']}"
        )
    for row in runs(report, "key_pool"):
        lines.append(
            f"key pool [{row['path']}]: {row['achieved_req_per_s']} req/s ok "
            f"({row['achieved_vs_cap']:.3f} of cap {row['combined_cap_req_per_s']:g}), "
            f"429 share {100 * row['share_429']:.2f} %, verdicts {row['verdict_sources']} "
            f"-> goal met: {row['goal_met']}"
        )
    for row in runs(report, "batching"):
        lat = row["verdict_latency_ms"]
        lines.append(
            f"batching [{row['path']}] x{row['max_images']}: {row['calls']} calls for "
            f"{row['groups_sent']} groups, {row['tokens_per_llm_verdict']} tokens per llm "
            f"verdict, verdict latency p50 {lat['p50']} ms p99 {lat['p99']} ms, fallbacks "
            f"{row['fallbacks']}, verdicts match groups: {row['verdicts_match']}"
        )
    for row in runs(report, "near_cache"):
        lines.append(
            f"near cache [{row['cache']}]: {row['llm_path_groups']} groups on the LLM path, "
            f"{row['exact_hit_pct']} % exact hits, {row['near_hit_pct']} % near hits, "
            f"{row['calls']} calls; marked crops {row['marked_groups']}, not high "
            f"{row['marked_not_high']}"
        )
    for row in runs(report, "filter_cache"):
        lines.append(
            f"filter + cache [{row['path']}]: {row['groups']} groups, "
            f"{row['llm_worthy_groups']} LLM-worthy, {row['calls_made']} calls made -> "
            f"{row['calls_avoided_pct']} % avoided; near-miss groups {row['incident_groups']}: "
            f"{row['incident_groups_llm_path']} llm/cache, {row['incident_groups_not_llm_path']} "
            f"not -> goal met: {row['goal_met']}"
        )
    return "\n".join(lines)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.risk_llm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--results-dir", type=Path, default=RESULTS, help="where risk_llm.json goes")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (about 90 s)")
    p.add_argument(
        "--paths",
        default="flink,asyncio",
        help="drivers, comma separated: flink (all three measurements), asyncio (1 and 2, "
        "and 3 too when flink is not given)",
    )
    p.add_argument("--redis-url", default=None, help="verdict cache [stack endpoints]")
    p.add_argument(
        "--only",
        nargs="+",
        choices=KINDS,
        help="just these measurements, merged into an existing results file",
    )
    p.add_argument("--flink-child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = _args(argv)
    if ns.flink_child:
        flink_child(ns.flink_child)
        return 0
    from stack.config import Endpoints

    sizes = SMOKE if ns.smoke else Sizes()
    paths = [p.strip() for p in ns.paths.split(",") if p.strip()]
    if not paths or set(paths) - {"flink", "asyncio"}:
        raise SystemExit(f"--paths: flink and/or asyncio, not {ns.paths!r}")
    redis_url = ns.redis_url or Endpoints.from_env().redis_url
    run = uuid.uuid4().hex[:8]
    report: dict[str, Any] = {
        "command": "python -m benchmarks.risk_llm" + (" --smoke" if ns.smoke else ""),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "sizes": asdict(sizes),
        "paths": {
            "flink": "build_risk_stage on a local PyFlink mini cluster, parallelism 1, "
            "bundle settings of flink-conf/config.yaml, after an unmeasured warm-up job",
            "asyncio": "udfs.risk.assessor.Assessor driven directly, in-process KeyPool gate",
        },
    }
    kinds = tuple(ns.only or KINDS)
    target = ns.results_dir / "risk_llm.json"
    if ns.only and target.exists():  # a partial run replaces its own sections only
        report = json.loads(target.read_text()) | {"cpus": report["cpus"], "paths": report["paths"]}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for kind in kinds:
        report[kind] = {"runs": [], "measured_at": now, "sizes": asdict(sizes),
                        "load_avg_1m": round(os.getloadavg()[0], 2)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="risk-llm-") as tmp:
        work = Path(tmp)
        keys_file, _ = write_keys(work, sizes.pool_keys, run)
        sim = SimInput(*simulate(sizes, work), redis_url) if "filter_cache" in kinds else None
        if "near_cache" in kinds:
            report["near_cache"]["runs"] = near_cache_rows(sizes, work)
            for row in report["near_cache"]["runs"]:
                print(summary_line("near_cache", row), flush=True)
        for path in paths:
            with contextlib.ExitStack() as stack:
                cases = [
                    open_case(stack, kind, path, sizes, run, sim, images)
                    for kind in kinds
                    if kind != "near_cache" and (kind != "filter_cache" or path == paths[0])
                    for images in (sizes.batch_sizes if kind == "batching" else (1,))
                ]
                if not cases:
                    continue
                if path == "flink":
                    warm = [warmup_case(stack, sizes, run)] if sizes.warmup_tasks else []
                    outputs = run_flink(warm + cases, keys_file, work)[len(warm) :]
                else:
                    outputs = [run_asyncio(case, keys_file) for case in cases]
                for case, (verdicts, wall) in zip(cases, outputs, strict=True):
                    row = finish(case, sizes, verdicts, wall)
                    report[case.kind]["runs"].append(row)
                    print(summary_line(case.kind, row), flush=True)
    forget_health(redis_url, key_names(sizes, run))
    ns.results_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    print(f"wrote {target}")
    failed = [f"{k} [{r['path']}]" for k in kinds for r in report[k]["runs"]
              if not r["verdicts_match"]]  # fmt: skip
    failed += [f"near_cache [{r['path']}]: {r['marked_not_high']} marked crops not high"
               for r in runs(report, "near_cache") if r["marked_not_high"]]  # fmt: skip
    if failed:
        print(f"FAILED: verdicts counted != groups sent in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def forget_health(redis_url: str, names: list[str]) -> None:
    """Drop this run's keys from the shared `keypool:health` hash (the dashboard shows it)."""
    import redis

    from contract import redis_keys

    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(redis_url) as client:
        client.hdel(redis_keys.KEYPOOL_HEALTH, *names)


def summary_line(kind: str, row: dict[str, Any]) -> str:
    """Progress line while the suite runs."""
    return kind + " " + json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)})


if __name__ == "__main__":
    sys.exit(main())
