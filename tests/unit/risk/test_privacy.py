"""Faces blurred out of crops bound for an external LLM (udfs/risk/privacy.py), on real
photos of people: the ultralytics sample images that `./dev setup` fetches."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike as Image

from detector.sample import CACHE, ULTRALYTICS_WHEEL_GLOB
from udfs.risk.privacy import FaceBlur, endpoint_is_local, should_blur


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8080/v1", True),
        ("http://10.20.0.7/v1", True),
        ("http://192.168.1.20:8000/v1", True),
        ("http://vllm:8000/v1", True),  # a Kubernetes service in the same namespace
        ("http://vllm.models.svc.cluster.local/v1", True),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", False),
        ("https://api.openai.com/v1", False),
        ("http://8.8.8.8/v1", False),
    ],
)
def test_which_endpoints_count_as_local(url: str, local: bool) -> None:
    assert endpoint_is_local(url) is local


def test_auto_blurs_only_for_external_endpoints() -> None:
    assert should_blur("auto", "https://api.openai.com/v1")
    assert not should_blur("auto", "http://127.0.0.1:9000/v1")
    assert not should_blur("auto", None)  # no LLM: crops go nowhere
    assert should_blur("always", "http://127.0.0.1:9000/v1")
    assert not should_blur("never", "https://api.openai.com/v1")


def _photo(name: str) -> Image:
    wheels = sorted(CACHE.glob(ULTRALYTICS_WHEEL_GLOB))
    if not wheels:
        pytest.skip("sample photos not fetched: run ./dev setup")
    data = zipfile.ZipFile(wheels[-1]).read(f"ultralytics/assets/{name}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _jpeg(image: Image) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes()


def _decode(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.mark.parametrize("photo", ["zidane.jpg", "bus.jpg"])
def test_faces_in_a_crop_of_people_are_blurred_and_the_rest_kept(photo: str) -> None:
    image = _photo(photo)
    blur = FaceBlur()
    faces = blur.faces(image)
    assert faces, f"the cascade finds no face in {photo}: the test photo changed"
    x, y, w, h = faces[0]
    # a group crop around the first face: the person and some street
    x0, y0 = max(0, x - 2 * w), max(0, y - w)
    crop = image[y0 : y + 4 * h, x0 : x + 3 * w].copy()
    result = blur.blur(_jpeg(crop))
    assert result.faces >= 1
    after = _decode(result.jpeg)
    before = _decode(_jpeg(crop))
    assert after.shape == before.shape
    assert blur.faces(after) == [], "a face is still found after blurring"
    fx, fy = x - x0, y - y0
    face = (slice(fy, fy + h), slice(fx, fx + w))
    assert np.abs(after[face].astype(int) - before[face]).mean() > 12  # gone, not re-encoded
    far = slice(after.shape[0] - max(4, h // 3), after.shape[0])  # bottom rows: no face there
    assert np.abs(after[far].astype(int) - before[far]).mean() < 6  # the scene is kept


def test_a_crop_without_faces_is_sent_unchanged() -> None:
    gradient = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (120, 1))
    street = cv2.merge([gradient, np.flipud(gradient), gradient])
    data = _jpeg(street)
    assert FaceBlur().blur(data).jpeg == data
    assert FaceBlur().blur(b"not a jpeg").jpeg == b"not a jpeg"
