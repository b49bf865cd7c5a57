"""The detector on a real RTSP stream: GStreamer's RTSP server (Debian's packages, started by
tests/rtsp_server.py) loops a clip of the sample photos; the detector opens the URL as in
production (an `rtsp` camera, OpenCV's FFmpeg backend, detector/sources.py), keeps up with
its sample rate, and after the server restarts reconnects within its backoff, with frame
ids that keep increasing and no event published twice (read back from Kafka)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from contract import DetectionEvent, parse
from detector import sample
from detector.config import parse_config
from detector.observability import Metrics
from detector.service import DetectorService, ServiceResult
from tests.kafka_io import read_all
from tests.pods import free_port

pytestmark = pytest.mark.integration

SERVER = Path(__file__).parents[1] / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi; the venv has no GObject
CLIP_FPS = 10
SAMPLE_FPS = 2.0
RECONNECT = {"initial_s": 0.5, "factor": 2.0, "max_s": 2.0}
OPEN_S = 5.0  # FFmpeg's probe of a fresh RTSP session (~2 s here) and the first analysis
PHASE_S = 10.0


def gstreamer_missing() -> str | None:
    """Why the server cannot run here, or None."""
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "assert Gst.ElementFactory.find('rtpjpegpay'), 'rtpjpegpay'"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
    except FileNotFoundError:
        return f"{SYSTEM_PYTHON} missing"
    if done.returncode != 0:
        return (
            "GStreamer's RTSP server is not installed (./dev setup installs python3-gi, "
            "gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good): "
            + done.stderr.strip().splitlines()[-1]
        )
    return None


class RtspCamera:
    """The server process on a fixed port; `restart()` kills it and starts it again."""

    def __init__(self, folder: Path, port: int, log: Path) -> None:
        first = cv2.imread(str(next(folder.glob("frame_*.jpg"))))
        assert first is not None
        height, width = first.shape[:2]
        self.argv = [
            SYSTEM_PYTHON, str(SERVER), "--port", str(port), "--folder", str(folder),
            "--fps", str(CLIP_FPS), "--width", str(width), "--height", str(height),
        ]  # fmt: skip
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.log = log  # GStreamer's warnings: a file, so that no pipe fills up
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with self.log.open("a") as errors:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=errors,
                                         text=True)  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("serving "):
            self.proc.kill()
            pytest.skip(f"the RTSP server did not start: {line}{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[RtspCamera]:
    missing = gstreamer_missing()
    if missing:
        pytest.skip(missing)
    if not list(sample.CACHE.glob(sample.ULTRALYTICS_WHEEL_GLOB)):
        pytest.skip("sample photos not fetched: run ./dev setup")
    folder = sample.build_sample(60, tmp_path / "frames")["cam-bus-east"]
    server = RtspCamera(folder, free_port(), tmp_path / "rtsp-server.log")
    server.start()
    yield server
    server.kill()


def test_rtsp_stream_keeps_up_and_reconnects_after_a_server_restart(
    camera, kafka_bootstrap, fresh_topic
):
    topic = fresh_topic(1)
    config = parse_config({
        "cameras": [{"id": "cam-rtsp", "source": camera.url, "sample_fps": SAMPLE_FPS,
                     "reconnect": RECONNECT}],
        "output": {"bootstrap": kafka_bootstrap, "topic": topic},
        "metrics_port": None, "health": {"port": None}, "inference": {"workers": 1},
    })  # fmt: skip
    assert config.cameras[0].source.type == "rtsp"
    metrics = Metrics()
    service = DetectorService(config, metrics, quiet=True)
    results: list[ServiceResult] = []
    runner = threading.Thread(target=lambda: results.append(service.run()), daemon=True)

    def frames() -> float:
        value = metrics.registry.get_sample_value("traffic_detector_frames_total",
                                                  {"camera": "cam-rtsp"})  # fmt: skip
        return value or 0.0

    def wait_frames(count: float, timeout_s: float) -> float:
        """Seconds until `count` frames were analysed."""
        started = time.monotonic()
        while frames() < count:
            assert time.monotonic() - started < timeout_s, f"stuck at {frames()} frames"
            assert runner.is_alive(), results
            time.sleep(0.05)
        return time.monotonic() - started

    runner.start()
    try:
        wait_frames(1, 60 + OPEN_S)  # the model loads first
        # Keeps up: the sample rate, measured on the wall clock after the first frame.
        before, started = frames(), time.monotonic()
        time.sleep(PHASE_S)
        rate = (frames() - before) / (time.monotonic() - started)
        assert rate >= 0.8 * SAMPLE_FPS, rate
        assert rate <= SAMPLE_FPS * 1.1, rate

        camera.kill()
        down_at = frames()
        time.sleep(1.5)  # the detector notices, retries, waits
        assert frames() - down_at <= 1  # at most the frame in flight
        camera.start()
        # Back within the backoff's longest wait plus a fresh session's open.
        resumed_s = wait_frames(down_at + 1, RECONNECT["max_s"] + OPEN_S)
        reconnects = metrics.registry.get_sample_value(
            "traffic_detector_stream_reconnects_total", {"camera": "cam-rtsp"}
        )
        assert reconnects is not None and reconnects >= 1
        wait_frames(down_at + 4, 4 / SAMPLE_FPS + OPEN_S)
    finally:
        service.stop()
        runner.join(60)
    assert not runner.is_alive()
    (result,) = results
    assert result.cameras["cam-rtsp"].error is None and result.undelivered == 0

    events = [parse(DetectionEvent, v) for _, v in read_all(kafka_bootstrap, topic, idle_s=2)]
    assert len(events) == result.delivered == result.cameras["cam-rtsp"].frames
    frame_ids = [e.frame_id for e in events]
    assert frame_ids == sorted(set(frame_ids)), frame_ids  # increasing, across the restart
    captured = [e.captured_at_ms for e in events]
    assert captured == sorted(set(captured))
    assert any(o.class_name == "bus" for e in events for o in e.objects)  # the real clip
    print(f"rate {rate:.2f}/s (sample_fps {SAMPLE_FPS}), resumed {resumed_s:.1f} s after the "
          f"server restart, {len(events)} events, {reconnects:.0f} reconnect attempts")  # fmt: skip
