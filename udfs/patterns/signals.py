"""Signal states from a traffic-controller feed (topic `signal-states`), joined by event time.

For cameras that do not see their light, the state that applies to an event at time t is the
latest change for that camera at or before t (a change at exactly t applies). Events wait in the
watermark buffer, so every change at or before them has arrived when they are joined.
"""

from __future__ import annotations

import bisect
from typing import Any

from contract import SignalChange, topics

SIGNAL_STATES_TOPIC = topics.SIGNAL_STATES
__all__ = ["SIGNAL_STATES_TOPIC", "SignalChange", "SignalTimeline", "effective_signal"]


class SignalTimeline:
    """Changes of one camera, sorted by time. State: [[changed_at_ms, state], ...] (JSON)."""

    def __init__(self, state: list[list[Any]] | None = None) -> None:
        self.changes: list[list[Any]] = state if state is not None else []

    def add(self, changed_at_ms: int, state: str) -> None:
        """Insert in time order; a second change at the same instant replaces the first."""
        times = [c[0] for c in self.changes]
        i = bisect.bisect_left(times, changed_at_ms)
        if i < len(self.changes) and self.changes[i][0] == changed_at_ms:
            self.changes[i] = [changed_at_ms, state]
        else:
            self.changes.insert(i, [changed_at_ms, state])

    def state_at(self, ts: int) -> str | None:
        """The latest change at or before `ts`; None before the first known change."""
        i = bisect.bisect_right([c[0] for c in self.changes], ts)
        return str(self.changes[i - 1][1]) if i else None

    def prune(self, watermark: int) -> None:
        """Forget changes no future event (ts > watermark) can need: keep the last one <= it."""
        i = bisect.bisect_right([c[0] for c in self.changes], watermark)
        if i > 1:
            del self.changes[: i - 1]


def effective_signal(observed: str | None, joined: str | None) -> str | None:
    """The camera's own reading wins; the controller feed fills in where it saw nothing."""
    if observed is not None and observed != "unknown":
        return observed
    return joined
