"""Log collection on a real single-node swarm, deployed as an operator would: scripts/deploy.sh
with NOX_SWARM_OVERLAYS=logs runs the collector stack (swarm/logs.yaml) before the app stack;
the api (swarm/logs-shipping.yaml) and the executor container ship through Docker's syslog
driver; one request, sent through the edge with a chosen X-Request-ID, is found in both
services' files in the collector, filed by service and level.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.container.engine import wait_for
from tests.container.swarm_support import (
    SwarmStack,
    docker,
    free_port,
    make_test_ca,
    nox_image,
    stand_in_env,
    swarm_node,
)

pytestmark = [pytest.mark.container, pytest.mark.swarm]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SwarmStack]:
    with swarm_node():
        created = SwarmStack(
            tmp_path / "state",
            make_test_ca(tmp_path / "tls"),
            NOX_SWARM_OVERLAYS="logs",
            NOX_API_REPLICAS="1",
            LOGS_IMAGE=stand_in_env()["LOGS_IMAGE"],
            LOGS_PUBLISHED_PORT=str(free_port()),
        )
        try:
            yield created
        finally:
            created.remove()
            label = f"label=com.docker.stack.namespace={created.name}-logs"
            assert not docker("ps", "-aq", "--filter", label), "the collector stack is left"


def container_of(service: str) -> str:
    [cid] = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}").split()
    return cid


def collected(collector: str, request_id: str) -> list[dict[str, str]]:
    """Every collected line holding ``request_id``, with the file it is in (``_path``)."""
    found = docker("exec", collector, "grep", "-rF", request_id, "/var/log/nox", check=False)
    entries = []
    for line in found.splitlines():
        path, _, text = line.partition(":")
        entries.append({**json.loads(text), "_path": path.removeprefix("/var/log/nox/")})
    return entries


def outward_address() -> str:
    """This host's address on its default route (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, only a route is chosen
        return str(s.getsockname()[0])


def test_one_request_is_found_in_the_api_and_executor_files_of_the_swarm_collector(
    stack: SwarmStack,
) -> None:
    init = stack.deploy_sh("init-secrets")
    assert init.returncode == 0, init.stderr
    started = time.monotonic()
    deployed = stack.deploy_sh("deploy", "--image", nox_image())
    assert deployed.returncode == 0, deployed.stderr
    print(f"\ndeploy with the logs overlay: {time.monotonic() - started:.1f}s")

    api, collector = container_of(f"{stack.name}_api"), container_of(f"{stack.name}-logs_logs")
    [executor] = docker("ps", "-q", "--filter", f"label=nox.executor-of={stack.name}").split()
    token = docker("exec", api, "nox", "token", "create", "--email", "logs@example.test")
    request_id = uuid.uuid4().hex
    answer = httpx.post(
        f"https://127.0.0.1:{stack.port}/api/v7/run/python",
        json={"code": "print(6 * 7)"},
        headers={
            "Authorization": f"Bearer {token.splitlines()[-1]}",
            "X-Request-ID": request_id,
        },
        verify=stack.ca.context(),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stdout"] == "42\n"

    def both_services() -> bool:
        routes = {(e["service"], e.get("route")) for e in collected(collector, request_id)}
        return {("api", "/api/v7/run/python"), ("executor", "/v1/run")} <= routes

    wait_for(both_services, 20, "the request's api and executor lines in the collector")
    found = collected(collector, request_id)
    for entry in found:
        # filed by service and level, which are fields too; only this request's lines
        assert entry["_path"].startswith(f"{entry['service']}/{entry['level']}/"), entry
        assert entry["level"] == "info" and entry["request_id"] == request_id, entry
    assert any(e["service"] == "api" and e.get("status") == "200" for e in found), found

    # the executor ships as the api does, under its own tag
    log_config = json.loads(
        docker("inspect", "--format", "{{json .HostConfig.LogConfig}}", executor)
    )
    assert log_config["Type"] == "syslog" and log_config["Config"]["tag"] == "executor"
    # the collector answers on the host's loopback alone
    port = int(stack.env["LOGS_PUBLISHED_PORT"])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((outward_address(), port), timeout=5).close()
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
