"""The same seed replays byte for byte; another seed gives another run."""

from __future__ import annotations

from simulator import FaultConfig, SimConfig
from tests.unit.simulator.conftest import BUSY, run

FAULTS = FaultConfig(
    out_of_order_share=0.05,
    late_share=0.01,
    duplicate_share=0.02,
    malformed_share=0.05,
    oversized_share=0.002,
    oversized_bytes=20_000,
    idle_cameras=1,
)


def _config(seed: int) -> SimConfig:
    return SimConfig(cameras=4, duration_s=240, seed=seed, incidents=BUSY, faults=FAULTS)


def test_same_seed_same_bytes_and_labels() -> None:
    a, b = run(_config(3)), run(_config(3))
    assert a.messages == b.messages
    assert [x.model_dump_json() for x in a.labels] == [x.model_dump_json() for x in b.labels]
    assert a.report.as_dict() == b.report.as_dict()


def test_other_seed_other_run() -> None:
    assert run(_config(3)).messages != run(_config(4)).messages
