"""The traffic pattern catalogue: one module per kind of pattern, found by importing every
module of this package.

A module `<kind>.py` defines one `PatternKind` subclass with `type: Literal["<kind>"]`: its
fields are the `patterns:` entry of patterns.yaml, its methods build the pattern and say which
facts it needs. `KINDS` maps each `type` to its class; `udfs.patterns.config` derives the
config union and the job's fact filters from it, so adding a pattern touches no other file.
`base.py` and modules whose name starts with `_` hold shared code and define no kind.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING

from udfs.patterns.catalogue.base import (
    FactNeeds,
    OnTimeout,
    PatternKind,
    TrafficPattern,
    alert_id,
    timeout_alert,
    to_alert,
)

if TYPE_CHECKING:
    from udfs.patterns.config import CepConfig

__all__ = [
    "KINDS",
    "FactNeeds",
    "OnTimeout",
    "PatternKind",
    "TrafficPattern",
    "alert_id",
    "build_all",
    "kind_of",
    "timeout_alert",
    "to_alert",
]


def kind_of(module: ModuleType) -> type[PatternKind]:
    """The one pattern kind a catalogue module defines, named like the module."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, PatternKind)
        and value.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise TypeError(f"{module.__name__}: defines {len(found)} PatternKind classes, not 1")
    kind = found[0]
    short_name = module.__name__.rsplit(".", 1)[-1]
    if kind.type_name() != short_name:
        raise TypeError(f"{module.__name__}: type {kind.type_name()!r} must be {short_name!r}")
    return kind


def _discover() -> dict[str, type[PatternKind]]:
    """Import every module of this package (its `__path__`) and collect their kinds."""
    kinds: dict[str, type[PatternKind]] = {}
    names = sorted({info.name for info in pkgutil.iter_modules(__path__)})
    for name in names:
        if name == "base" or name.startswith("_"):
            continue
        kind = kind_of(importlib.import_module(f"{__name__}.{name}"))
        kinds[kind.type_name()] = kind
    return kinds


KINDS: Mapping[str, type[PatternKind]] = MappingProxyType(_discover())


def build_all(cfg: CepConfig) -> list[TrafficPattern]:
    """Every configured pattern, ready to match."""
    return [kind.build() for kind in cfg.patterns]
