"""Fetch, once, what the offline manifest tests need into the ignored folder `.k8s-schemas/`.

    .venv/bin/python -m k8s.tools.fetch_schemas

- `bin/kustomize`: built with `go install` from the Go module proxy (pinned below).
- `crds/*.yaml`: CustomResourceDefinitions taken from released artifacts on Maven Central
  (pinned in k8s/tools/pom.xml): the Flink Kubernetes Operator's API jar ships its CRDs; the
  Strimzi CRDs are written by Strimzi's own released generator from its released API classes
  (that generator needs Java 21+).

Idempotent: each step is skipped when its outputs exist for the same pins (STAMP.json), so CI
can call it every run. Tests read only the folder; they never touch the network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("TRAFFIC_K8S_SCHEMAS", REPO / ".k8s-schemas"))
POM = Path(__file__).with_name("pom.xml")
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.7.1"  # newest release that builds with the Go toolchain here

FLINK_CRDS = ("flinkdeployments.flink.apache.org",)
# Strimzi API class -> CRD file written by the generator.
STRIMZI_CRDS = {
    "io.strimzi.api.kafka.model.kafka.Kafka": "kafkas.kafka.strimzi.io.yaml",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "kafkanodepools.kafka.strimzi.io.yaml",
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "kafkatopics.kafka.strimzi.io.yaml",
    "io.strimzi.api.kafka.model.user.KafkaUser": "kafkausers.kafka.strimzi.io.yaml",
}


def pins() -> dict[str, str]:
    """What the folder's content depends on; a change of any pin refetches."""
    return {
        "kustomize": KUSTOMIZE_VERSION,
        "pom_sha256": hashlib.sha256(POM.read_bytes()).hexdigest(),
    }


def _stamp_ok(step: str, outputs: list[Path]) -> bool:
    stamp = OUT / "STAMP.json"
    if not stamp.exists() or not all(p.exists() for p in outputs):
        return False
    stamps: dict[str, object] = json.loads(stamp.read_text())
    return stamps.get(step) == pins()


def _write_stamp(step: str) -> None:
    stamp = OUT / "STAMP.json"
    data = json.loads(stamp.read_text()) if stamp.exists() else {}
    data[step] = pins()
    stamp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def fetch_kustomize() -> Path:
    """Build the pinned kustomize into OUT/bin (Go module proxy)."""
    binary = OUT / "bin" / "kustomize"
    if _stamp_ok("kustomize", [binary]):
        return binary
    go = shutil.which("go")
    if go is None:
        raise SystemExit("`go` is not installed: it is needed once to build kustomize")
    env = dict(os.environ, GOBIN=str(binary.parent), GOFLAGS="-mod=mod")
    _run([go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"], env=env)
    _write_stamp("kustomize")
    return binary


def fetch_jars() -> None:
    """Resolve the pinned artifacts from Maven Central (k8s/tools/pom.xml)."""
    marker = OUT / "jars" / "flink-kubernetes-operator-api.jar"
    if _stamp_ok("jars", [marker]):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("`mvn` is not installed: it fetches the pinned CRD artifacts")
    _run([mvn, "-q", "-B", "-f", str(POM), "package", f"-Dschemas.out={OUT}"])
    _write_stamp("jars")


def extract_flink_crds() -> None:
    """Copy the operator's CRDs (apiextensions v1 flavour) out of its API jar."""
    crds = OUT / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(OUT / "jars" / "flink-kubernetes-operator-api.jar") as jar:
        for name in FLINK_CRDS:
            data = jar.read(f"META-INF/fabric8/{name}-v1.yml")
            (crds / f"{name}.yaml").write_bytes(data)


def java_major(java: Path) -> int:
    """Major version of a `java` binary (0 when it does not run)."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return 0
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(match.group(1)) if match else 0


def find_java(minimum: int = 21) -> Path:
    """A Java >= `minimum`: TRAFFIC_JAVA_HOME, JAVA_HOME, PATH, then /usr/lib/jvm/*."""
    homes = [os.environ.get("TRAFFIC_JAVA_HOME"), os.environ.get("JAVA_HOME")]
    candidates = [Path(h) / "bin" / "java" for h in homes if h]
    if shutil.which("java"):
        candidates.append(Path(str(shutil.which("java"))))
    candidates += sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True)
    for java in candidates:
        if java.exists() and java_major(java) >= minimum:
            return java
    raise SystemExit(f"no Java >= {minimum} found (Strimzi's CRD generator needs it): "
                     "install one or set TRAFFIC_JAVA_HOME")


def generate_strimzi_crds() -> None:
    """Run Strimzi's released CRD generator over its released API classes."""
    crds = OUT / "crds"
    outputs = [crds / f for f in STRIMZI_CRDS.values()]
    if _stamp_ok("strimzi", outputs):
        return
    crds.mkdir(parents=True, exist_ok=True)
    classpath = str(OUT / "strimzi-classpath" / "*")
    args = [f"{cls}={crds / f}" for cls, f in STRIMZI_CRDS.items()]
    _run([str(find_java()), "-cp", classpath, "io.strimzi.crdgenerator.CrdGenerator", "--yaml",
          *args])
    _write_stamp("strimzi")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    fetch_kustomize()
    fetch_jars()
    extract_flink_crds()
    generate_strimzi_crds()
    print(f"k8s schemas ready in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
