"""`udfs.cep` stands alone: it imports only the standard library and itself, and the example
in docs/cep.md ("Using udfs.cep as a library") runs as written."""

from __future__ import annotations

import ast
import doctest
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LIBRARY = REPO / "udfs" / "cep"
# Importing udfs.cep runs udfs/__init__.py first, so it is held to the same rule.
MODULES = [*sorted(LIBRARY.glob("*.py")), REPO / "udfs" / "__init__.py"]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports (relative imports stay inside the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_library_has_modules() -> None:
    assert {p.name for p in MODULES} >= {"__init__.py", "pattern.py", "nfa.py", "buffer.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_only_the_standard_library_and_itself(path: Path) -> None:
    foreign = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name != "udfs.cep"
        and not name.startswith("udfs.cep.")
    }
    assert foreign == set()


def test_the_documented_example_runs() -> None:
    doc = REPO / "docs" / "cep.md"
    result = doctest.testfile(str(doc), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10, "the library example lost its checked lines"
    assert result.failed == 0, "docs/cep.md: the example's output changed (see stdout)"
