"""Debian's PostgreSQL, Redis and node exporters next to a real PostgreSQL 15 and Redis,
scraped by a real Prometheus with the shipped scrape jobs and datastore alerts.

Only what a loopback test must change is changed: targets (127.0.0.1 and free ports instead
of service names), 1-second intervals and a 2-second ``for`` on RedisDown.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
import yaml

from tests.e2e.test_prometheus_live import poll, query, start, start_prometheus
from tests.prereq import require_binary
from tests.support.net import free_port
from tests.support.postgres import PostgresServer
from tests.support.processes import stop
from tests.support.redis import redis_server
from tests.unit.promql_names import (
    EXPORTER_PREFIXES,
    PROMETHEUS_DIR,
    dashboard_exprs,
    exporter_names,
)

pytestmark = pytest.mark.e2e
HINT = "run .ci/install-monitoring.sh (Debian prometheus-*-exporter packages)"
REDIS_MAXMEMORY = 64 * 1024 * 1024
# Exported by a streaming replica only; the single server here has none.
REPLICA_ONLY = {"pg_replication_lag"}


def prometheus_config(workdir: Path, targets: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "scrape_timeout": "1s"}
    config["global"]["evaluation_interval"] = "1s"
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "datastores.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "RedisDown":
                rule["for"] = "2s"
    (workdir / "datastores.yml").write_text(yaml.safe_dump(rules))
    config["rule_files"] = [str(workdir / "datastores.yml")]
    del config["alerting"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(targets) <= set(jobs), "a shipped scrape job is missing"
    config["scrape_configs"] = []
    for name, target in targets.items():
        job = {k: v for k, v in jobs[name].items() if not k.endswith("_sd_configs")}
        job["static_configs"] = [{"targets": [target]}]
        config["scrape_configs"].append(job)
    return config


def value(prom: str, promql: str) -> float:
    found = poll(promql, lambda: query(prom, promql))
    return float(found[0]["value"][1])


def test_prometheus_scrapes_each_exporter_and_pages_redis_down(
    tmp_path: Path, pg: PostgresServer
) -> None:
    prometheus = require_binary("prometheus", HINT)
    binaries = {
        job: require_binary(f"prometheus-{job}-exporter", HINT)
        for job in ("postgres", "redis", "node")
    }
    redis_binary = require_binary("redis-server", "apt-get install redis-server")
    pg.psql("CREATE DATABASE nox")
    ports = {job: free_port() for job in binaries}
    processes = []
    with redis_server(redis_binary) as redis:
        try:
            client = redis_client.Redis(port=redis.port)
            client.config_set("maxmemory", REDIS_MAXMEMORY)
            client.close()
            env = {k: v for k, v in os.environ.items() if not k.startswith("DATA_SOURCE")}
            dsn = f"postgresql://postgres@127.0.0.1:{pg.port}/nox?sslmode=disable"
            processes.append(
                start(
                    [binaries["postgres"], f"--web.listen-address=127.0.0.1:{ports['postgres']}"],
                    tmp_path / "postgres-exporter.log",
                    env | {"DATA_SOURCE_NAME": dsn},
                )
            )
            processes.append(
                start(
                    [
                        binaries["redis"],
                        "-redis.addr",
                        f"redis://127.0.0.1:{redis.port}",
                        "-web.listen-address",
                        f"127.0.0.1:{ports['redis']}",
                    ],
                    tmp_path / "redis-exporter.log",
                )
            )
            processes.append(
                start(
                    [binaries["node"], f"--web.listen-address=127.0.0.1:{ports['node']}"],
                    tmp_path / "node-exporter.log",
                )
            )
            targets = {job: f"127.0.0.1:{port}" for job, port in ports.items()}
            config = prometheus_config(tmp_path, targets)
            process, prom = start_prometheus(prometheus, config, tmp_path)
            processes.append(process)

            for job in targets:
                up = f'up{{job="{job}"}} == 1'
                poll(up, partial(query, prom, up))
            # specific series, with values we know
            assert value(prom, 'pg_up{job="postgres"}') == 1
            assert value(prom, 'pg_settings_max_connections{job="postgres"}') == 100
            assert value(prom, 'sum(pg_stat_activity_count{job="postgres", datname="nox"})') >= 1
            assert value(prom, 'redis_up{job="redis"}') == 1
            assert value(prom, 'redis_memory_max_bytes{job="redis"}') == REDIS_MAXMEMORY
            assert value(prom, 'redis_evicted_keys_total{job="redis"}') == 0
            assert value(prom, 'node_memory_MemTotal_bytes{job="node"}') > 0

            # every exporter series the rules and dashboards read is really served
            for job in targets:
                wanted = exporter_names(EXPORTER_PREFIXES[job]) - REPLICA_ONLY
                assert wanted, f"no shipped rule or panel reads the {job} exporter"
                served = {s["metric"]["__name__"] for s in query(prom, f'{{job="{job}"}}')}
                assert wanted - served == set(), job
            # Before an exporter's first scrape absent() holds, and RedisDown (for: 2s here)
            # may fire on a slow start; once every exporter answers, nothing stays firing.
            firing = 'ALERTS{alertname=~"Postgres.*|Redis.*", alertstate="firing"}'
            poll("no datastore alert firing", lambda: query(prom, firing) == [], timeout_s=15)
            # the dashboard's exporter panels answer (cAdvisor's aside: none runs here)
            panels = [e for e in dashboard_exprs() if any(f'job="{j}"' in e for j in targets)]
            assert len(panels) >= 8
            for expr in panels:
                poll(f"dashboard query {expr}", partial(query, prom, expr), 10)

            stopped = time.monotonic()
            redis.process.terminate()
            redis.process.wait(timeout=10)
            poll(
                "RedisDown firing",
                lambda: query(prom, 'ALERTS{alertname="RedisDown", alertstate="firing"}'),
            )
            print(f"\nRedisDown firing {time.monotonic() - stopped:.1f} s after Redis stopped")
        finally:
            for process in reversed(processes):
                stop(process)
