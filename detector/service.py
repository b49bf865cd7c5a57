"""The detector service: many cameras in one process, one thread each, one shared model.

The main thread serves Kafka delivery reports until every camera has ended (files) or a
stop is requested (SIGTERM/SIGINT in the CLI), then flushes the producer. A camera whose
input cannot be read logs a clear error and ends; the others go on.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass

from tqdm import tqdm

from contract import DetectionEvent
from detector import config as cfg
from detector.annotate import VideoOut, draw
from detector.crops import CropStore, InlineCrops, NoCrops, RedisCrops
from detector.models import Detector, build_detector
from detector.observability import Metrics
from detector.pipeline import CameraPipeline
from detector.publisher import Publisher
from detector.sources import SourceError, open_source
from detector.tracking import make_tracker

log = logging.getLogger("traffic-detector")


@dataclass
class CameraResult:
    frames: int = 0
    error: str | None = None


@dataclass
class ServiceResult:
    cameras: dict[str, CameraResult]
    delivered: int
    undelivered: int
    dropped: int
    tracker: str


def crop_store(output: cfg.Output, metrics: Metrics) -> CropStore:
    if output.crops == "redis":
        return RedisCrops(output.redis_url, output.crop_ttl_s, metrics)
    if output.crops == "none":
        return NoCrops()
    return InlineCrops(metrics)


class DetectorService:
    """Build with a validated config; `run()` blocks; `stop()` may come from any thread."""

    def __init__(
        self, config: cfg.Service, metrics: Metrics | None = None, quiet: bool = False,
        model: Detector | None = None, publisher: Publisher | None = None,
    ) -> None:  # fmt: skip
        self.config = config
        self.metrics = metrics or Metrics()
        self.quiet = quiet or not sys.stderr.isatty()
        self._stop = threading.Event()
        self.model = model or build_detector(config.model)
        crops = crop_store(config.output, self.metrics)
        lock = threading.Lock()
        # Every tracker before any frame: BYTETracker's constructor resets a global counter.
        self.pipelines = {
            cam.id: CameraPipeline(
                cam.id, self.model, config.proximity,
                make_tracker(config.tracker.type, config.tracker.track_buffer,
                             config.tracker.match_thresh),
                cam.scene, crops, lock,
            )
            for cam in config.cameras
        }  # fmt: skip
        self.tracker_name = next(iter(self.pipelines.values())).tracker.name
        self.publisher = publisher or Publisher(
            config.output.bootstrap, config.output.topic, self.metrics,
            config.output.buffer_max_bytes,
        )  # fmt: skip
        self.results = {cam.id: CameraResult() for cam in config.cameras}

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> ServiceResult:
        start_ms = self.config.start_ms
        if start_ms is None:
            start_ms = int(time.time() * 1000)
        log.info(
            "detector starting",
            extra={"cameras": len(self.config.cameras), "model": self.model.name,
                   "tracker": self.tracker_name, "topic": self.config.output.topic},
        )  # fmt: skip
        threads = [
            threading.Thread(target=self._camera, args=(cam, start_ms, n), name=f"cam-{cam.id}")
            for n, cam in enumerate(self.config.cameras)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            self.publisher.poll(0.2)
        undelivered = self.publisher.close(self.config.output.flush_timeout_s)
        return ServiceResult(
            self.results, self.publisher.delivered, undelivered, self.publisher.dropped,
            self.tracker_name,
        )  # fmt: skip

    def _camera(self, cam: cfg.Camera, start_ms: int, position: int) -> None:
        result = self.results[cam.id]
        try:
            self._run_camera(cam, start_ms, position)
        except SourceError as err:
            result.error = str(err)
            log.error("camera input unreadable", extra={"camera": cam.id, "error": str(err)})
        except Exception as err:  # one camera's failure must not stop the others
            result.error = f"{type(err).__name__}: {err}"
            log.exception("camera failed", extra={"camera": cam.id})
        finally:
            self.metrics.camera_up.labels(cam.id).set(0)

    def _run_camera(self, cam: cfg.Camera, start_ms: int, position: int) -> None:
        m, result = self.metrics, self.results[cam.id]
        frames, total = open_source(
            cam, start_ms,
            on_drop=lambda reason: m.dropped.labels(cam.id, reason).inc(),
            on_reconnect=lambda: m.reconnects.labels(cam.id).inc(),
            stop=self._stop,
        )  # fmt: skip
        m.camera_up.labels(cam.id).set(1)
        pipeline = self.pipelines[cam.id]
        video = VideoOut(self.config.annotate_dir / f"{cam.id}.mp4", cam.sample_fps) \
            if self.config.annotate_dir else None  # fmt: skip
        bar = tqdm(total=total, desc=cam.id, unit="frame", position=position,
                   disable=self.quiet or total is None, leave=False)  # fmt: skip
        try:
            for frame in frames:
                event = pipeline.process(frame.image, frame.index, frame.captured_at_ms)
                self._record(cam.id, event, pipeline)
                self.publisher.publish(cam.id, event.key, event.to_json())
                if video:
                    video.write(draw(frame.image, event, cam.scene))
                result.frames += 1
                bar.update()
                if cam.limit is not None and result.frames >= cam.limit:
                    break
        finally:
            bar.close()
            if video:
                video.close()
        log.info("camera ended", extra={"camera": cam.id, "frames": result.frames})

    def _record(self, camera: str, event: DetectionEvent, pipeline: CameraPipeline) -> None:
        m = self.metrics
        m.frames.labels(camera).inc()
        m.latency.labels(self.model.name).observe(pipeline.timing.model_s)
        m.frame_seconds.labels(camera).observe(pipeline.timing.total_s)
        for obj in event.objects:
            m.detections.labels(camera, obj.class_name).inc()
