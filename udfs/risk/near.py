"""Near-duplicate verdict cache: consecutive frames of one scene share an LLM verdict.

On live video no two crops of a group have equal bytes, so the exact cache (SHA-256 of the
JPEG) misses frame after frame. This cache keys a crop by a perceptual hash instead and
answers from the most similar verdict of the same camera and detector context within a
Hamming distance (`cache.near_max_distance`) and the TTL.

The hash (`perceptual_hash`): the crop decoded, converted to YCrCb, shrunk to 9x8 cells; for
each of Y (brightness) and Cr (red-difference) and each pair of horizontally adjacent cells,
two bits: left brighter than right by more than `EDGE`, and right brighter than left by
more than `EDGE` (256 bits). The dead band keeps flat areas stable under sensor noise and
JPEG; Cr makes a red detail (a brake light, a signal, the simulator's risk marker) count even
where it barely changes brightness.

The context is coarse (`coarse_context`): counts, the TTC band by the tier thresholds, red
signal, crosswalk, so a scene that turns riskier (its TTC crosses into a higher band) asks
again. Storage: one Redis value per (prompt version, model, camera, context) with the last
`cache.near_entries` verdicts and their hashes (JSON, `SET ... EX ttl_s`); a lost concurrent
write is a miss, never a wrong verdict. Redis errors are misses, as in the exact cache.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from contract import RiskAssessment, redis_keys
from contract.codec import ContractError, parse
from udfs.risk.cache import AsyncKV
from udfs.risk.config import FilterRules, TierRules
from udfs.risk.rules import Signals

log = logging.getLogger(__name__)

GRID = (9, 8)  # cells (w, h) before the horizontal differences
EDGE = 6  # grey levels a difference must exceed to count as an edge
HASH_BITS = 2 * 2 * (GRID[0] - 1) * GRID[1]


def perceptual_hash(jpeg: bytes) -> int | None:
    """256-bit edge hash of the crop (module docstring); None if it does not decode."""
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    small = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb), GRID, interpolation=cv2.INTER_AREA)
    value = 0
    for channel in (0, 1):  # Y, Cr
        cells = small[:, :, channel].astype(np.int16)
        diff = cells[:, :-1] - cells[:, 1:]
        for bits in (diff > EDGE, diff < -EDGE):
            for bit in bits.flatten():
                value = (value << 1) | int(bit)
    return value


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def coarse_context(sig: Signals, tiers: TierRules, rules: FilterRules) -> str:
    """The detector context at the resolution of the rules: TTC as a band (high tier, medium
    tier, still worth a call, beyond), not to 0.1 s, so the next frame's context matches."""
    ttc = sig.ttc_s
    if ttc is None:
        band = "na"
    elif ttc <= tiers.high_ttc_s:
        band = "h"
    elif ttc <= tiers.medium_ttc_s:
        band = "m"
    elif ttc <= rules.max_ttc_s:
        band = "f"
    else:
        band = "x"
    red, crosswalk = int(sig.red_signal), int(sig.in_crosswalk)
    return f"v{sig.vehicles}p{sig.pedestrians}t{band}r{red}c{crosswalk}"


@dataclass(frozen=True)
class NearHit:
    verdict: RiskAssessment
    distance: int


class NearCache:
    """Recent LLM verdicts per camera and coarse context, matched by perceptual hash."""

    def __init__(
        self,
        kv: AsyncKV,
        prompt_version: str,
        model: str,
        ttl_s: int,
        max_distance: int,
        entries: int = 16,
    ) -> None:
        self.kv, self.ttl_s = kv, ttl_s
        self.prompt_version, self.model = prompt_version, model
        self.max_distance, self.entries = max_distance, entries
        self.hits = self.misses = self.errors = 0

    def key(self, camera_id: str, context: str) -> str:
        return redis_keys.risk_near(self.prompt_version, self.model, camera_id, context)

    async def _entries(self, key: str) -> list[list[object]]:
        try:
            raw = await self.kv.get(key)
        except Exception as exc:  # any Redis trouble is a miss, never a failure
            self.errors += 1
            log.warning("risk near cache read failed: %s", type(exc).__name__)
            return []
        try:
            entries = json.loads(raw) if raw else []
        except ValueError:
            return []
        return entries if isinstance(entries, list) else []

    async def get(
        self, camera_id: str, context: str, phash: int, now_ms: float
    ) -> NearHit | None:
        """The nearest verdict within the distance and the TTL (by its `stored_ms`)."""
        best: NearHit | None = None
        for entry in await self._entries(self.key(camera_id, context)):
            try:
                hash_hex, stored_ms, verdict_json = entry
                distance = hamming(phash, int(str(hash_hex), 16))
                fresh = now_ms - float(str(stored_ms)) <= self.ttl_s * 1000
                if distance <= self.max_distance and fresh and (
                    best is None or distance < best.distance
                ):
                    best = NearHit(parse(RiskAssessment, str(verdict_json)), distance)
            except (ValueError, TypeError, ContractError):
                continue
        if best is None:
            self.misses += 1
        else:
            self.hits += 1
        return best

    async def put(
        self, verdict: RiskAssessment, context: str, phash: int, now_ms: float
    ) -> None:
        """Only LLM verdicts; the newest first, at most `entries` kept."""
        if verdict.source != "llm":
            return
        key = self.key(verdict.camera_id, context)
        entries = [e for e in await self._entries(key) if isinstance(e, list) and len(e) == 3]
        entries = [[f"{phash:x}", now_ms, verdict.to_json().decode()], *entries][: self.entries]
        try:
            await self.kv.set(key, json.dumps(entries).encode(), ex=self.ttl_s)
        except Exception as exc:
            self.errors += 1
            log.warning("risk near cache write failed: %s", type(exc).__name__)
