"""The wheel works outside the checkout: built from the working tree, installed with the
`job` and `detector` extras into a fresh virtual environment, and run from a folder outside
the repository with a clean environment (no PYTHONPATH, TRAFFIC_HOME an empty folder).

This is what the images do (docker/*.Dockerfile install the same wheel), so a module that
reads a file from the checkout, package data missing from the wheel, or a runtime import of
a dev-only package (stack, simulator, benchmarks, tests) fails here first. Needs uv and
PyPI; from uv's cache (hard links, as `./dev setup` filled it) the module takes ~11 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_layout import DEV_ONLY

# One worker builds the venv once for the whole module (`./dev test` runs --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("wheel-install")]

REPO = Path(__file__).resolve().parents[2]
EXTRAS = "job,detector"
RUNTIME_MODULES = (
    "contract", "contract.schemas", "contract.workspace", "jobs.config", "jobs.risk_job",
    "udfs.patterns", "udfs.risk.flink", "detector.cli", "detector.models", "dashboard.server",
)  # fmt: skip


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    workdir: Path  # outside the repository; the commands run here
    env: dict[str, str]  # clean: the venv's bin first, an empty TRAFFIC_HOME

    def run(
        self, *argv: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv], cwd=self.workdir, env=self.env | (extra_env or {}), capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "python"), "-c", code)


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        found = shutil.which("uv")
        if not found:
            pytest.skip("uv is not installed (./dev setup installs it into .venv)")
        return found
    return find_uv_bin()


def _uv_env() -> dict[str, str]:
    """This process's environment minus what would point uv at the checkout's venv."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT", "CONDA_PREFIX"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _copy_sources(dest: Path) -> Path:
    """pyproject, README, LICENSE and the packages it lists, without caches: building in the
    checkout itself would write build/ and *.egg-info there, and a stale build/lib can put
    deleted modules into the wheel."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    dest.mkdir()
    for name in ("pyproject.toml", project["project"]["readme"], "LICENSE"):
        shutil.copy2(REPO / name, dest / name)
    for package in {pattern.rstrip("*") for pattern in includes}:
        shutil.copytree(REPO / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO)
    uv, env = _uv(), _uv_env()

    def uv_run(*argv: str | Path) -> None:
        done = subprocess.run([uv, *map(str, argv)], cwd=root, env=env, capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip
        assert done.returncode == 0, f"uv {argv[0]}:\n{done.stdout}\n{done.stderr}"

    uv_run("build", "--wheel", "--out-dir", root / "dist", _copy_sources(root / "src"))
    (wheel,) = (root / "dist").glob("traffic_risk-*.whl")
    venv = root / "venv"
    uv_run("venv", "--quiet", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}", venv)
    # As the images do: the lock's closure for the extras, installed with --no-deps.
    requirements = root / "dist" / "requirements.txt"
    uv_run("export", "--quiet", "--frozen", "--project", REPO, "--no-dev", "--no-emit-project",
           *(f"--extra={e}" for e in EXTRAS.split(",")), "--output-file", requirements)  # fmt: skip
    uv_run("pip", "install", "--quiet", "--no-deps", "--python", venv / "bin" / "python",
           "-r", requirements, f"{wheel}[{EXTRAS}]")  # fmt: skip
    shutil.rmtree(root / "src")  # nothing but the venv can serve an import now
    (workdir := root / "work").mkdir()
    (home := root / "home").mkdir()
    (traffic_home := root / "traffic-home").mkdir()
    clean = {
        "PATH": os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TRAFFIC_HOME": str(traffic_home),
        "LANG": "C.UTF-8",
    }
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    return Installed(venv, site, workdir, clean)


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_runtime_modules_come_from_site_packages_not_the_checkout(installed):
    report = _json(
        installed.python(f"""
import importlib, importlib.metadata as md, json, sys
files = {{m: importlib.import_module(m).__file__ for m in {RUNTIME_MODULES!r}}}
from jobs.config import DEFAULT_PATTERNS, from_args
cfg = from_args([])
print(json.dumps({{
    "files": files,
    "patterns": str(DEFAULT_PATTERNS),
    "config_patterns": cfg.patterns,
    "pattern_names": [p.name for p in cfg.cep().patterns],
    "dev_loaded": sorted({{m.split(".")[0] for m in sys.modules}} & set({DEV_ONLY!r})),
    "direct_url": json.loads(md.distribution("traffic-risk").read_text("direct_url.json")),
    "sys_path": sys.path,
}}))
""")
    )
    site = installed.site_packages
    for module, file in report["files"].items():
        assert Path(file).is_relative_to(site), (module, file)
    assert not any(str(REPO) in entry for entry in report["sys_path"]), report["sys_path"]
    # The built-in patterns are package data, loaded through the job's own config loader.
    assert Path(report["patterns"]) == site / "udfs" / "patterns" / "patterns.yaml"
    assert report["config_patterns"] == report["patterns"]
    assert "red_light_runs_3_in_60s" in report["pattern_names"]
    # Installed from the wheel file, not as an editable checkout.
    assert report["direct_url"]["url"].endswith(".whl")
    assert not report["direct_url"].get("dir_info", {}).get("editable")
    assert not list(site.glob("__editable__*"))
    # Importing every runtime entry point pulled in no dev-only package.
    assert report["dev_loaded"] == []


def test_lean_install_has_one_opencv_and_no_torch(installed):
    """The job and the SSD detector with ByteTrack need neither torch nor a second OpenCV."""
    dists = {d.name.split("-")[0].lower() for d in installed.site_packages.glob("*.dist-info")}
    assert {d for d in dists if d.startswith("opencv")} == {"opencv_python_headless"}
    assert not dists & {"torch", "torchvision", "ultralytics"}
    tracked = installed.python(
        "from detector.tracking import make_tracker; from detector.models import RawDetection; "
        "t = make_tracker(); print([d.track_id for d in t.update("
        "[RawDetection('car', 0.9, 0, 0, 50, 40)], 0)])"
    )
    assert tracked.returncode == 0, tracked.stderr
    assert tracked.stdout.strip() == "[1]"


def test_package_data_is_installed(installed):
    site = installed.site_packages
    schemas = sorted(p.name for p in (site / "contract" / "schemas").glob("*.json"))
    # Every schema of the contract (the count grows with the contract).
    assert "detection-results.v1.json" in schemas
    assert schemas == sorted(p.name for p in (REPO / "contract" / "schemas").glob("*.json"))
    assert {p.name for p in (site / "dashboard" / "static").iterdir()} >= {"index.html", "app.js"}
    assert (site / "detector" / "cameras.example.yaml").is_file()


def test_the_license_travels_with_the_wheel(installed):
    """PEP 639: the wheel names its licence and carries the text (dist-info/licenses/)."""
    (dist_info,) = installed.site_packages.glob("traffic_risk-*.dist-info")
    metadata = (dist_info / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert (dist_info / "licenses" / "LICENSE").read_text() == (REPO / "LICENSE").read_text()


def test_job_help_from_the_console_script(installed):
    done = installed.run("traffic-risk-job", "--help")
    assert done.returncode == 0, done.stderr
    assert "--kafka-bootstrap" in done.stdout and "--patterns" in done.stdout


def test_job_check_config(installed):
    """Settings, the built-in patterns (package data) and the risk config load; the jars are
    looked for under TRAFFIC_HOME (empty here: reported, not fatal)."""
    done = installed.run("traffic-risk-job", "--check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "configuration OK" in done.stdout
    assert str(installed.site_packages / "udfs" / "patterns" / "patterns.yaml") in done.stdout
    assert "red_light_runs_3_in_60s" in done.stdout
    assert str(Path(installed.env["TRAFFIC_HOME"]) / ".jvm" / "flink") in done.stdout


def test_flink_entry_point_link_runs_the_installed_module(installed):
    """As in the job image: `-py <home>/jobs/risk_job.py` is a link to the installed module,
    and PythonDriver runs `python -m risk_job` with the link's folder and the -pyfs folder on
    PYTHONPATH; `jobs` must still import from site-packages."""
    home = installed.workdir / "image-home"
    (home / "jobs").mkdir(parents=True)
    (home / "jobs" / "risk_job.py").symlink_to(installed.site_packages / "jobs" / "risk_job.py")
    driver_tmp = installed.workdir / "driver-tmp"
    driver_tmp.mkdir()
    (driver_tmp / "risk_job.py").symlink_to(home / "jobs" / "risk_job.py")
    python = str(installed.venv / "bin" / "python")
    direct = installed.run(python, str(home / "jobs" / "risk_job.py"), "--check-config")
    assert direct.returncode == 0 and "configuration OK" in direct.stdout, direct.stderr
    pythonpath = {"PYTHONPATH": f"{driver_tmp}{os.pathsep}{home}"}
    driver = installed.run(python, "-m", "risk_job", "--check-config", extra_env=pythonpath)
    assert driver.returncode == 0, driver.stderr  # home/jobs/ (no config.py) did not shadow
    assert str(installed.site_packages / "udfs" / "patterns") in driver.stdout
    assert "configuration OK" in driver.stdout


def test_detector_help(installed):
    done = installed.run("traffic-detector", "--help")
    assert done.returncode == 0, done.stderr
    assert "--check-config" in done.stdout and "--camera ID=SOURCE" in done.stdout


def test_detector_checks_the_shipped_example_config(installed):
    example = installed.site_packages / "detector" / "cameras.example.yaml"
    done = installed.run("traffic-detector", "--config", str(example), "--check-config")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("detector config ok: 5 cameras: cam-plaza (sample/cam-plaza)")
    assert "model ssd, tracker bytetrack, workers 2" in done.stdout


def test_detector_check_config_names_the_bad_field(installed):
    bad = installed.workdir / "cameras.yaml"
    bad.write_text("cameras:\n  - id: cam-1\n    source: x\n    sample_fps: 0\n")
    done = installed.run("traffic-detector", "--config", str(bad), "--check-config")
    assert done.returncode == 2
    assert "cameras[0].sample_fps" in done.stderr
