"""The monitoring profile's exporters beside the compose stack (stand-in images from Debian's
packages): each reaches its target with the credentials compose gives it, and Redis runs
with the maxmemory and policy compose sets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.container.conftest import Stack
from tests.redis_manifests import deployments

EXPORTERS = {"postgres-exporter": 9187, "redis-exporter": 9121, "node-exporter": 9100}
FETCH = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=5).read().decode())"


def scrape(stack: Stack, service: str) -> dict[str, float]:
    """The exporter's first sample of each name (labels dropped), fetched from inside the
    backend network."""
    url = f"http://{service}:{EXPORTERS[service]}/metrics"
    text = stack.compose("exec", "-T", "api", "python", "-c", FETCH, url).stdout
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            samples.setdefault(series.split("{")[0], float(value))
    return samples


@pytest.fixture(scope="module")
def exporters(stack: Stack) -> Iterator[Stack]:
    monitoring = replace(stack, compose=replace(stack.compose, profiles=["monitoring"]))
    try:
        monitoring.compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", "60", *EXPORTERS)
        yield monitoring
    finally:
        # the stack's own `down` runs without the profile and would leave these behind
        monitoring.compose("rm", "--stop", "--force", *EXPORTERS, check=False)


def test_each_exporter_reaches_its_target(exporters: Stack) -> None:
    postgres = scrape(exporters, "postgres-exporter")
    assert postgres["pg_up"] == 1
    assert postgres["pg_settings_max_connections"] >= 100
    redis = scrape(exporters, "redis-exporter")
    assert redis["redis_up"] == 1
    assert redis["redis_evicted_keys_total"] == 0
    node = scrape(exporters, "node-exporter")
    assert node["node_memory_MemTotal_bytes"] > 0


def test_redis_runs_with_the_composed_memory_bound(exporters: Stack) -> None:
    [compose] = [d for d in deployments() if d.deployment == "compose"]
    redis = scrape(exporters, "redis-exporter")
    assert redis["redis_memory_max_bytes"] == compose.maxmemory_bytes
    assert redis["redis_config_maxmemory"] == compose.maxmemory_bytes
