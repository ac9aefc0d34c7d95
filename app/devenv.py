"""A development ``.env`` for compose, with fresh random secrets: ``nox dev-env``.

compose.yaml refuses to start while its secrets are empty (``${VAR:?}``), which stopped every
first run at hand-filling four values. This writes them, once:
- it never overwrites: an existing file is left as it is (exclusive create, mode 0600);
- every other line comes from .env.example, so the file documents itself;
- the secrets are long enough for the production checks, but NOX_SECRET_KEY carries
  DEV_ENV_MARK, which ``NOX_ENV=production`` refuses (app/settings.py): a development
  file can never end up serving production by accident;
- hex for the passwords: they sit inside the database and Redis URLs unescaped.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.settings import DEV_ENV_MARK

TEMPLATE = ".env.example"


def fresh_secrets() -> dict[str, str]:
    return {
        "NOX_SECRET_KEY": DEV_ENV_MARK + secrets.token_urlsafe(48),
        "NOX_EXECUTOR_SECRET": secrets.token_urlsafe(48),
        "POSTGRES_PASSWORD": secrets.token_hex(24),
        "REDIS_PASSWORD": secrets.token_hex(24),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_hex(16),
    }


def render(template: str, values: dict[str, str]) -> str:
    """The template with ``NAME=`` lines of ``values`` filled in; nothing else changes."""
    lines = []
    for line in template.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name in values and not value:
            line = f"{name}={values[name]}"
        lines.append(line)
    missing = set(values) - {ln.partition("=")[0] for ln in lines}
    lines += [f"{name}={values[name]}" for name in sorted(missing)]
    return "\n".join(lines) + "\n"


def write_dev_env(directory: Path) -> Path | None:
    """Create ``directory/.env``; None when one exists already (it is never touched)."""
    target = directory / ".env"
    if target.exists():
        return None
    template = (directory / TEMPLATE).read_text()
    text = render(template, fresh_secrets())
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created between the check and here: still never overwritten
        return None
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return target
