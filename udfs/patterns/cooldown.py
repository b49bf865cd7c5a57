"""The cooldown of alerts that reach the job in arrival order rather than event-time order:
high-risk verdict alerts (`high_risk_verdict`), which leave the risk stage as LLM calls
finish. Waiting for the watermark would drop the verdicts that come after it (a replay runs
far ahead of the calls), so they are thinned as they come: an alert is let through unless
one let through before started less than the cooldown away, before or after it. In
event-time order that is the patterns' rule (`cooldown_s`: suppressed when it starts within
the cooldown of the previous alert).

State per camera: the start times of the alerts let through within the horizon, as a JSON
list, so the keyed operator stores it as is.
"""

from __future__ import annotations

# Alerts this much older (10 min) than the newest one let through can no longer suppress
# anything that matters: kept times older than it are dropped (bounded state: at most one
# per cooldown in the horizon). A replay can run minutes ahead of slow LLM calls.
LATENESS_MS = 600_000


def admit(kept: list[int], start_ms: int, cooldown_ms: int) -> bool:
    """Whether an alert starting at `start_ms` passes; if so it is added to `kept` (which is
    pruned to the horizon)."""
    if any(abs(start_ms - t) < cooldown_ms for t in kept):
        return False
    kept.append(start_ms)
    horizon = max(kept) - cooldown_ms - LATENESS_MS
    kept[:] = sorted(t for t in kept if t >= horizon)
    return True
