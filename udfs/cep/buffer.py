"""Event-time buffering: hold events until the watermark passes them, then release them in
timestamp order, as FlinkCEP does, so out-of-order input gives the same matches as ordered input.

Pending events live in a store keyed by the timestamp as a string (one list per timestamp),
the same shape as the Flink operator's MapState, so both paths share `take_ready`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from udfs.cep.nfa import Match, Matcher, Timeout
from udfs.cep.pattern import Event, Pattern

Rank = Callable[[Event], int]


def _no_rank(event: Event) -> int:
    return 0


def order_key(ts: int, event: Event, rank: Rank = _no_rank) -> tuple[int, int, str]:
    """Total order on events: time, then rank, then content; independent of arrival order."""
    return ts, rank(event), json.dumps(event, sort_keys=True, separators=(",", ":"))


class PendingStore(Protocol):
    """Timestamp (str) -> events at that timestamp; a dict or the operator's MapState."""

    def get(self, key: str) -> list[Any] | None: ...

    def put(self, key: str, value: list[Any]) -> None: ...

    def remove(self, key: str) -> None: ...

    def pending_keys(self) -> Iterable[str]: ...


class DictStore:
    """PendingStore over a plain dict (the dict is the serialisable state)."""

    def __init__(self, data: dict[str, list[Any]] | None = None) -> None:
        self.data: dict[str, list[Any]] = data if data is not None else {}

    def get(self, key: str) -> list[Any] | None:
        return self.data.get(key)

    def put(self, key: str, value: list[Any]) -> None:
        self.data[key] = value

    def remove(self, key: str) -> None:
        self.data.pop(key, None)

    def pending_keys(self) -> Iterable[str]:
        return list(self.data)


def add_pending(store: PendingStore, ts: int, event: Event) -> None:
    key = str(ts)
    store.put(key, [*(store.get(key) or []), dict(event)])


def take_ready(
    store: PendingStore, watermark: int, rank: Rank = _no_rank
) -> list[tuple[int, Event]]:
    """Remove and return every event with timestamp <= watermark, in `order_key` order."""
    ready: list[tuple[int, Event]] = []
    for key in [k for k in store.pending_keys() if int(k) <= watermark]:
        ready.extend((int(key), event) for event in store.get(key) or [])
        store.remove(key)
    ready.sort(key=lambda item: order_key(item[0], item[1], rank))
    return ready


@dataclass
class Output:
    matches: list[Match] = field(default_factory=list)
    timeouts: list[Timeout] = field(default_factory=list)
    late: list[Event] = field(default_factory=list)


class BufferedMatcher:
    """One pattern over one key, with watermark buffering. State is one JSON-able dict."""

    def __init__(self, pattern: Pattern, state: dict[str, Any] | None = None) -> None:
        state = state if state is not None else {"watermark": None, "pending": {}, "nfa": None}
        self.state = state
        self.store = DictStore(state["pending"])
        self.matcher = Matcher(pattern, state["nfa"])
        state["nfa"] = self.matcher.state

    def add(self, ts: int, event: Event) -> bool:
        """Buffer an event; False (and dropped) when it is late: at or behind the watermark."""
        watermark = self.state["watermark"]
        if watermark is not None and ts <= watermark:
            return False
        add_pending(self.store, ts, event)
        return True

    def advance(self, watermark: int) -> Output:
        """Release events up to the watermark into the matcher; report matches and timeouts."""
        out = Output()
        for ts, event in take_ready(self.store, watermark):
            step = self.matcher.process(event, ts)
            out.matches.extend(step.matches)
            out.timeouts.extend(step.timeouts)
        step = self.matcher.advance(watermark)  # a trailing not_followed_by completes here
        out.matches.extend(step.matches)
        out.timeouts.extend(step.timeouts)
        self.state["watermark"] = watermark
        return out
