"""Where a group's JPEG goes: inline in the event, or Redis with a TTL (claim check).

By reference, the event carries `CropRef(ref="crop:<sha256>")` and stays small; the risk
stage reads the bytes from Redis. Identical crops share one key (content addressed). If
Redis fails, the crop travels inline instead, so the event stays complete.
"""

from __future__ import annotations

import base64
import logging
from typing import Protocol

from contract import CropRef, InlineCrop, redis_keys
from detector.observability import Metrics

log = logging.getLogger("traffic-detector.crops")


class CropStore(Protocol):
    def put(self, jpeg: bytes, sha256: str) -> InlineCrop | CropRef | None: ...


def inline(jpeg: bytes) -> InlineCrop:
    return InlineCrop(
        kind="inline", media_type="image/jpeg", data_b64=base64.b64encode(jpeg).decode()
    )


class InlineCrops:
    """Crops travel inside the event (each at most 64 KiB)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics

    def put(self, jpeg: bytes, sha256: str) -> InlineCrop:
        if self._metrics:
            self._metrics.crops.labels("inline").inc()
        return inline(jpeg)


class NoCrops:
    """Groups without images (hash and features only)."""

    def put(self, jpeg: bytes, sha256: str) -> None:
        return None


class RedisCrops:
    """Crops in Redis under `crop:<sha256>` with a TTL; falls back to inline on errors."""

    def __init__(self, url: str, ttl_s: int, metrics: Metrics | None = None) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._ttl_s = ttl_s
        self._metrics = metrics

    def put(self, jpeg: bytes, sha256: str) -> InlineCrop | CropRef:
        import redis

        key = redis_keys.crop(sha256)
        try:
            self._client.set(key, jpeg, ex=self._ttl_s)
        except redis.RedisError as err:
            log.warning("redis crop store failed; crop sent inline", extra={"error": str(err)})
            if self._metrics:
                self._metrics.crops.labels("inline_fallback").inc()
            return inline(jpeg)
        if self._metrics:
            self._metrics.crops.labels("redis").inc()
        return CropRef(kind="ref", media_type="image/jpeg", ref=key)
