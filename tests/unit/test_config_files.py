"""Every config file in the repository, and every YAML/JSON example in the docs, loads with the
product's own loader: the file a user copies must be one the code accepts.

Files are found by glob (`git ls-files` over `*.yaml`, `*.yml`, `*.json`: committed and new,
not ignored), so a new file is covered the day it is added; one that no rule below claims
fails the test until it gets a loader (or, for a kind checked elsewhere, a pointer there).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from benchmarks import report
from detector.config import load_config as load_cameras
from jobs.config import from_args
from simulator.truth import IncidentLabel
from stack.paths import REPO
from udfs.patterns.config import load as load_patterns
from udfs.risk.config import load as load_risk

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def repo_files(*patterns: str) -> list[Path]:
    command = ["git", "ls-files", "-co", "--exclude-standard", "--", *patterns]
    listed = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return sorted(REPO / line for line in listed.splitlines() if (REPO / line).is_file())


def load_flink_conf(path: Path) -> None:
    """Flink reads it; the local stack fills in the sections it rewrites (stack/services.py)."""
    conf = yaml.safe_load(path.read_text())
    assert isinstance(conf["python"], dict)
    assert isinstance(conf["execution"]["checkpointing"], dict)


def load_contract_schema(path: Path) -> None:
    schema = json.loads(path.read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)


def load_benchmark_result(path: Path) -> None:
    """The report's own renderer for the file (benchmarks/report.py)."""
    if path.name == "run_all.json":
        assert report.suite_times(path.parent)
    else:
        assert report.SECTIONS[path.name](json.loads(path.read_text()))


def load_job_yaml(path: Path) -> None:
    """A `--config` file of the job, resolved as `risk_job.py --config FILE` would."""
    assert from_args(["--config", str(path)])  # a bad key or value exits 2


def load_yaml_by_section(path: Path) -> None:
    """Product YAML says what it configures by its top-level section."""
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path}: not a mapping"
    for section, load in SECTIONS.items():
        if section in doc:
            load(path)
            return
    load_job_yaml(path)  # the job's settings file has no section: its keys are the options


SECTIONS: dict[str, Callable[[Path], Any]] = {
    "cameras": load_cameras,
    "cep": load_patterns,
    "risk": load_risk,
}
# path glob -> its loader, or the test that loads it as its consumer does; first match wins.
RULES: list[tuple[str, Callable[[Path], Any] | str]] = [
    ("k8s/**/cameras*.yaml", load_cameras),  # the detector's ConfigMap source: a config
    ("k8s/**/*.yaml", "tests/unit/k8s: rendered by kustomize, validated against the schemas"),
    ("monitoring/kustomization.yaml", "tests/unit/k8s: rendered with k8s/base"),
    ("monitoring/grafana/*.json", "tests/unit/dashboard/test_monitoring.py"),
    ("monitoring/prometheus.yml", "tests/unit/dashboard/test_monitoring.py"),
    ("flink-conf/config.yaml", load_flink_conf),
    ("contract/schemas/*.json", load_contract_schema),
    ("benchmarks/results/*.json", load_benchmark_result),
    ("**/*.yaml", load_yaml_by_section),
    ("**/*.yml", load_yaml_by_section),
]


def matches(path: Path, pattern: str) -> bool:
    """Glob match of the repository-relative path: `*` within a folder, `**/` any folders."""
    regex = "".join("(.*/)?" if part == "**/" else "[^/]*" if part == "*" else re.escape(part)
                    for part in re.split(r"(\*\*/|\*)", pattern))  # fmt: skip
    return re.fullmatch(regex, path.relative_to(REPO).as_posix()) is not None


def rule(path: Path) -> Callable[[Path], Any] | str | None:
    return next((how for pattern, how in RULES if matches(path, pattern)), None)


FILES = repo_files("*.yaml", "*.yml", "*.json")
LOADED = [path for path in FILES if callable(rule(path))]


def test_every_config_file_is_claimed_by_a_rule():
    unclaimed = [str(p.relative_to(REPO)) for p in FILES if rule(p) is None]
    assert unclaimed == [], "add a rule (a loader) to RULES"
    assert {"detector/cameras.example.yaml", "k8s/base/detector/cameras.yaml",
            "flink-conf/patterns.yaml", "udfs/patterns/patterns.yaml", "flink-conf/risk.yaml",
            "flink-conf/config.yaml"} <= {str(p.relative_to(REPO)) for p in LOADED}  # fmt: skip


def test_the_glob_rules_match_as_globs():
    cameras = REPO / "k8s" / "base" / "detector" / "cameras.yaml"
    assert rule(cameras) is load_cameras
    assert matches(REPO / "a.yaml", "**/*.yaml") and matches(REPO / "a/b/c.yaml", "**/*.yaml")
    assert not matches(REPO / "contract/schemas/x/y.json", "contract/schemas/*.json")


@pytest.mark.parametrize("path", LOADED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_config_file_loads_with_the_product_loader(path: Path):
    load = rule(path)
    assert callable(load)
    load(path)


def doc_examples() -> list[tuple[str, str, str]]:
    """(where, language, text) of every ```yaml / ```json block in README.md and docs/."""
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for match in re.finditer(r"^```(yaml|json)\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
            line = text[: match.start()].count("\n") + 1
            out.append((f"{doc.relative_to(REPO)}:{line}", match[1], match[2]))
    return out


@pytest.mark.parametrize(
    ("language", "text"),
    [pytest.param(lang, text, id=where) for where, lang, text in doc_examples()],
)
def test_every_doc_example_loads_with_the_product_loader(language, text, tmp_path):
    if language == "json":  # the simulator's truth lines: one label per line
        assert IncidentLabel.model_validate_json(text.replace("\n", ""))
        return
    path = tmp_path / "example.yaml"
    path.write_text(text)
    load_yaml_by_section(path)


def test_doc_examples_are_found():
    languages = [language for _, language, _ in doc_examples()]
    assert languages.count("yaml") >= 2 and "json" in languages
