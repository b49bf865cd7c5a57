"""Records that travel between the risk stage's operators (JSON strings in Flink).

A `RiskTask` is one group to assess, carrying its frame (trimmed to that group) so every
operator can rebuild the heuristic verdict. A `RiskResult` is the verdict plus the key usage the
pool needs to account for; neither ever holds a secret, only public key ids.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract import DetectionEvent, Evidence, Group, RiskAssessment, TrafficAlert
from udfs.patterns.evidence import is_sha256
from udfs.risk import rules
from udfs.risk.config import RiskConfig, Tier
from udfs.risk.keypool import KeyPool


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json_str(self) -> str:
        return self.model_dump_json(exclude_none=True)


class RiskTask(_Record):
    event: DetectionEvent = Field(description="The frame, with `groups` = just this group.")
    tier: Tier = Field(description="Priority tier.")
    slot: int = Field(ge=0, description="Key-pool shard that accounts this call.")
    key_id: str | None = Field(default=None, description="Key leased by the pool gate.")
    start_ms: float | None = Field(default=None, description="Not before (pool pacing), epoch ms.")
    alternates: tuple[str, ...] = Field(default=(), description="Failover key ids, best first.")
    reserved_tokens: int = Field(default=0, ge=0, description="Tokens reserved in the pool.")
    refused: str | None = Field(default=None, description="Why no key was leased (-> fallback).")

    @property
    def group(self) -> Group:
        return self.event.groups[0]


Outcome = Literal["ok", "rate_limited", "server_error", "timeout", "malformed", "client_error"]


class Attempt(_Record):
    key_id: str = Field(description="Public key id used.")
    outcome: Outcome = Field(description="How the HTTP attempt ended.")
    status: int | None = Field(default=None, description="HTTP status, when one came back.")
    retry_after_s: float | None = Field(default=None, description="From a 429's Retry-After.")
    tokens: int = Field(default=0, ge=0, description="Tokens the provider reported.")
    at_ms: float = Field(description="When the attempt ended, epoch ms.")


class RiskResult(_Record):
    verdict: RiskAssessment = Field(description="The verdict for the group.")
    slot: int = Field(ge=0, description="Key-pool shard of the task.")
    reserved_tokens: int = Field(default=0, ge=0, description="Tokens the gate reserved.")
    leased_key_id: str | None = Field(default=None, description="Key the gate leased.")
    attempts: tuple[Attempt, ...] = Field(default=(), description="HTTP attempts, in order.")


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
        if attempt.outcome == "ok":
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
        if attempt.outcome == "ok":
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
