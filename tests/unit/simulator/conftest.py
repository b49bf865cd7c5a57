"""Shared simulator runs: generated once per test session, small enough for milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from contract import DetectionEvent, parse
from simulator import IncidentConfig, IncidentLabel, RunReport, SimConfig, simulate

# High incident rates so a short run stages every kind several times.
BUSY = IncidentConfig(
    red_light_per_hour=90, near_miss_per_hour=90, wrong_way_per_hour=60, congestion_per_hour=6
)


@dataclass
class Result:
    messages: list[tuple[bytes, bytes]]
    labels: list[IncidentLabel]
    report: RunReport

    def events(self) -> list[DetectionEvent]:
        return [parse(DetectionEvent, value) for _, value in self.messages]


def run(config: SimConfig) -> Result:
    sim = simulate(config)
    messages = list(sim)
    return Result(messages, sim.labels, sim.report)


@pytest.fixture(scope="session")
def busy() -> Result:
    """6 cameras x 10 minutes at 1 fps, no delivery faults."""
    return run(SimConfig(cameras=6, fps=1, duration_s=600, seed=7, incidents=BUSY))


@pytest.fixture(scope="session")
def busy_events(busy: Result) -> list[DetectionEvent]:
    return busy.events()
