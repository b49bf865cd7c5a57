"""Tiny JPEG crops for groups, made once per class combination and variant, then reused.

A real crop costs an encode per group; the simulator only needs bytes that decode as a
JPEG and a stable hash per road-user combination, so it draws a small symbolic image (one
coloured bar per member) and caches it. The same group keeps the same variant over frames,
so the risk stage's crop cache sees realistic repeats.
"""

from __future__ import annotations

import base64

from contract import sha256_hex

COLOURS: dict[str, tuple[int, int, int]] = {
    "person": (40, 40, 220),
    "bicycle": (40, 200, 200),
    "car": (200, 120, 40),
    "motorcycle": (200, 40, 200),
    "bus": (40, 200, 40),
    "truck": (120, 120, 120),
}
MAX_KEY_MEMBERS = 6


class CropCache:
    """(classes, variant) -> (base64 JPEG, sha256 hex); encodes on first use only."""

    def __init__(self, variants: int, size: tuple[int, int] = (24, 32)) -> None:
        self.variants = variants
        self.size = size
        self._cache: dict[tuple[tuple[str, ...], int], tuple[str, str]] = {}

    def get(self, classes: tuple[str, ...], variant: int) -> tuple[str, str]:
        key = (tuple(sorted(classes))[:MAX_KEY_MEMBERS], variant % self.variants)
        hit = self._cache.get(key)
        if hit is None:
            jpeg = render(key[0], key[1], self.size)
            hit = (base64.b64encode(jpeg).decode(), sha256_hex(jpeg))
            self._cache[key] = hit
        return hit

    def __len__(self) -> int:
        return len(self._cache)


def render(classes: tuple[str, ...], variant: int, size: tuple[int, int]) -> bytes:
    """A small JPEG: road-grey background (shade by variant), one bar per member."""
    import cv2
    import numpy as np

    h, w = size
    img = np.full((h, w, 3), 70 + (variant * 37) % 90, dtype=np.uint8)
    bar = max(1, w // max(1, len(classes)))
    for i, cls in enumerate(classes):
        top = 2 + (variant + i) % max(1, h // 3)
        img[top : h - 2, i * bar + 1 : (i + 1) * bar - 1] = COLOURS.get(cls, (255, 255, 255))
    params = [cv2.IMWRITE_JPEG_QUALITY, 60, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:
        raise RuntimeError("cv2.imencode failed for a crop")
    return bytes(buf.tobytes())
