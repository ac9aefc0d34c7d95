"""backups: one row per backup run (nox_backup_last_success_timestamp_seconds reads it)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # additive only: the previous release keeps working on this schema (rolling deploys)
    op.create_table(
        "backups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("alembic_revision", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backups")),
        sa.UniqueConstraint("name", name=op.f("uq_backups_name")),
    )
    op.create_index(op.f("ix_backups_finished_at"), "backups", ["finished_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_backups_finished_at"), table_name="backups")
    op.drop_table("backups")
