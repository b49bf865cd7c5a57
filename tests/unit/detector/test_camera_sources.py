"""Camera sources: the string forms map to typed sources as before, the typed YAML form loads,
bad sources are named errors, committed configs load, `open_source` dispatches on the type."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detector.config import (
    Camera,
    ConfigError,
    Reconnect,
    WebcamSource,
    load_config,
    parse_config,
    parse_source,
)
from detector.sources import LiveSource, SourceError, is_stream, open_source

REPO = Path(__file__).parents[3]
DOCS = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
COMMITTED_CONFIGS = [REPO / "detector" / "cameras.example.yaml", *REPO.glob("k8s/**/cameras*.yaml")]


@pytest.mark.parametrize(
    ("text", "kind", "field", "value"),
    [
        ("rtsp://host/stream1", "rtsp", "url", "rtsp://host/stream1"),
        ("rtsps://host/s", "rtsp", "url", "rtsps://host/s"),
        ("http://host/mjpg", "http", "url", "http://host/mjpg"),
        ("https://host/live.m3u8", "http", "url", "https://host/live.m3u8"),
        ("rtmp://host/app", "stream", "url", "rtmp://host/app"),
        ("udp://239.0.0.1:1234", "stream", "url", "udp://239.0.0.1:1234"),
        ("tcp://host:5000", "stream", "url", "tcp://host:5000"),
        ("webcam:0", "webcam", "index", 0),
        ("webcam:12", "webcam", "index", 12),
        ("recordings/dashcam.mp4", "file", "path", Path("recordings/dashcam.mp4")),
        ("sample/not-built-yet", "folder", "path", Path("sample/not-built-yet")),
    ],
)
def test_each_string_form_maps_to_its_typed_source(text, kind, field, value):
    source = parse_source(text)
    assert source.type == kind
    assert getattr(source, field) == value
    assert str(source) == text  # logs and summaries name it as written
    assert is_stream(source) == (kind in {"rtsp", "http", "stream", "webcam"})


def test_an_existing_path_is_a_folder_or_a_file_by_what_it_is(tmp_path):
    folder, video = tmp_path / "cam.d", tmp_path / "clip"
    folder.mkdir()
    video.write_bytes(b"")
    assert parse_source(str(folder)).type == "folder"  # a folder even with a suffix
    assert parse_source(str(video)).type == "file"  # a file even without one


def test_the_typed_yaml_form_loads(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text(
        "cameras:\n"
        "  - {id: a, source: {type: rtsp, url: 'rtsp://host/s'}, sample_fps: 2}\n"
        "  - {id: b, source: {type: http, url: 'https://host/mjpg'}}\n"
        "  - {id: c, source: {type: stream, url: 'udp://239.0.0.1:1234'}}\n"
        "  - {id: d, source: {type: file, path: clips/a.mp4}}\n"
        "  - {id: e, source: {type: folder, path: frames/e}, pace: true}\n"
        "  - {id: f, source: {type: webcam, index: 1}}\n"
    )
    config = load_config(path)
    assert [(c.id, c.source.type, str(c.source)) for c in config.cameras] == [
        ("a", "rtsp", "rtsp://host/s"),
        ("b", "http", "https://host/mjpg"),
        ("c", "stream", "udp://239.0.0.1:1234"),
        ("d", "file", "clips/a.mp4"),
        ("e", "folder", "frames/e"),
        ("f", "webcam", "webcam:1"),
    ]
    assert config.cameras[4].pace and config.cameras[0].sample_fps == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"type": "ftp", "url": "ftp://host/x"},
            "cameras[0].source: Input tag 'ftp' found using 'type' does not match any of the "
            "expected tags: 'rtsp', 'http', 'stream', 'webcam', 'file', 'folder'",
        ),
        ({"url": "rtsp://host/s"}, "cameras[0].source: Unable to extract tag using discriminator"),
        ({"type": "rtsp", "url": "http://host/s"}, "cameras[0].source.rtsp.url: String should"),
        ({"type": "file", "path": "a.mp4", "loop": True}, "source.file.loop: Extra inputs"),
        ({"type": "webcam", "index": -1}, "cameras[0].source.webcam.index: Input should be"),
        ("webcam:front", "cameras[0].source: Value error, webcam:N needs a device number"),
        ("", "cameras[0].source: Value error, source must not be empty"),
    ],
    ids=["unknown type", "no type", "wrong scheme", "unknown field", "bad index",
         "bad webcam string", "empty"],
)  # fmt: skip
def test_bad_sources_are_named_errors(source, message):
    with pytest.raises(ConfigError) as err:
        parse_config({"cameras": [{"id": "a", "source": source}]})
    assert message in str(err.value)


@pytest.mark.parametrize("path", COMMITTED_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_committed_cameras_config_loads(path):
    config = load_config(path)
    assert config.cameras and all(str(c.source) for c in config.cameras)


def docs_camera_examples() -> list[str]:
    blocks = (re.findall(r"```yaml\n(.*?)```", p.read_text(), re.DOTALL) for p in DOCS)
    return [block for found in blocks for block in found if "cameras:" in block]


def test_every_cameras_example_in_the_docs_loads():
    examples = docs_camera_examples()
    assert examples  # docs/detector.md shows the typed form
    for block in examples:
        assert parse_config(yaml.safe_load(block)).cameras


def test_the_k8s_cameras_are_live_rtsp_streams():
    [path] = [p for p in COMMITTED_CONFIGS if "k8s" in p.parts]
    config = load_config(path)
    assert {c.source.type for c in config.cameras} == {"rtsp"}
    assert {c.sample_fps for c in config.cameras} == {5.0}


def open_camera(source: str | dict[str, object], **camera: object):
    data = {"id": "cam", "source": source, "reconnect": {"max_attempts": 1}, **camera}
    return open_source(Camera.model_validate(data), 0, print, lambda: None, threading.Event())


def test_a_folder_opens_with_its_frame_count(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.zeros((8, 8, 3), np.uint8))
    frames, count = open_camera({"type": "folder", "path": str(tmp_path)})
    assert count == 3 and [f.index for f in frames] == [0, 1, 2]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "file", "path": "nope.mp4"}, "no such file: nope.mp4"),
        ({"type": "folder", "path": "nope"}, "no such folder: nope"),
        ("nope.mp4", "no such file"),
    ],
)
def test_missing_inputs_are_source_errors(source, message):
    with pytest.raises(SourceError, match=message):
        open_camera(source)


def test_a_file_where_a_folder_is_named_and_back_are_source_errors(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    with pytest.raises(SourceError, match="not a folder"):
        open_camera({"type": "folder", "path": str(clip)})
    with pytest.raises(SourceError, match="is a folder"):
        open_camera({"type": "file", "path": str(tmp_path)})


@pytest.mark.parametrize("text", ["rtsp://host/s", "https://host/s", "tcp://host:1", "webcam:0"])
def test_live_sources_open_lazily_with_no_frame_count(text):
    frames, count = open_camera(text)  # the reader thread starts on the first next()
    assert count is None and iter(frames) is frames


def test_a_webcam_is_opened_by_its_device_number():
    opened: list[str | int] = []

    def opener(target: str | int) -> cv2.VideoCapture:
        opened.append(target)
        return cv2.VideoCapture()  # never opened

    source = WebcamSource(type="webcam", index=3)
    live = LiveSource(source, 10.0, Reconnect(initial_s=0.01, max_attempts=1), print,
                      lambda: None, threading.Event(), opener=opener)  # fmt: skip
    assert list(live) == []
    assert opened == [3, 3]  # first try and the one reconnect allowed
    assert live.error == "cannot open stream webcam:3 after 1 attempts"
