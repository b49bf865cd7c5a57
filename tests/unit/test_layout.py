"""The layout's promises (docs/architecture.md), checked on the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stack.paths import REPO

RUNTIME = ("jobs", "udfs", "detector", "contract", "dashboard")
DEV_ONLY = ("stack", "simulator", "benchmarks", "tests")
# Modules of udfs/ that may import PyFlink: the adapters and the typed rows they exchange.
FLINK_SHELL = {"flink.py", "rows.py"}


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every import in a module (relative imports excluded)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (REPO / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", modules(*RUNTIME), ids=lambda p: str(p.relative_to(REPO)))
def test_runtime_imports_nothing_of_the_dev_packages(path: Path) -> None:
    assert not imported_roots(path) & set(DEV_ONLY)


def test_stage_logic_is_plain_python() -> None:
    """Outside each stage's `flink.py`, nothing in udfs/ imports PyFlink, so the logic's
    tests need no JVM."""
    logic = [p for p in modules("udfs") if p.name not in FLINK_SHELL]
    assert len(logic) > 20
    flinky = [str(p.relative_to(REPO)) for p in logic if "pyflink" in imported_roots(p)]
    assert flinky == []


def test_every_stage_has_its_adapter() -> None:
    stages = {"ingest", "windows", "risk", "patterns", "incidents", "views", "sinks"}
    assert {p.parent.name for p in (REPO / "udfs").glob("*/flink.py")} == stages
