"""`traffic-sim`: play N cameras into Kafka or a JSON-lines file, with ground truth."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from contract import topics
from simulator.config import (
    DEFAULT_START_MS,
    FaultConfig,
    IncidentConfig,
    SceneConfig,
    SignalConfig,
    SimConfig,
)
from simulator.engine import Run, simulate
from simulator.signals import signal_feed
from simulator.sinks import JsonlSink, KafkaSink, NullSink, Sink, ensure_topic, producer_config

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    """'90', '90s', '2m', '1.5h', '500ms' -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|min|m|h)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 60s, 2m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def millis(text: str) -> int:
    return round(seconds(text) * 1000)


def epoch_ms(text: str) -> int:
    """Epoch milliseconds, or an ISO-8601 time (UTC when no zone is given)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="traffic-sim",
        description="Simulate traffic cameras: detection events exactly as the detector "
        "publishes them, with ground-truth incident labels and optional delivery faults.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run = p.add_argument_group("run")
    run.add_argument("--cameras", type=int, default=10, help="number of cameras (1..10000)")
    run.add_argument("--fps", type=float, default=1.0, help="events per second per camera")
    length = run.add_mutually_exclusive_group()
    length.add_argument(
        "--duration", type=seconds, help="event-time length, e.g. 60s, 5m (default 60s)"
    )
    length.add_argument("--count", type=int, help="total detection events instead of --duration")
    run.add_argument(
        "--start",
        type=epoch_ms,
        default=DEFAULT_START_MS,
        help="event time of the first frame: epoch ms or ISO-8601 (fixed default: replays match)",
    )
    run.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes")
    run.add_argument("--camera-prefix", default="cam-", help="camera ids are PREFIX + number")
    run.add_argument("--detector", default="traffic-sim", help="value of the events' `detector`")
    run.add_argument("--no-crops", action="store_true", help="groups without inline JPEG crops")
    run.add_argument("--crop-variants", type=int, default=8, help="distinct crops per class mix")
    run.add_argument(
        "--rendered-crops",
        action="store_true",
        help="crops drawn anew every frame from the group's geometry, with sensor noise",
    )
    scene = p.add_argument_group("scene")
    scene.add_argument("--frame", default="640x480", help="frame size WIDTHxHEIGHT")
    scene.add_argument("--green", type=seconds, default=20.0, help="green phase (>= 14 s)")
    scene.add_argument("--yellow", type=seconds, default=3.0, help="yellow phase")
    scene.add_argument("--red", type=seconds, default=17.0, help="red phase (>= 10 s)")
    scene.add_argument(
        "--vehicle-gap", type=seconds, default=3.5, help="mean gap between vehicles per lane"
    )
    scene.add_argument(
        "--blind-cameras",
        action="store_true",
        help="cameras do not see their light: events carry signal_state `unknown` (use with "
        "--signal-feed, else no red-light run can be told)",
    )
    inc = p.add_argument_group("incidents (per camera and hour of event time)")
    inc.add_argument("--red-light-rate", type=float, default=6.0, help="red-light runs")
    inc.add_argument("--near-miss-rate", type=float, default=4.0, help="ped-vehicle near misses")
    inc.add_argument("--wrong-way-rate", type=float, default=2.0, help="wrong-way drivers")
    inc.add_argument("--congestion-rate", type=float, default=1.0, help="congestion periods")
    inc.add_argument("--congestion-length", type=seconds, default=120.0, help="length of one")
    inc.add_argument("--near-miss-ttc", type=float, default=1.5, help="TTC threshold, seconds")
    _fault_options(p.add_argument_group("delivery faults (shares are of generated events)"))
    _sink_options(p.add_argument_group("output"))
    return p


def _fault_options(f: argparse._ArgumentGroup) -> None:
    f.add_argument(
        "--out-of-order", type=float, default=0.0, help="share held back within the bound"
    )
    f.add_argument(
        "--out-of-order-bound", type=millis, default=2000, help="disorder bound, e.g. 2s"
    )
    f.add_argument("--beyond-bound", type=float, default=0.0, help="share held back 1-2x the bound")
    f.add_argument("--late", type=float, default=0.0, help="share held back by --late-delay")
    f.add_argument("--late-delay", type=millis, default=300_000, help="delay of late events")
    f.add_argument("--duplicates", type=float, default=0.0, help="share sent twice")
    f.add_argument(
        "--malformed",
        type=float,
        default=0.0,
        help="exact share of all messages that are malformed",
    )
    f.add_argument(
        "--oversized", type=float, default=0.0, help="share also sent as an oversized copy"
    )
    f.add_argument(
        "--oversized-bytes", type=int, default=1_100_000, help="size of oversized messages"
    )
    f.add_argument("--idle-cameras", type=int, default=0, help="cameras that go silent")
    f.add_argument("--idle-at", type=seconds, help="when they go silent (default: mid-run)")
    f.add_argument("--idle-for", type=seconds, help="how long (default: to the end)")


def _sink_options(o: argparse._ArgumentGroup) -> None:
    o.add_argument(
        "--sink", choices=("kafka", "jsonl", "null"), default="jsonl", help="where events go"
    )
    o.add_argument(
        "--out",
        type=Path,
        default=Path("sim-out/detections.jsonl"),
        help="JSON-lines file (--sink jsonl)",
    )
    o.add_argument("--truth", type=Path, help="ground-truth labels file (default: beside --out)")
    o.add_argument("--report-json", type=Path, help="also write the final report as JSON here")
    o.add_argument(
        "--bootstrap",
        default=None,
        help="Kafka bootstrap [TRAFFIC_KAFKA_BOOTSTRAP, 127.0.0.1:9092]",
    )
    o.add_argument("--topic", default=topics.DETECTION_RESULTS, help="Kafka topic")
    o.add_argument("--partitions", type=int, default=8, help="partitions if the topic is created")
    o.add_argument(
        "--replication-factor", type=int, default=1, help="replicas if the topic is created"
    )
    o.add_argument(
        "--compression",
        choices=("lz4", "zstd", "gzip", "snappy", "none"),
        default="lz4",
        help="Kafka compression",
    )
    o.add_argument("--linger-ms", type=int, default=50, help="Kafka producer batching delay")
    o.add_argument(
        "--signal-feed",
        action="store_true",
        help="also write the signal controller's feed (SignalChange records), before the "
        "events: to --signal-topic (kafka) or beside --out as <stem>.signals.jsonl (jsonl)",
    )
    o.add_argument(
        "--signal-topic", default=topics.SIGNAL_STATES, help="Kafka topic of --signal-feed"
    )
    o.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from(args: argparse.Namespace) -> SimConfig:
    width, _, height = args.frame.partition("x")
    return SimConfig(
        cameras=args.cameras,
        fps=args.fps,
        duration_s=None if args.count is not None else (args.duration or 60.0),
        count=args.count,
        start_ms=args.start,
        seed=args.seed,
        camera_prefix=args.camera_prefix,
        detector=args.detector,
        crops="none" if args.no_crops else "rendered" if args.rendered_crops else "inline",
        crop_variants=args.crop_variants,
        scene=SceneConfig(
            width=int(width),
            height=int(height),
            vehicle_gap_s=args.vehicle_gap,
            camera_sees_signal=not args.blind_cameras,
            signal=SignalConfig(green_s=args.green, yellow_s=args.yellow, red_s=args.red),
        ),
        incidents=IncidentConfig(
            red_light_per_hour=args.red_light_rate,
            near_miss_per_hour=args.near_miss_rate,
            wrong_way_per_hour=args.wrong_way_rate,
            congestion_per_hour=args.congestion_rate,
            congestion_s=args.congestion_length,
            near_miss_ttc_s=args.near_miss_ttc,
        ),
        faults=FaultConfig(
            out_of_order_share=args.out_of_order,
            out_of_order_bound_ms=args.out_of_order_bound,
            beyond_bound_share=args.beyond_bound,
            late_share=args.late,
            late_delay_ms=args.late_delay,
            duplicate_share=args.duplicates,
            malformed_share=args.malformed,
            oversized_share=args.oversized,
            oversized_bytes=args.oversized_bytes,
            idle_cameras=args.idle_cameras,
            idle_at_s=args.idle_at,
            idle_for_s=args.idle_for,
        ),
    )


def make_sink(args: argparse.Namespace, topic: str | None = None) -> Sink:
    if args.sink == "null":
        return NullSink()
    if args.sink == "jsonl":
        return JsonlSink(args.out)
    import os

    bootstrap = args.bootstrap or os.environ.get("TRAFFIC_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    topic = topic or args.topic
    ensure_topic(bootstrap, topic, args.partitions, args.replication_factor)
    return KafkaSink(bootstrap, topic, producer_config(bootstrap, args.compression, args.linger_ms))


def write_signal_feed(args: argparse.Namespace, cfg: SimConfig) -> int:
    """The controller feed of ``cfg`` through its own sink; returns the records written."""
    feed = signal_feed(cfg)
    if args.sink == "null":
        return len(feed)
    if args.sink == "jsonl":
        out: Path = args.out
        sink: Sink = JsonlSink(out.with_name(out.stem + ".signals.jsonl"))
    else:
        sink = make_sink(args, args.signal_topic)
    for change in feed:
        sink.send(change.camera_id.encode(), change.to_json())
    counts = sink.close()
    if counts.get("failed", 0) or counts.get("undelivered", 0):
        raise RuntimeError(f"signal feed not delivered: {counts}")
    return len(feed)


def truth_path(args: argparse.Namespace) -> Path:
    if args.truth:
        return Path(args.truth)
    if args.sink == "jsonl":
        out: Path = args.out
        return out.with_name(out.stem + ".truth.jsonl")
    return Path("sim-out/truth.jsonl")


def play(run: Run, sink: Sink, progress: bool) -> tuple[float, dict[str, int]]:
    """Send every message of ``run`` to ``sink``; returns (seconds, sink counts)."""
    from tqdm import tqdm

    cfg = run.config
    total = cfg.count or cfg.cameras * cfg.frames_per_camera
    began = time.perf_counter()
    with tqdm(total=total, unit="ev", disable=not progress, smoothing=0.1) as bar:
        shown = 0
        for key, value in run:
            sink.send(key, value)
            if run.report.events - shown >= 2000:
                bar.update(run.report.events - shown)
                shown = run.report.events
        bar.update(run.report.events - shown)
        counts = sink.close()
    return time.perf_counter() - began, counts


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = config_from(args)
    except ValueError as exc:
        print(f"traffic-sim: bad option: {exc}", file=sys.stderr)
        return 2
    signal_changes = write_signal_feed(args, cfg) if args.signal_feed else 0
    run = simulate(cfg)
    elapsed, counts = play(run, make_sink(args), not args.no_progress)
    truth = truth_path(args)
    truth.parent.mkdir(parents=True, exist_ok=True)
    with truth.open("w", encoding="utf-8") as out:
        for label in run.labels:
            out.write(label.model_dump_json() + "\n")
    summary = {
        "seconds": round(elapsed, 3),
        "events_per_s": round(run.report.events / elapsed, 1) if elapsed else None,
        "messages_per_s": round(run.report.messages / elapsed, 1) if elapsed else None,
        "sink": {"kind": args.sink, **counts},
        "truth_file": str(truth),
        "signal_changes": signal_changes,
        **run.report.as_dict(),
    }
    print(_human(summary))
    if args.report_json:
        args.report_json.write_text(json.dumps(summary, indent=2) + "\n")
    failed = counts.get("failed", 0) + counts.get("undelivered", 0)
    return 1 if failed else 0


def _human(s: dict[str, object]) -> str:
    lines = [
        f"events {s['events']}  messages {s['messages']}  in {s['seconds']} s: "
        f"{s['events_per_s']} events/s ({s['messages_per_s']} messages/s)",
        f"sink {json.dumps(s['sink'])}  truth {s['truth_file']}  "
        f"signal changes {s['signal_changes']}",
        f"objects {s['objects']}  groups {s['groups']}  idle-suppressed {s['idle_suppressed']}",
        f"incidents planned {json.dumps(s['incidents_planned'])}  "
        f"not staged {s['incidents_cancelled']}  labels {json.dumps(s['labels'])}",
        f"faults {json.dumps(s['faults'])}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
