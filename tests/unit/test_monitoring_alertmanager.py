"""Alertmanager config: amtool accepts it; every alert reaches the receiver of its severity."""

from __future__ import annotations

import subprocess

from tests.prereq import require_binary
from tests.unit.promql_names import MONITORING, alerts

CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
AMTOOL_HINT = "run .ci/install-monitoring.sh (Debian prometheus-alertmanager)"
RECEIVER = {"critical": "oncall", "warning": "tickets"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("amtool", AMTOOL_HINT)
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


def test_amtool_accepts_the_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_routes_to_the_receiver_of_its_severity() -> None:
    for rule in alerts():
        severity = rule["labels"]["severity"]
        labels = [f"alertname={rule['alert']}", f"severity={severity}", "job=nox-api"]
        result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [RECEIVER[severity]], rule["alert"]
