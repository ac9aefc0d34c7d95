"""A row per backup run: what the backup-stale alert and `nox_backup_*` metrics read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Backup(Base):
    __tablename__ = "backups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest_sha256: Mapped[str] = mapped_column(String(64), default="")
    alembic_revision: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(2000), default="")
    # "dump" (nox backup) or the pgBackRest type the PITR scheduler recorded: full, diff, incr
    kind: Mapped[str] = mapped_column(String(8), default="dump", server_default="dump")
