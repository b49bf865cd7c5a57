"""Vision provider for OpenAI-compatible chat-completions APIs (DashScope compatible mode,
OpenAI, vLLM, Ollama's `/v1`): `POST {base_url}/chat/completions`, one attempt per call.

Failures are classified into the provider errors: 429 `RateLimited` (Retry-After as seconds
or an HTTP date), 5xx `ServerError`, timeouts and connection errors `CallTimeout`, any other
4xx `Rejected`, an unreadable answer `Malformed`.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import aiohttp

from udfs.risk.config import RiskConfig
from udfs.risk.providers.base import (
    ApiKey,
    CallTimeout,
    Malformed,
    ProviderAnswer,
    RateLimited,
    Rejected,
    ServerError,
    VisionRequest,
)
from udfs.risk.verdict import LlmVerdict, MalformedAnswer, parse_batch_content, parse_content


def retry_after_seconds(value: str | None, now_s: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now_s is None else now_s))


def chat_body(model: str, request: VisionRequest, max_tokens: int) -> dict[str, Any]:
    """Chat-completions body: the context text, then each crop as a JPEG data URL (in a
    batch each crop after its own "Image i:" context line); `max_tokens` per image."""
    content: list[dict[str, Any]] = [{"type": "text", "text": request.text}]
    for i, jpeg_b64 in enumerate(request.images_jpeg_b64):
        if request.image_texts:
            content.append({"type": "text", "text": f"Image {i}: {request.image_texts[i]}"})
        url = f"data:image/jpeg;base64,{jpeg_b64}"
        content.append({"type": "image_url", "image_url": {"url": url}})
    return {
        "model": model,
        "max_tokens": max_tokens * max(1, len(request.images_jpeg_b64)),
        "temperature": 0,
        "messages": [
            {"role": "system", "content": request.system_prompt},
            {"role": "user", "content": content},
        ],
    }


def parse_completion(body: Any, images: int = 1) -> tuple[tuple[LlmVerdict | None, ...], int]:
    """Chat-completions response JSON -> (verdicts by image index, total tokens used; 0 if not
    reported). One image: its verdict or `MalformedAnswer`; several: `parse_batch_content`."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedAnswer("response has no choices[0].message.content") from exc
    if not isinstance(content, str):
        raise MalformedAnswer("message content is not text")
    usage = body.get("usage") if isinstance(body, dict) else None
    tokens = usage.get("total_tokens", 0) if isinstance(usage, dict) else 0
    used = int(tokens) if isinstance(tokens, int | float) else 0
    if images == 1:
        return (parse_content(content),), used
    return parse_batch_content(content, images), used


class OpenAICompatibleProvider:
    """Posts one chat-completions request per attempt with the given key as Bearer token."""

    def __init__(
        self, base_url: str, model: str, max_tokens: int, timeout_s: float, max_connections: int
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_tokens = model, max_tokens
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, cfg: RiskConfig) -> OpenAICompatibleProvider:
        """`llm.*` for the endpoint; one connection per call the scheduler lets fly."""
        llm = cfg.llm
        if llm.base_url is None:
            raise ValueError("the openai-compatible provider needs llm.base_url")
        return cls(
            llm.base_url, llm.model, llm.max_tokens, llm.timeout_s, cfg.scheduler.max_in_flight
        )

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, made on first use so that it belongs to the running loop."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def assess(self, request: VisionRequest, key: ApiKey) -> ProviderAnswer:
        started = time.perf_counter()
        payload = await self._post(chat_body(self.model, request, self.max_tokens), key)
        try:
            verdicts, tokens = parse_completion(payload, len(request.images_jpeg_b64))
        except MalformedAnswer as exc:
            raise Malformed(str(exc)) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        return ProviderAnswer(verdicts=verdicts, tokens=tokens, latency_ms=latency_ms)

    async def _post(self, body: dict[str, Any], key: ApiKey) -> Any:
        """The response JSON of a 2xx/3xx answer; any other outcome as a provider error."""
        headers = {"Authorization": f"Bearer {key.secret.get_secret_value()}"}
        try:
            async with self.session().post(
                self.url, json=body, headers=headers, timeout=self.timeout
            ) as resp:
                if resp.status == 429:
                    raise RateLimited(retry_after_seconds(resp.headers.get("Retry-After")))
                if resp.status >= 500:
                    raise ServerError(resp.status)
                if resp.status >= 400:
                    raise Rejected(resp.status)
                try:
                    return await resp.json(content_type=None)
                except ValueError as exc:
                    raise Malformed("response body is not JSON") from exc
        except TimeoutError as exc:
            raise CallTimeout("attempt timed out") from exc
        except aiohttp.ClientError as exc:
            raise CallTimeout(f"connection failed: {type(exc).__name__}") from exc
