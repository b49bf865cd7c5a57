"""The monitoring files: well-formed Grafana dashboards and alert rules over names the code
exports (the detector's registry, the job's names as documented and scraped), a scrape config."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from detector.observability import Metrics
from stack.paths import REPO
from tests.unit.dashboard.promql import dashboard_metric_names, promql_metric_names

GRAFANA = REPO / "monitoring" / "grafana"
DASHBOARD = json.loads((GRAFANA / "traffic-risk-job.json").read_text())
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
RULES = REPO / "k8s" / "base" / "monitoring" / "prometheusrule.yaml"
# Series a histogram or counter of prometheus-client exports besides its family name.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def detector_exported_names() -> set[str]:
    """Every series name the detector's registry can export, from the code itself."""
    registry = Metrics(CollectorRegistry()).registry
    return {family.name + suffix for family in registry.collect()
            for suffix in SUFFIXES[family.type]}  # fmt: skip


def job_exported_names() -> set[str]:
    """The job's and Flink's names in docs/metrics.md, which the scrape test holds to a run."""
    return set(re.findall(r"`(flink_\w+)`", (REPO / "docs" / "metrics.md").read_text()))


def shipped_rules() -> list[dict[str, Any]]:
    (rule,) = [d for d in yaml.safe_load_all(RULES.read_text()) if d]
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_promql_name_extraction():
    expr = (
        'sum by (job_name) (rate(a_total{job_name=~"$job_name", x="y(z)"}[$__rate_interval]))'
        " / on(job_id) group_left max(b:rule) or vector(0) > 1e3"
    )
    assert promql_metric_names(expr) == {"a_total", "b:rule"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_are_well_formed(path: Path):
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == path.stem  # the sidecar and links find it by a stable uid
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"] and panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert names == {"datasource", "job_name" if "job" in path.stem else "camera"}


def test_job_and_detector_dashboards_are_shipped():
    assert {p.stem for p in DASHBOARDS} >= {"traffic-risk-job", "traffic-risk-detector"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_query_only_exported_metrics(path: Path):
    """Offline twin of the scrape test: every queried name is one the code exports."""
    used = dashboard_metric_names(json.loads(path.read_text()))
    assert len(used) >= 10
    assert used - job_exported_names() - detector_exported_names() == set()


def test_alert_rules_use_only_exported_metrics():
    used = set().union(*(promql_metric_names(r["expr"]) for r in shipped_rules()))
    assert any(n.startswith("flink_") for n in used)
    assert any(n.startswith("traffic_detector_") for n in used)
    assert used - job_exported_names() - detector_exported_names() == set()


def test_the_documented_alerts_are_the_shipped_rules():
    """docs/metrics.md's alert table lists each rule's name; the rules say what it says."""
    alerts = [r["alert"] for r in shipped_rules()]
    text = (REPO / "docs" / "metrics.md").read_text()
    documented = re.findall(r"^\| `(TrafficRisk\w+)` \|", text, re.MULTILINE)
    assert sorted(documented) == sorted(alerts)


def test_detector_names_come_from_its_registry():
    """The extraction above sees every metric the detector defines (a guard for the guard)."""
    names = detector_exported_names()
    assert {"traffic_detector_frames_total", "traffic_detector_camera_up",
            "traffic_detector_detection_latency_seconds_bucket"} <= names  # fmt: skip
    assert "traffic_detector_frames" not in names  # a counter is exported with _total only


def test_the_dashboards_configmap_ships_every_dashboard():
    kustomization = yaml.safe_load((REPO / "monitoring" / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    files = {item.split("=", 1)[1] for item in generator["files"]}
    assert files == {f"grafana/{p.name}" for p in DASHBOARDS}
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}


def test_prometheus_config_scrapes_the_local_stack():
    config = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets["flink-jobmanager"] == ["127.0.0.1:9250"]
    assert "127.0.0.1:9251" in targets["flink-taskmanager"]
    assert targets["traffic-detector"] == ["127.0.0.1:9108"]
