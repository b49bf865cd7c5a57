"""The API-key pool as pure logic: budgets, pacing, 429 cooldowns and failover.

Each key is known by a public `key_id` (its configured name or `k-` + 8 hex digits of the
key's SHA-256); the secret lives only in the `Secrets` mapping built at open() time and is never
part of `KeyPool.state()`, which is a plain JSON-able dict that Flink keeps in keyed state.

Pacing is a GCRA (generic cell rate algorithm): a key's next request may start at its
"theoretical arrival time" `tat` less the burst tolerance `burst_s`; each request moves `tat` on
by (60 s + burst_s + 1 ms) / requests-per-minute, and by tokens x (60 s + burst_s) / tokens-per-
minute for the token budget. `acquire` therefore returns a start time: a request waits (bounded
by its tier's max wait) instead of hitting the provider's 429. GCRA admits at most (t + burst_s)
/ interval requests in any span t, so no 60 s window holds more than the per-minute limit, while
a key whose schedule was missed (the pipeline paused: backpressure, a restart) catches up to
`burst_s` of it instead of losing it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from udfs.risk.config import KeyPoolConfig, KeySpec, RiskConfig, Tier

STATE_VERSION = 1
MINUTE_MS = 60_000.0


def key_id_for(secret: str, name: str | None = None) -> str:
    """Public id of a key: the configured name, else a short hash (never the key)."""
    return name or "k-" + hashlib.sha256(secret.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Secrets:
    """key_id -> secret; repr and str never show the secrets."""

    by_id: Mapping[str, SecretStr]

    def __repr__(self) -> str:
        return f"Secrets(key_ids={sorted(self.by_id)})"

    __str__ = __repr__

    def header(self, key_id: str) -> str:
        return f"Bearer {self.by_id[key_id].get_secret_value()}"


def read_secret_strings(cfg: RiskConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Keys from `cfg.keys_file`, else `$TRAFFIC_LLM_API_KEYS` (comma separated), else the file
    named by `$TRAFFIC_LLM_API_KEYS_FILE` (one per line, `#` comments); empty list = no LLM."""
    env = os.environ if environ is None else environ
    raw = "" if cfg.keys_file else env.get(cfg.keys_env, "")
    key_file = cfg.keys_file or env.get(cfg.keys_file_env)
    if not raw.strip() and key_file:
        lines = Path(key_file).read_text().splitlines()
        raw = ",".join(line for line in lines if not line.strip().startswith("#"))
    return [part.strip() for part in raw.split(",") if part.strip()]


def load_keys(
    cfg: RiskConfig, environ: Mapping[str, str] | None = None
) -> tuple[Secrets, dict[str, KeySpec]]:
    """Secrets and per-key budgets, matched by order to `pool.keys` (extra keys: default)."""
    secrets: dict[str, SecretStr] = {}
    specs: dict[str, KeySpec] = {}
    for i, secret in enumerate(read_secret_strings(cfg, environ)):
        spec = cfg.pool.keys[i] if i < len(cfg.pool.keys) else cfg.pool.default_key
        key_id = key_id_for(secret, spec.name)
        if key_id in secrets:
            raise ValueError(f"duplicate API key id {key_id!r} (same key listed twice?)")
        secrets[key_id] = SecretStr(secret)
        specs[key_id] = spec
    return Secrets(secrets), specs


@dataclass
class KeyState:
    """Everything the pool remembers about one key (checkpointed; no secret)."""

    key_id: str
    tat_req_ms: float = 0.0
    tat_tok_ms: float = 0.0
    cooldown_until_ms: float = 0.0
    day: str = ""
    spend_usd: float = 0.0
    requests: int = 0
    tokens: int = 0
    rate_limited: int = 0
    errors: int = 0
    consecutive_errors: int = 0


@dataclass(frozen=True)
class Lease:
    """Permission to call with `key_id` from `start_ms` on; `alternates` for 429 failover."""

    key_id: str
    start_ms: float
    alternates: tuple[str, ...] = field(default=())


def utc_day(now_ms: float) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d")


class KeyPool:
    """Budgets of several keys. All times are epoch milliseconds passed in by the caller."""

    def __init__(
        self, specs: Mapping[str, KeySpec], cfg: KeyPoolConfig, share: float = 1.0
    ) -> None:
        if not specs:
            raise ValueError("a key pool needs at least one key")
        self.specs = dict(specs)
        self.cfg = cfg
        self.share = share
        self.keys: dict[str, KeyState] = {k: KeyState(k) for k in self.specs}

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, object]:
        """Plain, JSON-able snapshot for Flink state (key ids and counters only)."""
        return {"version": STATE_VERSION, "keys": {k: asdict(s) for k, s in self.keys.items()}}

    def restore(self, state: Mapping[str, object] | None) -> KeyPool:
        """Take over counters of keys still configured; new keys start fresh."""
        if not state:
            return self
        saved = state.get("keys", {})
        assert isinstance(saved, Mapping)
        for key_id, values in saved.items():
            if key_id in self.keys:
                self.keys[key_id] = KeyState(**values)
        return self

    # -- budget ---------------------------------------------------------------------------
    def _cost_usd(self, tokens: int) -> float:
        return tokens / 1000 * self.cfg.usd_per_1k_tokens

    def _roll_day(self, key: KeyState, now_ms: float) -> None:
        day = utc_day(now_ms)
        if key.day != day:
            key.day, key.spend_usd = day, 0.0

    def earliest_start(self, key_id: str, now_ms: float, tokens: int) -> float | None:
        """When this key could start a request of `tokens`; None if its spend cap is hit."""
        key, spec = self.keys[key_id], self.specs[key_id]
        self._roll_day(key, now_ms)
        cap = spec.daily_spend_cap_usd * self.share
        if key.spend_usd + self._cost_usd(tokens) > cap:
            return None
        slack_ms = self.cfg.burst_s * 1000
        return max(
            now_ms, key.cooldown_until_ms, key.tat_req_ms - slack_ms, key.tat_tok_ms - slack_ms
        )

    def acquire(self, now_ms: float, tier: Tier, tokens: int) -> Lease | None:
        """Reserve the key that can start soonest, within the tier's max wait; None: no budget."""
        starts = {
            k: s for k in self.keys if (s := self.earliest_start(k, now_ms, tokens)) is not None
        }
        if not starts:
            return None
        order = sorted(starts, key=lambda k: (starts[k], self.keys[k].requests, k))
        best = order[0]
        if starts[best] - now_ms > self.cfg.max_wait_s[tier] * 1000:
            return None
        self._charge(best, starts[best], tokens)
        alternates = tuple(k for k in order[1:] if self.keys[k].cooldown_until_ms <= now_ms)
        return Lease(best, starts[best], alternates)

    def _charge(self, key_id: str, start_ms: float, tokens: int) -> None:
        key, spec = self.keys[key_id], self.specs[key_id]
        span_ms = MINUTE_MS + self.cfg.burst_s * 1000
        key.tat_req_ms = max(key.tat_req_ms, start_ms) + (span_ms + 1) / (  # +1: bound is strict
            spec.requests_per_min * self.share
        )
        key.tat_tok_ms = max(key.tat_tok_ms, start_ms) + tokens * span_ms / (
            spec.tokens_per_min * self.share
        )
        key.spend_usd += self._cost_usd(tokens)
        key.requests += 1
        key.tokens += tokens

    # -- outcomes -------------------------------------------------------------------------
    def record_usage(self, key_id: str, tokens: int) -> None:
        """Book a finished request's real usage (the ledger's view; the gate reserves)."""
        if key_id not in self.keys:
            return
        key = self.keys[key_id]
        key.requests += 1
        key.tokens += tokens
        key.spend_usd += self._cost_usd(tokens)
        key.consecutive_errors = 0

    def rate_limited(self, key_id: str, now_ms: float, retry_after_s: float | None) -> None:
        """A 429: cool the key down for Retry-After (or the default) and pace after it."""
        if key_id not in self.keys:
            return
        key = self.keys[key_id]
        wait_s = self.cfg.default_cooldown_s if retry_after_s is None else retry_after_s
        key.cooldown_until_ms = max(key.cooldown_until_ms, now_ms + wait_s * 1000)
        key.rate_limited += 1
        key.requests += 1

    # -- settlement of reserved requests (the gate's view) ---------------------------------
    def refund(self, key_id: str, tokens: int, request: bool = True) -> None:
        """A reserved request was never made (cache hit, crop missing; `request`) or made no
        use of its tokens (429, error): undo its charge."""
        if key_id not in self.keys:
            return
        key = self.keys[key_id]
        key.requests = max(0, key.requests - int(request))
        key.tokens = max(0, key.tokens - tokens)
        key.spend_usd = max(0.0, key.spend_usd - self._cost_usd(tokens))

    def adjust_usage(self, key_id: str, token_delta: int, new_request: bool) -> None:
        """A request succeeded: book the tokens the provider reported beyond the reservation
        (negative when it used fewer); `new_request` for a failover call nobody reserved."""
        if key_id not in self.keys:
            return
        key = self.keys[key_id]
        key.requests += int(new_request)
        key.tokens = max(0, key.tokens + token_delta)
        key.spend_usd = max(0.0, key.spend_usd + self._cost_usd(token_delta))
        key.consecutive_errors = 0

    def cool_down(
        self, key_id: str, now_ms: float, retry_after_s: float | None, new_request: bool
    ) -> None:
        """A 429 seen by a call that was already counted (unless `new_request`)."""
        if key_id not in self.keys:
            return
        self.rate_limited(key_id, now_ms, retry_after_s)
        self.keys[key_id].requests -= int(not new_request)

    def count_error(self, key_id: str, new_request: bool) -> None:
        if key_id not in self.keys:
            return
        self.failed(key_id)
        self.keys[key_id].requests -= int(not new_request)

    def failed(self, key_id: str) -> None:
        if key_id in self.keys:
            self.keys[key_id].requests += 1
            self.keys[key_id].errors += 1
            self.keys[key_id].consecutive_errors += 1

    def next_for_failover(self, tried: set[str], now_ms: float) -> str | None:
        """A key not yet tried for this request, not cooling down and under its spend cap."""
        for key_id in sorted(self.keys, key=lambda k: (self.keys[k].cooldown_until_ms, k)):
            if key_id in tried or self.keys[key_id].cooldown_until_ms > now_ms:
                continue
            if self.earliest_start(key_id, now_ms, 0) is not None:
                return key_id
        return None

    def health(self) -> dict[str, dict[str, object]]:
        """Per key id: counters for metrics and the Redis health hash, with this pool's share
        of the key's daily spend cap (the dashboard tells an exhausted key by it)."""
        return {
            k: {**asdict(s), "daily_spend_cap_usd": self.specs[k].daily_spend_cap_usd * self.share}
            for k, s in self.keys.items()
        }
