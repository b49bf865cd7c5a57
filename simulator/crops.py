"""Tiny JPEG crops for groups, made once per class combination, variant and marker, then reused.

A real crop costs an encode per group; the simulator only needs bytes that decode as a
JPEG and a stable hash per road-user combination, so it draws a small symbolic image (one
coloured bar per member) and caches it. The same group keeps the same variant over frames,
so the risk stage's crop cache sees realistic repeats.

**The risk marker.** The crop of a group the ground truth calls a near miss (a pedestrian-
vehicle pair whose TTC is under `incidents.near_miss_ttc_s`, the labeller's rule) carries a
saturated red square, `MARKER_PX` x `MARKER_PX` pixels in the top-left corner. Bars never
enter the top `BAR_TOP` rows, so no unmarked crop has red there. The stub LLM server
(`stack/openai_stub.py`) decodes each image and answers `high` exactly when `marker_seen`
finds the square: a verdict that maps back to the right group proves the crop reached the
model. The ground truth itself stays in the truth file, decided from the frames as before.

With `crops: rendered` (`--rendered-crops`) every frame's crop is drawn anew from the group's
geometry with sensor noise (`render_scene`), so no two frames share crop bytes: the exact-hash
verdict cache then sees what it would see on live video.
"""

from __future__ import annotations

import base64
from typing import Any

from contract import sha256_hex

COLOURS: dict[str, tuple[int, int, int]] = {  # BGR
    "person": (40, 40, 220),
    "bicycle": (40, 200, 200),
    "car": (200, 120, 40),
    "motorcycle": (200, 40, 200),
    "bus": (40, 200, 40),
    "truck": (120, 120, 120),
}
MAX_KEY_MEMBERS = 6
MARKER_PX = 8  # side of the red square (one JPEG block), top-left corner
MARKER_BGR = (0, 0, 255)
BAR_TOP = MARKER_PX + 2  # bars start below the marker's rows


class CropCache:
    """(classes, variant, marked) -> (base64 JPEG, sha256 hex); encodes on first use only."""

    def __init__(self, variants: int, size: tuple[int, int] = (24, 32)) -> None:
        self.variants = variants
        self.size = size
        self._cache: dict[tuple[tuple[str, ...], int, bool], tuple[str, str]] = {}

    def get(self, classes: tuple[str, ...], variant: int, marked: bool = False) -> tuple[str, str]:
        key = (tuple(sorted(classes))[:MAX_KEY_MEMBERS], variant % self.variants, marked)
        hit = self._cache.get(key)
        if hit is None:
            hit = encoded(render(key[0], key[1], self.size, marked))
            self._cache[key] = hit
        return hit

    def __len__(self) -> int:
        return len(self._cache)


def encoded(jpeg: bytes) -> tuple[str, str]:
    """(base64, sha256 hex) of a JPEG, as a group carries them."""
    return base64.b64encode(jpeg).decode(), sha256_hex(jpeg)


def render(
    classes: tuple[str, ...], variant: int, size: tuple[int, int], marked: bool = False
) -> bytes:
    """A small JPEG: road-grey background (shade by variant), one bar per member, and the
    risk marker when `marked`."""
    import numpy as np

    h, w = size
    img = np.full((h, w, 3), 70 + (variant * 37) % 90, dtype=np.uint8)
    bar = max(1, w // max(1, len(classes)))
    for i, cls in enumerate(classes):
        top = BAR_TOP + (variant + i) % max(1, (h - BAR_TOP) // 3)
        img[top : h - 2, i * bar + 1 : (i + 1) * bar - 1] = COLOURS.get(cls, (255, 255, 255))
    if marked:
        draw_marker(img)
    return jpeg_bytes(img)


SCENE_SIZE = (36, 48)  # h, w of a re-rendered crop
SCENE_NOISE = 4  # +- grey levels of per-frame sensor noise


def render_scene(
    members: list[tuple[str, tuple[float, float, float, float]]],
    union: tuple[float, float, float, float],
    marked: bool,
    noise_seed: int,
) -> bytes:
    """A crop drawn anew for one frame (`crops: rendered`): each member as a box of its class
    colour where it stands inside the group's union box, on a road-grey background with
    per-frame sensor noise, and the risk marker when `marked`. Consecutive frames of a scene
    differ a little (members move, noise changes), so their bytes never repeat, as on live
    video."""
    import numpy as np

    h, w = SCENE_SIZE
    img = np.full((h, w, 3), 110, dtype=np.int16)
    x1, y1, x2, y2 = union
    sx, sy = (w - 2) / max(1.0, x2 - x1), (h - 1 - BAR_TOP) / max(1.0, y2 - y1)
    for cls, (bx1, by1, bx2, by2) in sorted(members, key=lambda m: m[0] == "person"):
        c1, c2 = 1 + round((bx1 - x1) * sx), 1 + round((bx2 - x1) * sx)
        r1, r2 = BAR_TOP + round((by1 - y1) * sy), BAR_TOP + round((by2 - y1) * sy)
        img[r1 : max(r1 + 1, r2), c1 : max(c1 + 1, c2)] = COLOURS.get(cls, (255, 255, 255))
    rng = np.random.default_rng(noise_seed)
    img += rng.integers(-SCENE_NOISE, SCENE_NOISE + 1, size=img.shape, dtype=np.int16)
    out = img.clip(0, 255).astype(np.uint8)
    if marked:
        draw_marker(out)
    return jpeg_bytes(out)


def draw_marker(img: Any) -> None:
    """The risk marker, in place: a saturated red square in the top-left corner."""
    img[:MARKER_PX, :MARKER_PX] = MARKER_BGR


def marker_seen(img: Any) -> bool:
    """Whether a decoded BGR image carries the risk marker: the inside of the top-left
    square is saturated red (JPEG blurs its edges, so the border pixels are not read)."""
    if img is None or img.ndim != 3 or min(img.shape[:2]) < MARKER_PX:
        return False
    inner = img[2 : MARKER_PX - 2, 2 : MARKER_PX - 2].reshape(-1, 3).mean(axis=0)
    blue, green, red = (float(c) for c in inner)
    return red > 170 and red - max(blue, green) > 100


def jpeg_bytes(img: Any) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, 60, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:
        raise RuntimeError("cv2.imencode failed for a crop")
    return bytes(buf.tobytes())
