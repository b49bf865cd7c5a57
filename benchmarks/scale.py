"""Benchmark: the scale curve. Steady-state throughput, lag and latency of the whole job versus
simulated cameras, beside the pure Flink SQL ceiling on the same input in the same run.

Load: the simulator's default mix (groups with inline crops, zones, crossings, signal states;
no LLM configured, so the heuristic gives every group its verdict and every stage works),
pre-rendered once and replayed at 1 frame/s per camera on the wall clock
(`benchmarks/replay.py`), so the offered rate does not depend on the simulator's own speed.
Each run gets a fresh input topic and its own output topics, and is cancelled at the end.

Variants, alternating round by round (Flink ones on the local session cluster, parallelism 2):
- job: `jobs/risk_job.py`, every stage on; job1: the same at parallelism 1 (the scaling rule's
  check: what one core's worth of subtasks sustains beside two);
- sql: `benchmarks/sql_baseline_job.py`, the same source, checks and windows in SQL only;
- asyncio / asyncio2: the peer `benchmarks/peers/asyncio_app.py` (the seed's first-stage
  design: one asyncio consumer process writing Redis; asyncio2 runs two in one consumer group,
  one per core): the same windows and heuristic verdicts, no checkpoints, no patterns, no
  Kafka outputs. Its processes report events read and Kafka lag in a status file each second;
- quix / quix2: the same as a Quix Streams application (`benchmarks/peers/quix_app.py`, in
  its own `.venv-quix`), one or two processes.

Figures come from Flink's own metrics, read over REST every few seconds once the warm-up is
over: events read = the Kafka source operator's `numRecordsOut` (the least-squares slope of the
counter over the span is the achieved rate; the replayer's count gives the offered rate the same
way), lag = its `pendingRecords` (records in Kafka not yet read) and the slope of that;
latency (job and peers) = arrival of a window's statistics on Redis pub/sub (`live:stats`) minus the
time the replayer had sent the frame that let the window close (event time >= window end +
watermark bound). The busiest operator chain is the one with the highest
`busyTimeMsPerSecond` at the end (for a peer: its processes' CPU ms per second).

Keeps up (the rule): the replayer offered the load (never > 1 s behind its schedule); the
lag slope is <= 1% of the offered rate (at least 1 record/s: a backlog that grows at all
fails, however small p99 still is) and under a second of input is pending at the end; the
read rate is reported beside the offered one, not judged (over a short span the REST
counters, up to 2 s stale, skew it: 45 of 50/s read with the lag at 0); and, for the job,
>= 99% of the windows that could close arrived with p99
latency < 2 s (the peers too). A run that misses a clause names it (`shortfalls` in the
results file, after "DOES NOT keep up:" on the console). The benchmark asserts what it
measures: a run whose metrics are missing, or whose job failed, exits non-zero.
Writes benchmarks/results/scale.json (or --results-file, e.g. scale-peers.json).
Each run reads and writes its own topics; the views go to Redis database VIEWS_DB, so the
bounded lists the dev stack's dashboard and tests read (database 0) keep their own entries
(pub/sub, where latency is read, spans databases).

    .venv/bin/python -m benchmarks.scale --cameras 500 1000 2000 --rounds 3 --warmup-s 30 \
        --measure-s 60
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from benchmarks.replay import ReplayLog, load_or_render, make_producer, replay
from contract import redis_keys
from stack.config import Endpoints
from stack.flink_cli import cancel, flink_run, job_status
from stack.paths import REPO
from stack.services import Flink
from stack.topics import ensure_topics
from tests.integration.job_harness import output_args, wait_running

RESULTS = REPO / "benchmarks" / "results"
REST = "http://127.0.0.1:8081"
WINDOW_S, BOUND_S, PARTITIONS = 10, 2, 2
SAMPLE_S = 3.0
ENTRIES = {"job": REPO / "jobs" / "risk_job.py", "job1": REPO / "jobs" / "risk_job.py",
           "sql": REPO / "benchmarks" / "sql_baseline_job.py"}  # fmt: skip
# Flink variants at another parallelism than 2: job1 checks the scaling rule's per-core share
# (docs/operations.md, Sizing) against the job at 2 in the same run.
PARALLELISM = {"job1": 1}
VIEWS_DB = 15


def views_url(redis_url: str) -> str:
    """The stack's Redis URL with the benchmark's own database."""
    return urllib.parse.urlsplit(redis_url)._replace(path=f"/{VIEWS_DB}").geturl()


# peer variant -> (module of benchmarks/peers, consumer processes in one group)
PEERS = {"asyncio": ("asyncio_app", 1), "asyncio2": ("asyncio_app", 2),
         "quix": ("quix_app", 1), "quix2": ("quix_app", 2)}  # fmt: skip
QUIX_PYTHON = REPO / ".venv-quix" / "bin" / "python"  # ./dev setup makes it
VARIANTS = [*ENTRIES, *PEERS]


def rest(path: str) -> Any:
    with urllib.request.urlopen(REST + path, timeout=10) as response:
        return json.load(response)


def cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True)
class Sample:
    at_s: float  # wall seconds since the replay started
    read: int  # source numRecordsOut, all subtasks
    pending: int  # source pendingRecords, all subtasks
    sent: int  # records the replayer had handed to Kafka


def metric_query(names: list[str], agg: str) -> str:
    """`get=a,b&agg=...`: the commas must stay literal, the brackets in names are escaped."""
    return "get=" + ",".join(urllib.parse.quote(n, safe="") for n in names) + f"&agg={agg}"


class SourceMetrics:
    """The Kafka source operator's counters of one running job, over REST."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        vertices = rest(f"/jobs/{job_id}")["vertices"]
        source = next(v for v in vertices if v["name"].startswith("Source: detections_raw"))
        self.vertex = source["id"]
        deadline = time.monotonic() + 60
        while True:  # operator metrics show up a fetch interval after the task starts
            listed = rest(f"/jobs/{job_id}/vertices/{self.vertex}/subtasks/metrics")
            found = [m["id"] for m in listed if m["id"].endswith("detections_raw[1].numRecordsOut")]
            if found or time.monotonic() > deadline:
                break
            time.sleep(1)
        if not found:
            raise RuntimeError(f"job {job_id}: no numRecordsOut metric on its Kafka source")
        self.prefix = found[0].removesuffix("numRecordsOut")

    def read(self, patience_s: float = 30.0) -> tuple[int, int]:
        """(records read, records pending in Kafka), summed over subtasks. The Kafka reader
        registers `pendingRecords` only once it has fetched, so wait for it a little."""
        names = [f"{self.prefix}numRecordsOut", f"{self.prefix}pendingRecords"]
        path = f"/jobs/{self.job_id}/vertices/{self.vertex}/subtasks/metrics?"
        deadline = time.monotonic() + patience_s
        while True:
            got = {m["id"]: m["sum"] for m in rest(path + metric_query(names, "sum"))}
            if len(got) == 2:
                return int(got[names[0]]), int(got[names[1]])
            if time.monotonic() > deadline:
                raise RuntimeError(f"source metrics missing after {patience_s:.0f} s: {names}")
            time.sleep(1)


def busiest_chain(job_id: str) -> tuple[str, float]:
    """The operator chain with the highest busy time (ms/s, max over subtasks), shortened."""
    best = ("", -1.0)
    for vertex in rest(f"/jobs/{job_id}")["vertices"]:
        query = metric_query(["busyTimeMsPerSecond"], "max")
        found = rest(f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics?{query}")
        busy = float(found[0].get("max", 0.0)) if found else 0.0
        if busy > best[1]:
            best = (vertex["name"], busy)
    name = best[0]
    return (name if len(name) <= 60 else name[:57] + "..."), round(best[1], 0)


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (per second)."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den if den else 0


def listen(url: str, prefix: str, seen: list[tuple[int, int]], stop: threading.Event) -> None:
    """Record (window end ms, arrival ms) of every window of this run's cameras."""
    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.subscribe(redis_keys.CHANNEL_STATS)
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            doc = json.loads(message["data"])
            if doc["camera_id"].startswith(prefix):
                seen.append((doc["window_end_ms"], int(time.time() * 1000)))
    pubsub.close()


@dataclass
class Run:
    """One variant at one size: what was offered, what Flink read, how late windows were."""

    variant: str
    cameras: int
    round: int
    offered_per_s: float = 0.0
    achieved_per_s: float = 0.0
    replayer_max_behind_ms: int = 0
    lag_start: int = 0
    lag_end: int = 0
    lag_slope_per_s: float = 0.0
    windows_expected: int | None = None
    windows_measured: int | None = None
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    cpu_busy_pct: float = 0.0
    busiest: str = ""
    busiest_ms_per_s: float = 0.0
    load_avg_1m: float = 0.0  # the machine's load when measuring began (others share it)
    taskmanager_died_on_cancel: bool = False  # noted, not a failure: figures are taken before
    problems: list[str] = field(default_factory=list)

    @property
    def keeps_up(self) -> bool:
        return not self.shortfalls

    @property
    def shortfalls(self) -> list[str]:
        """Each part of the keeps-up rule this run missed, in words, so a "no" says why."""
        missed = list(self.problems)
        if self.replayer_max_behind_ms > 1000:
            missed.append(f"replayer {self.replayer_max_behind_ms:,} ms behind its schedule")
        slope_limit = max(0.01 * self.offered_per_s, 1.0)
        if self.lag_slope_per_s > slope_limit:
            missed.append(f"lag grows {self.lag_slope_per_s:+,.1f}/s > {slope_limit:,.1f}/s")
        if self.lag_end > self.offered_per_s:
            missed.append(f"{self.lag_end:,} pending at the end > 1 s of input")
        if self.variant == "sql":  # the job and the peers deliver windows; the baseline not
            return missed
        if not self.windows_expected or self.windows_measured is None:
            missed.append("no windows could be measured")
        elif self.windows_measured < 0.99 * self.windows_expected:
            missed.append(f"windows {self.windows_measured}/{self.windows_expected} < 99%")
        if self.latency_ms_p99 is None or self.latency_ms_p99 >= 2000:
            missed.append(f"p99 {self.latency_ms_p99} ms not < 2,000 ms")
        return missed


def window_latencies(
    seen: list[tuple[int, int]], log: ReplayLog, warm_ms: int, cameras: int
) -> tuple[list[int], int]:
    """Latency of each window that closed after the warm-up, and how many could close."""
    last_due = log.due_ms[-1] if log.due_ms else log.start_ms
    latencies = []
    for end, arrived in seen:
        sent = log.sent_by(end - 1 + BOUND_S * 1000)
        if end > warm_ms and sent is not None:
            latencies.append(arrived - sent)
    ends = range(
        (warm_ms // (WINDOW_S * 1000) + 1) * WINDOW_S * 1000,
        last_due - BOUND_S * 1000 + 1,
        WINDOW_S * 1000,
    )
    return sorted(latencies), len(ends) * cameras


class FlinkRunner:
    """A variant run as a Flink job on the session cluster; figures from Flink's metrics."""

    def __init__(
        self, variant: str, run_id: str, topic: str, cameras: int, extra: list[str]
    ) -> None:
        self.variant, self.run_id, self.topic = variant, run_id, topic
        self.args = [
            "--source-topic", topic, "--signal-topic", "", "--group-id", f"scale-{run_id}",
            "--start", "earliest", "--window-s", str(WINDOW_S),
            "--watermark-bound-s", str(BOUND_S),
            "--parallelism", str(PARALLELISM.get(variant, 2)),
            "--transactional-id-prefix", f"scale-{run_id}",
            "--job-name", f"scale-{variant}-{cameras}", "--restart-attempts", "0",
            "--redis-url", views_url(Endpoints.from_env().redis_url),
            *output_args(run_id), *extra,
        ]  # fmt: skip
        self.flink = Flink()
        self.job_id = ""
        self.metrics: SourceMetrics | None = None

    def start(self) -> None:
        if not self.flink.taskmanager_pids():
            # A TaskManager died natively in RocksDB while a loaded job was cancelled; one added
            # to the running cluster then reported no metrics over REST: restart the cluster.
            print(self.flink.stop(), flush=True)
            # Its Python workers outlive it (re-parented to init): they hold memory and ports.
            subprocess.run(["pkill", "-f", "pyflink.fn_execution.beam.beam_boot"], check=False)
            print(self.flink.start(), flush=True)
        self.job_id = flink_run(self.args, detached=True, entry=ENTRIES[self.variant])
        wait_running(self.job_id)
        self.metrics = SourceMetrics(self.job_id)

    def sample(self) -> tuple[int, int]:
        assert self.metrics is not None
        return self.metrics.read()

    def finish(self, result: Run) -> None:
        """Figures taken at the end of the measured span, while the job still runs."""
        result.busiest, result.busiest_ms_per_s = busiest_chain(self.job_id)
        state = job_status(self.job_id)["state"]
        if state != "RUNNING":
            result.problems.append(f"job {state}")

    def stop(self, result: Run) -> None:
        if self.job_id:
            cancel(self.job_id)
            time.sleep(1)
        result.taskmanager_died_on_cancel = not self.flink.taskmanager_pids()

    def topics(self) -> list[str]:
        return output_topics(self.run_id)


class PeerRunner:
    """A peer variant: its consumer processes, read through their status files."""

    def __init__(
        self, variant: str, run_id: str, topic: str, cameras: int, extra: list[str]
    ) -> None:
        endpoints = Endpoints.from_env()
        self.variant, self.dir = variant, REPO / ".stack" / "scale-runs" / f"{variant}-{run_id}"
        module, processes = PEERS[variant]
        python = QUIX_PYTHON if module == "quix_app" else Path(sys.executable)
        if not python.exists():
            raise RuntimeError(f"{variant}: {python} is missing: run ./dev setup")
        self.commands = [
            [str(python), "-m", f"benchmarks.peers.{module}", "--topic", topic,
             "--group-id", f"peer-{run_id}", "--bootstrap", endpoints.kafka_bootstrap,
             "--redis-url", views_url(endpoints.redis_url), "--window-s", str(WINDOW_S),
             "--bound-s", str(BOUND_S), "--status-file", str(self.dir / f"status-{n}.json"),
             *(("--worker", str(n), "--workers", str(processes)) if module == "asyncio_app"
               else ()),
             *extra]
            for n in range(processes)
        ]  # fmt: skip
        self.processes: list[subprocess.Popen[bytes]] = []
        self.cpu_at: tuple[float, float] = (0.0, 0.0)
        self.topic = topic
        self.probe = Consumer({"bootstrap.servers": endpoints.kafka_bootstrap,
                               "group.id": f"probe-{run_id}", "log_level": 3})  # fmt: skip

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for n, command in enumerate(self.commands):
            with (self.dir / f"peer-{n}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        cwd=REPO,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONPATH": str(REPO)},
                    )
                )
        deadline = time.monotonic() + 60
        while not all(f.exists() for f in self._status_files()):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"{self.variant}: no status within 60 s (logs: {self.dir})")
            time.sleep(0.5)
        self.cpu_at = (time.monotonic(), self._cpu_s())

    def _status_files(self) -> list[Path]:
        return [self.dir / f"status-{n}.json" for n in range(len(self.commands))]

    def _cpu_s(self) -> float:
        """User + system CPU seconds of the peer processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for process in self.processes:
            with open(f"/proc/{process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def sample(self) -> tuple[int, int]:
        """(events the processes handled, records not yet handled). Each process writes, per
        partition, the offset after its last record beside the partition's end, read at one
        instant; a partition nobody reported yet is pending from its start."""
        docs = [json.loads(f.read_text()) for f in self._status_files()]
        newest: dict[str, list[int]] = {}
        for doc in docs:
            for partition, (offset, end) in doc["partitions"].items():
                if partition not in newest or offset > newest[partition][0]:
                    newest[partition] = [offset, end]
        pending = sum(end - offset for offset, end in newest.values())
        unreported = [p for p in range(PARTITIONS) if str(p) not in newest]
        for p in unreported:
            pending += self.probe.get_watermark_offsets(TopicPartition(self.topic, p), 5)[1]
        return sum(d["events"] for d in docs), pending

    def finish(self, result: Run) -> None:
        began, cpu0 = self.cpu_at
        cpu_ms_per_s = 1000 * (self._cpu_s() - cpu0) / max(1e-9, time.monotonic() - began)
        result.busiest = f"{len(self.processes)} {self.variant} process(es), CPU ms/s summed"
        result.busiest_ms_per_s = round(cpu_ms_per_s, 0)
        dead = [p.returncode for p in self.processes if p.poll() is not None]
        if dead:
            result.problems.append(f"peer exited with {dead} (logs: {self.dir})")
        late = sum(json.loads(f.read_text())["late"] for f in self._status_files())
        if late:
            result.problems.append(f"{late} events late (the peer fell behind its watermark)")

    def stop(self, result: Run) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                result.problems.append("a peer ignored SIGTERM for 20 s")
        self.probe.close()

    def topics(self) -> list[str]:
        return []


def measure(
    variant: str, cameras: int, round_no: int, warmup_s: int, measure_s: int,
    extra: list[str] = [], prefix: str = "sc-",  # noqa: B006 - never mutated
) -> Run:  # fmt: skip
    endpoints = Endpoints.from_env()
    run_id = uuid.uuid4().hex[:6]
    topic = f"scale-{run_id}"
    ensure_topics(names={topic: PARTITIONS})
    rendered = load_or_render(cameras, 120, prefix)
    result = Run(variant, cameras, round_no)
    runner: FlinkRunner | PeerRunner = (PeerRunner if variant in PEERS else FlinkRunner)(
        variant, run_id, topic, cameras, extra
    )
    seen: list[tuple[int, int]] = []
    stop = threading.Event()
    views = views_url(endpoints.redis_url)
    listener = threading.Thread(target=listen, args=(views, prefix, seen, stop))
    log = ReplayLog()
    samples: list[Sample] = []
    try:
        runner.start()
        listener.start()
        sender = threading.Thread(
            target=replay,
            args=(rendered, make_producer(endpoints.kafka_bootstrap), topic,
                  warmup_s + measure_s),
            kwargs={"log": log},
        )  # fmt: skip
        sender.start()
        began = time.monotonic()
        time.sleep(warmup_s)
        result.load_avg_1m = round(os.getloadavg()[0], 2)
        busy0, total0 = cpu_times()
        while sender.is_alive():
            read, pending = runner.sample()
            samples.append(Sample(time.monotonic() - began, read, pending, log.sent))
            time.sleep(SAMPLE_S)
        busy1, total1 = cpu_times()
        runner.finish(result)
        time.sleep(WINDOW_S / 2)  # windows closed by the last frames still arrive
    finally:
        stop.set()
        if listener.is_alive():
            listener.join()
        runner.stop(result)
        delete_topics(endpoints.kafka_bootstrap, [topic, *runner.topics()])
    if len(samples) < 3:
        result.problems.append(f"only {len(samples)} metric samples")
        return result
    at = [s.at_s for s in samples]
    result.offered_per_s = round(slope(at, [float(s.sent) for s in samples]), 1)
    result.achieved_per_s = round(slope(at, [float(s.read) for s in samples]), 1)
    result.replayer_max_behind_ms = log.max_behind_ms()
    result.lag_start, result.lag_end = samples[0].pending, samples[-1].pending
    result.lag_slope_per_s = round(slope(at, [float(s.pending) for s in samples]), 1)
    result.cpu_busy_pct = round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)
    if log.delivery_errors:
        result.problems.append(f"{log.delivery_errors} records not delivered")
    if variant != "sql":
        latencies, expected = window_latencies(seen, log, log.start_ms + warmup_s * 1000, cameras)
        result.windows_expected, result.windows_measured = expected, len(latencies)
        if latencies:
            result.latency_ms_p50 = float(statistics.median(latencies))
            result.latency_ms_p99 = float(latencies[int(0.99 * (len(latencies) - 1))])
    return result


def output_topics(run_id: str) -> list[str]:
    return [arg for arg in output_args(run_id) if not arg.startswith("--")]


def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Drop the run's topics: at 5,000 cameras a run leaves gigabytes on the local broker."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [n for n in names if n in existing]
    for future in admin.delete_topics(doomed).values() if doomed else []:
        try:
            future.result(timeout=30)
        except Exception as err:  # cleanup must not hide the run's figures
            print(f"could not delete a topic: {err}", file=sys.stderr)


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """Median and spread per (size, variant), with the job / SQL ratio of the medians."""
    rows = []
    for cameras in sorted({r.cameras for r in runs}):
        by_variant = {v: [r for r in runs if r.cameras == cameras and r.variant == v]
                      for v in VARIANTS}  # fmt: skip
        row: dict[str, Any] = {"cameras": cameras}
        for variant, group in by_variant.items():
            if not group:
                continue
            achieved = [r.achieved_per_s for r in group]
            p99s = [r.latency_ms_p99 for r in group if r.latency_ms_p99 is not None]
            row[variant] = {
                "offered_per_s": statistics.median(r.offered_per_s for r in group),
                "achieved_per_s": statistics.median(achieved),
                "achieved_spread": [min(achieved), max(achieved)],
                "lag_slope_per_s": statistics.median(r.lag_slope_per_s for r in group),
                "latency_ms_p50": statistics.median(
                    [r.latency_ms_p50 for r in group if r.latency_ms_p50 is not None] or [0]
                )
                if variant != "sql"
                else None,
                "latency_ms_p99": statistics.median(p99s) if p99s else None,
                "cpu_busy_pct": statistics.median(r.cpu_busy_pct for r in group),
                "keeps_up": all(r.keeps_up for r in group),
                "runs": len(group),
            }
        rows.append(row)
    return rows


def curve(
    sizes: list[int], rounds: int, warmup_s: int, measure_s: int, variants: list[str],
    stop_when_saturated: bool, report: Callable[[Run], None], extra: dict[str, list[str]],
    prefix: str = "sc-",
) -> list[Run]:  # fmt: skip
    runs: list[Run] = []
    for cameras in sizes:
        for round_no in range(rounds):
            order = variants if round_no % 2 == 0 else variants[::-1]  # alternate who goes first
            for variant in order:
                options = extra["peer" if variant in PEERS else "flink"]
                run = measure(variant, cameras, round_no, warmup_s, measure_s, options, prefix)
                report(run)
                runs.append(run)
        job_runs = [r for r in runs if r.cameras == cameras and r.variant in ("job", "job1")]
        if stop_when_saturated and job_runs and not all(r.keeps_up for r in job_runs):
            break
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per size")
    parser.add_argument("--warmup-s", type=int, default=30, help="replay before measuring")
    parser.add_argument("--measure-s", type=int, default=60, help="measured span per run")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=["job", "sql"],
        help="job, job1 (parallelism 1) and sql (Flink); asyncio, asyncio2, quix, quix2 "
        "(peers, 1 or 2 processes)",
    )  # fmt: skip
    parser.add_argument(
        "--stop-when-saturated", action="store_true",
        help="skip larger sizes once the job does not keep up (the end of the curve)",
    )  # fmt: skip
    parser.add_argument(
        "--job-options", default="",
        help="more options for the Flink variants, one string (to measure a lever: e.g. "
        "'--python-execution-mode thread')",
    )  # fmt: skip
    parser.add_argument(
        "--peer-options", default="", help="more options for the peers' processes, one string"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where to write")
    parser.add_argument(
        "--camera-prefix", default="sc-",
        help="camera ids of the rendered load: two benchmarks running at once (the CI smoke) "
        "must not see each other's windows on the shared Redis channel",
    )  # fmt: skip
    parser.add_argument(
        "--results-file", default="scale.json",
        help="file name in --results-dir: scale.json (the curve) or scale-peers.json (the "
        "peers' comparison), each its own BENCHMARKS.md section",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for size in args.cameras:  # render every size first, so no run waits on the simulator
        load_or_render(size, 120, args.camera_prefix)

    def report(run: Run) -> None:
        verdict = "keeps up" if run.keeps_up else "DOES NOT keep up: " + "; ".join(run.shortfalls)
        print(
            f"{run.variant:>8} {run.cameras:>5} cameras round {run.round}: offered "
            f"{run.offered_per_s:,.0f}/s, read {run.achieved_per_s:,.0f}/s, lag "
            f"{run.lag_start:,} -> {run.lag_end:,} ({run.lag_slope_per_s:+,.1f}/s), p99 "
            f"{run.latency_ms_p99} ms, windows {run.windows_measured}/{run.windows_expected}, "
            f"CPU {run.cpu_busy_pct}%, busiest {run.busiest!r} {run.busiest_ms_per_s} ms/s: "
            f"{verdict}",
            flush=True,
        )

    runs = curve(
        args.cameras, args.rounds, args.warmup_s, args.measure_s, args.variants,
        args.stop_when_saturated, report,
        {"flink": shlex.split(args.job_options), "peer": shlex.split(args.peer_options)},
        args.camera_prefix,
    )  # fmt: skip
    result = {
        "benchmark": "scale",
        "command": ".venv/bin/python -m benchmarks.scale " + " ".join(argv or sys.argv[1:]),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_s": WINDOW_S, "watermark_bound_s": BOUND_S, "partitions": PARTITIONS,
        "warmup_s": args.warmup_s, "measure_s": args.measure_s, "rounds": args.rounds,
        "rows": summarise(runs),
        "runs": [{**asdict(r), "keeps_up": r.keeps_up, "shortfalls": r.shortfalls} for r in runs],
    }  # fmt: skip
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / args.results_file).write_text(json.dumps(result, indent=2) + "\n")
    broken = [r for r in runs if r.problems]
    for r in broken:
        print(f"FAILED: {r.variant} at {r.cameras} round {r.round}: {r.problems}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
