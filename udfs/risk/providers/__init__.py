"""Vision LLM providers behind one small protocol (`base.VisionProvider`), chosen by
`llm.provider` through `registry.make_provider`."""

from udfs.risk.providers.base import (
    ApiKey,
    CallTimeout,
    Malformed,
    ProviderAnswer,
    ProviderError,
    RateLimited,
    Rejected,
    ServerError,
    Transient,
    VisionProvider,
    VisionRequest,
)
from udfs.risk.providers.registry import PROVIDERS, make_provider

__all__ = [
    "PROVIDERS",
    "ApiKey",
    "CallTimeout",
    "Malformed",
    "ProviderAnswer",
    "ProviderError",
    "RateLimited",
    "Rejected",
    "ServerError",
    "Transient",
    "VisionProvider",
    "VisionRequest",
    "make_provider",
]
