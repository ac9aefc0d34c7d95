"""Compose files checked against app/settings.py and .env.example, through `compose config`.

No container starts here; these need only the Compose v2 binary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.settings import API_PORT, ENV_PREFIX, EXECUTOR_PORT, Settings
from tests.container.engine import REPO, Compose

COMPOSE_FILES = [
    "compose.yaml",
    "compose.dev.yaml",
    "compose.override.yaml",
    "compose.cgroups.yaml",
    "compose.logs.yaml",
]
REQUIRED = ["NOX_SECRET_KEY", "NOX_EXECUTOR_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD"]
SECRETS = {name: "s" * 40 for name in REQUIRED}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)")


def config(*files: str, env: dict[str, str], profiles: list[str] | None = None) -> dict[str, Any]:
    compose = Compose("nox-ctr-config", list(files), {**env, "COMPOSE_ENV_FILES": "/dev/null"})
    compose.profiles = profiles or []
    return dict(json.loads(compose("config", "--format", "json").stdout))


@pytest.fixture(scope="module")
def full(compose_v2: None) -> dict[str, Any]:
    return config("compose.yaml", env=SECRETS, profiles=["monitoring"])


def documented() -> set[str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z0-9_]+=", line)}


def test_every_nox_variable_is_a_settings_field() -> None:
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    used = set()
    for name in COMPOSE_FILES:
        # environment keys (``NOX_X: value``); ${NOX_IMAGE} & co. are compose's own variables
        used |= set(re.findall(r"(?m)^\s+(NOX_[A-Z0-9_]+):", (REPO / name).read_text()))
    assert used, "no NOX_ settings found in the compose files"
    assert used <= fields, f"not Settings fields: {sorted(used - fields)}"
    assert {
        v
        for v in documented()
        if v.startswith("NOX_")
        and v
        not in {
            "NOX_IMAGE",
            "NOX_DEV_IMAGE",
            "NOX_EDGE_IMAGE",
            "NOX_IMAGE_VERSION",
            "NOX_IMAGE_REVISION",
            "NOX_CGROUP_SUBTREE",  # a host path component for compose.cgroups.yaml's mounts
        }
    } <= fields


def test_env_example_documents_exactly_the_variables_compose_reads() -> None:
    read = set()
    for name in COMPOSE_FILES:
        read |= set(VARIABLE.findall((REPO / name).read_text()))
    assert read == documented(), {
        "undocumented": sorted(read - documented()),
        "documented but unused": sorted(documented() - read),
    }


@pytest.mark.parametrize("missing", REQUIRED)
def test_required_secrets_fail_fast(compose_v2: None, missing: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != missing}
    compose = Compose("nox-ctr-config", ["compose.yaml"], {**env, "COMPOSE_ENV_FILES": "/dev/null"})
    proc = compose("config", "-q", check=False)
    assert proc.returncode != 0 and missing in proc.stderr, proc.stderr


def test_ports_come_from_settings(full: dict[str, Any]) -> None:
    services = full["services"]
    assert [p["target"] for p in services["api"]["ports"]] == [API_PORT]
    env = services["api"]["environment"]
    assert env["NOX_EXECUTOR_URL"] == f"http://executor:{EXECUTOR_PORT}"
    assert services["executor"]["environment"]["NOX_EXECUTOR_PORT"] == str(EXECUTOR_PORT)
    assert str(EXECUTOR_PORT) in " ".join(services["executor"]["healthcheck"]["test"])


def test_only_the_api_is_published_and_the_backend_is_internal(full: dict[str, Any]) -> None:
    published = {name for name, svc in full["services"].items() if svc.get("ports")}
    # Grafana (monitoring profile) is published on loopback only
    assert published == {"api", "grafana"}
    assert all(p["host_ip"] == "127.0.0.1" for p in full["services"]["grafana"]["ports"])
    assert full["networks"]["backend"]["internal"] is True
    internal = ("postgres", "redis", "executor", "migrate", "prometheus", "alertmanager")
    exporters = ("postgres-exporter", "redis-exporter", "node-exporter", "cadvisor")
    for name in internal + exporters:
        assert list(full["services"][name]["networks"]) == ["backend"], name
    for name in exporters:
        assert full["services"][name].get("privileged") is not True, name
        assert full["services"][name]["read_only"] is True, name


def test_executor_is_sandboxed_but_not_privileged(full: dict[str, Any]) -> None:
    executor = full["services"]["executor"]
    assert executor["command"] == ["nox", "executor"]
    assert executor.get("privileged") is not True
    assert executor["user"] == "10001:10001"
    assert executor["read_only"] is True and executor["cap_drop"] == ["ALL"]
    options = executor["security_opt"]
    assert {"no-new-privileges:true", "systempaths=unconfined"} <= set(options)
    (seccomp,) = [o.split(":", 1)[1] for o in options if o.startswith("seccomp:")]
    profile = json.loads((REPO / seccomp).read_text())
    allowed = {
        n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]
    }
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert {"keyctl", "bpf", "ptrace", "unshare"} & allowed == {"unshare"}
    assert "NOX_DATABASE_URL" not in executor["environment"]
    assert "NOX_REDIS_URL" not in executor["environment"]


def test_api_waits_for_migrate_and_everything_is_limited(full: dict[str, Any]) -> None:
    services = full["services"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["nox", "migrate"]
    # one image, one build: `up --build` must never try to pull the local tag
    assert services["executor"]["build"] == services["migrate"]["build"] == services["api"]["build"]
    for name, svc in services.items():
        assert svc["deploy"]["resources"]["limits"]["memory"], name
        assert svc["restart"] in {"unless-stopped", "no"}, name
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"][0]["type"] == "volume", name


def test_dev_overlay_reloads_and_keeps_the_sandbox(compose_v2: None) -> None:
    dev = config("compose.yaml", "compose.dev.yaml", env=SECRETS)["services"]
    api = dev["api"]
    assert api["build"]["dockerfile"] == "Dockerfile.dev" and "target" not in api["build"]
    assert dev["migrate"]["build"] == dev["seed"]["build"] == api["build"]
    assert "--reload" in api["command"] and "nox_dev:create_app" in api["command"]
    assert any(v["target"] == "/app/app" for v in api["volumes"])
    assert {p["target"] for p in api["ports"]} == {API_PORT, 5678}
    assert api["environment"]["NOX_DEV_LOGIN"] == "true"
    assert dev["seed"]["command"][:3] == ["nox", "token", "create"]
    # dev mode must not weaken the executor
    assert (
        dev["executor"]["security_opt"]
        == config("compose.yaml", env=SECRETS)["services"]["executor"]["security_opt"]
    )


def test_monitoring_profile_mounts_the_repository_configs(full: dict[str, Any]) -> None:
    # No Prometheus/Grafana image can be pulled here: the profile is proven by `config` and by
    # the files it mounts (promtool and the monitoring tests check their content).
    binds = {
        (name, volume["target"]): volume["source"]
        for name in ("prometheus", "alertmanager", "grafana")
        for volume in full["services"][name]["volumes"]
        if volume["type"] == "bind"
    }
    assert binds, "the monitoring services mount no configuration"
    for source in binds.values():
        assert Path(source).exists(), source  # `config` prints absolute paths
    prometheus = binds[("prometheus", "/etc/prometheus")]
    assert (REPO / prometheus / "prometheus.yml").is_file()
    alertmanager = binds[("alertmanager", "/etc/alertmanager")]
    assert (REPO / alertmanager / "alertmanager.yml").is_file()


def test_logs_overlay_ships_api_and_executor_to_the_loopback_collector(compose_v2: None) -> None:
    services = config("compose.yaml", "compose.logs.yaml", env=SECRETS)["services"]
    [published] = services["logs"]["ports"]
    assert published["host_ip"] == "127.0.0.1" and published["target"] == 5514
    for name in ("api", "executor"):
        logging = services[name]["logging"]
        assert logging["driver"] == "syslog", name
        assert logging["options"] == {
            "syslog-address": f"tcp://127.0.0.1:{published['published']}",
            "syslog-format": "rfc5424",
            "tag": name,
        }
        assert services[name]["depends_on"]["logs"]["condition"] == "service_healthy"
    logs = services["logs"]
    assert logs["environment"]["LOGS_RETENTION_DAYS"] == "14"
    assert logs["entrypoint"] == ["sh", "/etc/syslog-ng/collector.sh"]
    assert logs["read_only"] is True
    # the collector runs the repository's configuration and entrypoint (Swarm runs the same)
    mounted = {v["target"]: Path(v["source"]) for v in logs["volumes"] if v["type"] == "bind"}
    assert mounted == {
        "/etc/syslog-ng/nox.conf": REPO / "monitoring" / "logs" / "syslog-ng.conf",
        "/etc/syslog-ng/collector.sh": REPO / "monitoring" / "logs" / "collector.sh",
    }
