"""Camera inputs: image folders, video files, live streams (RTSP/HTTP) and webcams.

`open_source` dispatches on the camera's typed source (`detector.config.CameraSource`): a new
kind of input is one config model plus one opener here. Each input yields `Frame`s at the
camera's target sampling rate. Files are sampled by their own timeline (event time = start +
position) and end cleanly; live inputs are sampled by the wall clock, read by a background
thread that always keeps only the newest sample (so a slow model never lets a stream's buffer
lag behind), and reopened with exponential backoff when they drop. Unreadable frames are
skipped and reported through `on_drop`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, assert_never

from detector.config import (
    Camera,
    CameraSource,
    FileSource,
    FolderSource,
    HttpSource,
    LiveInput,
    Reconnect,
    RtspSource,
    StreamSource,
    WebcamSource,
)

if TYPE_CHECKING:
    from cv2.typing import MatLike

log = logging.getLogger("traffic-detector.sources")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class SourceError(RuntimeError):
    """An input cannot be read at all; the message says which and why."""


@dataclass(frozen=True)
class Frame:
    index: int
    captured_at_ms: int
    image: MatLike


class Capture(Protocol):
    def isOpened(self) -> bool: ...
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, Any]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


OnDrop = Callable[[str], None]  # reason


def backoff(initial_s: float, factor: float, max_s: float) -> Iterator[float]:
    """Waits between reconnect attempts: initial, initial*factor, ... capped at max."""
    delay = initial_s
    while True:
        yield min(delay, max_s)
        delay = min(delay * factor, max_s)


def is_stream(source: CameraSource) -> bool:
    """Live inputs (streams, webcams) are sampled on the wall clock and always paced."""
    return source.live


def open_capture(target: str | int) -> Capture:
    """OpenCV capture of a URL or file path, or of a local device by number."""
    import cv2

    return cv2.VideoCapture(target)


def image_folder(
    folder: Path, fps: float, start_ms: int, on_drop: OnDrop, stop: threading.Event
) -> Iterator[Frame]:
    """Frames in name order, one every 1/fps s of event time; unreadable files skipped."""
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"no image frames ({'/'.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    for index, path in enumerate(files):
        if stop.is_set():
            return
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("corrupt frame skipped", extra={"file": str(path)})
            on_drop("corrupt")
            continue
        yield Frame(index, start_ms + round(index * 1000 / fps), image)


def video_file(
    path: Path, fps: float, start_ms: int, on_drop: OnDrop, stop: threading.Event,
    opener: Callable[[str], Capture] = open_capture,
) -> Iterator[Frame]:  # fmt: skip
    """Frames sampled by the file's own timeline; ends at the end of the file."""
    import cv2

    capture = opener(str(path))
    if not capture.isOpened():
        raise SourceError(f"cannot open video {path} (missing, unreadable or unknown codec)")
    native = capture.get(cv2.CAP_PROP_FPS) or 0.0
    step_ms, next_due_ms, position = 1000 / fps, 0.0, 0
    try:
        while not stop.is_set() and capture.grab():
            pos_ms = position * 1000 / native if native > 0 else next_due_ms
            position += 1
            if pos_ms + 0.5 < next_due_ms:
                continue
            while next_due_ms <= pos_ms + 0.5:
                next_due_ms += step_ms
            ok, image = capture.retrieve()
            if not ok or image is None:
                on_drop("corrupt")
                continue
            yield Frame(position - 1, start_ms + round(pos_ms), image)
    finally:
        capture.release()


class _NewestSample:
    """A producer thread fills a one-frame slot; the consumer always gets the newest sample.

    A sample replaced before the consumer took it counts as dropped (`behind`). An error
    raised by the producer is re-raised to the consumer once the slot is empty.
    """

    def __init__(self, name: str, on_drop: OnDrop, stop: threading.Event) -> None:
        self._on_drop, self._stop = on_drop, stop
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._done = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __iter__(self) -> Iterator[Frame]:
        self._thread.start()
        while True:
            with self._cond:
                while self._slot is None and not self._done and not self._stop.is_set():
                    self._cond.wait(0.5)
                frame, self._slot = self._slot, None
            if frame is not None:
                yield frame
            elif self._done or self._stop.is_set():
                if self._failure is not None:
                    raise self._failure
                return

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self._slot is not None:
                self._on_drop("behind")
            self._slot = frame
            self._cond.notify()

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as err:  # handed to the consumer's thread
            self._failure = err
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()

    def _produce(self) -> None:
        raise NotImplementedError


class PacedSource(_NewestSample):
    """A file or folder replayed on the wall clock, one sample every 1/fps s, as a live
    camera would deliver it: benchmarks and rehearsals see real-time drops and lag.

    Decoding happens in this thread ahead of the due time; event time = wall clock.
    """

    def __init__(
        self, frames: Iterator[Frame], fps: float, on_drop: OnDrop, stop: threading.Event,
        name: str = "paced",
    ) -> None:  # fmt: skip
        super().__init__(f"read-{name}", on_drop, stop)
        self._frames, self._period = frames, 1 / fps

    def _produce(self) -> None:
        next_due = time.monotonic()
        for frame in self._frames:
            wait = next_due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            self._put(Frame(frame.index, int(time.time() * 1000), frame.image))
            next_due += self._period


class LiveSource(_NewestSample):
    """A stream or webcam read by a thread; the consumer gets the newest sample."""

    def __init__(
        self, source: LiveInput, fps: float, reconnect: Reconnect, on_drop: OnDrop,
        on_reconnect: Callable[[], None], stop: threading.Event,
        opener: Callable[[str | int], Capture] = open_capture,
    ) -> None:  # fmt: skip
        super().__init__(f"read-{source}", on_drop, stop)
        self._target, self._source, self._period = source.capture_target, str(source), 1 / fps
        self._reconnect = reconnect
        self._on_reconnect, self._opener = on_reconnect, opener
        self.error: str | None = None

    def _produce(self) -> None:
        self._read_with_reconnects()

    def _read_with_reconnects(self) -> None:
        waits = backoff(self._reconnect.initial_s, self._reconnect.factor, self._reconnect.max_s)
        failures, index = 0, 0
        while not self._stop.is_set():
            capture = self._opener(self._target)
            if capture.isOpened():
                failures = 0
                waits = backoff(self._reconnect.initial_s, self._reconnect.factor,
                                self._reconnect.max_s)  # fmt: skip
                index = self._read(capture, index)
                capture.release()
                if self._stop.is_set():
                    return
                log.warning("stream dropped; reconnecting", extra={"source": self._source})
            else:
                capture.release()
            failures += 1
            limit = self._reconnect.max_attempts
            if limit is not None and failures > limit:
                self.error = f"cannot open stream {self._source} after {limit} attempts"
                log.error("camera given up", extra={"source": self._source, "error": self.error})
                return
            self._on_reconnect()
            self._stop.wait(next(waits))

    def _read(self, capture: Capture, index: int) -> int:
        """Grab continuously; decode one frame per sampling period. Returns the next index."""
        next_due = time.monotonic()
        while not self._stop.is_set():
            if not capture.grab():
                return index
            now = time.monotonic()
            if now < next_due:
                continue
            next_due = max(next_due + self._period, now)
            ok, image = capture.retrieve()
            if not ok or image is None:
                self._on_drop("corrupt")
                continue
            self._put(Frame(index, int(time.time() * 1000), image))
            index += 1
        return index


def open_source(
    camera: Camera, start_ms: int, on_drop: OnDrop, on_reconnect: Callable[[], None],
    stop: threading.Event,
) -> tuple[Iterator[Frame], int | None]:  # fmt: skip
    """The camera's frames and, for files, how many samples to expect (progress bar)."""
    source = camera.source
    match source:
        case RtspSource() | HttpSource() | StreamSource() | WebcamSource():
            live = LiveSource(source, camera.sample_fps, camera.reconnect, on_drop,
                              on_reconnect, stop)  # fmt: skip
            return iter(live), None
        case FolderSource():
            frames, count = _open_folder(source.path, camera, start_ms, on_drop, stop)
        case FileSource():
            frames, count = _open_file(source.path, camera, start_ms, on_drop, stop)
        case _:
            assert_never(source)
    if camera.pace:
        frames = iter(PacedSource(frames, camera.sample_fps, on_drop, stop, camera.id))
    return frames, count


def _open_folder(
    path: Path, camera: Camera, start_ms: int, on_drop: OnDrop, stop: threading.Event
) -> tuple[Iterator[Frame], int | None]:
    if not path.exists():
        raise SourceError(f"no such folder: {path}")
    if not path.is_dir():
        raise SourceError(f"not a folder: {path} (a video file is `type: file`)")
    count = sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return image_folder(path, camera.sample_fps, start_ms, on_drop, stop), count


def _open_file(
    path: Path, camera: Camera, start_ms: int, on_drop: OnDrop, stop: threading.Event
) -> tuple[Iterator[Frame], int | None]:
    if not path.exists():
        raise SourceError(f"no such file: {path}")
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not a video file (`type: folder`)")
    frames = video_file(path, camera.sample_fps, start_ms, on_drop, stop)
    return frames, _video_samples(path, camera)


def _video_samples(path: Path, camera: Camera) -> int | None:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        frames, native = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    if frames <= 0 or native <= 0:
        return None
    return max(1, int(frames / native * camera.sample_fps))
