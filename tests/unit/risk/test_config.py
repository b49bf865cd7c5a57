from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from udfs.risk.config import RiskConfig, load

EXAMPLE = Path(__file__).resolve().parents[3] / "flink-conf" / "risk.yaml"


def test_example_config_loads_with_named_keys() -> None:
    cfg = load(EXAMPLE)
    assert cfg.llm.model == "qwen-vl-plus"
    assert [k.name for k in cfg.pool.keys] == ["team-a", "team-b"]
    assert cfg.cache.ttl_s == 300 and cfg.scheduler.max_in_flight == 100


def test_defaults_mean_no_llm_and_a_300_s_cache() -> None:
    cfg = RiskConfig()
    assert cfg.llm.base_url is None and cfg.cache.ttl_s == 300


def test_a_typo_names_the_bad_field(tmp_path) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text("risk:\n  filter:\n    min_vehicle: 3\n")
    with pytest.raises(ValidationError, match="min_vehicle"):
        load(path)
