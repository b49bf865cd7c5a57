"""One HTTP attempt against an OpenAI-compatible chat-completions endpoint, with named errors.

Only `RateLimited`, `ServerError`, `CallTimeout` and `MalformedAnswer` are retryable; anything
else (401, 400, ...) is a `ClientFault` that goes straight to the fallback. Error messages name
the key id and status, never the key or the request body.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import aiohttp

from udfs.risk.keypool import Secrets
from udfs.risk.verdict import LlmVerdict, MalformedAnswer, parse_completion


class CallError(Exception):
    """Base of the named, classified failures of one attempt."""

    status: int | None = None


class RateLimited(CallError):
    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__(f"429 rate limited, retry after {retry_after_s}")
        self.status = 429
        self.retry_after_s = retry_after_s


class ServerError(CallError):
    def __init__(self, status: int) -> None:
        super().__init__(f"server error {status}")
        self.status = status


class CallTimeout(CallError):
    """The attempt took longer than `llm.timeout_s` or the connection failed."""


class ClientFault(CallError):
    def __init__(self, status: int) -> None:
        super().__init__(f"request rejected with {status}")
        self.status = status


class Malformed(CallError):
    def __init__(self, reason: str, status: int = 200) -> None:
        super().__init__(reason)
        self.status = status


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


class ChatClient:
    """Posts one chat-completions request with a given key id's secret."""

    def __init__(self, base_url: str, secrets: Secrets, timeout_s: float) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.secrets = secrets
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def complete(
        self, session: aiohttp.ClientSession, key_id: str, body: dict[str, Any]
    ) -> tuple[LlmVerdict, int]:
        """(verdict, tokens used) or a CallError subclass."""
        headers = {"Authorization": self.secrets.header(key_id)}
        try:
            async with session.post(
                self.url, json=body, headers=headers, timeout=self.timeout
            ) as resp:
                if resp.status == 429:
                    raise RateLimited(retry_after_seconds(resp.headers.get("Retry-After")))
                if resp.status >= 500:
                    raise ServerError(resp.status)
                if resp.status >= 400:
                    raise ClientFault(resp.status)
                try:
                    payload = await resp.json(content_type=None)
                except ValueError as exc:
                    raise Malformed("response body is not JSON") from exc
        except TimeoutError as exc:
            raise CallTimeout("attempt timed out") from exc
        except aiohttp.ClientError as exc:
            raise CallTimeout(f"connection failed: {type(exc).__name__}") from exc
        try:
            return parse_completion(payload)
        except MalformedAnswer as exc:
            raise Malformed(str(exc)) from exc
