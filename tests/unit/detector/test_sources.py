"""Inputs: backoff, corrupt frames, file sampling, stream reconnects (fake captures)."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.config import Reconnect, RtspSource
from detector.sources import LiveSource, SourceError, backoff, image_folder, video_file

CAM = RtspSource(type="rtsp", url="rtsp://cam")


def test_backoff_doubles_up_to_the_cap():
    assert list(itertools.islice(backoff(1, 2, 10), 6)) == [1, 2, 4, 8, 10, 10]


def test_image_folder_skips_and_counts_corrupt_frames(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), np.full((20, 30, 3), i * 50, np.uint8))
    (tmp_path / "f1.jpg").write_bytes(b"not a jpeg")
    drops: list[str] = []
    frames = list(image_folder(tmp_path, 2.0, 1000, drops.append, threading.Event()))
    assert [(f.index, f.captured_at_ms) for f in frames] == [(0, 1000), (2, 2000)]
    assert drops == ["corrupt"]


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="no image frames"):
        list(image_folder(tmp_path, 1.0, 0, print, threading.Event()))


def write_video(path: Path, frames: int, fps: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (32, 24))
    for i in range(frames):
        writer.write(np.full((24, 32, 3), i * 8 % 255, np.uint8))
    writer.release()


def test_video_file_is_sampled_on_its_own_timeline_and_ends(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, 30, 10.0)  # 3 s of video
    frames = list(video_file(path, 2.0, 5000, print, threading.Event()))
    assert [f.captured_at_ms for f in frames] == [5000, 5500, 6000, 6500, 7000, 7500]
    assert [f.index for f in frames] == [0, 5, 10, 15, 20, 25]


def test_unreadable_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage")
    with pytest.raises(SourceError, match="cannot open video"):
        list(video_file(bad, 1.0, 0, print, threading.Event()))


class FakeCapture:
    """Opens or not; yields ``frames`` frames, then the stream 'drops'."""

    def __init__(self, opened: bool, frames: int) -> None:
        self.opened, self.left = opened, frames

    def isOpened(self) -> bool:
        return self.opened

    def grab(self) -> bool:
        self.left -= 1
        return self.left >= 0

    def retrieve(self):
        return True, np.zeros((4, 4, 3), np.uint8)

    def get(self, _prop: int) -> float:
        return 0.0

    def release(self) -> None:
        pass


def test_stream_reconnects_with_backoff_and_gives_up_after_max_attempts():
    captures = iter([FakeCapture(True, 1), FakeCapture(False, 0), FakeCapture(True, 1)])
    reconnects: list[int] = []
    stop = threading.Event()
    live = LiveSource(
        CAM, 1000.0, Reconnect(initial_s=0.01, max_s=0.02, max_attempts=2),
        on_drop=print, on_reconnect=lambda: reconnects.append(1), stop=stop,
        opener=lambda _src: next(captures, FakeCapture(False, 0)),
    )  # fmt: skip
    frames = list(live)
    assert [f.index for f in frames] == [0, 1]  # one frame per connection, numbering goes on
    assert len(reconnects) == 4  # drop, failed open, drop, failed open; then the limit
    assert live.error == "cannot open stream rtsp://cam after 2 attempts"


def test_stop_ends_a_live_stream_promptly():
    stop = threading.Event()
    live = LiveSource(
        CAM, 1000.0, Reconnect(initial_s=5), on_drop=print,
        on_reconnect=lambda: None, stop=stop, opener=lambda _src: FakeCapture(False, 0),
    )  # fmt: skip
    threading.Timer(0.1, stop.set).start()
    assert list(live) == []
