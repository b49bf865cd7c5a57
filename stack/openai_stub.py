"""A local OpenAI-compatible chat-completions server for tests and benchmarks (no paid API).

    python -m stack.openai_stub --port 8099 --latency-ms 200 --fault-rate 0.3 --seed 1

It answers POST /v1/chat/completions after a controllable latency with a verdict it takes from
the pixels, never from the prompt text: it decodes every `image_url` data URL of the request
(JPEG) and answers `high` for an image that carries the simulator's risk marker
(`simulator.crops.marker_seen`: a saturated red square in the top-left corner) and `low` for
any other; an image that does not decode is a 400, as real providers answer. One image: one
fenced JSON verdict. Several images (a batch): `{"verdicts": [{"index": i, ...}, ...]}`, one per
image by position. Usage: 200 prompt tokens + 500 per image, 60 completion tokens per image
(760 for one image).

A share of requests fault (429 with Retry-After, 500, a hang past the client's timeout, a
malformed answer, and on request `partial`: a batch answer missing its last verdict);
`--rpm-per-key` adds a real per-key sliding-window rate limit. It checks the Authorization
header, counts requests per key id (`k-` + 8 hex of the key's SHA-256, never the key) and
reports them at GET /stats (also images seen, marked images, batch sizes, tokens booked).
POST /control {"script": ["429", "500", "hang", "malformed", "partial", "ok"]} forces the next
outcomes; POST /control {"when_text_contains": {"Camera cam-3.": "500"}} forces the outcome of
every request whose prompt text contains the string (a deterministic fault for one camera,
say; faults only, verdicts never depend on the text);
POST /reset clears the counters. Prints `listening on HOST:PORT` once ready (`--port 0` picks one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAULTS = ("429", "500", "hang", "malformed")  # drawn by --fault-rate unless --faults says
OUTCOMES = (*FAULTS, "partial", "ok")  # what a script or text rule may force
PROMPT_TOKENS, TOKENS_PER_IMAGE, COMPLETION_TOKENS_PER_IMAGE = 200, 500, 60


@dataclass(frozen=True)
class StubConfig:
    latency_ms: float = 50.0
    jitter_ms: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    rpm_per_key: int | None = None
    retry_after_s: float = 1.0
    hang_s: float = 120.0
    seed: int = 0
    allowed_keys: frozenset[str] = frozenset()  # empty: any bearer token is accepted


@dataclass
class StubState:
    cfg: StubConfig
    rng: random.Random
    script: deque[str] = field(default_factory=deque)
    text_rules: dict[str, str] = field(default_factory=dict)  # prompt substring -> outcome
    by_key: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    windows: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    images: Counter[str] = field(default_factory=Counter)  # "seen", "marked"
    batch_sizes: Counter[int] = field(default_factory=Counter)
    tokens: int = 0  # usage booked on answered requests (200s)
    in_flight: int = 0
    peak_in_flight: int = 0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_key.values()),
            "by_key": dict(self.by_key),
            "outcomes": dict(self.outcomes),
            "images": dict(self.images),
            "batch_sizes": {str(n): c for n, c in sorted(self.batch_sizes.items())},
            "tokens": self.tokens,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
        }


STATE = web.AppKey("state", StubState)


def key_id(secret: str) -> str:
    return "k-" + hashlib.sha256(secret.encode()).hexdigest()[:8]


class BadImage(ValueError):
    """An image of the request that is not a decodable JPEG data URL (answered 400)."""


def request_images(body: dict[str, Any]) -> list[Any]:
    """Every `image_url` of the request's messages, decoded to a BGR array, in order."""
    import base64
    import binascii

    import cv2
    import numpy as np

    images: list[Any] = []
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") != "image_url":
                continue
            url = str((part.get("image_url") or {}).get("url", ""))
            head, _, data = url.partition(",")
            if not head.startswith("data:image/") or not head.endswith(";base64"):
                raise BadImage(f"image {len(images)} is not a base64 data URL")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadImage(f"image {len(images)} is not base64") from exc
            img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise BadImage(f"image {len(images)} does not decode")
            images.append(img)
    return images


def verdict_for_image(img: Any) -> dict[str, Any]:
    """The stub's verdict on one decoded image: high exactly when it carries the marker."""
    from simulator.crops import marker_seen

    h, w = img.shape[:2]
    if marker_seen(img):
        reason = f"stub: risk marker in the {w}x{h} image"
        return {"risk_level": "high", "risk_types": ["near_miss"], "reason": reason,
                "confidence": 0.9}  # fmt: skip
    reason = f"stub: no risk marker in the {w}x{h} image"
    return {"risk_level": "low", "risk_types": [], "reason": reason, "confidence": 0.7}


def answer_content(verdicts: list[dict[str, Any]], partial: bool = False) -> str:
    """The model's text: one verdict for one image, else one per image by index (`partial`:
    the last one left out, a fault)."""
    if len(verdicts) == 1 and not partial:
        return "```json\n" + json.dumps(verdicts[0]) + "\n```"
    indexed = [{"index": i, **v} for i, v in enumerate(verdicts)]
    return "```json\n" + json.dumps({"verdicts": indexed[:-1] if partial else indexed}) + "\n```"


def _request_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [c.get("text", "") for c in content if c.get("type") == "text"]
    return " ".join(parts)


def _completion(model: str, content: str, images: int = 1) -> dict[str, Any]:
    return {
        "id": f"stub-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": usage(images),
    }


def usage(images: int) -> dict[str, int]:
    prompt = PROMPT_TOKENS + TOKENS_PER_IMAGE * images
    completion = COMPLETION_TOKENS_PER_IMAGE * images
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def _rate_limited(state: StubState, kid: str) -> bool:
    limit = state.cfg.rpm_per_key
    if limit is None:
        return False
    window, now = state.windows[kid], time.monotonic()
    while window and window[0] <= now - 60.0:
        window.popleft()
    if len(window) >= limit:
        return True
    window.append(now)
    return False


def _pick_outcome(state: StubState, text: str) -> str:
    for needle, outcome in state.text_rules.items():
        if needle in text:
            return outcome
    if state.script:
        return state.script.popleft()
    if state.cfg.fault_rate and state.rng.random() < state.cfg.fault_rate:
        return state.rng.choice(state.cfg.faults)
    return "ok"


async def chat(request: web.Request) -> web.StreamResponse:
    state: StubState = request.app[STATE]
    auth = request.headers.get("Authorization", "")
    secret = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if not secret or (state.cfg.allowed_keys and secret not in state.cfg.allowed_keys):
        state.outcomes["401"] += 1
        return web.json_response({"error": {"message": "invalid API key"}}, status=401)
    kid = key_id(secret)
    state.by_key[kid] += 1
    body = await request.json()
    try:
        images = request_images(body)
        if not images:
            raise BadImage("no image in the request")
    except BadImage as exc:
        state.outcomes["400"] += 1
        return web.json_response({"error": {"message": str(exc)}}, status=400)
    state.images["seen"] += len(images)
    state.batch_sizes[len(images)] += 1
    outcome = "429" if _rate_limited(state, kid) else _pick_outcome(state, _request_text(body))
    state.outcomes[outcome] += 1
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        return await _answer(state, outcome, body, images)
    finally:
        state.in_flight -= 1


async def _answer(
    state: StubState, outcome: str, body: dict[str, Any], images: list[Any]
) -> web.StreamResponse:
    cfg = state.cfg
    if outcome == "429":
        retry = {"Retry-After": f"{cfg.retry_after_s:g}"}
        return web.json_response({"error": {"message": "rate limited"}}, status=429, headers=retry)
    delay = max(0.0, cfg.latency_ms + state.rng.uniform(-cfg.jitter_ms, cfg.jitter_ms)) / 1000
    await asyncio.sleep(cfg.hang_s if outcome == "hang" else delay)
    if outcome == "500":
        return web.json_response({"error": {"message": "internal error"}}, status=500)
    model = str(body.get("model", "stub"))
    state.tokens += usage(len(images))["total_tokens"]
    if outcome == "malformed":
        return web.json_response(_completion(model, "I think it is {probably fine", len(images)))
    verdicts = [verdict_for_image(img) for img in images]
    state.images["marked"] += sum(v["risk_level"] == "high" for v in verdicts)
    content = answer_content(verdicts, partial=outcome == "partial")
    return web.json_response(_completion(model, content, len(images)))


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


async def control(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    data = await request.json()
    state.script.extend(str(s) for s in data.get("script", []))
    state.text_rules.update({str(k): str(v) for k, v in data.get("when_text_contains", {}).items()})
    return web.json_response({"script": list(state.script), "when_text_contains": state.text_rules})


async def reset(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    state.by_key.clear()
    state.outcomes.clear()
    state.images.clear()
    state.batch_sizes.clear()
    state.tokens = 0
    state.windows.clear()
    state.script.clear()
    state.text_rules.clear()
    state.peak_in_flight = state.in_flight
    return web.json_response({"ok": True})


def make_app(cfg: StubConfig) -> web.Application:
    app = web.Application()
    app[STATE] = StubState(cfg=cfg, rng=random.Random(cfg.seed))
    for path in ("/v1/chat/completions", "/chat/completions"):
        app.router.add_post(path, chat)
    app.router.add_get("/stats", stats)
    app.router.add_post("/control", control)
    app.router.add_post("/reset", reset)
    return app


async def start(
    cfg: StubConfig, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start on the running loop; returns the runner (await runner.cleanup()) and the port."""
    runner = web.AppRunner(make_app(cfg), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stack.openai_stub", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8099, help="0 picks a free port")
    p.add_argument("--latency-ms", type=float, default=50.0, help="mean answer latency")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform +- latency jitter")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of faulty answers")
    p.add_argument("--faults", default=",".join(FAULTS), help="fault kinds drawn from")
    p.add_argument("--rpm-per-key", type=int, default=None, help="per-key limit -> 429")
    p.add_argument("--retry-after-s", type=float, default=1.0, help="Retry-After of 429s")
    p.add_argument("--hang-s", type=float, default=120.0, help="how long a hang lasts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keys-env", default=None, help="env var of allowed keys (comma list)")
    return p.parse_args(argv)


async def _serve(ns: argparse.Namespace) -> None:
    import os

    allowed = os.environ.get(ns.keys_env, "") if ns.keys_env else ""
    cfg = StubConfig(
        latency_ms=ns.latency_ms,
        jitter_ms=ns.jitter_ms,
        fault_rate=ns.fault_rate,
        faults=tuple(f for f in ns.faults.split(",") if f),
        rpm_per_key=ns.rpm_per_key,
        retry_after_s=ns.retry_after_s,
        hang_s=ns.hang_s,
        seed=ns.seed,
        allowed_keys=frozenset(k.strip() for k in allowed.split(",") if k.strip()),
    )
    runner, port = await start(cfg, ns.host, ns.port)
    print(f"listening on {ns.host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_args(argv)))


if __name__ == "__main__":
    main()
