"""Faces blurred out of crops before they leave for an external vision LLM (no PyFlink).

Crops show people. A crop sent to a model outside the operator's network carries their faces
to a third party, so by default (`auto`) faces are blurred whenever the LLM endpoint is not
local; `always` and `never` override that. Detection is OpenCV's Haar cascade for frontal
faces, shipped inside the opencv package (offline, ~5 ms for a 300x300 crop): it favours speed
over recall, so profile or small faces can slip through (docs/risk-stage.md says so). The
blur covers each face box grown by a margin, strongly enough that the face cannot be told.
"""

from __future__ import annotations

import ipaddress
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

BlurPolicy = Literal["auto", "always", "never"]
CASCADE = "haarcascade_frontalface_default.xml"
# In-cluster and local names: a model served there stays inside the operator's network.
LOCAL_SUFFIXES = (".local", ".svc", ".cluster.local", ".internal")


def endpoint_is_local(base_url: str) -> bool:
    """Loopback, private (RFC 1918 / ULA), link-local, single-label and in-cluster hosts."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if host == "localhost" or "." not in host or host.endswith(LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a public DNS name
    return address.is_loopback or address.is_private or address.is_link_local


def should_blur(policy: BlurPolicy, base_url: str | None) -> bool:
    """Whether crops sent to ``base_url`` get their faces blurred under ``policy``."""
    if policy == "auto":
        return base_url is not None and not endpoint_is_local(base_url)
    return policy == "always"


@dataclass(frozen=True)
class Blurred:
    """A crop as it will be sent: JPEG bytes, and how many faces were blurred in it."""

    jpeg: bytes
    faces: int


class FaceBlur:
    """Finds frontal faces in a JPEG crop and blurs them; one cascade per instance, loaded on
    first use (the cascade is not thread-safe, so calls are serialised)."""

    def __init__(self, margin: float = 0.25, min_face_px: int = 12) -> None:
        self.margin = margin
        self.min_face_px = min_face_px
        self._cascade: Any = None
        self._lock = threading.Lock()

    def _detector(self) -> Any:
        if self._cascade is None:
            import cv2

            folder = cv2.data.haarcascades  # type: ignore[attr-defined]  # untyped
            self._cascade = cv2.CascadeClassifier(folder + CASCADE)
            if self._cascade.empty():
                raise RuntimeError(f"OpenCV's {CASCADE} could not be loaded")
        return self._cascade

    def faces(self, image: Any) -> list[tuple[int, int, int, int]]:
        """(x, y, w, h) of each frontal face in a BGR image, largest first."""
        import cv2

        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        size = (self.min_face_px, self.min_face_px)
        with self._lock:
            found = self._detector().detectMultiScale(gray, 1.1, 5, minSize=size)
        # detection runs on several threads: the order of the boxes varies, so sort them
        # (largest first) for a stable result
        boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]
        return sorted(boxes, key=lambda b: (-b[2] * b[3], b[1], b[0]))

    def blur(self, jpeg: bytes) -> Blurred:
        """The crop with every face found blurred; the same bytes when none is found or the
        bytes are not an image (the caller's validation already vouched for them)."""
        import cv2
        import numpy as np

        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return Blurred(jpeg, 0)
        boxes = self.faces(image)
        if not boxes:
            return Blurred(jpeg, 0)
        height, width = image.shape[:2]
        for x, y, w, h in boxes:
            dx, dy = int(w * self.margin), int(h * self.margin)
            x0, y0 = max(0, x - dx), max(0, y - dy)
            x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
            region = image[y0:y1, x0:x1]
            # pixelate then smooth: no detail of the face survives, the scene still reads
            small = cv2.resize(region, (max(1, (x1 - x0) // 12), max(1, (y1 - y0) // 12)),
                               interpolation=cv2.INTER_AREA)  # fmt: skip
            coarse = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
            image[y0:y1, x0:x1] = cv2.GaussianBlur(coarse, (0, 0), max(2.0, (x1 - x0) / 10))
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        return Blurred(encoded.tobytes() if ok else jpeg, len(boxes))
