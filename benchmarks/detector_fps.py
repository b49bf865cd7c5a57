"""Benchmark: the detector service's frames/s versus a bare loop calling the same model.

Per backend, in one run, on the same frames (the sample photos panned, 640x480 JPEGs):
- bare: ``model.detect(frame)`` over the frames already decoded in memory;
- service: `DetectorService` with 10 cameras reading those frames as image folders
  (decode, model, ByteTrack, scene, groups + crops, JSON, Kafka publish and acknowledgement).
FPS per core = frames / CPU seconds of this process (all threads). The YOLO backend runs an
untrained yolo11n built from its yaml (no weights can be downloaded here) with threshold 0
and at most 10 boxes, so the service has boxes to track and group. Needs the local Kafka.
Writes benchmarks/results/detector_fps.json.

    .venv/bin/python -m benchmarks.detector_fps --frames 200 --yolo-frames 100
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import cv2
import numpy as np

from detector import sample
from detector.config import ModelConfig, SsdModel, YoloModel, parse_config
from detector.models import Detector, build_detector
from detector.service import DetectorService
from stack.config import Endpoints
from stack.paths import REPO
from stack.topics import ensure_topics

RESULTS = REPO / "benchmarks" / "results"
CAMERAS = 10


def frames(count: int) -> list[np.ndarray]:
    per_photo = (count + 1) // 2
    out = sample.pan_frames(sample._photo("bus.jpg"), (3, 1), per_photo)
    out += sample.pan_frames(sample._photo("zidane.jpg"), (4, 1), per_photo)
    return out[:count]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare(model: Detector, images: list[np.ndarray]) -> dict:
    model.detect(images[0])  # warm-up
    wall, cpu = time.perf_counter(), cpu_s()
    for image in images:
        model.detect(image)
    return _rates(len(images), time.perf_counter() - wall, cpu_s() - cpu)


def service(model: Detector, config_model: ModelConfig, images: list[np.ndarray]) -> dict:
    bootstrap = Endpoints.from_env().kafka_bootstrap
    topic = f"bench-detector-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: 2})
    per_camera = len(images) // CAMERAS
    with TemporaryDirectory() as tmp:
        for cam in range(CAMERAS):
            folder = Path(tmp) / f"cam{cam}"
            folder.mkdir()
            for i, image in enumerate(images[cam * per_camera : (cam + 1) * per_camera]):
                cv2.imwrite(str(folder / f"f{i:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        config = parse_config({
            "cameras": [{"id": f"bench-{c}", "source": str(Path(tmp) / f"cam{c}")}
                        for c in range(CAMERAS)],
            "model": config_model.model_dump(),
            "output": {"bootstrap": bootstrap, "topic": topic},
            "metrics_port": None,
        })  # fmt: skip
        svc = DetectorService(config, quiet=True, model=model)
        wall, cpu = time.perf_counter(), cpu_s()
        result = svc.run()
        elapsed, used = time.perf_counter() - wall, cpu_s() - cpu
    done = sum(r.frames for r in result.cameras.values())
    assert result.delivered == done == per_camera * CAMERAS, result
    return {**_rates(done, elapsed, used), "tracker": result.tracker}


def _rates(count: int, wall_s: float, cpu: float) -> dict:
    return {
        "frames": count,
        "wall_s": round(wall_s, 2),
        "cpu_s": round(cpu, 2),
        "fps": round(count / wall_s, 2),
        "fps_per_core": round(count / cpu, 2),
    }


def measure(name: str, config_model: ModelConfig, count: int) -> dict:
    model = build_detector(config_model)
    images = frames(count)
    row = {"backend": name, "model": model.name, "bare": bare(model, images)}
    row["service"] = service(model, config_model, images)
    row["ratio_service_over_bare"] = round(row["service"]["fps"] / row["bare"]["fps"], 3)
    row["ratio_per_core"] = round(
        row["service"]["fps_per_core"] / row["bare"]["fps_per_core"], 3
    )
    print(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200, help="frames for the SSD backend")
    parser.add_argument("--yolo-frames", type=int, default=100, help="frames for YOLO; 0: skip")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [measure("ssd", SsdModel(type="ssd"), args.frames)]
    if args.yolo_frames:
        yolo = YoloModel(type="yolo", weights="yolo11n.yaml", min_confidence=0.0,
                         max_detections=10)  # fmt: skip
        rows.append(measure("yolo", yolo, args.yolo_frames))
    result = {
        "benchmark": "detector_fps",
        "frames": args.frames,
        "yolo_frames": args.yolo_frames,
        "cameras": CAMERAS,
        "rows": rows,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "how": "bare model.detect loop on decoded frames vs the full service (10 image-folder "
        "cameras, decode, ByteTrack, scene, groups with inline crops, Kafka acks) on the same "
        "frames, one after the other in one process; fps per core = frames / process CPU s",
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "detector_fps.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results_dir / 'detector_fps.json'}")


if __name__ == "__main__":
    main()
