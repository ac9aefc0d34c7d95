"""Prometheus config and rules: promtool checks, promtool unit tests, one runbook per alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from app.settings import API_PORT, EXECUTOR_PORT
from tests.prereq import require_binary
from tests.unit.promql_names import (
    PROMETHEUS_DIR,
    PROMTOOL_HINT,
    ROOT,
    RULE_TESTS,
    alerts,
)

SEVERITIES = {"critical", "warning"}


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", PROMTOOL_HINT)
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def test_config_and_rule_files_pass_promtool_check() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = len(list((PROMETHEUS_DIR / "rules").glob("*.yml")))
    assert f"SUCCESS: {rule_files} rule files found" in result.stdout


def test_every_rule_passes_its_promtool_unit_tests() -> None:
    result = promtool("test", "rules", *(str(p.relative_to(PROMETHEUS_DIR)) for p in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_loosened_threshold(tmp_path: Path) -> None:
    """Guards the test above: the unit tests must notice when an alert stops firing."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    rules = copy / "rules" / "alerts.yml"
    text = rules.read_text()
    assert 'ratio_rate5m{job="nox-api"} > 0.05' in text
    rules.write_text(
        text.replace('ratio_rate5m{job="nox-api"} > 0.05', 'ratio_rate5m{job="nox-api"} > 0.5')
    )
    result = promtool("test", "rules", "tests/alerts_test.yml", cwd=copy)
    assert result.returncode != 0
    assert "NoxHighErrorRatio" in result.stdout + result.stderr


def expected_alert_cases() -> tuple[set[str], set[str]]:
    """Alert names with a firing case, and alert names with a silent case, in the unit tests."""
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    return firing, silent


def test_every_alert_is_tested_firing_and_silent() -> None:
    names = {rule["alert"] for rule in alerts()}
    firing, silent = expected_alert_cases()
    assert names - firing == set(), "alerts without a case where they fire"
    assert names - silent == set(), "alerts without a case where they stay silent"


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "alerts.md").read_text(), re.MULTILINE)
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        assert rule["annotations"]["runbook"] == f"docs/alerts.md#{name.lower()}"
        assert name in headings, f"docs/alerts.md has no section '## {name}'"


def test_scrape_jobs_use_the_settings_ports() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    ports = {
        job["job_name"]: [sd["port"] for sd in job.get("dns_sd_configs", [])]
        for job in config["scrape_configs"]
    }
    assert ports["nox-api"] == [API_PORT]
    assert ports["nox-executor"] == [EXECUTOR_PORT]
