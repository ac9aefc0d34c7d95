"""Revocations survive restores: what the database being replaced has revoked stays revoked.

A backup (logical or point-in-time) predates some revocations: an API token revoked or a user
deactivated after it was taken would work again once restored. Before replacing a database,
the restore reads those facts from it (token hashes with their revocation time, inactive
users' emails); afterwards it applies them to the restored one. Tokens and users created after
the restore point are gone with the restore anyway. When the database being replaced cannot
be read (lost host), nothing can be carried and the restore says so: docs/operations.md tells
the operator what to revoke by hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import make_engine


@dataclass
class Revocations:
    tokens: dict[str, str] = field(default_factory=dict)  # token sha256 -> revoked_at (ISO)
    inactive_emails: list[str] = field(default_factory=list)
    unreadable: str = ""  # why nothing could be read, when so

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Revocations:
        return cls(**json.loads(path.read_text()))


async def read(database_url: str) -> Revocations:
    """The revocations recorded in ``database_url``; empty with a reason when unreadable."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            tokens = await conn.execute(
                text("SELECT token_hash, revoked_at FROM api_tokens WHERE revoked_at IS NOT NULL")
            )
            users = await conn.execute(text("SELECT email FROM users WHERE NOT is_active"))
            return Revocations(
                tokens={h: _iso(at) for h, at in tokens},
                inactive_emails=[e for (e,) in users if e],
            )
    except (SQLAlchemyError, OSError) as exc:
        return Revocations(unreadable=f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await engine.dispose()


async def apply(database_url: str, revocations: Revocations) -> int:
    """Re-apply ``revocations`` to the restored database; the number of rows changed."""
    changed = 0
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for token_hash, at in revocations.tokens.items():
                result = await conn.execute(
                    text(
                        "UPDATE api_tokens SET revoked_at = :at"
                        " WHERE token_hash = :h AND revoked_at IS NULL"
                    ),
                    {"at": datetime.fromisoformat(at), "h": token_hash},
                )
                changed += result.rowcount
            for email in revocations.inactive_emails:
                result = await conn.execute(
                    text("UPDATE users SET is_active = false WHERE email = :e AND is_active"),
                    {"e": email},
                )
                changed += result.rowcount
    finally:
        await engine.dispose()
    return changed


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
