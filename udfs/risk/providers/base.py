"""What the assessor needs from a vision LLM, independent of any wire protocol.

A provider turns one `VisionRequest` (prompt text and crop images) into a `ProviderAnswer`
(parsed verdict, tokens, latency) with one API key, or raises one of the typed errors below.
The assessor decides retries, failover and fallbacks from the error's type alone, so a new
provider only has to classify its failures into these. Error messages may name the key id and
an HTTP status, never the key, the prompt or the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from pydantic import SecretStr

from udfs.risk.records import Outcome
from udfs.risk.verdict import LlmVerdict


@dataclass(frozen=True)
class ApiKey:
    """One API key: the public id for logs and state, the secret only for the request."""

    id: str
    secret: SecretStr = field(repr=False)


@dataclass(frozen=True)
class VisionRequest:
    """One question about one or several groups of road users: instructions, context and the
    crop(s). A batch has one verdict asked per image: `image_texts[i]` is the detector
    context of image i (empty for a single image, whose context is `text`)."""

    system_prompt: str
    text: str
    images_jpeg_b64: tuple[str, ...]
    image_texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderAnswer:
    """Verdicts by image index (None: the answer had no valid verdict for that image) with
    what the request cost: tokens the provider booked (0 if it reported none) and the
    provider's own time for this one attempt."""

    verdicts: tuple[LlmVerdict | None, ...]
    tokens: int
    latency_ms: float


class ProviderError(Exception):
    """A classified failure of one attempt; `outcome` is the attempt's label in results and
    metrics, `status` the HTTP status when one came back."""

    outcome: ClassVar[Outcome] = "client_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(ProviderError):
    """429: the key cools down for `retry_after_s` (None: the pool's default) and the request
    moves to another key at once."""

    outcome: ClassVar[Outcome] = "rate_limited"

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__(f"429 rate limited, retry after {retry_after_s}", 429)
        self.retry_after_s = retry_after_s


class Transient(ProviderError):
    """Worth retrying on the same key after a backoff."""

    outcome: ClassVar[Outcome] = "server_error"


class ServerError(Transient):
    """5xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"server error {status}", status)


class CallTimeout(Transient):
    """The attempt took longer than `llm.timeout_s` or the connection failed."""

    outcome: ClassVar[Outcome] = "timeout"


class Malformed(ProviderError):
    """The answer is not a valid verdict; retried once."""

    outcome: ClassVar[Outcome] = "malformed"

    def __init__(self, reason: str, status: int = 200) -> None:
        super().__init__(reason, status)


class Rejected(ProviderError):
    """The provider refused the request (401/403 auth, 400, other 4xx): never retried."""

    def __init__(self, status: int) -> None:
        super().__init__(f"request rejected with {status}", status)


class VisionProvider(Protocol):
    """A vision LLM behind one protocol. Made once per assessor; clients it needs (an HTTP
    session) are made lazily on the running event loop and released by `close`."""

    async def assess(self, request: VisionRequest, key: ApiKey) -> ProviderAnswer:
        """One attempt with `key`: the answer, or a `ProviderError` subclass."""
        ...

    async def close(self) -> None:
        """Release what `assess` opened; safe to call when nothing was opened."""
        ...
