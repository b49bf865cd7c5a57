"""The project's pinned versions, read from where they are declared (never restated)."""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from functools import cache
from typing import Any

from k8s.tools.fetch_schemas import REPO

_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def project_version() -> str:
    return str(pyproject()["project"]["version"])


def flink_version() -> str:
    """apache-flink's exact pin in the `job` extra (e.g. "2.2.1")."""
    for req in pyproject()["project"]["optional-dependencies"]["job"]:
        match = re.fullmatch(r"apache-flink==([0-9.]+)", req.replace(" ", ""))
        if match:
            return match.group(1)
    raise LookupError("apache-flink is not pinned with == in the job extra")


def python_version() -> str:
    """The one minor version pyproject allows (">=3.11,<3.12" -> "3.11")."""
    match = re.fullmatch(r">=(\d+\.\d+),<\d+\.\d+", pyproject()["project"]["requires-python"])
    if match is None:
        raise LookupError("requires-python is not a single minor version")
    return match.group(1)


def pom_property(name: str, pom: str = "jvm/pom.xml") -> str:
    root = ET.parse(REPO / pom).getroot()
    node = root.find(f"m:properties/m:{name}", _POM_NS)
    if node is None or not node.text:
        raise LookupError(f"{pom} has no property {name}")
    return node.text.strip()
