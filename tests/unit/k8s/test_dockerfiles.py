"""Static lint of the Dockerfiles (no Docker engine here): pins agree, COPY sources exist."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import shlex
from pathlib import Path

import pytest

from k8s.tools import pins
from k8s.tools.fetch_schemas import REPO

DOCKER = REPO / "docker"
DOCKERFILES = ("job.Dockerfile", "detector.Dockerfile")
KEYWORDS = {"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "USER", "WORKDIR", "EXPOSE",
            "ENTRYPOINT", "CMD", "LABEL", "HEALTHCHECK", "SHELL", "VOLUME", "STOPSIGNAL"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, args = pending.partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path.name}: dangling line continuation"
    return out


def args_defaults(path: Path) -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in instructions(path) if k == "ARG" and "=" in a)


def copy_sources(path: Path) -> list[str]:
    """Sources of COPY/ADD from the build context (not --from stages, not URLs)."""
    sources: list[str] = []
    for keyword, args in instructions(path):
        if keyword not in {"COPY", "ADD"}:
            continue
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources += [w for w in words[:-1] if not re.match(r"https?://", w)]
    return sources


def ignored(path: Path, source: str) -> bool:
    """Whether `<Dockerfile>.dockerignore` keeps `source` out of the build context."""
    result = False
    for line in (path.parent / f"{path.name}.dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!")
        # As in Docker, a pattern naming a folder also covers everything inside it.
        if fnmatch.fnmatch(source, pattern) or source.startswith(pattern.rstrip("/") + "/"):
            result = not negate
    return result


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_parses_into_known_instructions(name):
    parsed = instructions(DOCKER / name)
    assert {k for k, _ in parsed} <= KEYWORDS
    assert next(k for k, _ in parsed if k != "ARG") == "FROM"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_copy_sources_exist_and_are_in_the_build_context(name):
    sources = copy_sources(DOCKER / name)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(DOCKER / name, source), source


def test_dockerignore_lint_reads_negations():
    assert ignored(DOCKER / "job.Dockerfile", ".venv")
    assert not ignored(DOCKER / "job.Dockerfile", "contract")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_python_version_is_the_projects(name):
    assert args_defaults(DOCKER / name)["PYTHON_VERSION"] == pins.python_version()


def test_job_image_uses_the_pinned_flink_and_connector():
    args = args_defaults(DOCKER / "job.Dockerfile")
    flink = pins.flink_version()
    assert args["FLINK_IMAGE"] == f"flink:{flink}-scala_2.12-java17"
    assert args["FLINK_VERSION"] == flink
    assert args["FLINK_KAFKA_CONNECTOR_VERSION"] == pins.pom_property(
        "flink.kafka.connector.version")
    assert re.fullmatch(r"[0-9a-f]{64}", args["FLINK_KAFKA_CONNECTOR_SHA256"])


def test_connector_checksum_matches_the_jar_setup_fetched():
    jar = REPO / ".jvm" / "flink" / "flink-sql-connector-kafka.jar"
    if not jar.exists():
        pytest.skip("connector jar not fetched yet (`mvn -f jvm/pom.xml package`)")
    expected = args_defaults(DOCKER / "job.Dockerfile")["FLINK_KAFKA_CONNECTOR_SHA256"]
    assert hashlib.sha256(jar.read_bytes()).hexdigest() == expected


def test_job_image_copies_everything_the_entry_point_imports():
    copied = {Path(s).parts[0] for s in copy_sources(DOCKER / "job.Dockerfile")}
    source = (REPO / "jobs" / "risk_job.py").read_text()
    imported = set(re.findall(r"^(?:from|import) (\w+)", source, flags=re.M))
    local = {name for name in imported if (REPO / name).is_dir()}
    assert local and local <= copied


def test_detector_variants_share_one_file():
    args = args_defaults(DOCKER / "detector.Dockerfile")
    assert args["VARIANT"] == "cpu" and args["BASE_IMAGE"].startswith("debian:")
    text = (DOCKER / "detector.Dockerfile").read_text()
    assert "--build-arg VARIANT=gpu" in text and "nvidia/cuda:" in text
