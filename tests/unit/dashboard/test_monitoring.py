"""The monitoring files: a well-formed Grafana dashboard over documented names, a scrape config."""

from __future__ import annotations

import json
import re

import yaml

from stack.paths import REPO
from tests.unit.dashboard.promql import dashboard_metric_names, promql_metric_names

DASHBOARD = json.loads((REPO / "monitoring" / "grafana" / "traffic-risk-job.json").read_text())


def test_promql_name_extraction():
    expr = (
        'sum by (job_name) (rate(a_total{job_name=~"$job_name", x="y(z)"}[$__rate_interval]))'
        " / on(job_id) group_left max(b:rule) or vector(0) > 1e3"
    )
    assert promql_metric_names(expr) == {"a_total", "b:rule"}


def test_dashboard_panels_are_well_formed():
    panels = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])
    for panel in panels:
        assert panel["targets"] and panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    names = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert names == {"datasource", "job_name"}


def test_dashboard_queries_only_documented_metrics():
    """Offline twin of the scrape test: every queried name is in docs/metrics.md."""
    documented = set(re.findall(r"`(flink_\w+)`", (REPO / "docs" / "metrics.md").read_text()))
    used = dashboard_metric_names(DASHBOARD)
    assert len(used) >= 10
    assert used - documented == set()


def test_prometheus_config_scrapes_the_local_stack():
    config = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets["flink-jobmanager"] == ["127.0.0.1:9250"]
    assert "127.0.0.1:9251" in targets["flink-taskmanager"]
    assert targets["traffic-detector"] == ["127.0.0.1:9108"]
