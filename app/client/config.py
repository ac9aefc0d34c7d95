"""Where the client finds Nox and its token: flags, then the environment, then a config file.

``NOX_URL`` and ``NOX_TOKEN``, or ``$XDG_CONFIG_HOME/nox/client.toml`` (``~/.config/...``)::

    url = "https://nox.example.com"
    token = "nox_..."

A config file holding a token must be readable by its owner only (as ssh insists for keys).
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from app.settings import API_PORT

URL_ENV = "NOX_URL"
TOKEN_ENV = "NOX_TOKEN"  # noqa: S105 (the variable's name, not a token)
CONFIG_ENV = "NOX_CLIENT_CONFIG"  # another config file than the default one
DEFAULT_URL = f"http://127.0.0.1:{API_PORT}"


class ConfigError(ValueError):
    """The client configuration cannot be used; the message says what to fix."""


def default_config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nox" / "client.toml"


def _read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    unknown = set(data) - {"url", "token"}
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)} (only url and token)")
    if "token" in data and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds a token but others can read it: chmod 600 {path}")
    return {k: str(v) for k, v in data.items()}


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str

    @classmethod
    def resolve(
        cls, url: str | None = None, token: str | None = None, path: Path | None = None
    ) -> ClientConfig:
        from_file = _read_file(path or default_config_path())
        return cls(
            url=(url or os.environ.get(URL_ENV) or from_file.get("url") or DEFAULT_URL).rstrip("/"),
            token=token or os.environ.get(TOKEN_ENV) or from_file.get("token") or "",
        )
