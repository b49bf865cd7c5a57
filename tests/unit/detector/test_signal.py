"""The HSV traffic-light classifier on crafted lamp crops."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detector.config import Region
from detector.signal import classify, signal_state

LAMPS_BGR = {"red": (0, 0, 255), "yellow": (0, 210, 255), "green": (60, 220, 0)}


def light(lit: str | None, lamp_bgr: tuple[int, int, int] | None = None) -> npt.NDArray[np.uint8]:
    """A dark housing with three lamps (top red, middle yellow, bottom green); one lit."""
    crop = np.full((90, 30, 3), 25, np.uint8)
    for n, colour in enumerate(("red", "yellow", "green")):
        centre = (15, 15 + 30 * n)
        dim = tuple(c // 5 for c in LAMPS_BGR[colour])
        bgr = (lamp_bgr or LAMPS_BGR[colour]) if colour == lit else dim
        yy, xx = np.ogrid[:90, :30]
        mask = (yy - centre[1]) ** 2 + (xx - centre[0]) ** 2 <= 10**2
        crop[mask] = bgr
    return crop


@pytest.mark.parametrize("colour", ["red", "yellow", "green"])
def test_lit_lamp_colour(colour):
    assert classify(light(colour)) == colour


def test_dark_light_is_unknown():
    assert classify(light(None)) == "unknown"


def test_white_glare_is_unknown():
    assert classify(np.full((60, 20, 3), 250, np.uint8)) == "unknown"


def test_region_is_cut_from_the_frame_and_clipped():
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[10:100, 250:280] = light("green")
    assert signal_state(frame, Region(x1=250, y1=10, x2=280, y2=100)) == "green"
    assert signal_state(frame, Region(x1=250, y1=10, x2=900, y2=900)) == "green"
    assert signal_state(frame, Region(x1=400, y1=10, x2=500, y2=100)) == "unknown"
    assert signal_state(frame, None) is None
