"""A Kubernetes pod's container started as a local process, from the rendered manifests.

The command is the container's `command` (else the image's ENTRYPOINT, read from its
Dockerfile) plus `args`; the environment is the image's ENV, then the container's `envFrom`
ConfigMaps, then its `env` entries (values, configMapKeyRef, secretKeyRef). ConfigMap volumes
are written out as files and emptyDirs are empty folders, each under a local root at its
mount path; `/opt/venv/bin/` (where both images install the wheel) is this venv's bin folder,
other paths under `/opt/` (the image's own folders, e.g. TRAFFIC_HOME) are empty folders
under the root. `${ARG}` in the image's ENV takes the Dockerfile's default.
What cannot hold outside a cluster (Service addresses, ports) the caller replaces, by name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.unit.k8s.test_dockerfiles import DOCKER, args_defaults, env_of, stages

IMAGE_VENV_BIN = "/opt/venv/bin/"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@dataclass
class Pod:
    """One container's command, environment and mounts, made local."""

    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, Path]  # mount path -> local folder
    container: dict[str, Any]
    root: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def local(self, value: str) -> str:
        """An in-container path as the local one (venv bin, mounted folders)."""
        if value.startswith(IMAGE_VENV_BIN):
            return str(VENV_BIN / value.removeprefix(IMAGE_VENV_BIN))
        for mount, folder in sorted(self.mounts.items(), key=lambda m: -len(m[0])):
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return str(folder) + value[len(mount.rstrip("/")) :]
        if value.startswith("/opt/"):
            (self.root / value.lstrip("/")).mkdir(parents=True, exist_ok=True)
            return str(self.root / value.lstrip("/"))
        return value

    @property
    def log(self) -> Path:
        return self.root / "output.log"

    def port(self, name: str) -> int:
        """The containerPort the container declares under ``name``."""
        (port,) = [p["containerPort"] for p in self.container["ports"] if p["name"] == name]
        return int(port)

    def probe(self, kind: str) -> str:
        """The HTTP path of a probe (livenessProbe, readinessProbe, startupProbe)."""
        return str(self.container[kind]["httpGet"]["path"])

    def start(self, cwd: Path) -> subprocess.Popen[bytes]:
        """Run it with nothing of this process's environment but a PATH to the venv."""
        env = {
            "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(cwd),
            "LANG": "C.UTF-8",
            **{k: self.local(v) for k, v in self.env.items()},
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [self.local(a) for a in self.argv], cwd=cwd, env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self.proc

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, as the kubelet sends it; the exit code (killed after ``timeout_s``)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def pod(
    docs: list[dict[str, Any]],
    deployment: str,
    dockerfile: str,
    root: Path,
    secrets: dict[str, dict[str, str]],
) -> Pod:
    """The Deployment's only container, its files under ``root``; ``secrets`` stand in for
    the Secrets the cluster holds (none is committed)."""
    spec = find(docs, "Deployment", deployment)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    image = stages(DOCKER / dockerfile)[-1]
    entrypoint = [json.loads(a) for k, a in image.instructions if k == "ENTRYPOINT"]
    command = container.get("command") or (entrypoint[-1] if entrypoint else None)
    assert command, f"{deployment}: neither the container nor the image names a command"
    defaults = args_defaults(DOCKER / dockerfile)
    env = {
        k: re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], v)
        for k, v in env_of(image).items()
    }
    for source in container.get("envFrom", []):
        env.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif ref := item["valueFrom"].get("configMapKeyRef"):
            env[item["name"]] = find(docs, "ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        folder = root / mount["mountPath"].lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            data = find(docs, "ConfigMap", volume["configMap"]["name"])["data"]
            for key, text in data.items():
                (folder / key).write_text(text)
        elif "secret" in volume:  # kubelet starts no pod whose Secret it cannot find
            held = secrets[volume["secret"]["secretName"]]
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in held]
            for item in items:
                (folder / item["path"]).write_text(held[item["key"]])
        else:
            assert "emptyDir" in volume, volume
        mounts[mount["mountPath"]] = folder
    return Pod([*command, *container.get("args", [])], env, mounts, container, root)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body; connection failures are status 0."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def wait_for_status(url: str, status: int, timeout_s: float, process: Pod) -> None:
    """Poll until ``url`` answers ``status``; fail early, with the log, if the process ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if http_get(url)[0] == status:
            return
        assert process.proc is not None
        if process.proc.poll() is not None:
            raise AssertionError(f"exited {process.proc.returncode}:\n{process.output()[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered {status}:\n{process.output()[-4000:]}")
