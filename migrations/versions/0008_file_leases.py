"""Leases on files being written, so `segdb gc --apply` can run beside live ingests.

Why: gc decided from one read of the catalog and deleted afterwards, so an ingest that reserved
or committed in between lost its files. Now every writer records the exact path of each file it
is about to create (with its host, pid and time) before creating it, and removes the lease in the
transaction that records the file; gc deletes a file only if, at that moment, neither a row nor a
live lease covers it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_leases",
        sa.Column("relative_path", sa.String(length=1024), nullable=False),
        sa.Column("writer_host", sa.String(length=255), nullable=False),
        sa.Column("writer_pid", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("relative_path", name="pk_file_leases"),
    )


def downgrade() -> None:
    op.drop_table("file_leases")
