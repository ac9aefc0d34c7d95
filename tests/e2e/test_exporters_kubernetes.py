"""The exporters as the rendered Deployments run them (components/exporters), with Debian's
exporter binaries next to a real PostgreSQL and a real Redis that demand the password.

Taken from the rendered manifests: the commands, flags, environment and the redis-exporter
init container's script. Mapped for loopback: the mount paths to temporary directories, the
service names to 127.0.0.1 and free ports, the image's binary to Debian's.
"""

from __future__ import annotations

import os
import stat
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_client

from tests.e2e.test_exporters_live import HINT
from tests.e2e.test_prometheus_live import poll, start
from tests.prereq import require_binary
from tests.support.net import free_port, wait_for_port
from tests.support.postgres import PostgresServer
from tests.support.processes import stop
from tests.support.redis import redis_server
from tests.unit.k8s_manifests import build, find, pod_template

pytestmark = pytest.mark.e2e
PASSWORD = "0f3a9c" * 8  # hex, as docs/kubernetes.md generates it


def rendered(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(find(build("prod"), "Deployment", name))["spec"]
    return spec


def mapped(text: str, paths: dict[str, str]) -> str:
    for old, new in paths.items():
        text = text.replace(old, new)
    return text


def metric(port: int, name: str) -> list[float] | None:
    """[value] of a series once the exporter serves it (a list: 0 is a value too)."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return None
    for line in body.splitlines():
        if line.startswith(f"{name} "):
            return [float(line.split()[1])]
    return None


def test_postgres_exporter_logs_in_with_the_mounted_password_file(
    tmp_path: Path, pg: PostgresServer
) -> None:
    binary = require_binary("prometheus-postgres-exporter", HINT)
    pg.psql(f"CREATE ROLE nox LOGIN PASSWORD '{PASSWORD}'")
    pg.psql("CREATE DATABASE nox OWNER nox")
    # the role "nox" must now prove its password (the rest of the test server stays trust)
    hba = pg.data_dir / "pg_hba.conf"
    hba.write_text(f"host all nox 127.0.0.1/32 scram-sha-256\n{hba.read_text()}")
    pg.psql("SELECT pg_reload_conf()")
    spec = rendered("postgres-exporter")
    [container] = spec["containers"]
    [mount] = container["volumeMounts"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    port = free_port()
    paths = {
        mount["mountPath"]: str(secrets),
        "postgres:5432": f"127.0.0.1:{pg.port}",
        ":9187": f"127.0.0.1:{port}",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATA_SOURCE")}
    env |= {e["name"]: mapped(e["value"], paths) for e in container["env"]}
    args = [mapped(a, paths) for a in container["args"]]
    for password, expected in ((PASSWORD + "-wrong", 0.0), (PASSWORD, 1.0)):
        (secrets / "password").write_text(password)
        process = start([binary, *args], tmp_path / "postgres-exporter.log", env)
        try:
            wait_for_port(port)
            up = poll("pg_up", partial(metric, port, "pg_up"), 15)
            assert up == [expected], f"pg_up with the {'right' if expected else 'wrong'} password"
        finally:
            stop(process)


def test_redis_exporter_authenticates_with_the_file_its_init_container_writes(
    tmp_path: Path,
) -> None:
    binary = require_binary("prometheus-redis-exporter", HINT)
    spec = rendered("redis-exporter")
    [init] = spec["initContainers"]
    [container] = spec["containers"]
    secret, written = tmp_path / "secret", tmp_path / "run"
    secret.mkdir()
    written.mkdir()
    (secret / "password").write_text(PASSWORD)
    with redis_server(require_binary("redis-server", "apt-get install redis-server")) as redis:
        client = redis_client.Redis(port=redis.port)
        client.config_set("requirepass", PASSWORD)
        client.close()
        port = free_port()
        paths = {
            "/run/secrets/redis": str(secret),
            "/run/redis-exporter": str(written),
            "redis://redis:6379": f"redis://127.0.0.1:{redis.port}",
            ":9121": f"127.0.0.1:{port}",
        }
        [shell, flag, script] = init["command"]
        subprocess.run([shell, flag, mapped(script, paths)], check=True)
        passwords = written / "passwords.json"
        assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
        args = [mapped(a, paths) for a in container["args"]]
        process = start([binary, *args], tmp_path / "redis-exporter.log")
        try:
            wait_for_port(port)
            assert poll("redis_up", partial(metric, port, "redis_up"), 15) == [1.0]
        finally:
            stop(process)


@pytest.mark.parametrize("password", ['with"quote', "with\\backslash"])
def test_the_init_container_refuses_a_password_json_cannot_hold(
    tmp_path: Path, password: str
) -> None:
    [init] = rendered("redis-exporter")["initContainers"]
    (tmp_path / "password").write_text(password)
    paths = {"/run/secrets/redis": str(tmp_path), "/run/redis-exporter": str(tmp_path)}
    [shell, flag, script] = init["command"]
    done = subprocess.run([shell, flag, mapped(script, paths)], capture_output=True, text=True)
    assert done.returncode == 1 and "no quote or backslash" in done.stderr
    assert not (tmp_path / "passwords.json").exists()
