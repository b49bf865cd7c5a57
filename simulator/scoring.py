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

from contract import Incident, TrafficAlert
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
    return overlaps(alert.camera_id, alert.start_ms, alert.end_ms, alert.track_ids, label, slack_ms)


def overlaps(
    camera_id: str,
    start_ms: int,
    end_ms: int,
    track_ids: Iterable[int],
    label: IncidentLabel,
    slack_ms: int = 1000,
) -> bool:
    """Whether something seen at a camera over a time span (an alert, an incident) is the
    labelled one: same camera, overlapping span, a shared track when both name tracks."""
    if camera_id != label.camera_id:
        return False
    if start_ms > label.end_ms + slack_ms or end_ms < label.start_ms - slack_ms:
        return False
    tracks = set(track_ids)
    if tracks and label.track_ids and label.kind != "congestion":
        return bool(tracks & set(label.track_ids))
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


@dataclass
class IncidentScore:
    """Incidents of one kind against the labels of the kind they report."""

    labels: int = 0
    incidents: int = 0
    alerts: int = 0  # alerts grouped into these incidents
    missed: list[IncidentLabel] = field(default_factory=list)
    unmatched: list[Incident] = field(default_factory=list)
    split: list[IncidentLabel] = field(default_factory=list)  # found by more than one incident
    merged: list[Incident] = field(default_factory=list)  # covering more than one label
    covered: dict[str, list[IncidentLabel]] = field(default_factory=dict)  # by incident id

    @property
    def recall(self) -> float:
        return 1.0 if not self.labels else (self.labels - len(self.missed)) / self.labels

    @property
    def precision(self) -> float:
        found = self.incidents - len(self.unmatched)
        return 1.0 if not self.incidents else found / self.incidents

    @property
    def alerts_per_incident(self) -> float:
        return self.alerts / self.incidents if self.incidents else 0.0


def newest_revisions(revisions: Iterable[Incident]) -> list[Incident]:
    """Each incident's newest revision (what the Redis view keeps)."""
    newest: dict[str, Incident] = {}
    for incident in revisions:
        seen = newest.get(incident.incident_id)
        if seen is None or incident.revision > seen.revision:
            newest[incident.incident_id] = incident
    return sorted(newest.values(), key=lambda i: (i.camera_id, i.opened_at_ms, i.incident_id))


def score_incidents(
    incidents: Iterable[Incident],
    labels: Iterable[IncidentLabel],
    label_of_kind: Mapping[str, str],
    slack_ms: int = 1000,
) -> dict[str, IncidentScore]:
    """Per incident kind named in `label_of_kind` (incident kind -> label kind): recall,
    precision, and whether each labelled situation is exactly one incident. An incident
    spans its first alert's start to its last alert's end."""
    incidents, labels = newest_revisions(incidents), list(labels)
    out: dict[str, IncidentScore] = {}
    for kind, label_kind in label_of_kind.items():
        mine = [i for i in incidents if i.kind == kind]
        truth = [label for label in labels if label.kind == label_kind]

        def hit(i: Incident, lb: IncidentLabel) -> bool:
            return overlaps(i.camera_id, i.opened_at_ms, i.updated_at_ms, i.track_ids, lb, slack_ms)

        found = {id(lb): [i for i in mine if hit(i, lb)] for lb in truth}
        covers = {i.incident_id: [lb for lb in truth if hit(i, lb)] for i in mine}
        out[kind] = IncidentScore(
            labels=len(truth),
            incidents=len(mine),
            alerts=sum(i.alert_count for i in mine),
            missed=[lb for lb in truth if not found[id(lb)]],
            unmatched=[i for i in mine if not covers[i.incident_id]],
            split=[lb for lb in truth if len(found[id(lb)]) > 1],
            merged=[i for i in mine if len(covers[i.incident_id]) > 1],
            covered=covers,
        )
    return out
