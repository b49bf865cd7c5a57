"""Static lint of the Dockerfiles (no Docker engine here): pins agree, COPY sources exist,
and each image installs the project's wheel, built from the runtime packages alone."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from contract.workspace import flink_jars_dir
from detector.cli import parser as detector_parser
from k8s.tools import manifests, pins
from k8s.tools.fetch_schemas import REPO
from tests.unit.test_layout import DEV_ONLY, RUNTIME

DOCKER = REPO / "docker"
DOCKERFILES = ("job.Dockerfile", "detector.Dockerfile")
KEYWORDS = {
    "FROM",
    "ARG",
    "ENV",
    "RUN",
    "COPY",
    "ADD",
    "USER",
    "WORKDIR",
    "EXPOSE",
    "ENTRYPOINT",
    "CMD",
    "LABEL",
    "HEALTHCHECK",
    "SHELL",
    "VOLUME",
    "STOPSIGNAL",
}
WHEEL = "/dist/traffic_risk-*.whl"  # where the wheel stage leaves it


@dataclass(frozen=True)
class Stage:
    name: str  # `AS name`, or "" for the final image
    instructions: list[tuple[str, str]]


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


def stages(path: Path) -> list[Stage]:
    """The build stages in order; the last one is the image that ships."""
    out: list[Stage] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            out.append(Stage(name, []))
        elif out:
            out[-1].instructions.append((keyword, args))
    return out


def stage(path: Path, name: str) -> Stage:
    return next(s for s in stages(path) if s.name == name)


def args_defaults(path: Path) -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in instructions(path) if k == "ARG" and "=" in a)


def env_of(image: Stage) -> dict[str, str]:
    """The ENV values a stage sets (KEY=VALUE form)."""
    pairs = [w for k, a in image.instructions if k == "ENV" for w in shlex.split(a)]
    return dict(p.split("=", 1) for p in pairs)


def copy_sources(parsed: list[tuple[str, str]]) -> list[str]:
    """Sources of COPY/ADD from the build context (not --from stages, not URLs)."""
    sources: list[str] = []
    for keyword, args in parsed:
        if keyword not in {"COPY", "ADD"}:
            continue
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources += [w for w in words[:-1] if not re.match(r"https?://", w)]
    return sources


def destinations(image: Stage) -> list[PurePosixPath]:
    """Where the stage's COPY/ADD instructions put things."""
    return [PurePosixPath(shlex.split(a)[-1]) for k, a in image.instructions
            if k in {"COPY", "ADD"}]  # fmt: skip


def runs(image: Stage) -> str:
    return "\n".join(a for k, a in image.instructions if k == "RUN")


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
    sources = copy_sources(instructions(DOCKER / name))
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


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_wheel_is_built_from_the_runtime_packages_only(name):
    """The wheel stage gets the metadata and the runtime packages; the dev tools are not even
    in the build context, so an import of them would fail the image's own checks."""
    wheel = stage(DOCKER / name, "wheel")
    copied = {Path(s).parts[0] for s in copy_sources(wheel.instructions)}
    readme = pins.pyproject()["project"]["readme"]
    assert copied == {"pyproject.toml", "uv.lock", readme, "LICENSE", *RUNTIME}
    assert "uv build --wheel" in runs(wheel)
    for package in DEV_ONLY:
        assert ignored(DOCKER / name, package), package


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_image_installs_the_wheel_and_copies_no_source(name):
    image = stages(DOCKER / name)[-1]
    assert image.name == ""
    # From the build context only the shipped log configuration (tests/unit/test_log_config.py).
    assert {Path(s).parent for s in copy_sources(image.instructions)} <= {Path("flink-conf")}
    install = runs(image)
    assert "--mount=type=bind,from=wheel,source=/dist" in install
    assert re.search(rf'uv pip install .*"\$\(echo {re.escape(WHEEL)}\)\[[^]]+\]"', install)
    assert "pyproject.toml" not in install  # nothing resolved from the sources
    assert "PYTHONPATH" not in env_of(image)  # imports come from the venv's site-packages


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_image_installs_the_locked_versions(name):
    """uv.lock, exported in the wheel stage for the image's extras (hashes included), is the
    requirement set the image installs beside the wheel: what `./dev setup` and CI tested."""
    export = runs(stage(DOCKER / name, "wheel"))
    assert re.search(r"uv export --frozen .*--no-dev .*--output-file /dist/requirements.txt",
                     export)  # fmt: skip
    install = runs(stages(DOCKER / name)[-1])
    assert "-r /dist/requirements.txt" in install
    # The export is the whole closure: nothing resolved afresh, nothing the lock overrode away.
    assert re.search(r"uv pip install --no-deps .*-r /dist/requirements.txt", install)


def gpu_extras() -> str:
    extras = re.search(
        r"--build-arg DETECTOR_EXTRAS=(\S+)", (DOCKER / "detector.Dockerfile").read_text()
    )
    assert extras
    return extras.group(1)


def locked_closure(extras: str, dev_group: bool = False) -> dict[str, str]:
    """Package -> markers of what `uv export` (as the wheel stage runs it) gives for extras
    (and the dev group, as `./dev setup` installs it)."""
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.skip("uv is not installed (./dev setup installs it into .venv)")
    argv = [find_uv_bin(), "export", "--frozen", "--no-emit-project", "--no-hashes",
            *([] if dev_group else ["--no-dev"]),
            "--project", str(REPO), *(f"--extra={e}" for e in extras.split(","))]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    out: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line and not line.startswith((" ", "#")):
            requirement, _, marker = line.partition(";")
            name = requirement.split("==")[0].strip()
            out[name] = out.get(name, "") + marker.strip() + "|"
    return out


@pytest.mark.parametrize(
    ("image", "extras", "torch"),
    [("job", "job", False), ("detector (cpu)", "detector", False), ("detector (gpu)", None, True)],
)
def test_each_image_installs_one_opencv_and_torch_only_on_gpu(image, extras, torch):
    """The images' locked closures: the headless OpenCV alone (the GUI build that
    supervision and ultralytics ask for resolves to a never-true marker), torch only in the
    GPU variant."""
    closure = locked_closure(extras or gpu_extras())
    assert set(closure.get("opencv-python", "sys_platform == 'never'|").split("|")) <= {
        "sys_platform == 'never'", ""
    }, image
    if "detector" in (extras or gpu_extras()):
        assert "opencv-python-headless" in closure
    assert ("torch" in closure) is torch, image
    assert ("ultralytics" in closure) is torch, image


def test_job_image_installs_the_job_extra():
    install = runs(stages(DOCKER / "job.Dockerfile")[-1])
    assert f'"$(echo {WHEEL})[job]"' in install
    assert "--extra job" in runs(stage(DOCKER / "job.Dockerfile", "wheel"))
    assert "/opt/venv/bin/traffic-risk-job --check-config" in install
    assert pins.pyproject()["project"]["scripts"]["traffic-risk-job"] == "jobs.risk_job:main"


def test_job_image_uses_the_pinned_flink_and_connector():
    args = args_defaults(DOCKER / "job.Dockerfile")
    flink = pins.flink_version()
    assert args["FLINK_IMAGE"] == f"flink:{flink}-scala_2.12-java17"
    assert args["FLINK_VERSION"] == flink
    assert args["FLINK_KAFKA_CONNECTOR_VERSION"] == pins.pom_property(
        "flink.kafka.connector.version"
    )
    assert re.fullmatch(r"[0-9a-f]{64}", args["FLINK_KAFKA_CONNECTOR_SHA256"])


def test_connector_checksum_matches_the_jar_setup_fetched():
    jar = REPO / ".jvm" / "flink" / "flink-sql-connector-kafka.jar"
    if not jar.exists():
        pytest.skip("connector jar not fetched yet (`mvn -f jvm/pom.xml package`)")
    expected = args_defaults(DOCKER / "job.Dockerfile")["FLINK_KAFKA_CONNECTOR_SHA256"]
    assert hashlib.sha256(jar.read_bytes()).hexdigest() == expected


def test_job_image_puts_the_jars_where_the_job_looks(monkeypatch):
    """The image's TRAFFIC_HOME, given to the job's own lookup, names the jars' folder."""
    image = stages(DOCKER / "job.Dockerfile")[-1]
    monkeypatch.setenv("TRAFFIC_HOME", env_of(image)["TRAFFIC_HOME"])
    monkeypatch.delenv("TRAFFIC_FLINK_JARS_DIR", raising=False)
    jars = {d for d in destinations(image) if d.suffix == ".jar"}
    assert {j.name for j in jars} == {"flink-sql-connector-kafka.jar", "traffic-risk-udfs.jar"}
    assert {str(j.parent) for j in jars} == {str(flink_jars_dir())}


def test_job_entry_point_links_the_installed_module():
    """`-py` of the FlinkDeployment is a link to the wheel's jobs/risk_job.py, which imports
    only packages the wheel holds."""
    (deployment,) = manifests.load_yaml(REPO / "k8s" / "base" / "flink" / "flinkdeployment.yaml")
    job_args = deployment["spec"]["job"]["args"]
    entry = job_args[job_args.index("-py") + 1]
    installed = "$(/opt/venv/bin/python -c 'import jobs.risk_job as m; print(m.__file__)')"
    link = re.search(
        rf'ln -s "{re.escape(installed)}"\s+(\S+)', runs(stages(DOCKER / "job.Dockerfile")[-1])
    )
    assert link and link.group(1) == entry
    source = (REPO / "jobs" / "risk_job.py").read_text()
    imported = set(re.findall(r"^(?:from|import) (\w+)", source, flags=re.M))
    local = {name for name in imported if (REPO / name).is_dir()}
    assert local and local <= set(RUNTIME)


def test_detector_image_runs_the_console_script_on_its_config():
    image = stages(DOCKER / "detector.Dockerfile")[-1]
    entrypoint = next(json.loads(a) for k, a in image.instructions if k == "ENTRYPOINT")
    assert entrypoint == ["/opt/venv/bin/traffic-detector"]
    assert pins.pyproject()["project"]["scripts"]["traffic-detector"] == "detector.cli:main"
    assert '"$(echo /dist/traffic_risk-*.whl)[${DETECTOR_EXTRAS}]"' in runs(image)
    assert "traffic-detector --check-config" in runs(image)
    # With no arguments the console script reads the config the image (and the pod) names.
    config = env_of(image)["TRAFFIC_DETECTOR_CONFIG"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAFFIC_DETECTOR_CONFIG", config)
        assert detector_parser().parse_args([]).config == Path(config)


def test_detector_variants_share_one_file():
    args = args_defaults(DOCKER / "detector.Dockerfile")
    assert args["VARIANT"] == "cpu" and args["BASE_IMAGE"].startswith("debian:")
    assert args["DETECTOR_EXTRAS"] == "detector"
    text = (DOCKER / "detector.Dockerfile").read_text()
    assert "--build-arg VARIANT=gpu" in text and "nvidia/cuda:" in text
    optional = pins.pyproject()["project"]["optional-dependencies"]
    assert set(gpu_extras().split(",")) <= set(optional) and "yolo" in gpu_extras()
    # The GPU build fails unless its torch is a CUDA build.
    assert "assert torch.version.cuda" in runs(stages(DOCKER / "detector.Dockerfile")[-1])
