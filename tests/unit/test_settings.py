"""Production settings refuse every unsafe default, each with a message naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from app.settings import (
    Settings,
    UnsafeSettingsError,
    check_workers,
    production_problems,
)

SAFE: dict[str, Any] = {
    "env": "production",
    "secret_key": "x" * 40,
    "database_url": "postgresql+asyncpg://nox@db/nox",
    "redis_url": "redis://cache:6379/0",
    "sandbox_backend": "remote",
    "executor_secret": "y" * 40,
    "dev_login": False,
}


def prod(**changes: Any) -> Settings:
    return Settings.model_validate({**SAFE, **changes})


def test_safe_production_settings_have_no_problems() -> None:
    assert production_problems(prod()) == []


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"secret_key": "change-me"}, "NOX_SECRET_KEY is a placeholder"),
        ({"secret_key": "short-but-not-placeholder"}, "NOX_SECRET_KEY must be at least 32"),
        ({"database_url": ""}, "NOX_DATABASE_URL must point at PostgreSQL"),
        ({"database_url": "sqlite+aiosqlite:///x.db"}, "NOX_DATABASE_URL must point at PostgreSQL"),
        ({"redis_url": ""}, "NOX_REDIS_URL must be set"),
        ({"sandbox_backend": "fallback"}, "NOX_SANDBOX_BACKEND must be 'remote' or 'bwrap'"),
        ({"sandbox_backend": None}, "NOX_SANDBOX_BACKEND must be 'remote' or 'bwrap'"),
        ({"executor_secret": "change-me"}, "NOX_EXECUTOR_SECRET is a placeholder"),
        ({"dev_login": True}, "NOX_DEV_LOGIN must be off"),
    ],
)
def test_each_unsafe_default_is_refused_by_name(changes: dict[str, Any], names: str) -> None:
    problems = production_problems(prod(**changes))
    assert any(names in p for p in problems), problems


def test_create_app_refuses_to_start_with_the_full_list() -> None:
    with pytest.raises(UnsafeSettingsError) as caught:
        create_app(Settings(env="production"))
    message = str(caught.value)
    for setting in ("NOX_SECRET_KEY", "NOX_DATABASE_URL", "NOX_REDIS_URL", "NOX_SANDBOX_BACKEND"):
        assert setting in message


def test_development_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url == ""
    assert settings.dev_login_enabled
    assert production_problems(settings) == []


def test_production_turns_development_login_off_by_default() -> None:
    assert prod(dev_login=None).dev_login_enabled is False


def test_several_workers_need_redis() -> None:
    with pytest.raises(UnsafeSettingsError, match="NOX_WORKERS=2 needs NOX_REDIS_URL"):
        check_workers(Settings(workers=2))
    check_workers(Settings(workers=2, redis_url="redis://x"))


def test_nested_limits_and_lists_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOX_SANDBOX__CPU_S", "2.5")
    monkeypatch.setenv("NOX_QUOTAS__CONCURRENT_RUNS", "1")
    monkeypatch.setenv("NOX_ADMIN_EMAILS", "A@x.test, b@x.test")
    settings = Settings()
    assert settings.sandbox.cpu_s == 2.5
    assert settings.quotas.concurrent_runs == 1
    assert settings.admin_emails == ["a@x.test", "b@x.test"]
