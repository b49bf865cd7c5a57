"""Score alerts against the simulator's ground truth: recall and precision per incident kind.

An alert matches a label when it names the same camera, its time span overlaps the label's
(widened by `slack_ms`, one frame at 1 fps, because a label spans from the frame before a
crossing) and, when both name tracks, they share one. Which alert pattern detects which label
kind is given by the caller (pattern names are configuration).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contract import TrafficAlert
from simulator.truth import IncidentLabel


@dataclass
class KindScore:
    labels: int = 0
    alerts: int = 0
    missed: list[IncidentLabel] = field(default_factory=list)
    unmatched_alerts: list[TrafficAlert] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return 1.0 if not self.labels else (self.labels - len(self.missed)) / self.labels

    @property
    def precision(self) -> float:
        return 1.0 if not self.alerts else (self.alerts - len(self.unmatched_alerts)) / self.alerts


def read_labels(path: str | Path) -> list[IncidentLabel]:
    return [
        IncidentLabel.model_validate_json(line)
        for line in Path(path).read_text().splitlines()
        if line.strip()
    ]


def matches(alert: TrafficAlert, label: IncidentLabel, slack_ms: int = 1000) -> bool:
    if alert.camera_id != label.camera_id:
        return False
    if alert.start_ms > label.end_ms + slack_ms or alert.end_ms < label.start_ms - slack_ms:
        return False
    if alert.track_ids and label.track_ids and label.kind != "congestion":
        return bool(set(alert.track_ids) & set(label.track_ids))
    return True


def score(
    alerts: Iterable[TrafficAlert],
    labels: Iterable[IncidentLabel],
    kind_of_pattern: Mapping[str, str],
    slack_ms: int = 1000,
) -> dict[str, KindScore]:
    """Per label kind named in `kind_of_pattern`: which labels no alert found, which alerts
    of that kind's patterns match no label. Alerts of other patterns are ignored."""
    alerts, labels = list(alerts), list(labels)
    out: dict[str, KindScore] = {}
    for kind in dict.fromkeys(kind_of_pattern.values()):
        mine = [a for a in alerts if kind_of_pattern.get(a.pattern) == kind]
        truth = [label for label in labels if label.kind == kind]
        result = KindScore(labels=len(truth), alerts=len(mine))
        result.missed = [lb for lb in truth if not any(matches(a, lb, slack_ms) for a in mine)]
        result.unmatched_alerts = [
            a for a in mine if not any(matches(a, lb, slack_ms) for lb in truth)
        ]
        out[kind] = result
    return out


def summary(scores: Mapping[str, KindScore]) -> str:
    return json.dumps(
        {
            kind: {
                "labels": s.labels,
                "alerts": s.alerts,
                "recall": round(s.recall, 3),
                "precision": round(s.precision, 3),
            }
            for kind, s in scores.items()
        }
    )
