"""The traffic-signal controller's feed of a simulated run: topic `signal-states`.

Each camera's light is the one its world drives (simulator.scene.Signal), so the feed and the
frames agree: the first record gives the state at the first frame, then one record per
change, stamped with the camera's event-time clock. With `camera_sees_signal` off, events
carry `unknown` and red-light runs can be told only by joining this feed.
"""

from __future__ import annotations

import math

from contract import SignalChange
from simulator.config import SimConfig
from simulator.engine import camera_clock, camera_ids


def signal_feed(config: SimConfig, source: str = "simulator") -> list[SignalChange]:
    """Every camera's signal changes over the run, in event-time order."""
    changes = []
    for index, camera_id in enumerate(camera_ids(config)):
        _, offset, signal = camera_clock(config, index)
        for t_s, state in signal.changes(config.span_s):
            # ceil: a frame stamped at or after the change saw the new state in its world
            changed_at_ms = config.start_ms + math.ceil(t_s * 1000) + offset
            changes.append(
                SignalChange(
                    schema_version=1,
                    camera_id=camera_id,
                    changed_at_ms=changed_at_ms,
                    state=state,  # type: ignore[arg-type]  # green | yellow | red
                    source=source,
                )
            )
    return sorted(changes, key=lambda c: (c.changed_at_ms, c.camera_id))
