"""`traffic-detector`: detect road users in a camera input and publish detection events."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from confluent_kafka import KafkaException, Producer
from tqdm import tqdm

from contract import topics
from detector.models import SsdMobilenetCoco
from detector.pipeline import CameraPipeline, image_folder, video_file
from stack.config import Endpoints

log = logging.getLogger("traffic-detector")


def producer(bootstrap: str) -> Producer:
    """Idempotent, compressed, keyed by camera: per-camera order survives retries."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
            "message.max.bytes": 2_000_000,
            "log_level": 3,
        }
    )


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
    path = Path(source)
    frames = image_folder(path) if path.is_dir() else video_file(path, fps)
    pipeline = CameraPipeline(camera_id, SsdMobilenetCoco())
    out = producer(bootstrap)
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    sent = 0
    step_ms = int(1000 / fps)
    for frame_id, frame in enumerate(
        tqdm(frames, desc=camera_id, unit="frame", disable=True if quiet else None)
    ):
        if limit is not None and frame_id >= limit:
            break
        event = pipeline.process(frame, frame_id, start_ms + frame_id * step_ms)
        out.produce(topic, key=event.key, value=event.to_json(), on_delivery=delivered)
        out.poll(0)
        sent += 1
    remaining = out.flush(30)
    if remaining or failures:
        raise KafkaException(f"{remaining} undelivered, errors: {failures[:3]}")
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="traffic-detector",
        description="Detect road users (offline SSD-MobileNet-v2 COCO model), track them, "
        "group nearby ones with crops, and publish detection events to Kafka.",
    )
    parser.add_argument(
        "--camera",
        action="append",
        required=True,
        metavar="ID=SOURCE",
        help="camera id and its input: an image folder, a video file or an "
        "RTSP/HTTP URL; repeatable",
    )
    parser.add_argument(
        "--bootstrap",
        default=Endpoints.from_env().kafka_bootstrap,
        help="Kafka bootstrap servers [TRAFFIC_KAFKA_BOOTSTRAP]",
    )
    parser.add_argument("--topic", default=topics.DETECTION_RESULTS, help="output topic")
    parser.add_argument(
        "--fps",
        type=float,
        default=1.0,
        help="frames per second sampled; also the event-time step of image folders (default 1)",
    )
    parser.add_argument(
        "--start-ms",
        type=int,
        default=None,
        help="event time of the first frame, epoch ms (default: now)",
    )
    parser.add_argument("--limit", type=int, default=None, help="stop after N frames per camera")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (they are also off when stderr is not a terminal)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    start_ms = args.start_ms if args.start_ms is not None else int(time.time() * 1000)
    total = 0
    for spec in args.camera:
        camera_id, sep, source = spec.partition("=")
        if not sep or not camera_id or not source:
            parser.error(f"--camera expects ID=SOURCE, got {spec!r}")
        try:
            total += publish_camera(
                camera_id,
                source,
                bootstrap=args.bootstrap,
                topic=args.topic,
                fps=args.fps,
                start_ms=start_ms,
                limit=args.limit,
                quiet=args.quiet,
            )
        except (FileNotFoundError, ValueError, KafkaException) as err:
            print(f"error: camera {camera_id}: {err}", file=sys.stderr)
            return 1
    print(f"published {total} detection events to {args.topic} at {args.bootstrap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
