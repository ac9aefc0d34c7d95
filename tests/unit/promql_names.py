"""The PromQL that ships in monitoring/ and the metric names it reads.

Shared by the unit checks (names against the metric registry) and the live test (names
against what a running Nox serves on /metrics).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
PROMTOOL_HINT = "run .ci/install-monitoring.sh (Debian prometheus)"

# Grafana replaces these before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# Series Prometheus itself makes for each target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Names served by the exporters, not by Nox: checked against the real exporters in
# tests/e2e/test_exporters_live.py (cAdvisor's container_* by name here, served by its stand-in
# in tests/container/test_cadvisor_standin.py: the real cAdvisor cannot be fetched here).
EXPORTER_PREFIXES = {
    "postgres": "pg_",
    "redis": "redis_",
    "node": "node_",
    "cadvisor": "container_",
}

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "group_left"}
_KEYWORDS |= {"group_right", "by", "without", "on", "ignoring"}


def load_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


def _panels(panels: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def load_dashboard(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def dashboard_panels(path: Path) -> list[dict[str, Any]]:
    return list(_panels(load_dashboard(path)["panels"]))


def dashboard_exprs() -> list[str]:
    """Every query of every dashboard, with Grafana's variables replaced as Grafana would."""
    exprs = []
    for path in DASHBOARDS:
        for panel in dashboard_panels(path):
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                exprs.append(expr)
    return exprs


def shipped_exprs() -> list[str]:
    return [str(rule["expr"]) for rule in load_rules()] + dashboard_exprs()


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, labels, keywords or durations)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def names_of_families(families: Iterable[tuple[str, str]]) -> set[str]:
    """Series names exposed for (family name, type): counters add _total, histograms three."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count", ""),
    }
    names = set()
    for name, kind in families:
        names |= {name + suffix for suffix in suffixes.get(kind, ("",))}
    return names


def exporter_names(prefix: str) -> set[str]:
    """Names with ``prefix`` (one exporter's) that the shipped rules and dashboards read."""
    return {n for expr in shipped_exprs() for n in metric_names(expr) if n.startswith(prefix)}


def unknown_names(exported: set[str]) -> dict[str, set[str]]:
    """Expression -> names it reads that neither Nox, a recording rule, a scrape nor an
    exporter provides."""
    known = exported | recorded_names() | SCRAPE_SERIES
    prefixes = tuple(EXPORTER_PREFIXES.values())
    problems = {}
    for expr in shipped_exprs():
        missing = {n for n in metric_names(expr) - known if not n.startswith(prefixes)}
        if missing:
            problems[expr] = missing
    return problems
