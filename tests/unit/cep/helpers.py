"""Shared helpers: events named like FlinkCEP's documentation ("a1", "b2", ...)."""

from __future__ import annotations

from collections.abc import Callable

from udfs.cep.nfa import Matcher
from udfs.cep.pattern import Event, Pattern


def named(letter: str) -> Callable[[Event], bool]:
    """Condition: the event's name starts with `letter` (a1, a2 are both `a`)."""
    return lambda event: str(event["n"]).startswith(letter)


def feed(pattern: Pattern, names: str, step_ms: int = 1000) -> list[str]:
    """Run names in order (1 s apart) and return each match as "a1 b1", in emission order."""
    matcher = Matcher(pattern)
    out: list[str] = []
    for i, name in enumerate(names.split()):
        for match in matcher.process({"n": name}, i * step_ms).matches:
            out.append(render(match.events))
    return out


def render(events: dict[str, list[Event]]) -> str:
    """Stage by stage, in the order taken (stages are in pattern order, so this is time order)."""
    return " ".join(str(e["n"]) for stage in events.values() for e in stage)
