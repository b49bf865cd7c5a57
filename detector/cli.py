"""`traffic-detector`: detect road users in camera inputs and publish detection events.

    traffic-detector --config detector/cameras.example.yaml
    traffic-detector --camera cam-1=sample/cam-plaza --camera cam-2=rtsp://host/stream
    traffic-detector --config cameras.yaml --check-config   # validate, print, exit

Command-line options override the config file's; see docs/detector.md. Kubernetes probes:
GET /healthz (liveness: the main loop turns) and /readyz (readiness: Kafka acknowledged an
event and a camera published one within --ready-within-s) on --health-port.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import KafkaException

from contract import topics
from detector import config as cfg
from detector.health import HealthServer
from detector.observability import Metrics, setup_logging
from detector.service import DetectorService, ServiceResult

log = logging.getLogger("traffic-detector")


def publish_camera(
    camera_id: str,
    source: str,
    *,
    bootstrap: str,
    topic: str,
    fps: float,
    start_ms: int,
    limit: int | None,
    quiet: bool = False,
) -> int:
    """Run one camera input to its end; returns the number of events published."""
    camera = cfg.Camera(id=camera_id, source=cfg.parse_source(source), sample_fps=fps, limit=limit)
    config = cfg.Service(
        cameras=(camera,),
        output=cfg.Output(bootstrap=bootstrap, topic=topic),
        metrics_port=None,
        start_ms=start_ms,
    )
    result = DetectorService(config, quiet=quiet).run()
    error = result.cameras[camera_id].error
    if error:
        raise FileNotFoundError(error)
    if result.undelivered:
        raise KafkaException(f"{result.undelivered} events undelivered")
    return result.cameras[camera_id].frames


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="traffic-detector",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("TRAFFIC_DETECTOR_CONFIG"),
        help="YAML file of cameras, model, output [TRAFFIC_DETECTOR_CONFIG]",
    )
    p.add_argument("--camera", action="append", default=[], metavar="ID=SOURCE",
                   help="a camera: image folder, video file, rtsp/http URL or webcam:N; "
                   "repeatable; added to the config's cameras")  # fmt: skip
    p.add_argument("--fps", type=float, help="sampling rate of --camera inputs (default 1)")
    p.add_argument("--model", choices=["ssd", "yolo"], help="backend (default ssd, offline)")
    p.add_argument("--weights", help="YOLO weights path or model name (e.g. yolo11n.pt)")
    p.add_argument("--device", help="YOLO torch device: cpu, cuda, cuda:0")
    p.add_argument("--tracker", choices=["bytetrack"], help="tracker (bytetrack)")
    p.add_argument("--workers", type=int, help="inference workers (default: one per CPU)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers [TRAFFIC_KAFKA_BOOTSTRAP]")
    p.add_argument("--topic", help=f"output topic (default {topics.DETECTION_RESULTS})")
    p.add_argument("--crops", choices=["inline", "redis", "none"], help="group crop storage")
    p.add_argument("--redis-url", help="Redis for stored crops [TRAFFIC_REDIS_URL]")
    p.add_argument("--metrics-port", type=int, help="Prometheus port (default 9108; 0: off)")
    p.add_argument("--health-port", type=int,
                   default=os.environ.get("TRAFFIC_DETECTOR_HEALTH_PORT") or None,
                   help="port of /healthz and /readyz (default 9109; 0: off) "
                   "[TRAFFIC_DETECTOR_HEALTH_PORT]")  # fmt: skip
    p.add_argument("--ready-within-s", type=float,
                   default=os.environ.get("TRAFFIC_DETECTOR_READY_WITHIN_S") or None,
                   help="/readyz is 200 while Kafka acknowledged an event and a camera "
                   "published one within this many seconds (default 30) "
                   "[TRAFFIC_DETECTOR_READY_WITHIN_S]")  # fmt: skip
    p.add_argument("--annotate-dir", type=Path, help="write <camera>.mp4 annotated videos here")
    p.add_argument("--start-ms", type=int, help="event time of files' first frame (default now)")
    p.add_argument("--limit", type=int, help="stop each --camera after N frames")
    p.add_argument("--log-format", choices=["json", "text"], default="json", help="log lines")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config and options, print a summary and exit "
        "(0: valid, 2: invalid); opens no camera, model or connection",
    )
    return p


def build_config(args: argparse.Namespace) -> cfg.Service:
    """The config file (if any) with the command line's overrides, validated once."""
    data: dict[str, Any] = {}
    if args.config:
        data = cfg.load_config(args.config).model_dump(exclude_unset=True)
    cameras = list(data.get("cameras", []))
    for spec in args.camera:
        camera_id, sep, source = spec.partition("=")
        if not sep or not camera_id or not source:
            raise cfg.ConfigError(f"--camera expects ID=SOURCE, got {spec!r}")
        cam: dict[str, Any] = {"id": camera_id, "source": source}
        for key, value in (("sample_fps", args.fps), ("limit", args.limit)):
            if value is not None:
                cam[key] = value
        cameras.append(cam)
    data["cameras"] = cameras
    model = dict(data.get("model", {"type": "ssd"}))
    if args.model and args.model != model.get("type"):
        model = {"type": args.model}
    for key in ("weights", "device"):
        if getattr(args, key) is not None:
            model[key] = getattr(args, key)
    data["model"] = model
    _override(data, "tracker", {"type": args.tracker})
    _override(data, "inference", {"workers": args.workers})
    _override(data, "output", {"bootstrap": args.bootstrap, "topic": args.topic,
                               "crops": args.crops, "redis_url": args.redis_url})  # fmt: skip
    for key in ("annotate_dir", "start_ms"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.metrics_port is not None:
        data["metrics_port"] = args.metrics_port or None
    health = dict(data.get("health", {}))
    if args.health_port is not None:
        health["port"] = args.health_port or None
    if args.ready_within_s is not None:
        health["ready_within_s"] = args.ready_within_s
    data["health"] = health
    return cfg.parse_config(data)


def _override(data: dict[str, Any], section: str, values: dict[str, Any]) -> None:
    merged = dict(data.get(section, {}))
    merged.update({k: v for k, v in values.items() if v is not None})
    data[section] = merged


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.log_format)
    if not args.config and not args.camera:
        parser().error("give --config FILE and/or --camera ID=SOURCE")
    try:
        config = build_config(args)
    except cfg.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check_config:
        print(summary(config))
        return 0
    metrics = Metrics()
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    service = DetectorService(config, metrics, quiet=args.quiet)
    if config.health.port:
        HealthServer(service.health, config.health.port).start()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping: flushing the producer", extra={"signal": signal.Signals(signum).name})
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return report(service.run(), config.output.topic)


def summary(config: cfg.Service) -> str:
    """What the service would run, for --check-config: a deploy step can gate on it."""
    cameras = ", ".join(f"{c.id} ({c.source})" for c in config.cameras)
    return "\n".join(
        [
            f"detector config ok: {len(config.cameras)} cameras: {cameras}",
            f"model {config.model.type}, tracker {config.tracker.type}, "
            f"workers {config.inference.workers or 'one per CPU'}",
            f"output {config.output.topic} at {config.output.bootstrap} "
            f"(crops {config.output.crops}), metrics port {config.metrics_port or 'off'}, "
            f"health port {config.health.port or 'off'}",
        ]
    )


def report(result: ServiceResult, topic: str) -> int:
    """One summary line per camera on stdout; exit 1 when a camera failed or events were lost."""
    for camera, r in result.cameras.items():
        status = f"error: {r.error}" if r.error else "ok"
        print(f"{camera}: {r.frames} frames, {status}")
    print(
        f"published {result.delivered} detection events to {topic} "
        f"(tracker {result.tracker}; {result.undelivered} undelivered, "
        f"{result.dropped} dropped while Kafka was unreachable)"
    )
    failed = any(r.error for r in result.cameras.values())
    return 1 if failed or result.undelivered else 0


if __name__ == "__main__":
    sys.exit(main())
