"""Configuration of the risk stage: frozen pydantic models, one per concern.

Every field has a description (docs/risk-stage.md lists them); unknown fields are an error so a
typo in `flink-conf/risk.yaml` fails at start instead of silently using a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from udfs.risk.privacy import BlurPolicy

Tier = Literal["high", "medium", "low"]
TIERS: tuple[Tier, ...] = ("high", "medium", "low")

# Names of the vision providers in `udfs.risk.providers.registry.PROVIDERS` (a test holds the
# two together); a Literal so that a misspelt `llm.provider` fails when the config loads.
ProviderName = Literal["openai-compatible"]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilterRules(_Config):
    """Which groups are worth an LLM call; the rest get the local heuristic verdict."""

    min_vehicles: int = Field(default=2, ge=1, description="Vehicles that make a group LLM-worthy.")
    pedestrian_with_vehicle: bool = Field(
        default=True, description="A pedestrian together with any vehicle is LLM-worthy."
    )
    any_pedestrian: bool = Field(
        default=False, description="Any group with a pedestrian is LLM-worthy (seed's rule)."
    )
    max_ttc_s: float = Field(
        default=3.0, gt=0, description="Time to collision at or below this is LLM-worthy."
    )
    max_distance_px: float = Field(
        default=40.0, ge=0, description="Pedestrian-vehicle distance at or below this is worthy."
    )
    red_signal: bool = Field(default=True, description="A red signal with a vehicle is worthy.")
    in_crosswalk: bool = Field(default=True, description="A group in the crosswalk is worthy.")
    require_crop: bool = Field(
        default=True, description="Groups without a crop cannot be sent; heuristic instead."
    )


class TierRules(_Config):
    """Priority tiers from the detector's features."""

    high_ttc_s: float = Field(default=1.5, gt=0, description="TTC at or below: tier high.")
    medium_ttc_s: float = Field(default=3.0, gt=0, description="TTC at or below: tier medium.")
    high_distance_px: float = Field(
        default=10.0, ge=0, description="Pedestrian-vehicle distance at or below: tier high."
    )
    red_is_high: bool = Field(default=True, description="Red signal plus crosswalk: tier high.")


class SchedulerConfig(_Config):
    """Concurrency split between tiers inside one operator instance's calls."""

    max_in_flight: int = Field(default=100, ge=1, description="LLM calls in flight per operator.")
    low_share: float = Field(
        default=0.5, gt=0, le=1, description="Most of max_in_flight that tier low may hold."
    )
    medium_share: float = Field(
        default=0.8, gt=0, le=1, description="Most of max_in_flight that tier medium may hold."
    )


class KeySpec(_Config):
    """Budget of one API key; the secret itself is never part of the config."""

    name: str | None = Field(
        default=None, description="Public key id; derived from a hash of the key if unset."
    )
    requests_per_min: int = Field(default=600, ge=1, description="Requests per minute.")
    tokens_per_min: int = Field(default=1_000_000, ge=1, description="Tokens per minute.")
    daily_spend_cap_usd: float = Field(default=50.0, ge=0, description="Spend cap per UTC day.")


_MAX_WAIT_S: dict[Tier, float] = {"high": 20.0, "medium": 10.0, "low": 2.0}


class KeyPoolConfig(_Config):
    """Shared budget rules of the pool (per-key limits come from KeySpec)."""

    default_key: KeySpec = Field(default_factory=KeySpec, description="Budget of unnamed keys.")
    keys: tuple[KeySpec, ...] = Field(
        default=(), description="Per-key budgets, matched to secrets in order."
    )
    usd_per_1k_tokens: float = Field(default=0.002, ge=0, description="Price for spend caps.")
    default_cooldown_s: float = Field(
        default=10.0, ge=0, description="Cooldown after a 429 that names no Retry-After."
    )
    burst_s: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="Catch-up allowance: a key that sat idle (a paused pipeline) may start up "
        "to this many seconds of its budget at once. Its pace is slowed by 60 / (60 + burst_s) "
        "so no 60 s window exceeds its per-minute limits; 0 = strict even pacing.",
    )
    max_wait_s: dict[Tier, float] = Field(
        default_factory=lambda: dict(_MAX_WAIT_S),
        description="Longest a request of each tier may wait for key budget before fallback.",
    )
    slots: int = Field(
        default=1, ge=1, description="Pool shards (keyed state keys); each gets 1/slots budget."
    )


class LlmConfig(_Config):
    """Which vision LLM to call, where and how."""

    provider: ProviderName = Field(
        default="openai-compatible",
        description="Wire protocol of the LLM: openai-compatible = chat completions with the "
        "crop as an image_url data URL (DashScope compatible mode, OpenAI, vLLM, Ollama).",
    )
    base_url: str | None = Field(
        default=None,
        description="e.g. https://dashscope.aliyuncs.com/compatible-mode/v1; "
        "unset = no LLM, heuristic for every group.",
    )
    model: str = Field(default="qwen-vl-plus", description="Vision model name.")
    prompt_version: str = Field(default="v1", description="Bump to invalidate cached verdicts.")
    timeout_s: float = Field(default=20.0, gt=0, description="One HTTP attempt's timeout.")
    operator_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="An assessment gets this minus 2 s, then the fallback verdict; also the "
        "longest wait for a free call slot or for the last calls at the end of input.",
    )
    max_attempts: int = Field(default=3, ge=1, description="HTTP attempts per group (all keys).")
    backoff_s: float = Field(default=0.5, ge=0, description="First retry delay, doubled each time.")
    max_tokens: int = Field(default=200, ge=16, description="Answer token limit.")
    est_prompt_tokens: int = Field(
        default=800, ge=1, description="Tokens assumed per request (image + text) for budgets."
    )
    blur_faces: BlurPolicy = Field(
        default="auto",
        description="Blur faces in crops before they are sent (OpenCV's offline face "
        "detector): auto = when base_url is not local (loopback, private address, single-label "
        "or in-cluster host), always, never. Cached verdicts and hashes use the original crop.",
    )


class BatchConfig(_Config):
    """Several crops per LLM request: fewer requests and prompt tokens per group, at the cost
    of a bounded wait for the batch to fill."""

    max_images: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Crops per request (one verdict per image, by index); 1 = no batching.",
    )
    max_wait_ms: int = Field(
        default=100,
        ge=0,
        le=5_000,
        description="Longest a task waits for its batch to fill before it is sent anyway.",
    )


class CacheConfig(_Config):
    """Verdicts of earlier calls reused: the exact crop, or (optionally) a near-duplicate."""

    redis_url: str | None = Field(default=None, description="Redis for cached verdicts; unset=off.")
    ttl_s: int = Field(default=300, ge=1, description="Cached verdict lifetime.")
    near_max_distance: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Near-duplicate cache: a crop of the same camera and coarse context whose "
        "perceptual hash differs by at most this many of its 256 bits shares the verdict "
        "(udfs/risk/near.py); unset = exact crops only.",
    )
    near_entries: int = Field(
        default=16, ge=1, le=64, description="Recent verdicts kept per camera and context."
    )


class RiskConfig(_Config):
    """The whole risk stage."""

    filter: FilterRules = Field(default_factory=FilterRules, description="Smart filter rules.")
    tiers: TierRules = Field(default_factory=TierRules, description="Priority tier rules.")
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig, description="Tiers.")
    pool: KeyPoolConfig = Field(default_factory=KeyPoolConfig, description="API-key pool.")
    llm: LlmConfig = Field(default_factory=LlmConfig, description="LLM endpoint.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="Verdict cache.")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="Crops per request.")
    keys_file: str | None = Field(
        default=None,
        description="File with one API key per line, read where the operators run (a mounted "
        "Secret on Kubernetes); unset: the two env vars below. Only the path is configured.",
    )
    keys_env: str = Field(
        default="TRAFFIC_LLM_API_KEYS", description="Env var with comma-separated API keys."
    )
    keys_file_env: str = Field(
        default="TRAFFIC_LLM_API_KEYS_FILE",
        description="Env var naming a file with one API key per line (used if keys_env unset).",
    )


def load(path: str | Path | None = None, **overrides: Any) -> RiskConfig:
    """Read a YAML file (top-level `risk:` section or the bare mapping) plus overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        raw: dict[str, Any] = yaml.safe_load(Path(path).read_text()) or {}
        data = raw.get("risk", raw)
    data.update(overrides)
    return RiskConfig.model_validate(data)
