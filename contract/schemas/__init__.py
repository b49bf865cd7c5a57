"""JSON Schemas generated from the contract models, one file per topic and version.

``python -m contract.schemas --write`` regenerates them; ``--check`` fails when stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from contract import topics
from contract.models import (
    DeadLetter,
    DetectionEvent,
    Incident,
    IncidentAction,
    RiskAssessment,
    SignalChange,
    TrafficAlert,
    WindowStats,
    _Message,
)

SCHEMA_DIR = Path(__file__).parent

MODEL_BY_TOPIC: dict[str, type[_Message]] = {
    topics.DETECTION_RESULTS: DetectionEvent,
    topics.TRAFFIC_WINDOW_STATS: WindowStats,
    topics.RISK_ASSESSMENT_RESULTS: RiskAssessment,
    topics.TRAFFIC_ALERTS: TrafficAlert,
    topics.TRAFFIC_INCIDENTS: Incident,
    topics.INCIDENT_ACTIONS: IncidentAction,
    topics.DEAD_LETTER: DeadLetter,
    topics.SIGNAL_STATES: SignalChange,
}


def schema_path(topic: str, version: int = 1) -> Path:
    return SCHEMA_DIR / f"{topic}.v{version}.json"


def render(topic: str) -> str:
    """The JSON Schema text of a topic's current model."""
    schema = MODEL_BY_TOPIC[topic].model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:traffic-risk:{topic}:v1"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def load(topic: str, version: int = 1) -> dict[str, object]:
    schema: dict[str, object] = json.loads(schema_path(topic, version).read_text())
    return schema
