"""Secrets are read from files natively (pydantic-settings ``secrets_dir``): Docker and
Kubernetes mount one file per setting, so no entrypoint has to export them into the
environment (the Swarm stack's ``nox_*`` secrets are these files)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.settings import ENV_PREFIX, SECRETS_DIR, Settings, production_problems
from tests.unit.k8s_manifests import OVERLAYS, build, find, pod_template

ROOT = Path(__file__).resolve().parents[2]


def swarm_secret_files() -> list[str]:
    """The file names the Swarm stack mounts into the api and migrate services."""
    stack = yaml.safe_load((ROOT / "swarm" / "stack.yaml").read_text())
    names: list[str] = stack["services"]["api"]["secrets"]
    assert names == stack["services"]["migrate"]["secrets"]
    return names


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in swarm_secret_files():
        monkeypatch.delenv(name.upper(), raising=False)
    return tmp_path


def test_the_default_directory_is_where_docker_and_kubernetes_mount_secrets() -> None:
    assert Settings.model_config["secrets_dir"] == SECRETS_DIR == Path("/run/secrets")


def test_every_swarm_secret_file_is_a_setting_read_from_its_file(secrets: Path) -> None:
    values = {}
    for name in swarm_secret_files():
        assert name.startswith(ENV_PREFIX.lower()), name
        values[name] = f"{name}-value-{'z' * 32}"
        (secrets / name).write_text(values[name] + "\n")  # `printf '%s\n'` or an editor's
    settings = Settings(_secrets_dir=secrets)
    for name, value in values.items():
        field = getattr(settings, name.removeprefix(ENV_PREFIX.lower()))
        read = field.get_secret_value() if hasattr(field, "get_secret_value") else field
        assert read == value, name


def test_production_accepts_secrets_given_as_files(secrets: Path) -> None:
    files = {
        "nox_secret_key": "k" * 40,
        "nox_executor_secret": "e" * 40,
        "nox_database_url": "postgresql+asyncpg://nox:pw@postgres:5432/nox",
        "nox_redis_url": "redis://:pw@redis:6379/0",
    }
    for name, value in files.items():
        (secrets / name).write_text(value)
    settings = Settings(
        _secrets_dir=secrets, env="production", sandbox_backend="remote", dev_login=False
    )
    assert production_problems(settings) == []


def test_the_environment_wins_over_a_file(secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (secrets / "nox_database_url").write_text("postgresql+asyncpg://from-file/nox")
    monkeypatch.setenv("NOX_DATABASE_URL", "postgresql+asyncpg://from-env/nox")
    assert Settings(_secrets_dir=secrets).database_url == "postgresql+asyncpg://from-env/nox"


def test_a_missing_directory_is_no_error_and_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOX_DATABASE_URL", raising=False)
    # pytest turns warnings into errors here (pyproject filterwarnings)
    assert Settings(_secrets_dir=tmp_path / "absent").database_url == ""


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_reads_its_password_from_a_file_in_swarm_and_kubernetes(overlay: str) -> None:
    swarm = yaml.safe_load((ROOT / "swarm" / "stack.yaml").read_text())["services"]["postgres"]
    assert "POSTGRES_PASSWORD" not in swarm["environment"]
    assert swarm["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    spec = pod_template(find(build(overlay), "StatefulSet", "postgres"))["spec"]
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert "POSTGRES_PASSWORD" not in env
    path = Path(env["POSTGRES_PASSWORD_FILE"]["value"])
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    [volume] = [v for v in spec["volumes"] if v["name"] == mounts[str(path.parent)]]
    assert [i["path"] for i in volume["secret"]["items"]] == [path.name]
