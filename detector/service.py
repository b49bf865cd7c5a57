"""The detector service: many cameras in one process, a pool of model workers.

Each camera's thread reads and decodes its frames and submits them to the inference pool
(`detector.workers`): one model instance per worker thread, so inference spreads over the
cores. Each camera's results go through its `Sequencer`, which runs tracking, scene,
groups, crops and the Kafka publish strictly in frame order, in whichever worker finished
the frame that is next in line. The main thread serves Kafka delivery reports until every
camera has ended (files) or a stop is requested (SIGTERM/SIGINT in the CLI), then lets the
frames in flight finish and flushes the producer. A camera whose input cannot be read logs
a clear error and ends; the others go on.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from contract import DetectionEvent
from detector import config as cfg
from detector.annotate import VideoOut, draw
from detector.crops import CropStore, InlineCrops, NoCrops, RedisCrops
from detector.health import Health
from detector.models import Detector, RawDetection, build_detector
from detector.observability import Metrics
from detector.pipeline import CameraPipeline
from detector.publisher import EventSink, Publisher
from detector.sources import Frame, SourceError, is_stream, open_source
from detector.tracking import make_tracker
from detector.workers import InferencePool, Sequencer, resolve_threads, resolve_workers

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


@dataclass(frozen=True)
class _Analysed:
    """A frame back from the pool: its boxes, or the model's error."""

    frame: Frame
    boxes: list[RawDetection] | None
    error: BaseException | None
    model_s: float


def crop_store(output: cfg.Output, metrics: Metrics) -> CropStore:
    if output.crops == "redis":
        return RedisCrops(output.redis_url, output.crop_ttl_s, metrics)
    if output.crops == "none":
        return NoCrops()
    return InlineCrops(metrics)


class DetectorService:
    """Build with a validated config; `run()` blocks; `stop()` may come from any thread.

    Models: ``models`` (one per worker), else ``model`` (a single worker: a given instance
    cannot be cloned), else ``inference.workers`` instances built from the config.
    `health` records the main loop's turns, Kafka's acks and each camera's publishes for
    the probes (detector/health.py).
    """

    def __init__(
        self, config: cfg.Service, metrics: Metrics | None = None, quiet: bool = False,
        model: Detector | None = None, publisher: EventSink | None = None,
        models: Sequence[Detector] | None = None,
    ) -> None:  # fmt: skip
        self.config = config
        self.metrics = metrics or Metrics()
        self.quiet = quiet or not sys.stderr.isatty()
        self._stop = threading.Event()
        self.health = Health(config.health.ready_within_s)
        if models is None:
            if model is not None:
                models = [model]
            else:
                count = resolve_workers(config.inference.workers)
                models = [build_detector(config.model) for _ in range(count)]
        self.models = list(models)
        self.model = self.models[0]
        self.threads = resolve_threads(len(self.models), config.inference.threads)
        for m in self.models:
            m.set_threads(self.threads)
        crops = crop_store(config.output, self.metrics)
        # One tracker per camera: track ids are numbered per camera.
        self.pipelines = {
            cam.id: CameraPipeline(
                cam.id, self.model, config.proximity,
                make_tracker(config.tracker.type, config.tracker.track_buffer,
                             config.tracker.match_thresh),
                cam.scene, crops,
            )
            for cam in config.cameras
        }  # fmt: skip
        self.tracker_name = next(iter(self.pipelines.values())).tracker.name
        self.publisher: EventSink = publisher or Publisher(
            config.output.bootstrap, config.output.topic, self.metrics,
            config.output.buffer_max_bytes,
            client_properties=config.output.kafka_properties,
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
                   "workers": len(self.models), "threads_per_worker": self.threads,
                   "tracker": self.tracker_name, "topic": self.config.output.topic},
        )  # fmt: skip
        self.metrics.workers.set(len(self.models))
        self.pool = InferencePool(self.models)
        threads = [
            threading.Thread(target=self._camera, args=(cam, start_ms, n), name=f"cam-{cam.id}")
            for n, cam in enumerate(self.config.cameras)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            self.publisher.poll(0.2)
            self.health.beat(self.publisher.delivered)
        self.pool.close()  # cameras drained their frames in flight; this joins the workers
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
        live = is_stream(cam.source) or cam.pace
        failure: list[BaseException] = []

        def handle(done: _Analysed) -> None:
            """In frame order, in a worker thread: tracker, scene, groups, publish."""
            if failure:
                return  # the camera failed on an earlier frame; the rest are dropped
            try:
                if done.error is not None:
                    raise done.error
                frame = done.frame
                event = pipeline.finish(frame.image, frame.index, frame.captured_at_ms,
                                        done.boxes or [], done.model_s)  # fmt: skip
                self._record(cam.id, event, pipeline)
                self.publisher.publish(cam.id, event.key, event.to_json())
                self.health.published(cam.id)
                if live:
                    m.frame_age.labels(cam.id).observe(
                        max(0.0, time.time() - frame.captured_at_ms / 1000)
                    )
                if video:
                    video.write(draw(frame.image, event, cam.scene))
                result.frames += 1
                bar.update()
            except Exception as err:
                failure.append(err)

        # A live input takes the newest sample only once the previous one is done; a file
        # may keep every worker busy on its own.
        sequencer: Sequencer[_Analysed] = Sequencer(handle, 1 if live else len(self.models))
        submitted = 0
        try:
            for frame in frames:
                if failure:
                    break
                seq = sequencer.reserve()
                self._submit(sequencer, seq, frame)
                submitted += 1
                if cam.limit is not None and submitted >= cam.limit:
                    break
        finally:
            sequencer.drain()  # every submitted frame handled (published) before the end
            bar.close()
            if video:
                video.close()
        if failure:
            raise failure[0]
        log.info("camera ended", extra={"camera": cam.id, "frames": result.frames})

    def _submit(self, sequencer: Sequencer[_Analysed], seq: int, frame: Frame) -> None:
        def done(boxes: list[RawDetection] | None, error: BaseException | None,
                 model_s: float) -> None:  # fmt: skip
            sequencer.complete(seq, _Analysed(frame, boxes, error, model_s))

        try:
            self.pool.submit(frame.image, done)
        except RuntimeError as err:  # pool closed: settle the slot so drain() returns
            done(None, err, 0.0)

    def _record(self, camera: str, event: DetectionEvent, pipeline: CameraPipeline) -> None:
        m = self.metrics
        m.frames.labels(camera).inc()
        m.latency.labels(self.model.name).observe(pipeline.timing.model_s)
        m.frame_seconds.labels(camera).observe(pipeline.timing.total_s)
        for obj in event.objects:
            m.detections.labels(camera, obj.class_name).inc()
