"""The bundled sample input, rebuilt offline from real photos on a fresh machine.

The ultralytics wheel on PyPI ships two real street/people photos (`assets/bus.jpg`,
`assets/zidane.jpg`). `./dev setup` downloads that wheel once (no dependencies, ~1.4 MB)
into `.cache/`; this module pans a 640x480 window across each photo so that the objects
move between frames, and writes numbered JPEG frames per camera under `sample/`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contract.workspace import home

if TYPE_CHECKING:
    from cv2.typing import MatLike

ULTRALYTICS_WHEEL_GLOB = "ultralytics-*.whl"
CACHE = home() / ".cache" / "wheels"
SAMPLE_DIR = home() / "sample"
# camera id -> (photo in the wheel, pan direction in pixels per frame)
CAMERAS: dict[str, tuple[str, tuple[int, int]]] = {
    "cam-bus-east": ("bus.jpg", (3, 0)),
    "cam-bus-north": ("bus.jpg", (0, 4)),
    "cam-plaza": ("zidane.jpg", (4, 1)),
}


def _photo(name: str) -> MatLike:
    import cv2

    wheels = sorted(CACHE.glob(ULTRALYTICS_WHEEL_GLOB))
    if not wheels:
        raise FileNotFoundError(f"no ultralytics wheel in {CACHE}: run `./dev setup`")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        data = wheel.read(f"ultralytics/assets/{name}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{name} in {wheels[-1].name} is not a readable image")
    return image


def pan_frames(
    photo: MatLike, step: tuple[int, int], count: int, size: tuple[int, int] = (640, 480)
) -> list[MatLike]:
    """Frames of a window sliding over the photo (padded so the window always fits)."""
    import cv2

    width, height = size
    span_x, span_y = abs(step[0]) * count, abs(step[1]) * count
    canvas = cv2.copyMakeBorder(
        photo,
        0,
        max(0, height + span_y - photo.shape[0]),
        0,
        max(0, width + span_x - photo.shape[1]),
        cv2.BORDER_REFLECT,
    )
    return [
        canvas[
            i * abs(step[1]) : i * abs(step[1]) + height,
            i * abs(step[0]) : i * abs(step[0]) + width,
        ].copy()
        for i in range(count)
    ]


def build_sample(frames_per_camera: int = 90, out: Path = SAMPLE_DIR) -> dict[str, Path]:
    """Write `out/<camera>/frame_NNNN.jpg`; a no-op for cameras already complete."""
    import cv2

    folders = {}
    for camera, (photo_name, step) in CAMERAS.items():
        folder = out / camera
        folders[camera] = folder
        existing = sorted(folder.glob("frame_*.jpg"))
        if len(existing) == frames_per_camera:
            continue
        for stale in existing:
            stale.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(pan_frames(_photo(photo_name), step, frames_per_camera)):
            cv2.imwrite(str(folder / f"frame_{i:04d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folders
