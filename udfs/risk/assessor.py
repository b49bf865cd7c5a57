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
from typing import Literal

from contract import CropRef, InlineCrop, RiskAssessment
from udfs.risk import rules
from udfs.risk.cache import AsyncKV, VerdictCache
from udfs.risk.config import KeySpec, RiskConfig
from udfs.risk.keypool import KeyPool, Secrets
from udfs.risk.near import NearCache, coarse_context, perceptual_hash
from udfs.risk.privacy import FaceBlur, should_blur
from udfs.risk.providers import (
    ApiKey,
    Malformed,
    ProviderError,
    RateLimited,
    Transient,
    VisionProvider,
    VisionRequest,
    make_provider,
)
from udfs.risk.records import (
    Attempt,
    Outcome,
    RiskBatch,
    RiskResult,
    RiskTask,
    fallback,
    fallback_batch,
)
from udfs.risk.scheduler import AsyncTierGate
from udfs.risk.verdict import (
    BATCH_SYSTEM_PROMPT,
    BATCH_TEXT,
    SYSTEM_PROMPT,
    LlmVerdict,
    context_key,
    user_text,
)

log = logging.getLogger(__name__)


def now_ms() -> float:
    return time.time() * 1000


@dataclass(frozen=True)
class _Keys:
    """What a crop's verdict is cached under: the exact context, and for the near-duplicate
    cache the coarse context and the perceptual hash (when that cache is on)."""

    context: str
    coarse: str = ""
    phash: int | None = None


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
        # Faces leave for an external model only blurred (udfs/risk/privacy.py).
        self.blur = FaceBlur() if should_blur(cfg.llm.blur_faces, cfg.llm.base_url) else None
        llm, cache = cfg.llm, cfg.cache
        self.cache = VerdictCache(kv, llm.prompt_version, llm.model, cache.ttl_s) if kv else None
        self.near = (
            NearCache(kv, llm.prompt_version, llm.model, cache.ttl_s, cache.near_max_distance,
                      cache.near_entries)
            if kv and cache.near_max_distance is not None
            else None
        )  # fmt: skip

    async def close(self) -> None:
        await self.provider.close()

    async def assess(self, task: RiskTask) -> RiskResult:
        """One task under its own lease (a batch of one); always a verdict: llm, cache or
        fallback (with the cause in the reason)."""
        [result] = await self.assess_batch(RiskBatch.of(task))
        return result

    async def assess_batch(self, batch: RiskBatch) -> list[RiskResult]:
        """One result per task, in order. Cache hits and missing crops are answered on their
        own; the other crops go in one request (retried, failed over or fallen back per the
        table in docs/risk-stage.md, a missing verdict per image). The first result carries
        the lease and every HTTP attempt, so the pool accounts the request once."""
        if batch.refused or batch.key_id is None:
            return fallback_batch(batch, batch.refused or "no API key leased")
        started = now_ms()
        results: dict[int, RiskResult] = {}
        asked: list[tuple[int, str, _Keys]] = []  # (task index, image, cache keys)
        for i, task in enumerate(batch.tasks):
            keys = _Keys(context_key(rules.signals(task.event, task.group)))
            cached = await self._cached(task, keys.context)
            image = None if cached is not None else await self._crop_b64(task)
            if cached is None and image is not None and self.near is not None:
                cached, keys = await self._near(task, image, keys)
            if cached is not None:
                results[i] = cached
            elif image is None:
                results[i] = fallback(task, "crop unavailable")
            else:
                asked.append((i, await self._outgoing(image), keys))
        attempts: tuple[Attempt, ...] = ()
        if asked:
            if batch.start_ms is not None and batch.start_ms > now_ms():
                await asyncio.sleep((batch.start_ms - now_ms()) / 1000)
            tasks = [batch.tasks[i] for i, _, _ in asked]
            async with self.gate.slot(batch.tier):
                answered, attempts = await self._attempts(batch, tasks, [a[1] for a in asked])
            for (i, _, keys), result in zip(asked, answered, strict=True):
                update = {"verdict": self._timed(result, started), "sent": bool(attempts)}
                results[i] = result.model_copy(update=update)
                await self._remember(result.verdict, keys)
        out = [results[i] for i in range(len(batch.tasks))]
        lease = {"reserved_tokens": batch.reserved_tokens, "leased_key_id": batch.key_id,
                 "attempts": attempts}  # fmt: skip
        out[0] = out[0].model_copy(update=lease)
        return out

    async def _cached(self, task: RiskTask, context: str) -> RiskResult | None:
        if self.cache is None or not task.group.crop_sha256:
            return None
        cached = await self.cache.get(task.group.crop_sha256, context)
        return None if cached is None else self._from_cache(task, cached, "exact")

    async def _near(
        self, task: RiskTask, image: str, keys: _Keys
    ) -> tuple[RiskResult | None, _Keys]:
        """A near-duplicate's verdict (same camera and coarse context, hash within the
        distance, event time within the TTL), and the keys to remember this crop by."""
        assert self.near is not None
        phash = perceptual_hash(base64.b64decode(image))
        if phash is None:
            return None, keys
        sig = rules.signals(task.event, task.group)
        keys = _Keys(keys.context, coarse_context(sig, self.cfg.tiers, self.cfg.filter), phash)
        hit = await self.near.get(
            task.event.camera_id, keys.coarse, phash, task.event.captured_at_ms
        )
        return (None if hit is None else self._from_cache(task, hit.verdict, "near")), keys

    async def _remember(self, verdict: RiskAssessment, keys: _Keys) -> None:
        """Store an LLM verdict under its exact and (when on) near-duplicate keys."""
        if self.cache is not None:
            await self.cache.put(verdict, keys.context)
        if self.near is not None and keys.phash is not None:
            await self.near.put(verdict, keys.coarse, keys.phash, verdict.captured_at_ms)

    @staticmethod
    def _timed(result: RiskResult, started: float) -> RiskAssessment:
        """An LLM verdict's latency: from the start of its batch's assessment."""
        if result.verdict.source != "llm":
            return result.verdict
        return result.verdict.model_copy(
            update={"latency_ms": round(max(0.0, now_ms() - started), 1)}
        )

    def _from_cache(
        self, task: RiskTask, cached: RiskAssessment, kind: Literal["exact", "near"]
    ) -> RiskResult:
        verdict = cached.model_copy(
            update={
                "camera_id": task.event.camera_id,
                "frame_id": task.event.frame_id,
                "group_id": task.group.group_id,
                "captured_at_ms": task.event.captured_at_ms,
                "crop_sha256": task.group.crop_sha256,
                "source": "cache",
                "tier": task.tier,
                "key_id": None,
                "latency_ms": None,
            }
        )
        return RiskResult(verdict=verdict, slot=task.slot, cache_hit=kind)

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

    async def _outgoing(self, image_b64: str) -> str:
        """The crop as it leaves: faces blurred when the policy says so (off the event loop:
        detection takes milliseconds per crop)."""
        if self.blur is None:
            return image_b64
        blurred = await asyncio.to_thread(self.blur.blur, base64.b64decode(image_b64))
        return base64.b64encode(blurred.jpeg).decode() if blurred.faces else image_b64

    def _request(self, tasks: list[RiskTask], images: list[str]) -> VisionRequest:
        texts = [user_text(rules.signals(t.event, t.group), t.event.camera_id) for t in tasks]
        if len(tasks) == 1:
            return VisionRequest(SYSTEM_PROMPT, texts[0], (images[0],))
        text = BATCH_TEXT.format(n=len(tasks))
        return VisionRequest(BATCH_SYSTEM_PROMPT, text, tuple(images), tuple(texts))

    async def _attempts(
        self, batch: RiskBatch, tasks: list[RiskTask], images: list[str]
    ) -> tuple[list[RiskResult], tuple[Attempt, ...]]:
        """Results of `tasks` (llm, or fallback with the cause) and the HTTP attempts made.
        Images the answer left without a valid verdict are asked again once, on their own
        request; a second miss is their fallback."""
        run = _Run(key_id=batch.key_id or "")
        done: dict[int, RiskResult] = {}
        todo = list(range(len(tasks)))
        while todo:
            run.tried.add(run.key_id)
            key = ApiKey(run.key_id, self.secrets.by_id[run.key_id])
            request = self._request([tasks[i] for i in todo], [images[i] for i in todo])
            try:
                answer = await self.provider.assess(request, key)
            except ProviderError as exc:
                note = await self._after_error(run, exc, len(todo))
                if note is not None:
                    done |= {i: fallback(tasks[i], note) for i in todo}
                    break
                continue
            missing = [i for i, v in zip(todo, answer.verdicts, strict=True) if v is None]
            outcome: Outcome = "partial" if missing else "ok"
            run.attempts.append(
                self._attempt(run.key_id, outcome, 200, tokens=answer.tokens, images=len(todo),
                              latency_ms=answer.latency_ms)
            )  # fmt: skip
            log.debug("LLM answered on key %s in %.0f ms", run.key_id, answer.latency_ms)
            for i, verdict in zip(todo, answer.verdicts, strict=True):
                if verdict is not None:
                    done[i] = self._llm_result(tasks[i], run.key_id, verdict)
            if missing:
                run.malformed += 1
                if run.malformed > 1:
                    note = "no valid verdict for the image in the LLM answer twice"
                    done |= {i: fallback(tasks[i], note) for i in missing}
                    break
            todo = missing
        return [done[i] for i in range(len(tasks))], tuple(run.attempts)

    async def _after_error(self, run: _Run, exc: ProviderError, images: int) -> str | None:
        """Record the failure and pick the next move; a returned note ends in the fallback."""
        if isinstance(exc, RateLimited):
            run.attempts.append(
                self._attempt(run.key_id, "rate_limited", 429, exc.retry_after_s, images=images)
            )
            self.local.rate_limited(run.key_id, now_ms(), exc.retry_after_s)
            nxt = self.local.next_for_failover(run.tried, now_ms())
            if nxt is None:
                return "every API key is rate limited"
            run.key_id = nxt
            return None
        run.attempts.append(self._attempt(run.key_id, exc.outcome, exc.status, images=images))
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
        images: int = 1,
        latency_ms: float | None = None,
    ) -> Attempt:
        return Attempt(
            key_id=key_id,
            outcome=outcome,
            status=status,
            retry_after_s=retry_after_s,
            tokens=tokens,
            at_ms=now_ms(),
            images=images,
            latency_ms=None if latency_ms is None else round(latency_ms, 1),
        )

    def _llm_result(self, task: RiskTask, key_id: str, verdict: LlmVerdict) -> RiskResult:
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
            key_id=key_id,
        )
        return RiskResult(verdict=assessment, slot=task.slot, sent=True)
