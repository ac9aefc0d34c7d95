"""swarm/stack.yaml and the deploy tooling, checked against app/settings.py."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import API_PORT, ENV_PREFIX, EXECUTOR_PORT, Settings
from deploy import executor

REPO = Path(__file__).resolve().parents[2]
STACK: dict[str, Any] = yaml.safe_load((REPO / "swarm" / "stack.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = STACK["services"]
FIELDS = set(Settings.model_fields)


def env_names(service: dict[str, Any]) -> set[str]:
    return {k for k in service.get("environment", {}) if k.startswith(ENV_PREFIX)}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_nox_variable_is_a_setting(name: str) -> None:
    unknown = {
        v for v in env_names(SERVICES[name]) if v.removeprefix(ENV_PREFIX).lower() not in FIELDS
    }
    assert not unknown


def test_secret_files_are_read_by_the_settings_and_the_postgres_image() -> None:
    nox_secrets = {s for s in STACK["secrets"] if s.startswith("nox_")}
    assert {s.removeprefix("nox_") for s in nox_secrets} <= FIELDS
    for name in ("api", "migrate"):  # no wrapper exports them: the settings read the files
        assert SERVICES[name]["command"][0] == "nox", name
        assert "configs" not in SERVICES[name], name
    postgres = SERVICES["postgres"]
    assert "entrypoint" not in postgres
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert postgres["secrets"] == ["postgres_password"]
    assert not (REPO / "swarm" / "secrets-env.sh").exists()
    init = (REPO / "deploy" / "__main__.py").read_text()
    for secret in STACK["secrets"].values():
        suffix = secret["name"].split("}-", 1)[1]
        assert f'"{suffix}"' in init, f"init-secrets does not create {suffix}"


def test_ports_match_the_settings_constants() -> None:
    env = SERVICES["api"]["environment"]
    assert env["NOX_EXECUTOR_URL"].endswith(f":{EXECUTOR_PORT}")
    assert SERVICES["edge"]["environment"]["EDGE_UPSTREAM"] == f"api:{API_PORT}"
    assert f"127.0.0.1:{EXECUTOR_PORT}/healthz" in executor.HEALTH_CMD


def test_api_rolls_start_first_and_rolls_back_by_itself() -> None:
    deploy = SERVICES["api"]["deploy"]
    assert deploy["endpoint_mode"] == "dnsrr"  # no IPVS: no VIPs on this kernel
    assert int(re.sub(r"\$\{NOX_API_REPLICAS:-(\d+)\}", r"\1", str(deploy["replicas"]))) >= 2
    update = deploy["update_config"]
    assert (update["order"], update["failure_action"]) == ("start-first", "rollback")
    assert update["monitor"] and update["max_failure_ratio"] == 0
    assert deploy["rollback_config"]["order"] == "start-first"
    assert "interval" in SERVICES["api"]["healthcheck"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_limited_and_none_is_privileged(name: str) -> None:
    service = SERVICES[name]
    assert service["deploy"]["resources"]["limits"]["memory"]
    assert not service.get("privileged")
    if service.get("image", "").startswith("${NOX_"):
        assert service["read_only"] and service["cap_drop"] == ["ALL"]


def test_only_the_edge_publishes_a_port_and_in_host_mode() -> None:
    published = {n: s["ports"] for n, s in SERVICES.items() if s.get("ports")}
    assert list(published) == ["edge"]
    assert all(p["mode"] == "host" for p in published["edge"])


def test_the_api_trusts_forwarded_headers_only_from_the_edge_network() -> None:
    trusted = SERVICES["api"]["environment"]["NOX_FORWARDED_ALLOW_IPS"]
    subnet = STACK["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert trusted == subnet and "*" not in trusted
    assert not STACK["networks"]["edge"].get("attachable")  # nothing else can join it
    members = {n for n, s in SERVICES.items() if "edge" in s.get("networks", [])}
    assert members == {"api", "edge"}


def test_the_edge_key_is_readable_by_the_proxy_user_alone() -> None:
    secrets = {s["target"]: s for s in SERVICES["edge"]["secrets"]}
    key = secrets["edge.pem.key"]
    assert key["mode"] == 0o400 and key["uid"] != "0"
    assert "edge.pem" in (REPO / "swarm" / "haproxy.cfg").read_text()


def test_the_executor_container_gets_the_sandbox_options_swarm_cannot_express() -> None:
    args = executor.run_args(stack="s", image="i", name="n", env_file=Path("/x"))
    joined = " ".join(args)
    assert "seccomp=" in joined and executor.SECCOMP.exists()
    assert "systempaths=unconfined" in joined and "--privileged" not in joined
    assert "--cap-drop ALL" in joined and "--read-only" in joined
    assert "NOX_DATABASE_URL" not in joined and "NOX_REDIS_URL" not in joined
    # nothing bind-mounted from the deploying machine: the engine may be remote (ssh://)
    assert [v for f, v in itertools.pairwise(args) if f == "--volume"] == [
        "s_workspaces:/workspaces"
    ]
    assert "executor" not in SERVICES  # not a Swarm service: see the stack file's comment
