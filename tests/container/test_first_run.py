"""A newcomer's first run, from a clean clone, with only the README's commands:

    uv run --no-dev nox dev-env
    bash scripts/airgap-images.sh >> .env      (no registry here: the README's air-gapped line)
    docker compose -f compose.yaml -f compose.dev.yaml up --wait

No secret is filled in by hand and nothing else is set, except what keeps this test apart
from others on a shared engine: the project name, the image tags and free published ports.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from tests.container.engine import HOST_CA, PREFIX, REPO, Compose, free_port, run

pytestmark = pytest.mark.container


def test_compose_dev_comes_up_healthy_from_a_clean_clone(
    compose_v2: None, base_images: dict[str, str], tmp_path: Path
) -> None:
    clone = tmp_path / "nox"
    run(["git", "clone", "-q", "--no-local", str(REPO), str(clone)])
    # uv makes the clone its own .venv (it ignores this test's VIRTUAL_ENV)
    made = run(["uv", "run", "--no-dev", "nox", "dev-env"], cwd=clone, timeout=600)
    assert "fresh random secrets" in made.stdout
    images = run(["bash", "scripts/airgap-images.sh"], cwd=clone, timeout=1800).stdout
    with (clone / ".env").open("a") as out:
        out.write(images)
    assert dotenv_values(clone / ".env")["PYTHON_IMAGE"] == base_images["PYTHON_IMAGE"]

    port, tag = free_port(), secrets.token_hex(4)
    isolation = {
        "API_PUBLISHED_PORT": str(port),
        "DEBUGPY_PUBLISHED_PORT": str(free_port()),
        "NOX_IMAGE": f"{PREFIX}/nox:first-run-{tag}",
        "NOX_DEV_IMAGE": f"{PREFIX}/nox:first-run-dev-{tag}",
        "POSTGRES_PITR_IMAGE": f"{PREFIX}/nox-postgres:first-run-{tag}",
        # a TLS-intercepting proxy on this host needs its CA in the build (no-op otherwise)
        **({"CA_BUNDLE": str(HOST_CA)} if HOST_CA.is_file() else {}),
    }
    # nothing from this process may fill in what .env must provide
    assert not {"NOX_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"} & set(os.environ)
    compose = Compose(
        f"{PREFIX}-first-{os.getpid()}", ["compose.yaml", "compose.dev.yaml"], isolation, clone
    )
    try:
        up = compose("up", "--wait", "--wait-timeout", "300", check=False, timeout=1500)
        if up.returncode != 0:
            logs = compose("logs", "--no-color", "--tail", "40", check=False).stdout
            pytest.fail(f"compose dev up failed:\n{up.stderr[-3000:]}\n{logs[-6000:]}")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        # the seed service made the dev admin's token with the generated secret key
        token = compose("logs", "--no-color", "--no-log-prefix", "seed").stdout.split()[-1]
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/v7/auth/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert me.status_code == 200, me.text
    finally:
        compose.down()
        run(
            [
                "docker",
                "image",
                "rm",
                isolation["NOX_IMAGE"],
                isolation["NOX_DEV_IMAGE"],
                isolation["POSTGRES_PITR_IMAGE"],
            ],
            check=False,
        )
