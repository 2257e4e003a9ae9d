"""What an NWB file for DANDI needs to say about a subject, a session and a plane.

Why: `segdb export nwb` writes NWB's Subject (sex, age or date of birth, genotype, strain),
the session's experimenters, description, lab and institution, and each ImagingPlane's
indicator, location, device and wavelengths. Every column is optional; segdb checks a value
when it is set.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = {
    "subjects": [
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("age", sa.String(length=64), nullable=True),
        sa.Column("date_of_birth", sa.DateTime(timezone=True), nullable=True),
        sa.Column("genotype", sa.Text(), nullable=True),
        sa.Column("strain", sa.String(length=255), nullable=True),
    ],
    "sessions": [
        sa.Column("experimenters", sa.JSON(), nullable=True),
        sa.Column("session_description", sa.Text(), nullable=True),
        sa.Column("lab", sa.String(length=255), nullable=True),
        sa.Column("institution", sa.String(length=255), nullable=True),
    ],
    "imaging_planes": [
        sa.Column("indicator", sa.String(length=255), nullable=True),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("excitation_nm", sa.Float(), nullable=True),
        sa.Column("emission_nm", sa.Float(), nullable=True),
        sa.Column("device", sa.String(length=255), nullable=True),
        sa.Column("plane_description", sa.Text(), nullable=True),
    ],
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            op.add_column(table, column)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): none of these columns is in an index or constraint.
    for table, columns in COLUMNS.items():
        for column in reversed(columns):
            op.drop_column(table, column.name)
