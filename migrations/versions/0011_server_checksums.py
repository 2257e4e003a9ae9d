"""The object store's own checksum of each chunk file, for a fast verify of a bucket.

Why: on an S3-compatible bucket, `segdb verify` recomputes each file's sha256 by streaming the
whole object. The server already keeps a fingerprint of every object (its ETag), recorded here
as the upload returned it, so `segdb verify --fast` can compare fingerprints with one HEAD per
object and say that it did. Files in a folder, and files written before this revision, have
none (NULL) and are always hashed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("array_files", sa.Column("server_checksum", sa.String(length=80), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): the column is in no index or constraint.
    op.drop_column("array_files", "server_checksum")
