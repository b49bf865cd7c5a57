"""The inference worker pool: parallel models, per-camera order kept whatever finishes
first, worker counts validated, and a stop that still publishes every frame in flight."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike

from contract import DetectionEvent, parse
from detector.config import ConfigError, parse_config
from detector.models import Detector, RawDetection
from detector.service import DetectorService
from detector.sources import PacedSource, image_folder
from detector.workers import InferencePool, Sequencer, resolve_threads, resolve_workers
from tests.unit.detector.test_service import Collecting


class FromPixels(Detector):
    """A car whose position is written in the frame (so any worker gives the same answer),
    after a random pause so workers finish out of order."""

    name = "from-pixels"

    def __init__(self, max_sleep_s: float = 0.02) -> None:
        self.max_sleep_s = max_sleep_s
        self.threads: int | None = None
        self.callers: set[str] = set()

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
        self.callers.add(threading.current_thread().name)
        time.sleep(random.uniform(0, self.max_sleep_s))
        y = float(frame_bgr[0, 0, 0])  # 10 px per frame
        return [RawDetection("car", 0.9, 100, y, 160, y + 50)]


def write_frames(folder, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        frame = np.full((240, 320, 3), 30, np.uint8)
        frame[0, 0] = 10 * i % 250
        cv2.imwrite(str(folder / f"f{i:03d}.png"), frame)


def service_config(tmp_path, cameras: int, frames: int, **extra) -> dict[str, Any]:
    for c in range(cameras):
        write_frames(tmp_path / f"cam{c}", frames)
    return {
        "cameras": [{"id": f"cam{c}", "source": str(tmp_path / f"cam{c}"), **extra}
                    for c in range(cameras)],
        "tracker": {"type": "bytetrack"}, "metrics_port": None, "start_ms": 1_000,
    }  # fmt: skip


def by_camera(publisher: Collecting) -> dict[str, list[DetectionEvent]]:
    out: dict[str, list[DetectionEvent]] = {}
    for camera, key, value in publisher.sent:
        event = parse(DetectionEvent, value)
        assert key == camera.encode() == event.camera_id.encode()
        out.setdefault(camera, []).append(event)
    return out


def test_worker_counts_are_validated_and_default_to_the_cpus():
    assert resolve_workers(None, cpus=2) == 2
    assert resolve_workers(3, cpus=2) == 3
    assert resolve_threads(2, None, cpus=2) == 1
    assert resolve_threads(1, None, cpus=4) == 4
    assert resolve_threads(8, None, cpus=2) == 1
    assert resolve_threads(2, 3, cpus=2) == 3
    for bad in (lambda: resolve_workers(0), lambda: resolve_threads(1, 0)):
        with pytest.raises(ValueError, match=">= 1"):
            bad()
    with pytest.raises(ValueError, match="at least one model"):
        InferencePool([])
    with pytest.raises(ValueError, match="depth"):
        Sequencer(print, depth=0)
    with pytest.raises(ConfigError, match=r"inference\.workers: Input should be greater"):
        parse_config({"cameras": [{"id": "a", "source": "x"}], "inference": {"workers": 0}})
    with pytest.raises(ConfigError, match=r"inference\.thread: Extra inputs"):
        parse_config({"cameras": [{"id": "a", "source": "x"}], "inference": {"thread": 1}})


def test_workers_run_models_side_by_side():
    barrier = threading.Barrier(2, timeout=5)  # broken unless two detect() calls overlap

    class Meeting(Detector):
        name = "meeting"

        def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
            barrier.wait()
            return []

    pool = InferencePool([Meeting(), Meeting()])
    results: list[object] = []
    for _ in range(4):
        pool.submit(np.zeros((2, 2, 3), np.uint8), lambda b, e, s: results.append(e or b))
    pool.close()
    assert results == [[], [], [], []]


def test_close_finishes_every_queued_job_then_refuses_more():
    model = FromPixels(max_sleep_s=0.005)
    pool = InferencePool([model])
    seen: list[float] = []

    def record(boxes: list[RawDetection] | None, error: BaseException | None, _s: float) -> None:
        assert boxes is not None, error
        seen.append(boxes[0].y1)

    for i in range(20):
        pool.submit(np.full((2, 2, 3), i, np.uint8), record)
    pool.close()
    assert seen == [float(i) for i in range(20)]  # one worker: FIFO
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(np.zeros((2, 2, 3), np.uint8), lambda b, e, s: None)
    pool.close()  # idempotent


def test_a_failing_model_reports_to_the_frame_and_the_worker_goes_on():
    class Flaky(Detector):
        name = "flaky"

        def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
            if frame_bgr[0, 0, 0] == 1:
                raise RuntimeError("boom")
            return []

    pool = InferencePool([Flaky()])
    out: list[object] = []
    for i in range(3):
        pool.submit(np.full((2, 2, 3), i, np.uint8), lambda b, e, s: out.append(e or b))
    pool.close()
    assert out[0] == [] and isinstance(out[1], RuntimeError) and out[2] == []


def test_sequencer_handles_in_order_whatever_order_results_arrive_in():
    handled: list[int] = []
    sequencer: Sequencer[int] = Sequencer(handled.append, depth=50)
    seqs = [sequencer.reserve() for _ in range(50)]
    random.shuffle(seqs)
    threads = [threading.Thread(target=sequencer.complete, args=(s, s)) for s in seqs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sequencer.drain(timeout_s=5)
    assert handled == list(range(50)) and sequencer.in_flight == 0


def test_sequencer_bounds_frames_in_flight():
    sequencer: Sequencer[int] = Sequencer(lambda _: None, depth=2)
    assert [sequencer.reserve(), sequencer.reserve()] == [0, 1]
    got: list[int] = []
    blocked = threading.Thread(target=lambda: got.append(sequencer.reserve()))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive() and got == []  # a third must wait
    sequencer.complete(1, 1)  # out of order: still nothing handled
    blocked.join(0.2)
    assert blocked.is_alive()
    sequencer.complete(0, 0)
    blocked.join(5)
    assert got == [2]
    sequencer.complete(2, 2)
    assert sequencer.drain(timeout_s=5)


def test_service_keeps_each_cameras_order_and_tracks_across_workers(tmp_path):
    publisher = Collecting()
    models = [FromPixels(), FromPixels(), FromPixels()]
    config = parse_config(service_config(tmp_path, cameras=3, frames=12))
    service = DetectorService(config, quiet=True, models=models, publisher=publisher)
    result = service.run()

    events = by_camera(publisher)
    assert sorted(events) == ["cam0", "cam1", "cam2"]
    for camera, evs in events.items():
        assert result.cameras[camera].frames == 12 and result.cameras[camera].error is None
        assert [e.frame_id for e in evs] == list(range(12))
        assert [e.captured_at_ms for e in evs] == [1_000 + 1000 * i for i in range(12)]
        assert [e.objects[0].box.y1 for e in evs] == [10.0 * i for i in range(12)]
        assert len({e.objects[0].track_id for e in evs}) == 1  # one track, never swapped
        assert all(e.objects[0].velocity_px_s == (0.0, 10.0) for e in evs[1:])
    assert sum(len(m.callers) for m in models) == 3  # each model called by its own worker
    assert all(m.threads == resolve_threads(3, None) for m in models)
    assert service.metrics.registry.get_sample_value("traffic_detector_inference_workers") == 3


def test_stop_publishes_every_frame_already_in_flight(tmp_path):
    publisher = Collecting()
    config = parse_config(service_config(tmp_path, cameras=2, frames=200))
    service = DetectorService(config, quiet=True, publisher=publisher,
                              models=[FromPixels(0.01), FromPixels(0.01)])  # fmt: skip
    timer = threading.Timer(0.3, service.stop)
    timer.start()
    result = service.run()
    timer.cancel()

    events = by_camera(publisher)
    done = sum(r.frames for r in result.cameras.values())
    assert 0 < done < 400  # stopped early
    assert len(publisher.sent) == done  # nothing analysed was lost on the way out
    for camera, evs in events.items():
        assert [e.frame_id for e in evs] == list(range(result.cameras[camera].frames))
    assert not any(t.name.startswith("infer-") for t in threading.enumerate())


def test_one_cameras_model_error_ends_that_camera_only(tmp_path):
    class FailsOnCam1(FromPixels):
        def detect(self, frame_bgr: MatLike) -> list[RawDetection]:
            if frame_bgr[1, 1, 0] == 7:
                raise RuntimeError("model exploded")
            return super().detect(frame_bgr)

    data = service_config(tmp_path, cameras=2, frames=5)
    bad = tmp_path / "cam1" / "f002.png"
    frame = cv2.imread(str(bad))
    assert frame is not None
    frame[1, 1] = 7
    cv2.imwrite(str(bad), frame)
    publisher = Collecting()
    service = DetectorService(parse_config(data), quiet=True, publisher=publisher,
                              models=[FailsOnCam1(0), FailsOnCam1(0)])  # fmt: skip
    result = service.run()
    assert result.cameras["cam0"].frames == 5 and result.cameras["cam0"].error is None
    assert "model exploded" in (result.cameras["cam1"].error or "")
    assert [e.frame_id for e in by_camera(publisher)["cam1"]] == [0, 1]


def test_paced_folder_is_delivered_on_the_wall_clock_and_counts_drops(tmp_path):
    write_frames(tmp_path / "cam", 6)
    drops: list[str] = []
    stop = threading.Event()
    frames = image_folder(tmp_path / "cam", 20.0, 0, drops.append, stop)
    started = time.time()
    got = []
    for frame in PacedSource(frames, 20.0, drops.append, stop):  # 50 ms apart
        got.append(frame)
        time.sleep(0.12)  # slower than the camera: samples get replaced
    assert 0.2 <= time.time() - started < 3
    assert got[0].index == 0 and got[-1].index == 5  # newest always wins, the last too
    assert len(got) + drops.count("behind") == 6
    assert drops.count("behind") >= 1
    assert all(abs(f.captured_at_ms / 1000 - started) < 5 for f in got)  # wall-clock time


def test_paced_empty_folder_raises_in_the_consumer(tmp_path):
    (tmp_path / "empty").mkdir()
    stop = threading.Event()
    frames = image_folder(tmp_path / "empty", 5.0, 0, print, stop)
    with pytest.raises(Exception, match="no image frames"):
        list(PacedSource(frames, 5.0, print, stop))
