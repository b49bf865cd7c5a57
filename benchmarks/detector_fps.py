"""Benchmark: the detector service's frames/s versus a bare loop calling the same model,
and whether 10 cameras at 1 frame/s fit.

Per backend, in one run, on the same frames (the sample photos panned, 640x480 JPEGs):
- bare: ``workers`` threads, each calling its own model instance (the service's worker
  count and threads per model) over the frames already decoded in memory;
- service: `DetectorService` with 10 cameras reading those frames as image folders as
  fast as they go (decode, worker pool, ByteTrack, scene, groups + crops, JSON, Kafka
  publish and acknowledgement).
FPS per core = frames / CPU seconds of this process (all threads). The YOLO backend runs an
untrained yolo11n built from its yaml (no weights can be downloaded here) with threshold 0
and at most 10 boxes, so the service has boxes to track and group.
Then the bar itself (`paced`): 10 image-folder cameras replayed on the wall clock at
1 frame/s each (`pace: true`, all due at the same instants, the worst case) for
``--paced-s`` seconds with the default model: frames analysed per second, samples dropped
because the service was behind, frame age at publish (the service's own metrics), this
process's CPU and the whole machine's busy share (/proc/stat). Needs the local Kafka.
Writes benchmarks/results/detector_fps.json.

    .venv/bin/python -m benchmarks.detector_fps --frames 200 --yolo-frames 100 --paced-s 60
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import threading
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import cv2
from cv2.typing import MatLike

from detector import sample
from detector.config import ModelConfig, Service, SsdModel, YoloModel, parse_config
from detector.models import Detector, build_detector
from detector.observability import AGE_BUCKETS
from detector.service import DetectorService
from detector.workers import resolve_threads, resolve_workers
from stack.config import Endpoints
from stack.paths import REPO
from stack.topics import ensure_topics

RESULTS = REPO / "benchmarks" / "results"
CAMERAS = 10


def frames(count: int) -> list[MatLike]:
    per_photo = (count + 1) // 2
    out = sample.pan_frames(sample._photo("bus.jpg"), (3, 1), per_photo)
    out += sample.pan_frames(sample._photo("zidane.jpg"), (4, 1), per_photo)
    return out[:count]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs: whether anything else ran during a measurement."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    return round(100 * (after[0] - before[0]) / max(1, after[1] - before[1]), 1)


def bare(models: list[Detector], images: list[MatLike]) -> dict[str, Any]:
    """Each model in its own thread over its share of the frames: the pool's ideal."""
    for model in models:
        model.detect(images[0])  # warm-up

    def loop(model: Detector, share: list[MatLike]) -> None:
        for image in share:
            model.detect(image)

    threads = [threading.Thread(target=loop, args=(m, images[i :: len(models)]))
               for i, m in enumerate(models)]  # fmt: skip
    wall, cpu = time.perf_counter(), cpu_s()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _rates(len(images), time.perf_counter() - wall, cpu_s() - cpu)


def write_cameras(root: Path, images: list[MatLike], per_camera: int, rotate: bool) -> None:
    """One folder per camera; ``rotate``: every camera gets all frames, each from its own
    starting point, else each camera its own slice."""
    for cam in range(CAMERAS):
        folder = root / f"cam{cam}"
        folder.mkdir()
        if rotate:
            shift = cam * len(images) // CAMERAS
            chosen = [images[(shift + i) % len(images)] for i in range(per_camera)]
        else:
            chosen = images[cam * per_camera : (cam + 1) * per_camera]
        for i, image in enumerate(chosen):
            cv2.imwrite(str(folder / f"f{i:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])


def service_config(root: Path, config_model: ModelConfig, workers: int, topic: str,
                   **camera: object) -> Service:  # fmt: skip
    return parse_config({
        "cameras": [{"id": f"bench-{c}", "source": str(root / f"cam{c}"), **camera}
                    for c in range(CAMERAS)],
        "model": config_model.model_dump(),
        "inference": {"workers": workers},
        "output": {"bootstrap": Endpoints.from_env().kafka_bootstrap, "topic": topic},
        "metrics_port": None,
    })  # fmt: skip


def fresh_topic() -> str:
    topic = f"bench-detector-{uuid.uuid4().hex[:8]}"
    ensure_topics(Endpoints.from_env().kafka_bootstrap, {topic: 2})
    return topic


def service(
    models: list[Detector], config_model: ModelConfig, images: list[MatLike]
) -> dict[str, Any]:
    per_camera = max(1, len(images) // CAMERAS)  # a smoke run's few frames: shared
    with TemporaryDirectory() as tmp:
        write_cameras(Path(tmp), images, per_camera, rotate=len(images) < CAMERAS)
        config = service_config(Path(tmp), config_model, len(models), fresh_topic())
        svc = DetectorService(config, quiet=True, models=models)
        wall, cpu = time.perf_counter(), cpu_s()
        result = svc.run()
        elapsed, used = time.perf_counter() - wall, cpu_s() - cpu
    done = sum(r.frames for r in result.cameras.values())
    assert result.delivered == done == per_camera * CAMERAS, result
    return {**_rates(done, elapsed, used), "tracker": result.tracker}


def _rates(count: int, wall_s: float, cpu: float) -> dict[str, Any]:
    return {
        "frames": count,
        "wall_s": round(wall_s, 2),
        "cpu_s": round(cpu, 2),
        "fps": round(count / wall_s, 2),
        "fps_per_core": round(count / cpu, 2),
    }


def measure(name: str, config_model: ModelConfig, count: int, workers: int) -> dict[str, Any]:
    models = [build_detector(config_model) for _ in range(workers)]
    threads = resolve_threads(workers, None)
    for model in models:
        model.set_threads(threads)
    images = frames(count)
    alone = bare(models, images)
    served = service(models, config_model, images)
    row = {
        "backend": name, "model": models[0].name, "workers": workers,
        "threads_per_worker": threads, "bare": alone, "service": served,
        "ratio_service_over_bare": round(served["fps"] / alone["fps"], 3),
        "ratio_per_core": round(served["fps_per_core"] / alone["fps_per_core"], 3),
    }  # fmt: skip
    print(json.dumps(row))
    return row


def paced(seconds: int, workers: int) -> dict[str, Any]:
    """The bar: 10 cameras at 1 frame/s, wall-clock paced, default model, ``seconds`` long."""
    config_model = SsdModel(type="ssd")
    images = frames(60)
    load_before = os.getloadavg()
    with TemporaryDirectory() as tmp:
        write_cameras(Path(tmp), images, seconds, rotate=True)
        config = service_config(Path(tmp), config_model, workers, fresh_topic(),
                                sample_fps=1.0, pace=True)  # fmt: skip
        svc = DetectorService(config, quiet=True)
        machine, wall, cpu = machine_cpu(), time.perf_counter(), cpu_s()
        result = svc.run()
        elapsed, used, machine_after = time.perf_counter() - wall, cpu_s() - cpu, machine_cpu()
    reg = svc.metrics.registry
    cams = [f"bench-{c}" for c in range(CAMERAS)]

    def total(metric: str, **labels: str) -> float:
        return sum(reg.get_sample_value(metric, {"camera": c, **labels}) or 0.0 for c in cams)

    done = sum(r.frames for r in result.cameras.values())
    assert result.delivered == done and not result.undelivered, result
    aged = total("traffic_detector_frame_age_seconds_count")
    age_buckets = {str(b): int(total("traffic_detector_frame_age_seconds_bucket", le=str(b)))
                   for b in AGE_BUCKETS}  # fmt: skip
    p95 = next((b for b in AGE_BUCKETS if age_buckets[str(b)] >= 0.95 * aged), None)
    cpus = os.cpu_count() or 1
    row = {
        "cameras": CAMERAS,
        "sample_fps": 1.0,
        "seconds": seconds,
        "workers": len(svc.models),
        "threads_per_worker": svc.threads,
        "offered": CAMERAS * seconds,
        "analysed": done,
        "wall_s": round(elapsed, 2),
        "fps": round(done / elapsed, 2),
        "dropped_behind": int(total("traffic_detector_frames_dropped_total", reason="behind")),
        "late_over_1s": int(aged - age_buckets["1.0"]),
        "age_mean_s": round(total("traffic_detector_frame_age_seconds_sum") / max(1, aged), 3),
        "age_p95_at_most_s": p95,
        "age_buckets": age_buckets,
        "process_cpu_s": round(used, 2),
        "process_cores_busy": round(used / elapsed, 2),
        "machine_cpu_busy_pct": busy_pct(machine, machine_after),
        "load_avg_before": [round(x, 2) for x in load_before],
        "cpus": cpus,
        "tracker": result.tracker,
    }
    # Keeps up: every offered frame analysed and published, none replaced while waiting.
    row["keeps_up"] = row["dropped_behind"] == 0 and done == row["offered"]
    print(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200, help="frames for the SSD backend")
    parser.add_argument("--yolo-frames", type=int, default=100, help="frames for YOLO; 0: skip")
    parser.add_argument("--paced-s", type=int, default=60,
                        help="seconds of 10 paced cameras at 1 frame/s; 0: skip")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None,
                        help="inference workers (default: one per CPU)")  # fmt: skip
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    workers = resolve_workers(args.workers)
    machine, load_before = machine_cpu(), os.getloadavg()
    rows = [measure("ssd", SsdModel(type="ssd"), args.frames, workers)]
    yolo_skipped = None
    if args.yolo_frames and importlib.util.find_spec("ultralytics") is None:
        yolo_skipped = "ultralytics is not installed (the yolo extra: `./dev setup --yolo`)"
        print(f"detector_fps: YOLO row skipped: {yolo_skipped}", flush=True)
    if args.yolo_frames and yolo_skipped is None:
        yolo = YoloModel(type="yolo", weights="yolo11n.yaml", min_confidence=0.0,
                         max_detections=10)  # fmt: skip
        rows.append(measure("yolo", yolo, args.yolo_frames, workers))
    ratio_busy = busy_pct(machine, machine_cpu())
    result = {
        "benchmark": "detector_fps",
        "frames": args.frames,
        "yolo_frames": args.yolo_frames,
        "yolo_skipped": yolo_skipped,
        "paced_s": args.paced_s,
        "cameras": CAMERAS,
        "workers": workers,
        "rows": rows,
        "rows_machine_cpu_busy_pct": ratio_busy,
        "rows_load_avg_before": [round(x, 2) for x in load_before],
        "paced": paced(args.paced_s, workers) if args.paced_s else None,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "how": f"bare: {workers} threads, each calling its own model instance, over decoded "
        f"frames vs the full service ({workers} inference workers; 10 image-folder cameras "
        "read as fast as they go: decode, ByteTrack, scene, groups with inline crops, Kafka "
        "acks) on the same frames and model instances, one after the other in one process; "
        "fps per core = frames / process CPU s",
        "how_paced": "10 image-folder cameras with `pace: true` (a reader thread per camera "
        "delivers one frame per second on the wall clock, all cameras due at the same "
        "instants; a sample not taken before the next is due counts as dropped `behind`), "
        "default SSD model, default workers; age = sampling to publish "
        "(`traffic_detector_frame_age_seconds`), late = age > 1 s (reported, not a failure: "
        "the frame is still analysed); keeps up = every offered frame analysed and published, "
        "none dropped; machine CPU busy from /proc/stat over the run (includes anything else "
        "running)",
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "detector_fps.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results_dir / 'detector_fps.json'}")


if __name__ == "__main__":
    main()
