"""`traffic-demo`: the whole pipeline end to end on the embedded defaults.

local Kafka + Redis + Flink  ->  detector on the bundled sample (offline COCO model)
  ->  `flink run -py jobs/risk_job.py --bounded`  ->  window statistics, incidents first (the
      alerts of one situation grouped), then risk verdicts and alerts, from Kafka and Redis
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TypeVar, cast

import redis
from confluent_kafka import Consumer

from contract import (
    Incident,
    RiskAssessment,
    TrafficAlert,
    WindowStats,
    parse,
    redis_keys,
    topics,
)
from detector.cli import publish_camera
from detector.sample import build_sample
from stack.config import Endpoints
from stack.flink_cli import flink_run
from stack.services import SERVICES, StackError
from stack.topics import ensure_topics

M = TypeVar("M", WindowStats, RiskAssessment, TrafficAlert, Incident)


def read_committed(
    bootstrap: str, topic: str, model: type[M], keep: Callable[[M], bool]
) -> list[M]:
    """Every read_committed message of ``topic`` that ``keep`` selects."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[M] = []
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < 5:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            idle_since = time.monotonic()
            item = parse(model, message.value())
            if keep(item):
                found.append(item)
    finally:
        consumer.close()
    return found


def read_cameras(
    bootstrap: str, topic: str, model: type[M], cameras: set[str], since: Callable[[M], bool]
) -> list[M]:
    """Every read_committed message of ``topic`` from ``cameras`` that ``since`` keeps."""
    return read_committed(bootstrap, topic, model, lambda m: m.camera_id in cameras and since(m))


def read_window_stats(bootstrap: str, cameras: set[str], since_ms: int) -> list[WindowStats]:
    """Committed window statistics of ``cameras`` from windows starting at ``since_ms``."""
    found = read_committed(
        bootstrap,
        topics.TRAFFIC_WINDOW_STATS,
        WindowStats,
        lambda s: s.camera_id in cameras and s.window_start_ms >= since_ms,
    )
    return sorted(found, key=lambda s: (s.camera_id, s.window_start_ms))


def print_incidents(bootstrap: str, cameras: set[str], since_ms: int) -> None:
    """Each incident's newest revision: what an operator works from, before the alerts."""
    recent: Callable[[Incident], bool] = lambda i: i.updated_at_ms >= since_ms  # noqa: E731
    revisions = read_cameras(bootstrap, topics.TRAFFIC_INCIDENTS, Incident, cameras, recent)
    newest: dict[str, Incident] = {}
    for i in revisions:
        if i.incident_id not in newest or i.revision > newest[i.incident_id].revision:
            newest[i.incident_id] = i
    incidents = sorted(newest.values(), key=lambda i: (i.camera_id, i.opened_at_ms))
    alerts = sum(i.alert_count for i in incidents)
    per_alert = f"{alerts / len(incidents):.1f}" if incidents else "-"
    print(
        f"incidents on {topics.TRAFFIC_INCIDENTS}: {len(incidents)} from {alerts} alerts "
        f"({per_alert} alerts per incident), per camera "
        f"{dict(Counter(i.camera_id for i in incidents))}, per kind "
        f"{dict(Counter(i.kind for i in incidents))}"
    )
    for i in incidents:
        crops = sum(1 for e in i.evidence if e.crop_sha256)
        span_s = (i.updated_at_ms - i.opened_at_ms) / 1000
        print(
            f"  {i.camera_id} {i.kind} at {i.place} ({i.severity}, {i.status}): "
            f"{i.alert_count} alerts over {span_s:.0f} s from {', '.join(i.patterns)}; "
            f"evidence {len(i.evidence)} frames, {crops} crops; tracks {list(i.track_ids)}"
        )


def print_risk_and_alerts(bootstrap: str, cameras: set[str], since_ms: int) -> None:
    verdicts = read_cameras(
        bootstrap,
        topics.RISK_ASSESSMENT_RESULTS,
        RiskAssessment,
        cameras,
        lambda v: v.captured_at_ms >= since_ms,
    )
    alerts = read_cameras(
        bootstrap, topics.TRAFFIC_ALERTS, TrafficAlert, cameras, lambda a: a.end_ms >= since_ms
    )
    sources = Counter(v.source for v in verdicts)
    levels = Counter(v.risk_level for v in verdicts)
    print(
        f"\nrisk verdicts on {topics.RISK_ASSESSMENT_RESULTS}: {len(verdicts)} groups, "
        f"by source {dict(sources)}, by level {dict(levels)}"
    )
    for v in sorted(verdicts, key=lambda v: v.captured_at_ms)[-3:]:
        print(f"  {v.camera_id} frame {v.frame_id} {v.group_id}: {v.risk_level} - {v.reason}")
    patterns = dict(Counter(a.pattern for a in alerts))
    print(f"alerts on {topics.TRAFFIC_ALERTS}: {len(alerts)} {patterns}")
    for a in sorted(alerts, key=lambda a: a.end_ms)[-3:]:
        print(f"  {a.camera_id} {a.pattern} ({a.severity}): {a.description}")


def print_table(rows: list[WindowStats], redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    header = (
        f"{'camera':<15} {'window (UTC)':<19} {'frames':>6} {'objects':>7} {'vehicles':>8} "
        f"{'people':>6} {'tracks':>6} {'peak veh':>8}"
    )
    print(header)
    print("-" * len(header))
    for s in rows:
        start = time.strftime("%H:%M:%S", time.gmtime(s.window_start_ms / 1000))
        end = time.strftime("%H:%M:%S", time.gmtime(s.window_end_ms / 1000))
        print(
            f"{s.camera_id:<15} {start}-{end}    {s.frames:>6} {s.objects:>7} "
            f"{s.vehicles:>8} {s.pedestrians:>6} {s.distinct_tracks:>6} "
            f"{s.peak_vehicles_per_frame:>8}"
        )
    print()
    for camera in sorted({s.camera_id for s in rows}):
        # redis-py types a reply as `Awaitable[Any] | Any` (sync and asyncio clients alike)
        latest = cast("bytes | None", client.get(redis_keys.stats_latest(camera)))
        series = client.zcard(redis_keys.stats_series(camera))
        shown = parse(WindowStats, latest) if latest else None
        print(
            f"redis {redis_keys.stats_latest(camera)}: "
            f"{'window ' + str(shown.window_start_ms) if shown else 'MISSING'}, "
            f"{redis_keys.stats_series(camera)}: {series} windows"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="traffic-demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=90,
        help="frames per sample camera (1 frame = 1 s of event time)",
    )
    parser.add_argument("--window-s", type=int, default=30, help="window size, seconds")
    args = parser.parse_args(argv)
    endpoints = Endpoints.from_env()
    print(
        "traffic-risk demo on the embedded defaults: local Kafka, Redis and Flink; the "
        "bundled sample cameras; the offline SSD-MobileNet-v2 COCO model. No LLM is "
        "configured: every risk verdict comes from the local heuristic assessor "
        "(source=heuristic); set --llm-base-url / TRAFFIC_LLM_BASE_URL for a vision LLM."
    )
    try:
        for name, service in SERVICES.items():
            print(service().start(), flush=True)
            if name == "kafka":
                ensure_topics()
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    folders = build_sample(args.frames)
    run_started_ms = int(time.time() * 1000)
    event_start_ms = run_started_ms - run_started_ms % (args.window_s * 1000)
    total = sum(
        publish_camera(
            camera,
            str(folder),
            bootstrap=endpoints.kafka_bootstrap,
            topic=topics.DETECTION_RESULTS,
            fps=1.0,
            start_ms=event_start_ms,
            limit=None,
        )
        for camera, folder in folders.items()
    )
    print(f"detector: published {total} events from {len(folders)} cameras")

    run_id = uuid.uuid4().hex[:8]
    print(
        "flink: running jobs/risk_job.py on the session cluster (web UI "
        "http://127.0.0.1:8081) until it has read everything published ...",
        flush=True,
    )
    job_id = flink_run(
        [
            "--bounded",
            "--start",
            "timestamp",
            "--start-timestamp-ms",
            str(run_started_ms),
            "--group-id",
            f"demo-{run_id}",
            "--window-s",
            str(args.window_s),
            "--checkpoint-interval-s",
            "2",
            "--job-name",
            f"traffic-risk-demo-{run_id}",
            "--restart-attempts",
            "0",
        ],
        detached=False,
    )
    print(f"flink: job {job_id} finished\n")
    rows = read_window_stats(endpoints.kafka_bootstrap, set(folders), event_start_ms)
    if not rows:
        print("error: no window statistics arrived on traffic-window-stats", file=sys.stderr)
        return 1
    print_incidents(endpoints.kafka_bootstrap, set(folders), event_start_ms)
    print(
        f"\nper-camera window statistics computed by Flink ({args.window_s} s windows, "
        "read_committed from Kafka topic traffic-window-stats):"
    )
    print_table(rows, endpoints.redis_url)
    print_risk_and_alerts(endpoints.kafka_bootstrap, set(folders), event_start_ms)
    print("\nservices keep running: `traffic-stack status`, `traffic-stack stop`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
