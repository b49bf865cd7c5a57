"""Kafka topic names of the product: the only place they are spelled out."""

from __future__ import annotations

DETECTION_RESULTS = "detection-results"
TRAFFIC_WINDOW_STATS = "traffic-window-stats"
RISK_ASSESSMENT_RESULTS = "risk-assessment-results"
TRAFFIC_ALERTS = "traffic-alerts"
TRAFFIC_INCIDENTS = "traffic-incidents"
INCIDENT_ACTIONS = "incident-actions"  # operator acknowledge/resolve (dashboard)
DEAD_LETTER = "dead-letter"
SIGNAL_STATES = "signal-states"  # traffic-controller feed (SignalChange), optional input

ALL_TOPICS: tuple[str, ...] = (
    DETECTION_RESULTS,
    TRAFFIC_WINDOW_STATS,
    RISK_ASSESSMENT_RESULTS,
    TRAFFIC_ALERTS,
    TRAFFIC_INCIDENTS,
    INCIDENT_ACTIONS,
    DEAD_LETTER,
    SIGNAL_STATES,
)
