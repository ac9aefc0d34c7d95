"""`nox dev-env`: a development .env with fresh secrets, idempotent, refused by production."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from dotenv import dotenv_values

from app.cli import main
from app.settings import PLACEHOLDER_SECRETS, Settings, production_problems

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("NOX_SECRET_KEY", "NOX_EXECUTOR_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copy(REPO / ".env.example", tmp_path / ".env.example")
    return tmp_path


def dev_env(directory: Path) -> str:
    result = CliRunner().invoke(main, ["dev-env", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    return result.output


def test_fills_every_required_secret_and_keeps_the_rest_of_the_template(checkout: Path) -> None:
    assert "wrote" in dev_env(checkout)
    env = dotenv_values(checkout / ".env")
    template = dotenv_values(checkout / ".env.example")
    for name in SECRETS:
        assert template[name] == "" and env[name], name
    assert env.keys() == template.keys()
    assert {k: v for k, v in env.items() if template[k]} == {k: v for k, v in template.items() if v}
    assert stat.S_IMODE((checkout / ".env").stat().st_mode) == 0o600


def test_second_run_leaves_the_file_untouched(checkout: Path) -> None:
    dev_env(checkout)
    first = (checkout / ".env").read_bytes()
    assert "left unchanged" in dev_env(checkout)
    assert (checkout / ".env").read_bytes() == first


def test_an_existing_env_is_never_overwritten(checkout: Path) -> None:
    (checkout / ".env").write_text("NOX_SECRET_KEY=mine\n")
    dev_env(checkout)
    assert (checkout / ".env").read_text() == "NOX_SECRET_KEY=mine\n"


def test_each_run_makes_new_secrets(tmp_path: Path) -> None:
    values = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(REPO / ".env.example", tmp_path / name / ".env.example")
        dev_env(tmp_path / name)
        values.append(dotenv_values(tmp_path / name / ".env"))
    assert all(values[0][n] != values[1][n] for n in SECRETS)


def test_secrets_pass_the_length_checks_but_production_refuses_the_file(checkout: Path) -> None:
    dev_env(checkout)
    env = dotenv_values(checkout / ".env")
    key, executor = env["NOX_SECRET_KEY"] or "", env["NOX_EXECUTOR_SECRET"] or ""
    assert len(key) >= 32 and len(executor) >= 32
    assert key not in PLACEHOLDER_SECRETS and executor not in PLACEHOLDER_SECRETS
    assert all(c in "0123456789abcdef" for c in env["POSTGRES_PASSWORD"] or "x")  # URL-safe
    settings = Settings(
        env="production",
        secret_key=key,
        executor_secret=executor,
        database_url=f"postgresql+asyncpg://nox:{env['POSTGRES_PASSWORD']}@db/nox",
        redis_url=f"redis://:{env['REDIS_PASSWORD']}@redis:6379/0",
        sandbox_backend="remote",
        dev_login=False,
    )
    # the only objection: the key was made for development
    assert production_problems(settings) == [
        "NOX_SECRET_KEY comes from a development .env (`nox dev-env`): set a production secret"
    ]
