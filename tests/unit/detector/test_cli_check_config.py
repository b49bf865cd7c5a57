"""`traffic-detector --check-config`: validates what the service would run without opening a
camera, a model or a connection, so an image build or a deploy step can gate on it."""

from __future__ import annotations

import os
import subprocess
import sys

from k8s.tools.fetch_schemas import REPO

EXAMPLE = REPO / "detector" / "cameras.example.yaml"


def detector(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "TRAFFIC_DETECTOR_CONFIG"}
    return subprocess.run([sys.executable, "-m", "detector.cli", *argv], cwd=REPO,
                          env=clean | env, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_example_config_passes_with_a_summary():
    done = detector("--config", str(EXAMPLE), "--check-config", "--bootstrap", "kafka:9092")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "detector config ok: 5 cameras: cam-plaza (sample/cam-plaza), cam-bus-east "
        "(sample/cam-bus-east), junction-north (rtsp://camera.example/stream1), dashcam "
        "(recordings/dashcam.mp4), desk (webcam:0)",
        "model ssd, tracker bytetrack, workers 2",
        "output detection-results at kafka:9092 (crops inline), metrics port 9108, "
        "health port 9109",
    ]


def test_config_comes_from_the_environment_when_not_given():
    done = detector("--check-config", "--model", "yolo", TRAFFIC_DETECTOR_CONFIG=str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "model yolo, tracker bytetrack" in done.stdout


def test_a_bad_field_fails_with_its_path(tmp_path):
    bad = tmp_path / "cameras.yaml"
    bad.write_text("cameras:\n  - id: cam-1\n    source: x\n    sample_fps: 0\n")
    done = detector("--config", str(bad), "--check-config")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "cameras[0].sample_fps" in done.stderr
