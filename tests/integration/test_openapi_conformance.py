"""Schemathesis, every check, fixed seed, against a real ``nox serve``: the document is the truth.

Excluded: the OAuth redirects (``/auth/login/{name}``, ``/auth/callback/{name}``), whose
answers depend on a live identity provider and a signed state cookie; they have their own
tests in tests/e2e/test_oauth_*.py. The legacy multipart ``POST /put`` runs in a second pass
with every check but ``negative_data_rejection``: multipart values are text, so the "number"
schemathesis sends as a deliberately wrong ``path`` (``1.35e+106``) is a valid file name,
and accepting it is right. Examples are capped so the tier stays within seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.nox_process import nox_command, nox_serve

pytestmark = pytest.mark.integration

EXAMPLES = "10"
SEED = "1"
OAUTH_REDIRECTS = r"^/api/v7/auth/(login|callback)/"
MULTIPART = r"^/put$"


def _run(url: str, token: str, tmp_path: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--no-color",
            *selection,
        ],
        cwd=tmp_path,  # its cache of found failures stays out of the repository
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _schemathesis(env: dict[str, str], tmp_path: Path) -> None:
    nox_command("migrate", env=env)
    token = nox_command(
        "token", "create", "--email", "conformance@example.test", "--admin", env=env
    )
    with nox_serve(env, tmp_path) as server:
        everything = _run(
            server.url,
            token,
            tmp_path,
            "--checks",
            "all",
            "--exclude-path-regex",
            f"({OAUTH_REDIRECTS})|({MULTIPART})",
        )
        multipart = _run(
            server.url,
            token,
            tmp_path,
            "--checks",
            "all",
            "--exclude-checks",
            "negative_data_rejection",
            "--include-path-regex",
            MULTIPART,
        )
    for result in (everything, multipart):
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "NOX_DATA_DIR": str(tmp_path / "data"),
        "NOX_SANDBOX_BACKEND": "fallback",
        "NOX_ENV": "test",
        "NOX_QUOTAS__REQUESTS_PER_MINUTE": "1000000",  # else most operations only see 429
        **extra,
    }


def test_schemathesis_all_checks_on_embedded_defaults(tmp_path: Path) -> None:
    _schemathesis(_env(tmp_path), tmp_path)


def test_schemathesis_all_checks_on_postgres_and_redis(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    _schemathesis(_env(tmp_path, NOX_DATABASE_URL=postgres_url, NOX_REDIS_URL=redis_url), tmp_path)
