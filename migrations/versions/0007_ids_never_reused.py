"""SQLite never hands out a segmentation's, ROI's or any other visible id twice.

Why: SQLite gives a new row the largest id in use plus one, so deleting segmentation 34 (the
newest) and ingesting another made the new one 34 too, and a notebook's ``extractor(34)``
silently meant another segmentation. AUTOINCREMENT makes SQLite remember the largest id it
ever gave (in ``sqlite_sequence``). PostgreSQL's sequences already never reuse an id, so there
nothing changes.

SQLite can only add AUTOINCREMENT when a table is created, so each table is rebuilt with its
rows, indexes, constraints and triggers (batch mode; ``migrations/env.py`` turns foreign keys off while
it runs and checks them before committing). Ids deleted before this migration and larger than
every id left cannot be known; the counters start from the largest id each table holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Parents before children, as 0001 created them.
TABLES = (
    "subjects",
    "sessions",
    "fields_of_view",
    "imaging_planes",
    "array_files",
    "segmentations",
    "rois",
    "trace_series",
    "summary_images",
    "mask_sets",
    "curators",
    "curation_events",
    "matching_runs",
    "tracks",
)


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    for table in TABLES:
        # Dropping a table drops its triggers (curation's append-only history): keep and remake them.
        triggers = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name", (table,)
        ).scalars().all()
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass
        for trigger in triggers:
            bind.exec_driver_sql(trigger)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(False)
