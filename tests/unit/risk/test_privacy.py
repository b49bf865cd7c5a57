"""Faces blurred out of crops bound for an external LLM (udfs/risk/privacy.py), on real
photos of people: the ultralytics sample images that `./dev setup` fetches."""

from __future__ import annotations

import base64
import zipfile
from typing import Any

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike as Image

from contract import sha256_hex
from detector.sample import CACHE, ULTRALYTICS_WHEEL_GLOB
from tests.factories import detection, detection_dict
from tests.unit.risk.test_assessor_stub import make_task, run_with_stub
from udfs.risk.assessor import Assessor
from udfs.risk.privacy import FaceBlur, endpoint_is_local, should_blur
from udfs.risk.records import RiskResult


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


def _detail(image: Image) -> float:
    """Variance of the Laplacian: how much fine detail (edges, features) an image holds."""
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _overlapping(
    box: tuple[int, int, int, int], found: list[tuple[int, int, int, int]]
) -> list[tuple[int, int, int, int]]:
    """Boxes of ``found`` that cover more than a fifth of ``box`` (the cascade also fires on
    other parts of a street scene: only the face's own spot matters)."""
    x, y, w, h = box
    return [
        (fx, fy, fw, fh) for fx, fy, fw, fh in found
        if max(0, min(x + w, fx + fw) - max(x, fx)) * max(0, min(y + h, fy + fh) - max(y, fy))
        > 0.2 * w * h
    ]  # fmt: skip


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
    fx, fy = x - x0, y - y0
    assert not _overlapping((fx, fy, w, h), blur.faces(after)), "the face is still found"
    face = (slice(fy, fy + h), slice(fx, fx + w))
    assert _detail(after[face]) < 0.25 * _detail(before[face])  # the face's detail is gone
    far = slice(after.shape[0] - max(4, h // 3), after.shape[0])  # bottom rows: no face there
    assert np.abs(after[far].astype(int) - before[far]).mean() < 6  # the scene is kept


def test_a_crop_without_faces_is_sent_unchanged() -> None:
    gradient = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (120, 1))
    street = cv2.merge([gradient, np.flipud(gradient), gradient])
    data = _jpeg(street)
    assert FaceBlur().blur(data).jpeg == data
    assert FaceBlur().blur(b"not a jpeg").jpeg == b"not a jpeg"


def _face_crop() -> tuple[bytes, tuple[int, int, int, int]]:
    """A crop around a face of the photo that the detector finds in the crop as well, and
    where the face is in it."""
    image = _photo("zidane.jpg")
    blur = FaceBlur()
    for x, y, w, h in blur.faces(image):
        x0, y0 = max(0, x - w // 2), max(0, y - h // 2)
        crop = image[y0 : y + 2 * h, x0 : x + 2 * w].copy()
        face = (x - x0, y - y0, w, h)
        if _overlapping(face, blur.faces(_decode(_jpeg(crop)))):  # found in the crop too
            return _jpeg(crop), face
    pytest.fail("no face of zidane.jpg is found again in a crop around it")


@pytest.mark.parametrize(("policy", "blurred"), [("always", True), ("never", False)])
def test_the_assessor_sends_crops_as_its_policy_says(policy: str, blurred: bool) -> None:
    """Through the real assessor and the OpenAI-compatible stub: what leaves is blurred
    (no face found in the bytes sent) or the original bytes, as the policy says."""
    crop, face = _face_crop()
    assert _overlapping(face, FaceBlur().faces(_decode(crop)))  # found before
    group = {**detection_dict()["groups"][0], "crop": {"kind": "inline", "media_type":
             "image/jpeg", "data_b64": base64.b64encode(crop).decode()},
             "crop_sha256": sha256_hex(crop)}  # fmt: skip
    task = make_task(event=detection(groups=[group]))
    sent: list[str] = []

    async def scenario(_base: str, assessor: Assessor) -> RiskResult:
        real = assessor.provider.assess

        async def spy(request: Any, key: Any) -> Any:
            sent.extend(request.images_jpeg_b64)
            return await real(request, key)

        assessor.provider.assess = spy  # type: ignore[method-assign]
        return await assessor.assess(task)

    result = run_with_stub(scenario, llm={"blur_faces": policy})
    assert result.verdict.source == "llm" and len(sent) == 1
    out = base64.b64decode(sent[0])
    if blurred:
        assert out != crop and not _overlapping(face, FaceBlur().faces(_decode(out)))
    else:
        assert out == crop
