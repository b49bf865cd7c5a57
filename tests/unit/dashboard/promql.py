"""Metric names a Grafana dashboard queries (shared by the unit and the scrape tests)."""

from __future__ import annotations

import re
from typing import Any

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions or keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings (label values)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # label matchers, ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    tokens = re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)\s*(\()?", expr)
    return {m[1] for m in tokens if not m[2] and m[1].lower() not in PROMQL_WORDS}


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the panels, plus the metrics of `label_values(...)` variables."""
    panels = [p for row in dashboard["panels"] for p in [row, *row.get("panels", [])]]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        exprs += re.findall(r"label_values\(\s*([A-Za-z_:][\w:]*)", text)
    return exprs


def dashboard_metric_names(dashboard: dict[str, Any]) -> set[str]:
    return set().union(*map(promql_metric_names, dashboard_queries(dashboard)))
