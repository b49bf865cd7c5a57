"""Traffic simulator: synthetic cameras publishing `DetectionEvent`s, with ground truth.

from simulator import SimConfig, simulate
run = simulate(SimConfig(cameras=5, duration_s=60, seed=1))
for key, value in run: ...          # Kafka key (camera id) and event bytes
run.labels, run.report              # ground truth and counts, complete after the loop
"""

from simulator.config import FaultConfig, IncidentConfig, SceneConfig, SignalConfig, SimConfig
from simulator.engine import Run, RunReport, camera_ids, simulate
from simulator.sinks import JsonlSink, KafkaSink, read_jsonl
from simulator.truth import IncidentLabel

__all__ = [
    "FaultConfig",
    "IncidentConfig",
    "IncidentLabel",
    "JsonlSink",
    "KafkaSink",
    "Run",
    "RunReport",
    "SceneConfig",
    "SignalConfig",
    "SimConfig",
    "camera_ids",
    "read_jsonl",
    "simulate",
]
