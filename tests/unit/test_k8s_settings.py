"""The manifests agree with the app: env names, ports, probe paths, documented Secrets."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import BaseModel

from app.main import create_app
from app.sandbox.factory import build_executor
from app.sandbox.local import LocalExecutor
from app.sandbox.server import create_executor_app
from app.settings import API_PORT, ENV_PREFIX, EXECUTOR_PORT, SandboxBackend, Settings
from tests.unit.k8s_manifests import (
    OVERLAYS,
    ROOT,
    build,
    container_env_names,
    containers,
    env_value,
    find,
    is_nox,
    namespace_of,
    nox_command,
    of_kind,
    pod_template,
    secret_refs,
    volume_secret_refs,
    workloads,
)

PORTS = {"serve": API_PORT, "executor": EXECUTOR_PORT}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def is_settings_env(name: str) -> bool:
    """``NOX_SANDBOX__CPU_S`` names ``Settings.sandbox.cpu_s``; pydantic-settings ignores typos."""
    if not name.startswith(ENV_PREFIX):
        return False
    model: type[BaseModel] = Settings
    parts = name.removeprefix(ENV_PREFIX).lower().split("__")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if depth < len(parts) - 1:
            nested = field.annotation
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                return False
            model = nested
    return True


def test_settings_env_check_knows_nested_and_unknown_names() -> None:
    assert is_settings_env("NOX_SANDBOX__CPU_S")
    assert is_settings_env("NOX_DATABASE_URL")
    assert not is_settings_env("NOX_DATABASE_URI")
    assert not is_settings_env("NOX_SANDBOX__CPU")
    assert not is_settings_env("DATABASE_URL")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_nox_env_name_is_a_settings_field(overlay: str) -> None:
    docs = build(overlay)
    for name, spec in workloads(docs):
        for container in filter(is_nox, containers(spec)):
            names = container_env_names(container, docs)
            unknown = sorted(n for n in names if not is_settings_env(n))
            assert unknown == [], f"{name}: not fields of app.settings.Settings"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servers_listen_on_the_settings_ports(overlay: str) -> None:
    docs = build(overlay)
    for name, spec in workloads(docs):
        for container in filter(is_nox, spec["containers"]):
            command = nox_command(container)
            if command not in PORTS:
                continue
            port = PORTS[command]
            assert [p["containerPort"] for p in container["ports"]] == [port], name
            variable = "NOX_PORT" if command == "serve" else "NOX_EXECUTOR_PORT"
            assert env_value(container, variable, docs) == str(port), name
            annotations = (
                find(docs, "Deployment", name.split("/")[1])["spec"]["template"]["metadata"]
            )["annotations"]
            assert annotations["prometheus.io/port"] == str(port), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_executor_url_use_the_settings_ports(overlay: str) -> None:
    docs = build(overlay)
    expected = {"api": API_PORT, "api-preview": API_PORT, "executor": EXECUTOR_PORT}
    for service, port in expected.items():
        assert [p["port"] for p in find(docs, "Service", service)["spec"]["ports"]] == [port]
    api = find(docs, "Deployment", "api-blue")["spec"]["template"]["spec"]["containers"][0]
    url = urlsplit(env_value(api, "NOX_EXECUTOR_URL", docs))
    sandbox = namespace_of(docs, "Service", "executor")
    assert (url.hostname, url.port) == (f"executor.{sandbox}.svc", EXECUTOR_PORT)


def documented_secrets() -> set[tuple[str, str]]:
    """Rows ``| `secret` | `key` |`` of the secrets table in docs/kubernetes.md."""
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    return set(re.findall(r"^\| `([a-z0-9-]+)` \| `([a-z0-9.-]+)` \|", text, re.MULTILINE))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_a_pod_reads_is_documented(overlay: str) -> None:
    used: set[tuple[str, str]] = set()
    docs = build(overlay)
    for _, spec in workloads(docs):
        used |= volume_secret_refs(spec)
        for container in containers(spec):
            used |= secret_refs(container)
    gateway = yaml.safe_load_all((ROOT / "k8s" / "examples" / "gateway.yaml").read_text())
    for listener in next(d for d in gateway if d["kind"] == "Gateway")["spec"]["listeners"]:
        used |= {(ref["name"], "tls.crt") for ref in listener["tls"]["certificateRefs"]}
    documented = documented_secrets()
    whole = {(name, "*") for name, _ in documented}  # a Secret mounted with all its keys
    assert used - documented - whole == set()


def answers(app: FastAPI, paths: set[str]) -> set[str]:
    """The paths an app routes (any status but 404/405), asked through its own lifespan."""

    async def ask() -> set[str]:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nox") as client:
                codes = {path: (await client.get(path)).status_code for path in paths}
        return {path for path, code in codes.items() if code not in {404, 405}}

    return asyncio.run(ask())


def probed_paths(overlay: str) -> dict[str, set[str]]:
    """nox command -> paths its probes and the Prometheus scrape annotation ask for."""
    wanted: dict[str, set[str]] = {"serve": set(), "executor": set()}
    for doc in of_kind(build(overlay), "Deployment"):
        template = pod_template(doc)
        for container in filter(is_nox, template["spec"]["containers"]):
            paths = wanted[nox_command(container)]
            paths |= {container[p]["httpGet"]["path"] for p in PROBES}
            paths.add(template["metadata"]["annotations"]["prometheus.io/path"])
    return wanted


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_scrapes_hit_paths_the_servers_serve(overlay: str, tmp_path: Path) -> None:
    wanted = probed_paths(overlay)
    settings = Settings(data_dir=tmp_path, sandbox_backend=SandboxBackend.fallback)
    executor = build_executor(settings)
    assert isinstance(executor, LocalExecutor)
    assert answers(create_app(settings), wanted["serve"]) == wanted["serve"]
    executor_app = create_executor_app(settings, executor)
    assert answers(executor_app, wanted["executor"]) == wanted["executor"]
