"""Curation tags: free labels ("L2/3", "interneuron") on ROIs, in the same append-only history.

Why: accept/reject/unsure says whether a ROI is a cell, not what kind of cell it is; labs sort
ROIs into their own groups and want those kept, attributed and undoable like labels. A tag event
is a curation event whose label is 'tagged' or 'untagged' and whose new ``tag`` column names the
tag; every accept/reject/unsure/cleared event keeps ``tag`` NULL (the widened ``known_label``
check holds both rules). Tag events take the ROI's next revision, so the uniqueness of
(roi, revision), the freeze, the role checks and the revisions the PostgreSQL trigger of 0009
sets all apply to them unchanged: that trigger reads no label, so it is left as it is.

SQLite rebuilds the table (batch mode), keeping AUTOINCREMENT (0007) and remaking the table's
triggers, which the rebuild drops. Downgrading drops the tag events (0009 cannot hold them) and
renumbers the revisions of the ROIs that had any, so that a ROI's revision is again the count of
its events, as 0009's readers take it to be.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "curation_events"
KNOWN_LABEL = "ck_curation_events__known_label"
LABELS_0003 = "label IN ('accepted', 'rejected', 'unsure', 'cleared')"
LABELS_AND_TAGS = (
    "(label IN ('accepted', 'rejected', 'unsure', 'cleared') AND tag IS NULL) "
    "OR (label IN ('tagged', 'untagged') AND tag IS NOT NULL)"
)
TAG_INDEX = "ix_curation_events__segmentation_id_tag_roi_id_curator_id_event_id_label"
TAG_INDEX_COLUMNS = ["segmentation_id", "tag", "roi_id", "curator_id", "event_id", "label"]
TAG_EVENTS = sa.text("tag IS NOT NULL")
# Far above any revision a ROI reaches: renumbered revisions pass through it, so no two rows of a
# ROI ever hold the same revision in between.
REVISION_OFFSET = 1_000_000_000


def upgrade() -> None:
    with _triggers_kept(), op.batch_alter_table(TABLE, table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("tag", sa.String(length=255), nullable=True))
        batch.drop_constraint(op.f(KNOWN_LABEL), type_="check")
        batch.create_check_constraint(op.f(KNOWN_LABEL), sa.text(LABELS_AND_TAGS))
    # Tag events only: the index stays small beside the labels it leaves out.
    op.create_index(op.f(TAG_INDEX), TABLE, TAG_INDEX_COLUMNS, unique=False, sqlite_where=TAG_EVENTS,
                    postgresql_where=TAG_EVENTS)


def downgrade() -> None:
    op.drop_index(op.f(TAG_INDEX), table_name=TABLE)
    with _triggers_kept(), _append_only_lifted():
        _drop_tag_events()
        with op.batch_alter_table(TABLE, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.drop_constraint(op.f(KNOWN_LABEL), type_="check")
            batch.drop_column("tag")
            batch.create_check_constraint(op.f(KNOWN_LABEL), sa.text(LABELS_0003))


class _triggers_kept:
    """On SQLite, the table's triggers are saved, dropped while the block runs, and made again after it
    (a batch rebuild drops them, and the append-only trigger would refuse the renumbering)."""

    def __enter__(self) -> None:
        bind = op.get_bind()
        self.saved = []
        if bind.dialect.name == "sqlite":
            self.saved = bind.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name", (TABLE,)
            ).all()
            for name, _ in self.saved:
                bind.exec_driver_sql(f'DROP TRIGGER "{name}"')

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            for _, sql in self.saved:
                op.get_bind().exec_driver_sql(sql)


class _append_only_lifted:
    """On PostgreSQL, the append-only trigger is off while the block runs (as the table's owner), so
    the downgrade can drop tag events and renumber revisions; SQLite's is dropped by _triggers_kept."""

    def __enter__(self) -> None:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER curation_events_append_only")

    def __exit__(self, *exc) -> None:
        if exc[0] is None and op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER curation_events_append_only")


def _drop_tag_events() -> None:
    """Delete the tag events, then number the remaining events of each ROI that had one 1, 2, … again."""
    bind = op.get_bind()
    tagged = sa.text(f"SELECT DISTINCT roi_id FROM {TABLE} WHERE tag IS NOT NULL")
    rows = bind.execute(sa.text(
        f"SELECT event_id, roi_id FROM {TABLE} WHERE tag IS NULL AND roi_id IN ({tagged.text}) "
        "ORDER BY roi_id, roi_revision"
    )).all()
    bind.execute(sa.text(f"DELETE FROM {TABLE} WHERE tag IS NOT NULL"))
    counts: dict[int, int] = defaultdict(int)
    numbered = []
    for event_id, roi_id in rows:
        counts[roi_id] += 1
        numbered.append({"event_id": event_id, "revision": counts[roi_id]})
    if not numbered:
        return
    renumber = sa.text(f"UPDATE {TABLE} SET roi_revision = :revision WHERE event_id = :event_id")
    bind.execute(renumber, [{**row, "revision": row["revision"] + REVISION_OFFSET} for row in numbered])
    bind.execute(renumber, numbered)
