"""The risk stage in a real PyFlink mini cluster against the stub LLM server.

The pipeline runs in a child process (this file's `__main__`) so its JVM and Python workers
start with the test API keys in their environment, whatever JVM the session already runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from udfs.risk.keypool import key_id_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEST_KEYS = ["sk-it-risk-SECRET-0001", "sk-it-risk-SECRET-0002"]


def events(n: int = 12) -> list[str]:
    """Each frame: one LLM-worthy group (car + pedestrian, ttc 1.5 s) and one lone car."""
    from contract import DetectionEvent
    from tests.factories import detection_dict

    out = []
    for i in range(n):
        raw = detection_dict(camera_id=f"cam-{i % 3}", frame_id=i, signal_state=None)
        lone_car = {**raw["groups"][0], "group_id": "g1", "member_indices": [0], "features": {}}
        raw["groups"].append(lone_car)
        out.append(DetectionEvent.model_validate(raw).to_json().decode())
    return out


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stack.openai_stub", "--port", "0", "--latency-ms", "50"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on"), line
        yield "http://" + line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def test_every_group_gets_one_verdict_and_llm_verdicts_match_stub_requests(stub, tmp_path):
    source, out, logs = tmp_path / "events.jsonl", tmp_path / "verdicts.jsonl", tmp_path / "log"
    source.write_text("\n".join(events()))
    logs.mkdir()
    # Keys by file: Beam logs the Python worker's whole environment at INFO when it closes
    # (DefaultJobBundleFactory "Closing environment ... payload"), so a key in an env var
    # would end up in the TaskManager log. The file's path is all that gets logged.
    keys_file = tmp_path / "llm-keys.txt"
    keys_file.write_text("\n".join(TEST_KEYS) + "\n")
    env = {
        **{k: v for k, v in os.environ.items() if k != "TRAFFIC_LLM_API_KEYS"},
        "TRAFFIC_LLM_API_KEYS_FILE": str(keys_file),
        "FLINK_LOG_DIR": str(logs),
        "PYTHONPATH": str(ROOT),
    }
    child = subprocess.run(
        [sys.executable, __file__, str(source), str(out), stub + "/v1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    ids = Counter((v["camera_id"], v["frame_id"], v["group_id"]) for v in verdicts)
    assert len(ids) == 24 and set(ids.values()) == {1}
    sources = Counter(v["source"] for v in verdicts)
    assert sources == {"llm": 12, "heuristic": 12}
    with urlopen(stub + "/stats") as resp:
        stats = json.load(resp)
    assert stats["requests"] == sources["llm"]
    assert set(stats["by_key"]) == {key_id_for(k) for k in TEST_KEYS}
    assert {v.get("key_id") for v in verdicts if v["source"] == "llm"} == set(stats["by_key"])
    texts = [out.read_text(), child.stdout, child.stderr]
    texts += [p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file()]
    assert any("Closing environment" in text for text in texts)  # the logs were really read
    for secret in TEST_KEYS:
        assert all(secret not in text for text in texts)


def _run_pipeline(source: str, out: str, base_url: str) -> None:
    """Child process: collection -> risk stage -> verdict JSON lines in `out`."""
    from pyflink.common import Configuration, Types
    from pyflink.datastream import StreamExecutionEnvironment

    from udfs.risk.config import RiskConfig
    from udfs.risk.flink_functions import build_risk_stage

    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("restart-strategy.type", "none")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    cfg = RiskConfig.model_validate(
        {
            "llm": {"base_url": base_url, "timeout_s": 5, "backoff_s": 0.05},
            "pool": {"slots": 2, "default_key": {"requests_per_min": 6000}},
        }
    )
    lines = Path(source).read_text().splitlines()
    verdicts = build_risk_stage(env.from_collection(lines, type_info=Types.STRING()), cfg)
    with verdicts.execute_and_collect("risk-stage-it") as results, open(out, "w") as sink:
        for verdict in results:
            sink.write(verdict + "\n")


if __name__ == "__main__":
    _run_pipeline(*sys.argv[1:4])
