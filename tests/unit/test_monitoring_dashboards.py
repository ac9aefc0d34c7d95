"""Grafana provisioning and dashboards: valid PromQL over metric names Nox really exports.

The names are checked here against the metric registry; tests/e2e/test_prometheus_live.py
checks them again against the /metrics of a running Nox.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from app.observability.metrics import REGISTRY
from tests.prereq import require_binary
from tests.unit.promql_names import (
    DASHBOARDS,
    MONITORING,
    PROMTOOL_HINT,
    ROOT,
    dashboard_exprs,
    dashboard_panels,
    load_dashboard,
    metric_names,
    names_of_families,
    unknown_names,
)

PROVISIONING = MONITORING / "grafana" / "provisioning"


def registry_names() -> set[str]:
    return names_of_families((family.name, family.type) for family in REGISTRY.collect())


def test_metric_name_extraction_skips_functions_labels_and_durations() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (job, le) (rate(nox_x_bucket{route!~"/a|b"}[5m])))'
        " / on (job) group_left up offset 1h and time() - nox_y > 26 * 3600"
    )
    assert metric_names(expr) == {"nox_x_bucket", "up", "nox_y"}


def test_name_check_reports_a_misspelt_metric() -> None:
    assert "nox_http_requests_total" in registry_names()
    assert metric_names("rate(nox_http_request_total[5m])") - registry_names() == {
        "nox_http_request_total"
    }


def test_every_shipped_query_reads_only_exported_metrics() -> None:
    assert unknown_names(registry_names()) == {}


def test_dashboards_use_the_provisioned_datasource() -> None:
    [source] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert DASHBOARDS, "no dashboard shipped"
    uids = [load_dashboard(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for path in DASHBOARDS:
        for panel in dashboard_panels(path):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_dashboard_provider_reads_where_compose_mounts_the_dashboards() -> None:
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "nox.yml").read_text())["providers"]
    compose = ROOT / "compose.yaml"
    if not compose.exists():
        pytest.skip("no compose.yaml in this checkout")
    mounts = yaml.safe_load(compose.read_text())["services"]["grafana"]["volumes"]
    targets = [m.split(":")[1] for m in mounts if m.startswith("./monitoring/grafana/dashboards:")]
    assert targets == [provider["options"]["path"]]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule: the only offline PromQL parser here."""
    binary = require_binary("promtool", PROMTOOL_HINT)
    exprs = dashboard_exprs()
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout
