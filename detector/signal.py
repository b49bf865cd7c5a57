"""Traffic-light colour from the configured region: an HSV classifier (numpy + OpenCV).

A lit lamp is bright and saturated; the housing and a dark lamp are not. Pixels that are
both are binned by hue (red wraps around 0 on OpenCV's 0-179 hue scale); the colour with
the most lit pixels wins when it covers enough of the region, otherwise `unknown`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from contract.models import SignalState
from detector.config import Region

if TYPE_CHECKING:
    from cv2.typing import MatLike

Lamp = Literal["red", "yellow", "green"]

# OpenCV hue ranges (0-179) per lamp colour.
HUES: dict[Lamp, tuple[tuple[int, int], ...]] = {
    "red": ((0, 10), (165, 179)),
    "yellow": ((15, 35),),
    "green": ((40, 95),),
}
MIN_SATURATION = 90
MIN_VALUE = 150


def lit_fractions(crop_bgr: MatLike) -> dict[Lamp, float]:
    """Share of the crop's pixels that are lit in each lamp colour."""
    import cv2

    if crop_bgr.size == 0:
        return dict.fromkeys(HUES, 0.0)
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lit = (sat >= MIN_SATURATION) & (val >= MIN_VALUE)
    total = float(hue.size)
    out: dict[Lamp, float] = {}
    for colour, ranges in HUES.items():
        in_hue = np.zeros(hue.shape, dtype=bool)
        for low, high in ranges:
            in_hue |= (hue >= low) & (hue <= high)
        out[colour] = float(np.count_nonzero(lit & in_hue)) / total
    return out


def classify(crop_bgr: MatLike, min_fraction: float = 0.03) -> SignalState:
    """red / yellow / green when that colour is lit over ``min_fraction`` of the crop."""
    fractions = lit_fractions(crop_bgr)
    colour = max(fractions, key=lambda c: fractions[c])
    if fractions[colour] < min_fraction:
        return "unknown"
    return colour


def signal_state(frame_bgr: MatLike, region: Region | None) -> SignalState | None:
    """The light's state in this frame; None when the camera has no light configured."""
    if region is None:
        return None
    height, width = frame_bgr.shape[:2]
    x1, y1 = min(region.x1, width), min(region.y1, height)
    x2, y2 = min(region.x2, width), min(region.y2, height)
    if x2 <= x1 or y2 <= y1:
        return "unknown"
    return classify(frame_bgr[y1:y2, x1:x2])
