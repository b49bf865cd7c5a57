"""The pattern catalogue: every kind comes from its own module, and a new module is all a new
kind takes (its config, its pattern, the facts the job lets through are derived from it)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest
from pydantic import create_model

from tests.unit.cep.traffic_helpers import T0
from udfs.patterns.catalogue import KINDS, PatternKind, kind_of
from udfs.patterns.config import CepConfig

REPO = Path(__file__).resolve().parents[3]
EXTRA = Path(__file__).resolve().parent / "extra_catalogue"
SHIPPED = {"red_light_runs", "conflict_then_verdict", "sustained_congestion", "wrong_way"}
SHIPPED |= {"near_miss", "blocked_crosswalk"}

# Runs in a child, so the extra kind never reaches this process's catalogue: the package is
# imported as usual, with one more folder on its path, then config and engine are used as is.
CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys

    spec = importlib.util.find_spec("udfs.patterns.catalogue")
    spec.submodule_search_locations.append(sys.argv[1])
    catalogue = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = catalogue
    spec.loader.exec_module(catalogue)

    from tests.unit.cep.traffic_helpers import Harness, group_frame
    from udfs.patterns.config import load

    cfg = load(sys.argv[2])
    frames = [group_frame(at_s, ttc=2.0) for at_s in (0, 5, 12, 40, 50, 70)]
    alerts = Harness(cfg).feed(frames).flush().alerts
    print(json.dumps({
        "kinds": sorted(catalogue.KINDS),
        "verdict_levels": sorted(cfg.verdict_levels()),
        "min_congestion_index": cfg.min_congestion_index(),
        "alerts": [a.model_dump(mode="json") for a in alerts],
    }))
    """
)

EXTRA_YAML = """\
cep:
  patterns:
    - type: conflict_burst
      name: conflicts_3_in_20s
      severity: critical
      count: 3
      within_s: 20
    - type: near_miss
      name: near_miss_ttc_1s
"""


def test_every_module_of_the_package_is_one_kind_named_like_it() -> None:
    assert set(KINDS) == SHIPPED
    for name, kind in KINDS.items():
        assert kind.__module__ == f"udfs.patterns.catalogue.{name}"


def test_a_new_module_is_loaded_from_yaml_and_matches(tmp_path: Path) -> None:
    patterns = tmp_path / "patterns.yaml"
    patterns.write_text(EXTRA_YAML)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(EXTRA), str(patterns)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)
    assert out["kinds"] == sorted(SHIPPED | {"conflict_burst"})
    assert (out["verdict_levels"], out["min_congestion_index"]) == ([], None)
    # 0, 5, 12 s is a burst; 40, 50, 70 s spans 30 s, over `within_s`.
    [alert] = out["alerts"]
    assert alert["pattern"] == "conflicts_3_in_20s"
    assert alert["severity"] == "critical"
    assert (alert["start_ms"], alert["end_ms"]) == (T0, T0 + 12_000)
    assert alert["track_ids"] == [3]
    assert alert["description"] == "3 pedestrian-vehicle conflicts within 20 s (tracks [3])"


def test_the_extra_kind_stays_out_of_this_process() -> None:
    assert "conflict_burst" not in KINDS
    assert "udfs.patterns.catalogue.conflict_burst" not in sys.modules


def _module(name: str, *kinds: tuple[str, str]) -> ModuleType:
    """A catalogue module `name` defining classes (class name, type) as its own."""
    module = ModuleType(f"udfs.patterns.catalogue.{name}")
    for class_name, type_name in kinds:
        fields: dict[str, Any] = {"type": (Literal[type_name], ...)}
        setattr(
            module,
            class_name,
            create_model(class_name, __base__=PatternKind, __module__=module.__name__, **fields),
        )
    return module


@pytest.mark.parametrize(
    ("module", "error"),
    [
        (_module("empty"), "defines 0 PatternKind classes"),
        (_module("two", ("A", "two"), ("B", "two")), "defines 2 PatternKind classes"),
        (_module("jam", ("Jam", "congestion")), "type 'congestion' must be 'jam'"),
    ],
)
def test_a_module_that_is_not_one_kind_named_like_it_is_refused(
    module: ModuleType, error: str
) -> None:
    with pytest.raises(TypeError, match=error):
        kind_of(module)


def test_the_fact_filters_come_from_what_each_pattern_needs() -> None:
    def cfg(*patterns: dict[str, Any]) -> CepConfig:
        return CepConfig.model_validate({"patterns": list(patterns)})

    medium = {"type": "conflict_then_verdict", "name": "c", "min_level": "medium"}
    assert cfg(medium).verdict_levels() == {"medium", "high"}
    assert cfg(medium).min_congestion_index() is None
    jams = [
        {"type": "sustained_congestion", "name": f"j{index}", "min_congestion_index": index}
        for index in (0.7, 0.4)
    ]
    assert cfg(*jams).min_congestion_index() == 0.4
    assert cfg(*jams).verdict_levels() == frozenset()


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"does not match any of the expected tags: .*near_miss"):
        CepConfig.model_validate({"patterns": [{"type": "tailgating", "name": "t"}]})
