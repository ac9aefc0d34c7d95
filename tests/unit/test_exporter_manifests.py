"""The exporters' deployments agree: one image ref per exporter across compose.yaml,
swarm/monitoring.yaml and .env.example; the Swarm stack reads the app stack's secrets and
network; Prometheus scrapes each exporter under the name its service has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXPORTERS = ["postgres-exporter", "redis-exporter", "node-exporter", "cadvisor"]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
SWARM: dict[str, Any] = yaml.safe_load((REPO / "swarm" / "monitoring.yaml").read_text())
APP_STACK: dict[str, Any] = yaml.safe_load((REPO / "swarm" / "stack.yaml").read_text())
DEFAULT = re.compile(r"^\$\{([A-Z_]+):-(\S+)\}$")


def env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z0-9_]+=", line))


@pytest.mark.parametrize("name", EXPORTERS)
def test_one_image_ref_per_exporter(name: str) -> None:
    compose = DEFAULT.match(COMPOSE[name]["image"])
    swarm = DEFAULT.match(SWARM["services"][name]["image"])
    assert compose and swarm, name
    assert compose.groups() == swarm.groups()
    variable, ref = compose.groups()
    assert env_example()[variable] == ref
    assert re.search(r":v\d+\.\d+\.\d+", ref), f"{ref} is not pinned to a release"


@pytest.mark.parametrize("name", EXPORTERS)
def test_exporters_are_limited_and_unprivileged(name: str) -> None:
    for service in (COMPOSE[name], SWARM["services"][name]):
        assert service["deploy"]["resources"]["limits"]["memory"]
        assert service["read_only"] is True
        assert not service.get("privileged")


def test_swarm_exporters_use_the_app_stacks_secrets_and_backend() -> None:
    for name, secret in SWARM["secrets"].items():
        assert APP_STACK["secrets"][name] == secret
    assert SWARM["networks"]["backend"]["name"] == "${NOX_STACK_NAME:-nox}_backend"
    assert APP_STACK["networks"]["backend"]["attachable"] is True
    assert "REDIS_PASSWORD" not in SWARM["services"]["redis-exporter"].get("environment", {})


def test_prometheus_scrapes_every_exporter_by_its_service_name() -> None:
    config = yaml.safe_load((REPO / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    hosts = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            hosts |= {target.split(":")[0] for target in static["targets"]}
        for dns in job.get("dns_sd_configs", []):
            hosts |= set(dns["names"])
    assert set(EXPORTERS) <= hosts
