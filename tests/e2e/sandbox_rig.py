"""The escape-suite rig: Nox on the real bubblewrap backend, two users, helpers to run code.

Test modules import ``rig_fixture`` (the fixture named ``rig``) from here. Limits are lowered
(CPU 1 s, wall 5 s) so attempts that burn time end quickly; the rest is the shipped default.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.sandbox.bwrap import bwrap_problem
from app.settings import QuotaLimits, SandboxBackend, SandboxLimits, Settings
from tests.conftest import app_client, make_settings, make_token
from tests.prereq import require, require_binary

# Sandbox tests that burn whole cores or measure CPU time against the wall clock: one xdist
# worker runs them one after another, so they do not starve each other (CONTRIBUTING.md,
# "Parallel tests").
CPU_BOUND = pytest.mark.xdist_group("e2e-cpu-bound")

SUITE_LIMITS = SandboxLimits(cpu_s=1.0, wall_s=5.0)


@dataclass
class Rig:
    client: httpx.AsyncClient
    settings: Settings
    alice: str  # Bearer tokens
    bob: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def python(self, token: str, code: str, **extra: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v7/run/python", json={"code": code, **extra}, headers=self.auth(token)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def shell(self, token: str, script: str, **extra: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v7/run/shell", json={"script": script, **extra}, headers=self.auth(token)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def workspace(self, user_id: int) -> Path:
        return self.settings.effective_workspaces_dir / str(user_id)


def traversable_dir(prefix: str) -> Path:
    """A fresh directory the dedicated sandbox uid can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)  # traverse only, no listing
    return path


def require_bwrap() -> None:
    require_binary("bwrap", "apt-get install bubblewrap (or run .ci/install-sandbox.sh)")
    problem = bwrap_problem()
    require(problem == "", f"bubblewrap cannot sandbox here: {problem}")


@pytest.fixture(scope="module", name="rig")
async def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    require_bwrap()
    workspaces = traversable_dir("nox-sbx-ws-")
    settings = make_settings(
        tmp_path_factory.mktemp("sandbox"),
        sandbox_backend=SandboxBackend.bwrap,
        workspaces_dir=workspaces,
        sandbox=SUITE_LIMITS,
        quotas=QuotaLimits(requests_per_minute=100_000, concurrent_runs=16),
    )
    try:
        async with app_client(settings) as client:
            alice = await make_token(client, settings, "alice@example.test")
            bob = await make_token(client, settings, "bob@example.test")
            yield Rig(client=client, settings=settings, alice=alice, bob=bob)
    finally:
        shutil.rmtree(workspaces, ignore_errors=True)


async def user_id(rig: Rig, token: str) -> int:
    response = await rig.client.get("/api/v7/auth/me", headers=rig.auth(token))
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (runs put it in their argv)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    found.append(int(entry.name))
        except OSError:
            continue
    return found
