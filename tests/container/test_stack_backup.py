"""The compose backup service: `nox backup` inside the runtime image against the stack's data."""

from __future__ import annotations

import json

import pytest

from tests.container.conftest import Stack
from tests.container.engine import http_client

pytestmark = pytest.mark.container


def test_backup_service_dumps_the_stack_and_the_api_reports_it(stack: Stack) -> None:
    stack.token("backed-up@example.com")  # some data worth keeping
    ran = stack.compose(
        "--profile", "backup", "run", "--rm", "-T", "backup", "nox", "backup", check=False
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = stack.compose(
        "--profile",
        "backup",
        "run",
        "--rm",
        "-T",
        "--entrypoint",
        "sh",
        "backup",
        "-c",
        "cat /data/backups/*/manifest.json",
    )
    manifest = json.loads(listed.stdout)
    assert manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL) 15")
    with http_client(stack.port, None) as client:
        metrics = client.get("/metrics").text
    line = next(
        x for x in metrics.splitlines() if x.startswith("nox_backup_last_success_timestamp_seconds")
    )
    assert float(line.split()[-1]) > 0
