"""Every setting of Nox, in one pydantic-settings class (environment prefix ``NOX_``).

This module is the one place for limits, ports and environment names: compose, Swarm,
Kubernetes, the Dagger module and the docs are tested against it.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "NOX_"
API_PORT = 8000
EXECUTOR_PORT = 8001
PLACEHOLDER = "change-me"
# `nox dev-env` starts the secret key it generates with this; production refuses such a key
DEV_ENV_MARK = "nox-dev-"
PLACEHOLDER_SECRETS = frozenset({"", PLACEHOLDER, "changeme", "secret", "password", "dev"})
# Docker (compose, Swarm) and Kubernetes secrets arrive as files, one per setting, named like
# its variable in lower case: /run/secrets/nox_database_url holds NOX_DATABASE_URL. Read
# natively, after the environment (which wins) and before the defaults.
SECRETS_DIR = Path("/run/secrets")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SandboxBackend(StrEnum):
    bwrap = "bwrap"
    fallback = "fallback"
    remote = "remote"


class SandboxLimits(BaseModel):
    """Default and ceiling of every run limit; a request may only lower them."""

    cpu_s: float = 5.0
    wall_s: float = 10.0
    wall_max_s: float = 30.0
    memory_bytes: int = 256 * 1024 * 1024
    processes: int = 64
    file_size_bytes: int = 16 * 1024 * 1024
    open_files: int = 256
    output_bytes: int = 1024 * 1024
    network: bool = False
    code_bytes: int = 256 * 1024
    upload_bytes: int = 16 * 1024 * 1024


class LogFormat(StrEnum):
    auto = "auto"
    json = "json"
    human = "human"


class CgroupMode(StrEnum):
    auto = "auto"
    v1 = "v1"
    v2 = "v2"
    off = "off"


class QuotaLimits(BaseModel):
    """Per-user quotas and rate limits; admins may override per user."""

    requests_per_minute: int = 120
    concurrent_runs: int = 4
    daily_runs: int = 2000
    daily_cpu_s: float = 3600.0
    workspace_bytes: int = 256 * 1024 * 1024
    workspace_files: int = 10_000


class OIDCProviderSettings(BaseModel):
    """A generic OIDC issuer configured through discovery."""

    name: str
    display_name: str
    issuer: str
    client_id: str
    client_secret: SecretStr
    scopes: str = "openid email profile"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        secrets_dir=SECRETS_DIR,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The secrets directory only where it exists (a development machine has none, and
        pydantic-settings would warn about it on every start)."""
        found = getattr(file_secret_settings, "secrets_dir", None)
        present = found is not None and Path(found).is_dir()
        secrets = (file_secret_settings,) if present else ()
        return init_settings, env_settings, dotenv_settings, *secrets

    env: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = API_PORT
    workers: int = 1
    public_url: str = f"http://127.0.0.1:{API_PORT}"
    # Proxies whose X-Forwarded-For/-Proto are believed (client address in logs and audit).
    # Never "*" where clients reach the api directly: they could then forge their address.
    forwarded_allow_ips: str = "127.0.0.1"
    data_dir: Path = Path(".nox-data")
    log_level: str = "INFO"
    # auto: human-readable lines when stderr is a terminal, JSON lines otherwise.
    log_format: LogFormat = LogFormat.auto
    # Request limits applied before the application reads anything (app/request_limits.py).
    request_body_bytes: int = 64 * 1024  # bodies of routes that are not runs or uploads
    request_max_headers: int = 100
    request_body_timeout_s: float = 30.0

    secret_key: SecretStr = SecretStr(PLACEHOLDER)
    database_url: str = ""
    redis_url: str = ""

    sandbox_backend: SandboxBackend | None = None
    executor_url: str = f"http://127.0.0.1:{EXECUTOR_PORT}"
    executor_secret: SecretStr = SecretStr(PLACEHOLDER)
    executor_host: str = "127.0.0.1"
    executor_port: int = EXECUTOR_PORT
    # Kubernetes sets this on the executor (hostUsers: false): refuse to start in production
    # when the pod is in the node's user namespace anyway (app/sandbox/selfcheck.py).
    executor_require_userns: bool = False
    workspaces_dir: Path | None = None
    sandbox: SandboxLimits = SandboxLimits()
    # Whole-run limits from cgroups (docs/sandbox.md): the subtree the executor may write and the
    # group it keeps its runs under. Without one, only per-process limits hold, which production
    # refuses unless NOX_SANDBOX_ALLOW_PER_PROCESS_LIMITS accepts that weaker mode.
    sandbox_cgroup: CgroupMode = CgroupMode.auto
    sandbox_cgroup_root: Path = Path("/sys/fs/cgroup")
    sandbox_cgroup_parent: str = "nox"
    sandbox_allow_per_process_limits: bool = False
    # Admission (app/sandbox/admission.py): sandboxes run at once (0: one per CPU), slots kept
    # for users with nothing running, and the bounded wait before a 503 with Retry-After.
    sandbox_capacity: int = Field(default=0, ge=0)
    sandbox_reserved_slots: int = Field(default=1, ge=0)
    sandbox_queue_max: int = Field(default=64, ge=0)
    sandbox_queue_wait_s: float = Field(default=10.0, gt=0)
    quotas: QuotaLimits = QuotaLimits()
    # Asynchronous runs (app/jobs): how long a run's record, output and result are kept.
    run_results_keep_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    dev_login: bool | None = None
    admin_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    session_idle_s: int = 8 * 3600
    session_absolute_s: int = 7 * 24 * 3600
    oauth_state_ttl_s: int = 600
    login_starts_per_minute: int = 30  # per client address: each start stores a pending login
    auth_cache_ttl_s: float = 60.0

    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr = SecretStr("")
    microsoft_tenant: str = "common"
    github_client_id: str = ""
    github_client_secret: SecretStr = SecretStr("")
    oidc_providers: list[OIDCProviderSettings] = Field(default_factory=list)

    backup_dir: Path | None = None
    backup_keep: int = 7
    # optional AES-256-GCM encryption of backups: 32 random bytes, urlsafe base64
    # (python -c "import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())")
    backup_key: SecretStr = SecretStr("")
    backup_key_file: Path | None = None
    # point-in-time recovery through pgBackRest (app/backup/pitr.py renders its config)
    pitr_stanza: str = "nox"
    pitr_config_path: Path = Path("/etc/pgbackrest/pgbackrest.conf")
    pitr_repo_path: Path = Path("/var/lib/pgbackrest")
    pitr_pg_data: Path = Path("/var/lib/postgresql/data")
    pitr_pg_port: int = 5432
    pitr_pg_socket_path: Path = Path("/var/run/postgresql")
    # the PostgreSQL superuser pgBackRest connects as; empty = the OS user's name (postgres).
    # The containers' cluster has only POSTGRES_USER (nox): scripts/pitr/pgbackrest.conf
    pitr_pg_user: str = ""
    # the OS user owning the data directory: pgBackRest runs as it when Nox runs as root
    pitr_run_as: str = "postgres"
    # repository encryption at rest (pgBackRest repo1-cipher-pass); empty = unencrypted
    pitr_cipher_pass: SecretStr = SecretStr("")
    pitr_retention_full: int = 2
    pitr_retention_diff: int = 6
    # the RPO under low traffic: a WAL segment is archived at least this often
    pitr_archive_timeout_s: int = 60

    @field_validator("admin_emails", mode="before")
    @classmethod
    def _split_emails(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [e.strip().lower() for e in value.split(",") if e.strip()]
        return value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'nox.db').resolve()}"

    @property
    def effective_sandbox_backend(self) -> SandboxBackend:
        if self.sandbox_backend is not None:
            return self.sandbox_backend
        from app.sandbox.bwrap import bwrap_available  # local: settings must not import sandbox

        return SandboxBackend.bwrap if bwrap_available() else SandboxBackend.fallback

    @property
    def effective_sandbox_capacity(self) -> int:
        return self.sandbox_capacity or os.cpu_count() or 1

    @property
    def effective_workspaces_dir(self) -> Path:
        return self.workspaces_dir or self.data_dir / "workspaces"

    @property
    def dev_login_enabled(self) -> bool:
        return (not self.is_production) if self.dev_login is None else self.dev_login


class UnsafeSettingsError(ValueError):
    """Production settings that must be fixed before Nox starts; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("unsafe settings for NOX_ENV=production:\n- " + "\n- ".join(problems))


def production_problems(settings: Settings) -> list[str]:
    """Every reason ``settings`` is unsafe for production, each naming the setting to fix."""
    if not settings.is_production:
        return []
    problems: list[str] = []
    if settings.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
        problems.append(f"{ENV_PREFIX}SECRET_KEY is a placeholder: set a random value")
    if len(settings.secret_key.get_secret_value()) < 32:
        problems.append(f"{ENV_PREFIX}SECRET_KEY must be at least 32 characters")
    if settings.secret_key.get_secret_value().startswith(DEV_ENV_MARK):
        problems.append(
            f"{ENV_PREFIX}SECRET_KEY comes from a development .env (`nox dev-env`): "
            "set a production secret"
        )
    if not settings.database_url or settings.database_url.startswith("sqlite"):
        problems.append(f"{ENV_PREFIX}DATABASE_URL must point at PostgreSQL, not SQLite")
    if not settings.redis_url:
        problems.append(
            f"{ENV_PREFIX}REDIS_URL must be set: the in-process store is single-process"
        )
    backend = settings.sandbox_backend
    if backend is None or backend is SandboxBackend.fallback:
        problems.append(
            f"{ENV_PREFIX}SANDBOX_BACKEND must be 'remote' or 'bwrap': "
            "the fallback sandbox is unsafe"
        )
    if (
        backend is SandboxBackend.remote
        and settings.executor_secret.get_secret_value() in PLACEHOLDER_SECRETS
    ):
        problems.append(f"{ENV_PREFIX}EXECUTOR_SECRET is a placeholder: set a random value")
    if settings.dev_login:
        problems.append(f"{ENV_PREFIX}DEV_LOGIN must be off: development login is refused")
    return problems


def check_production(settings: Settings) -> None:
    problems = production_problems(settings)
    if problems:
        raise UnsafeSettingsError(problems)


def check_workers(settings: Settings) -> None:
    """The in-process store holds state for one process only."""
    if settings.workers > 1 and not settings.redis_url:
        raise UnsafeSettingsError(
            [f"{ENV_PREFIX}WORKERS={settings.workers} needs {ENV_PREFIX}REDIS_URL"]
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
