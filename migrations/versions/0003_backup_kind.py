"""backups.kind: 'dump' (nox backup) or the pgBackRest type (full, diff, incr)

The PITR scheduler (scripts/pitr/nox-pitr-backup) records each pgBackRest backup here, so
the api exports its age (nox_pitr_backup_last_success_timestamp_seconds) from the same
table as the logical dump's.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # additive, with a server default: the previous release keeps inserting its dumps
    op.add_column(
        "backups",
        sa.Column("kind", sa.String(length=8), server_default="dump", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("backups", "kind")
