"""One contract, two implementations: the pydantic models and the job's JVM check must agree.

Both inputs are checked: detections (`ParseDetection`) and the signal-controller feed
(`ParseSignal`), each against its own schema.

The detector validates what it publishes with `contract` (Python); the Flink job validates
what it consumes with `io.trafficrisk.flink.ParseDetection` (Java), which interprets the
JSON Schema file. A record one side accepts and the other rejects is either published and
then dead-lettered, or a bad record that slips into the job. Each side has its own unit
tests, but those are written by the same hands as the code; this test feeds both the same
~12,000 records generated from the JSON Schema alone (tests/contract_fuzz.py: valid
instances and mutations of them in the tree, the text and the bytes) and demands the same
accept/reject verdict on every one.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from contract import ContractError, DetectionEvent, SignalChange, parse, topics
from contract.models import _Message
from contract.schemas import schema_path
from tests.contract_fuzz import (
    GUARANTEED_INVALID,
    MUTATION_KINDS,
    VALID,
    Case,
    applicable_kinds,
    build_cases,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
JAR = REPO / ".jvm" / "flink" / "traffic-risk-udfs.jar"
SEED = 20_260_412
# Topic -> (model, cases): signal changes are a small schema, so fewer cases cover it.
INPUTS: dict[str, tuple[type[_Message], int]] = {
    topics.DETECTION_RESULTS: (DetectionEvent, 12_000),
    topics.SIGNAL_STATES: (SignalChange, 3_000),
}

Verdict = str | None  # None: accepted; else the reason for rejecting


@pytest.fixture(scope="module", params=list(INPUTS))
def topic(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def kinds(topic: str) -> tuple[str, ...]:
    return applicable_kinds(schema_path(topic), SEED) if topic != topics.DETECTION_RESULTS else (
        MUTATION_KINDS
    )


@pytest.fixture(scope="module")
def cases(topic: str, kinds: tuple[str, ...]) -> list[Case]:
    return build_cases(INPUTS[topic][1], SEED, schema_path=schema_path(topic), kinds=kinds)


def _python_verdict(model: type[_Message], payload: bytes | None) -> Verdict:
    try:
        parse(model, payload)
    except ContractError as exc:
        return exc.reason
    return None


@pytest.fixture(scope="module")
def python_verdicts(topic: str, cases: list[Case]) -> list[Verdict]:
    return [_python_verdict(INPUTS[topic][0], case.payload) for case in cases]


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        pytest.fail("no java on PATH (JAVA_HOME unset): run `./dev setup`")
    return java


@pytest.fixture(scope="module")
def jvm_verdicts(topic: str, cases: list[Case]) -> list[Verdict]:
    """All cases through one JVM: one line of base64 (or `-` for no value) per case."""
    if not JAR.is_file():
        pytest.fail(f"{JAR} is missing: run `./dev setup` to build the job's UDF jar")
    import pyflink  # the job's runtime: ParseDetection runs against Flink's classes

    lib = Path(pyflink.__file__).parent / "lib"
    lines = [
        "-" if case.payload is None else base64.b64encode(case.payload).decode()
        for case in cases
    ]
    done = subprocess.run(
        [_java(), "-cp", f"{JAR}:{lib}/*", "io.trafficrisk.flink.ContractCheck", "--topic", topic],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"ContractCheck exited {done.returncode}:\n{done.stderr[-3000:]}"
    out = done.stdout.splitlines()
    assert len(out) == len(cases), f"{len(out)} verdicts for {len(cases)} cases:\n{done.stderr}"
    verdicts: list[Verdict] = []
    for line in out:
        if line == "ok":
            verdicts.append(None)
        else:
            word, _, reason = line.partition("\t")
            assert word == "reject", f"unexpected ContractCheck line {line!r}"
            verdicts.append(reason or "(no reason)")
    return verdicts


def test_generator_covers_every_class(
    topic: str, kinds: tuple[str, ...], cases: list[Case]
) -> None:
    """A generator that quietly stops producing a class would make the agreement vacuous."""
    drawn = Counter(case.kind for case in cases)
    assert len(cases) >= INPUTS[topic][1]
    assert drawn[VALID] >= 0.15 * len(cases), drawn
    # Classes a schema has no room for (base64 in signal changes) are left out, no others.
    assert len(kinds) >= (len(MUTATION_KINDS) if topic == topics.DETECTION_RESULTS else 15)
    thin = {kind: drawn[kind] for kind in kinds if drawn[kind] < 100}
    assert not thin, f"mutation classes with fewer than 100 cases: {thin}"


def test_generator_mutations_are_real(
    cases: list[Case], python_verdicts: list[Verdict]
) -> None:
    """Every valid instance is accepted and every guaranteed-invalid mutation rejected, by
    Python: else the generator (or the Python side) is wrong and agreement proves little."""
    wrong = [
        f"{case.name}\n    python: {verdict}\n    payload: {_cut(case.payload)}"
        for case, verdict in zip(cases, python_verdicts, strict=True)
        if (case.kind == VALID and verdict is not None)
        or (case.kind in GUARANTEED_INVALID and verdict is None)
    ]
    assert not wrong, f"{len(wrong)} cases with the wrong Python verdict:\n" + "\n".join(
        wrong[:20]
    )


def test_python_and_jvm_agree(
    cases: list[Case], python_verdicts: list[Verdict], jvm_verdicts: list[Verdict]
) -> None:
    disagreements = [
        (case, py, jvm)
        for case, py, jvm in zip(cases, python_verdicts, jvm_verdicts, strict=True)
        if (py is None) != (jvm is None)
    ]
    if disagreements:
        by_kind = Counter(case.kind for case, _, _ in disagreements)
        report = [
            f"{case.name}\n    kind: {case.kind}\n"
            f"    python: {'ok' if py is None else 'reject: ' + py}\n"
            f"    jvm:    {'ok' if jvm is None else 'reject: ' + jvm}\n"
            f"    payload: {_cut(case.payload)}"
            for case, py, jvm in _one_of_each_first(disagreements)[:20]
        ]
        pytest.fail(
            f"{len(disagreements)} of {len(cases)} cases judged differently "
            f"(by kind: {dict(by_kind)}):\n" + "\n".join(report)
        )


def _one_of_each_first(
    disagreements: list[tuple[Case, Verdict, Verdict]],
) -> list[tuple[Case, Verdict, Verdict]]:
    """One example of each kind of disagreement (kind, and both reasons with the numbers and
    paths taken out) before the rest, so one frequent bug does not hide the others."""

    def shape(reason: Verdict) -> str:
        return "ok" if reason is None else re.sub(r"[\d.]+", "N", reason)[:60]

    seen: set[tuple[str, str, str]] = set()
    first: list[tuple[Case, Verdict, Verdict]] = []
    rest: list[tuple[Case, Verdict, Verdict]] = []
    for item in disagreements:
        key = (item[0].kind, shape(item[1]), shape(item[2]))
        (rest if key in seen else first).append(item)
        seen.add(key)
    return first + rest


def _cut(payload: bytes | None, limit: int = 300) -> str:
    if payload is None:
        return "None (no record value)"
    shown = repr(payload[:limit])
    return shown + (f" ... ({len(payload)} bytes)" if len(payload) > limit else "")
