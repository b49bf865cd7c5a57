"""Cached LLM verdicts in Redis, keyed by crop hash + prompt version + model + the detector
context the prompt carried (time to collision, signal, crosswalk, counts).

A Redis failure never fails an assessment: a broken cache is a miss (reads) or a skipped write.
"""

from __future__ import annotations

import logging
from typing import Protocol

from contract import RiskAssessment, redis_keys
from contract.codec import ContractError, parse

log = logging.getLogger(__name__)


class AsyncKV(Protocol):
    """The two Redis calls the cache needs (redis.asyncio.Redis satisfies it)."""

    async def get(self, name: str) -> bytes | None: ...

    async def set(self, name: str, value: bytes, ex: int | None = None) -> object: ...


def cache_key(crop_sha256: str, prompt_version: str, model: str, context: str = "") -> str:
    return redis_keys.risk_cache(crop_sha256, prompt_version, model, context)


class VerdictCache:
    """get/set of RiskAssessment JSON with a TTL; hits come back with source="cache"."""

    def __init__(self, kv: AsyncKV, prompt_version: str, model: str, ttl_s: int = 300) -> None:
        self.kv = kv
        self.prompt_version = prompt_version
        self.model = model
        self.ttl_s = ttl_s
        self.hits = 0
        self.misses = 0
        self.errors = 0

    def key(self, crop_sha256: str, context: str = "") -> str:
        return cache_key(crop_sha256, self.prompt_version, self.model, context)

    async def get(self, crop_sha256: str, context: str = "") -> RiskAssessment | None:
        try:
            raw = await self.kv.get(self.key(crop_sha256, context))
        except Exception as exc:  # any Redis trouble is a miss, never a failure
            self.errors += 1
            log.warning("risk cache read failed: %s", type(exc).__name__)
            return None
        if raw is None:
            self.misses += 1
            return None
        try:
            cached = parse(RiskAssessment, raw)
        except ContractError:
            self.misses += 1
            return None
        self.hits += 1
        return cached

    async def put(self, verdict: RiskAssessment, context: str = "") -> None:
        """Only LLM verdicts are cached: heuristic ones are free to recompute."""
        if verdict.source != "llm" or verdict.crop_sha256 is None:
            return
        try:
            key = self.key(verdict.crop_sha256, context)
            await self.kv.set(key, verdict.to_json(), ex=self.ttl_s)
        except Exception as exc:
            self.errors += 1
            log.warning("risk cache write failed: %s", type(exc).__name__)
