"""Assess one RiskTask: cache, pacing, tier admission, attempts with failover, fallback.

Plain asyncio, no PyFlink: the async Flink function is a thin shell around `Assessor.assess`,
and tests drive it directly against the stub server. The LLM itself is a `VisionProvider`
(`llm.provider`); retries and failover are decided here from its typed errors only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field

from contract import CropRef, InlineCrop, RiskAssessment
from udfs.risk import rules
from udfs.risk.cache import AsyncKV, VerdictCache
from udfs.risk.config import KeySpec, RiskConfig
from udfs.risk.keypool import KeyPool, Secrets
from udfs.risk.providers import (
    ApiKey,
    Malformed,
    ProviderAnswer,
    ProviderError,
    RateLimited,
    Transient,
    VisionProvider,
    VisionRequest,
    make_provider,
)
from udfs.risk.records import Attempt, Outcome, RiskResult, RiskTask, fallback
from udfs.risk.scheduler import AsyncTierGate
from udfs.risk.verdict import SYSTEM_PROMPT, context_key, user_text

log = logging.getLogger(__name__)


def now_ms() -> float:
    return time.time() * 1000


@dataclass
class _Run:
    """Progress of one task's attempts."""

    key_id: str
    attempts: list[Attempt] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    failures: int = 0
    malformed: int = 0


class Assessor:
    """Owns the vision provider, the local cooldown mirror of the key pool (instant failover
    inside this process) and the tier gate."""

    def __init__(
        self,
        cfg: RiskConfig,
        secrets: Secrets,
        specs: dict[str, KeySpec],
        kv: AsyncKV | None = None,
        provider: VisionProvider | None = None,
    ) -> None:
        self.cfg = cfg
        self.secrets = secrets
        self.provider = provider if provider is not None else make_provider(cfg)
        self.local = KeyPool(specs, cfg.pool)
        self.gate = AsyncTierGate(cfg.scheduler)
        self.kv = kv
        llm = cfg.llm
        self.cache = (
            VerdictCache(kv, llm.prompt_version, llm.model, cfg.cache.ttl_s) if kv else None
        )

    async def close(self) -> None:
        await self.provider.close()

    async def assess(self, task: RiskTask) -> RiskResult:
        """Always returns a verdict: llm, cache or fallback (with the cause in the reason)."""
        if task.refused or task.key_id is None:
            return fallback(task, task.refused or "no API key leased")
        started = now_ms()
        context = context_key(rules.signals(task.event, task.group))
        if self.cache is not None and task.group.crop_sha256:
            cached = await self.cache.get(task.group.crop_sha256, context)
            if cached is not None:
                return self._from_cache(task, cached)
        image = await self._crop_b64(task)
        if image is None:
            return fallback(task, "crop unavailable")
        if task.start_ms is not None and task.start_ms > now_ms():
            await asyncio.sleep((task.start_ms - now_ms()) / 1000)
        async with self.gate.slot(task.tier):
            result = await self._attempts(task, image, started)
        if self.cache is not None:
            await self.cache.put(result.verdict, context)
        return result

    def _from_cache(self, task: RiskTask, cached: RiskAssessment) -> RiskResult:
        verdict = cached.model_copy(
            update={
                "camera_id": task.event.camera_id,
                "frame_id": task.event.frame_id,
                "group_id": task.group.group_id,
                "captured_at_ms": task.event.captured_at_ms,
                "source": "cache",
                "tier": task.tier,
                "key_id": None,
                "latency_ms": None,
            }
        )
        # Nothing was called: hand the reservation back in full.
        return RiskResult(
            verdict=verdict,
            slot=task.slot,
            reserved_tokens=task.reserved_tokens,
            leased_key_id=task.key_id,
        )

    async def _crop_b64(self, task: RiskTask) -> str | None:
        crop = task.group.crop
        if isinstance(crop, InlineCrop):
            return crop.data_b64
        if isinstance(crop, CropRef) and self.kv is not None:
            try:
                raw = await self.kv.get(crop.ref)
            except Exception:
                return None
            return base64.b64encode(raw).decode() if raw else None
        return None

    async def _attempts(self, task: RiskTask, image: str, started: float) -> RiskResult:
        sig = rules.signals(task.event, task.group)
        request = VisionRequest(SYSTEM_PROMPT, user_text(sig, task.event.camera_id), (image,))
        run = _Run(key_id=task.key_id or "")
        while True:
            run.tried.add(run.key_id)
            key = ApiKey(run.key_id, self.secrets.by_id[run.key_id])
            try:
                answer = await self.provider.assess(request, key)
            except ProviderError as exc:
                note = await self._after_error(task, run, exc)
                if note is not None:
                    return fallback(task, note, tuple(run.attempts))
                continue
            run.attempts.append(self._attempt(run.key_id, "ok", 200, tokens=answer.tokens))
            log.debug("LLM answered on key %s in %.0f ms", run.key_id, answer.latency_ms)
            return self._llm_result(task, run, answer, started)

    async def _after_error(self, task: RiskTask, run: _Run, exc: ProviderError) -> str | None:
        """Record the failure and pick the next move; a returned note ends in the fallback."""
        if isinstance(exc, RateLimited):
            run.attempts.append(self._attempt(run.key_id, "rate_limited", 429, exc.retry_after_s))
            self.local.rate_limited(run.key_id, now_ms(), exc.retry_after_s)
            nxt = self.local.next_for_failover(run.tried, now_ms())
            if nxt is None:
                return "every API key is rate limited"
            run.key_id = nxt
            return None
        run.attempts.append(self._attempt(run.key_id, exc.outcome, exc.status))
        self.local.failed(run.key_id)
        log.info("LLM attempt failed on key %s: %s", run.key_id, exc)
        if isinstance(exc, Malformed):
            run.malformed += 1
            if run.malformed > 1:
                return "malformed LLM answer twice"
            return None
        if not isinstance(exc, Transient):
            return f"LLM request rejected ({exc.status})"
        run.failures += 1
        if run.failures >= self.cfg.llm.max_attempts:
            return f"LLM failed {run.failures} times ({exc.outcome})"
        await asyncio.sleep(self.cfg.llm.backoff_s * 2 ** (run.failures - 1))
        return None

    @staticmethod
    def _attempt(
        key_id: str,
        outcome: Outcome,
        status: int | None,
        retry_after_s: float | None = None,
        tokens: int = 0,
    ) -> Attempt:
        return Attempt(
            key_id=key_id,
            outcome=outcome,
            status=status,
            retry_after_s=retry_after_s,
            tokens=tokens,
            at_ms=now_ms(),
        )

    def _llm_result(
        self, task: RiskTask, run: _Run, answer: ProviderAnswer, started: float
    ) -> RiskResult:
        verdict = answer.verdict
        assessment = RiskAssessment(
            schema_version=1,
            camera_id=task.event.camera_id,
            frame_id=task.event.frame_id,
            group_id=task.group.group_id,
            captured_at_ms=task.event.captured_at_ms,
            crop_sha256=task.group.crop_sha256,
            risk_level=verdict.risk_level,
            risk_types=verdict.risk_types,
            reason=verdict.reason,
            confidence=verdict.confidence,
            source="llm",
            tier=task.tier,
            model=self.cfg.llm.model,
            key_id=run.key_id,
            latency_ms=round(max(0.0, now_ms() - started), 1),
        )
        return RiskResult(
            verdict=assessment,
            slot=task.slot,
            reserved_tokens=task.reserved_tokens,
            leased_key_id=task.key_id,
            attempts=tuple(run.attempts),
        )
