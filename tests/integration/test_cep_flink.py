"""The CEP operator on a PyFlink mini cluster: out-of-order red-light runs -> one alert.

No Kafka: a collection source with event timestamps and a bounded-out-of-orderness watermark.
The pipeline runs in a child process (as the other Flink tests do) so the JVM is not shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000


def _crossing(camera: str, at_s: float, track: int) -> str:
    from tests.factories import detection_dict

    car = {
        "class_name": "car",
        "confidence": 0.9,
        "track_id": track,
        "box": {"x1": 10, "y1": 20, "x2": 110, "y2": 90},
        "crossed_lines": ["stop_line"],
    }
    doc = detection_dict(
        camera_id=camera,
        captured_at_ms=int(T0 + at_s * 1000),
        frame_id=int(at_s * 10),
        objects=[car],
        groups=[],
        signal_state="red",
    )
    return json.dumps(doc)


def test_out_of_order_red_light_runs_give_one_alert(tmp_path: Path) -> None:
    lines = [
        _crossing("cam-1", 30, 3),  # out of order, within the 5 s bound
        _crossing("cam-1", 28, 2),
        _crossing("cam-1", 27, 1),
        _crossing("cam-2", 10, 5),  # only two runs: a timeout, no alert
        _crossing("cam-2", 12, 6),
    ]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, __file__, str(source), str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [line.split(" ", 1) for line in out.read_text().splitlines()]
    alerts = [json.loads(body) for kind, body in results if kind == "alert"]
    timeouts = [json.loads(body) for kind, body in results if kind == "timeout"]
    assert [(a["camera_id"], a["track_ids"]) for a in alerts] == [("cam-1", [1, 2, 3])]
    assert alerts[0]["start_ms"] == T0 + 27_000 and alerts[0]["end_ms"] == T0 + 30_000
    assert {t["camera_id"] for t in timeouts} == {"cam-2"}


def _run_pipeline(source: str, out: str) -> None:
    """Child process: collection -> facts -> CEP operator -> tagged lines in `out`."""
    from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
    from pyflink.common.watermark_strategy import TimestampAssigner
    from pyflink.datastream import StreamExecutionEnvironment

    from udfs.cep.config import load
    from udfs.cep.flink_operator import ToFacts, build_cep

    class CapturedAt(TimestampAssigner):
        def extract_timestamp(self, value: str, record_timestamp: int) -> int:
            return int(json.loads(value)["captured_at_ms"])

    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("restart-strategy.type", "none")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    cfg = load(REPO / "flink-conf" / "patterns.yaml")
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_seconds(5)
    ).with_timestamp_assigner(CapturedAt())
    detections = env.from_collection(
        Path(source).read_text().splitlines(), type_info=Types.STRING()
    ).assign_timestamps_and_watermarks(watermarks)
    fact_stream = detections.flat_map(ToFacts("detection", cfg.facts), output_type=Types.STRING())
    alerts, timeouts = build_cep(fact_stream, cfg)
    tagged = alerts.map(lambda s: "alert " + s, output_type=Types.STRING()).union(
        timeouts.map(lambda s: "timeout " + s, output_type=Types.STRING())
    )
    with tagged.execute_and_collect("cep-it") as results, open(out, "w") as sink:
        for line in results:
            sink.write(line + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    _run_pipeline(*sys.argv[1:3])
