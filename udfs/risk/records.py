"""Records that travel between the risk stage's operators (JSON strings in Flink).

A `RiskTask` is one group to assess, carrying its frame (trimmed to that group) so every
operator can rebuild the heuristic verdict. A `RiskResult` is the verdict plus the key usage the
pool needs to account for; neither ever holds a secret, only public key ids.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract import DetectionEvent, Evidence, Group, RiskAssessment, TrafficAlert
from udfs.patterns.evidence import is_sha256
from udfs.risk import rules
from udfs.risk.config import TIERS, RiskConfig, Tier
from udfs.risk.keypool import KeyPool


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json_str(self) -> str:
        return self.model_dump_json(exclude_none=True)


class _Lease(_Record):
    """What the pool gate grants a call: a key, a start time and a token reservation."""

    key_id: str | None = Field(default=None, description="Key leased by the pool gate.")
    start_ms: float | None = Field(default=None, description="Not before (pool pacing), epoch ms.")
    alternates: tuple[str, ...] = Field(default=(), description="Failover key ids, best first.")
    reserved_tokens: int = Field(default=0, ge=0, description="Tokens reserved in the pool.")
    refused: str | None = Field(default=None, description="Why no key was leased (-> fallback).")


NO_LEASE: dict[str, object] = {
    name: _Lease.model_fields[name].default for name in _Lease.model_fields
}


class RiskTask(_Lease):
    event: DetectionEvent = Field(description="The frame, with `groups` = just this group.")
    tier: Tier = Field(description="Priority tier.")
    slot: int = Field(ge=0, description="Key-pool shard that accounts this call.")

    @property
    def group(self) -> Group:
        return self.event.groups[0]


class RiskBatch(_Lease):
    """Tasks sent in one LLM request (one task when batching is off) under one lease: the
    request's key, start time and token reservation belong to the batch, not its tasks."""

    tasks: tuple[RiskTask, ...] = Field(min_length=1, description="Tasks, in image order.")

    @classmethod
    def of(cls, task: RiskTask) -> RiskBatch:
        """A batch of one, taking over the task's own lease."""
        lease = task.model_dump(include=set(NO_LEASE))
        return cls(tasks=(task.model_copy(update=NO_LEASE),), **lease)

    @property
    def tier(self) -> Tier:
        """The highest tier of its tasks (admission order of the request)."""
        return min((t.tier for t in self.tasks), key=TIERS.index)

    @property
    def slot(self) -> int:
        return self.tasks[0].slot


Outcome = Literal[
    "ok", "partial", "rate_limited", "server_error", "timeout", "malformed", "client_error"
]
ANSWERED: tuple[Outcome, ...] = ("ok", "partial")  # a 200 whose tokens were used


class Attempt(_Record):
    key_id: str = Field(description="Public key id used.")
    outcome: Outcome = Field(description="How the HTTP attempt ended.")
    status: int | None = Field(default=None, description="HTTP status, when one came back.")
    retry_after_s: float | None = Field(default=None, description="From a 429's Retry-After.")
    tokens: int = Field(default=0, ge=0, description="Tokens the provider reported.")
    at_ms: float = Field(description="When the attempt ended, epoch ms.")
    images: int = Field(default=1, ge=1, description="Crops in the request.")
    latency_ms: float | None = Field(default=None, description="The attempt's own time, ms.")


class RiskResult(_Record):
    verdict: RiskAssessment = Field(description="The verdict for the group.")
    slot: int = Field(ge=0, description="Key-pool shard of the task.")
    reserved_tokens: int = Field(default=0, ge=0, description="Tokens the gate reserved.")
    leased_key_id: str | None = Field(default=None, description="Key the gate leased.")
    attempts: tuple[Attempt, ...] = Field(
        default=(),
        description="HTTP attempts, in order; a batch's on its first result only (the one that "
        "carries the lease), so each request is accounted once.",
    )
    sent: bool = Field(default=False, description="The crop was in at least one request.")
    cache_hit: Literal["exact", "near"] | None = Field(
        default=None, description="Which cache answered (source=cache)."
    )


def slot_of(camera_id: str, slots: int) -> int:
    """Stable shard of a camera (crc32: the same in every Python process)."""
    return zlib.crc32(camera_id.encode()) % slots


def route(
    event: DetectionEvent, cfg: RiskConfig, llm_enabled: bool
) -> Iterator[RiskAssessment | RiskTask]:
    """Split a frame: heuristic verdicts now for filtered groups, tasks for LLM-worthy ones."""
    for group in event.groups:
        sig = rules.signals(event, group)
        group_tier = rules.tier(sig, cfg.tiers)
        if llm_enabled and rules.needs_llm(sig, cfg.filter):
            yield RiskTask(
                event=event.model_copy(update={"groups": (group,)}),
                tier=group_tier,
                slot=slot_of(event.camera_id, cfg.pool.slots),
            )
        else:
            yield rules.heuristic_verdict(event, group, "heuristic", group_tier)


def fallback(task: RiskTask, note: str, attempts: tuple[Attempt, ...] = ()) -> RiskResult:
    """The explicit fallback: heuristic verdict marked source="fallback" with the cause."""
    verdict = rules.heuristic_verdict(task.event, task.group, "fallback", task.tier, note)
    return RiskResult(
        verdict=verdict,
        slot=task.slot,
        reserved_tokens=task.reserved_tokens,
        leased_key_id=task.key_id,
        attempts=attempts,
    )


def batch_from_state(saved: str) -> RiskBatch:
    """A pending call as kept in state: a batch, or one leased task (state of an earlier
    version, before batching)."""
    data = json.loads(saved)
    if "tasks" in data:
        return RiskBatch.model_validate(data)
    return RiskBatch.of(RiskTask.model_validate(data))


def fallback_batch(batch: RiskBatch, note: str) -> list[RiskResult]:
    """Every task of a batch falls back; the first result carries the batch's lease."""
    lead = RiskResult(
        verdict=fallback(batch.tasks[0], note).verdict,
        slot=batch.slot,
        reserved_tokens=batch.reserved_tokens,
        leased_key_id=batch.key_id,
    )
    return [lead, *(fallback(t, note) for t in batch.tasks[1:])]


def settle(pool: KeyPool, result: RiskResult, now_ms: float) -> None:
    """Fold one finished task into the gate's pool, which already charged a reservation for
    the leased key: 429s cool keys down, errors count, a call that made no request (cache
    hit, fallback before any attempt) gets its reservation back, and a successful call's
    reported tokens replace the reserved estimate."""
    if not result.attempts:
        if result.leased_key_id is not None:
            pool.refund(result.leased_key_id, result.reserved_tokens)
        return
    reserved = result.reserved_tokens
    for i, attempt in enumerate(result.attempts):
        # The first attempt on the leased key is the reserved request; failovers are extra.
        extra = i > 0 or attempt.key_id != result.leased_key_id
        if attempt.outcome in ANSWERED:
            used = attempt.tokens or reserved  # providers that report no usage: the estimate
            pool.adjust_usage(attempt.key_id, used if extra else used - reserved, extra)
            continue
        if attempt.outcome == "rate_limited":
            pool.cool_down(attempt.key_id, now_ms, attempt.retry_after_s, extra)
        else:
            pool.count_error(attempt.key_id, extra)
        if not extra:
            pool.refund(attempt.key_id, reserved, request=False)  # no tokens were used


def book(pool: KeyPool, result: RiskResult) -> None:
    """Book one result's HTTP attempts into the ledger's pool: requests, used tokens and
    spend (the reservation when the provider reported none), 429 cooldowns, errors."""
    for attempt in result.attempts:
        if attempt.outcome in ANSWERED:
            pool.record_usage(attempt.key_id, attempt.tokens or result.reserved_tokens)
        elif attempt.outcome == "rate_limited":
            pool.rate_limited(attempt.key_id, attempt.at_ms, attempt.retry_after_s)
        else:
            pool.failed(attempt.key_id)


def alert_for_verdict(verdict: RiskAssessment) -> TrafficAlert | None:
    """A high-risk verdict is an alert of its own (`high_risk_verdict`), whoever assessed it;
    the id is derived from the group, so a replay after a failure gives the same alert."""
    if verdict.risk_level != "high":
        return None
    kinds = ", ".join(verdict.risk_types) or "unspecified"
    return TrafficAlert(
        schema_version=1,
        alert_id=f"high_risk_verdict:{verdict.camera_id}:{verdict.frame_id}:{verdict.group_id}",
        pattern="high_risk_verdict",
        camera_id=verdict.camera_id,
        severity="critical",
        start_ms=verdict.captured_at_ms,
        end_ms=verdict.captured_at_ms,
        description=f"high risk ({kinds}) by {verdict.source}: {verdict.reason}"[:500],
        evidence=(verdict_evidence(verdict),),
    )


def verdict_evidence(verdict: RiskAssessment) -> Evidence:
    """The assessed frame and group, and the crop's reference when it has one."""
    crop = verdict.crop_sha256
    return Evidence(
        camera_id=verdict.camera_id,
        frame_id=verdict.frame_id,
        captured_at_ms=verdict.captured_at_ms,
        group_id=verdict.group_id,
        crop_sha256=crop if is_sha256(crop) else None,
    )
