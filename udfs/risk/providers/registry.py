"""`llm.provider` -> the vision provider that implements it.

The names are `config.ProviderName` (a Literal, so a typo fails when the config loads);
`PROVIDERS` must have one factory per name, which a unit test holds it to. Adding a provider:
one module with a class that satisfies `VisionProvider`, its name in `ProviderName`, one
entry here.
"""

from __future__ import annotations

from collections.abc import Callable

from udfs.risk.config import ProviderName, RiskConfig
from udfs.risk.providers.base import VisionProvider
from udfs.risk.providers.openai_compatible import OpenAICompatibleProvider

ProviderFactory = Callable[[RiskConfig], VisionProvider]

PROVIDERS: dict[ProviderName, ProviderFactory] = {
    "openai-compatible": OpenAICompatibleProvider.from_config,
}


def make_provider(cfg: RiskConfig) -> VisionProvider:
    """The provider `cfg.llm.provider` names, configured from `cfg`."""
    return PROVIDERS[cfg.llm.provider](cfg)
