"""Curation history: curators, an append-only log of their labels, and frozen segmentations.

Why: labs curate the same ROIs together. Instead of one overwritten accept/reject
flag, every decision is an event (ROI, curator, label, note, time, the ROI revision
it was made against); the current state is derived from the log. The pipeline's own
decision of every existing ROI (rois.source_accepted) becomes its first event, by a
curator named 'pipeline:<source format>'.

On PostgreSQL a trigger refuses UPDATE and DELETE of events (deletes cascading from
a deleted segmentation excepted) and, when the archive asks for it, an event whose
curator is not the database role writing it. On both databases a trigger refuses
events for a frozen segmentation. Downgrading drops the history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

POSTGRES_FUNCTIONS = [
    """
    CREATE FUNCTION segdb_curation_events_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
            -- a delete cascading from its ROI or segmentation being deleted
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'segdb curation history is append-only: % of curation events is refused', TG_OP
            USING HINT = 'label again (segdb curate ...) to change a decision; the history keeps both';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION segdb_curation_events_check_insert() RETURNS trigger AS $$
    DECLARE
        who text;
        pipeline boolean;
    BEGIN
        IF EXISTS (SELECT 1 FROM curation_freezes WHERE segmentation_id = NEW.segmentation_id) THEN
            RAISE EXCEPTION 'segdb curation of segmentation % is frozen', NEW.segmentation_id;
        END IF;
        IF EXISTS (SELECT 1 FROM archive_settings
                   WHERE setting_name = 'curators_are_roles' AND setting_value = 'true') THEN
            SELECT curator_name, is_pipeline INTO who, pipeline FROM curators WHERE curator_id = NEW.curator_id;
            IF NOT pipeline AND who IS DISTINCT FROM current_user THEN
                RAISE EXCEPTION 'segdb curator % may not write as database role %', who, current_user
                    USING HINT = 'this archive requires curators to write as themselves: set SEGDB_CURATOR to your database role';
            END IF;
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER curation_events_append_only BEFORE UPDATE OR DELETE ON curation_events
    FOR EACH ROW EXECUTE FUNCTION segdb_curation_events_append_only()
    """,
    """
    CREATE TRIGGER curation_events_check_insert BEFORE INSERT ON curation_events
    FOR EACH ROW EXECUTE FUNCTION segdb_curation_events_check_insert()
    """,
]

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER curation_events_no_update BEFORE UPDATE ON curation_events
    BEGIN SELECT RAISE(ABORT, 'segdb curation history is append-only: UPDATE of curation events is refused'); END
    """,
    """
    CREATE TRIGGER curation_events_not_frozen BEFORE INSERT ON curation_events
    WHEN EXISTS (SELECT 1 FROM curation_freezes WHERE segmentation_id = NEW.segmentation_id)
    BEGIN SELECT RAISE(ABORT, 'segdb curation of this segmentation is frozen'); END
    """,
]


def upgrade() -> None:
    op.create_table('curators',
    sa.Column('curator_id', sa.Integer(), nullable=False),
    sa.Column('curator_name', sa.String(length=255), nullable=False),
    sa.Column('is_pipeline', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('curator_id', name=op.f('pk_curators')),
    sa.UniqueConstraint('curator_name', name=op.f('uq_curators__curator_name'))
    )
    op.create_table('curation_freezes',
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('frozen_by', sa.String(length=255), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['segmentation_id'], ['segmentations.segmentation_id'], name=op.f('fk_curation_freezes__segmentation_id__segmentations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segmentation_id', name=op.f('pk_curation_freezes'))
    )
    op.create_table('curation_events',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('roi_id', sa.Integer(), nullable=False),
    sa.Column('curator_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('roi_revision', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("label IN ('accepted', 'rejected', 'unsure', 'cleared')", name=op.f('ck_curation_events__known_label')),
    sa.CheckConstraint('roi_revision >= 1', name=op.f('ck_curation_events__positive_revision')),
    sa.ForeignKeyConstraint(['curator_id'], ['curators.curator_id'], name=op.f('fk_curation_events__curator_id__curators'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['roi_id'], ['rois.roi_id'], name=op.f('fk_curation_events__roi_id__rois'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['segmentation_id'], ['segmentations.segmentation_id'], name=op.f('fk_curation_events__segmentation_id__segmentations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_curation_events')),
    sa.UniqueConstraint('roi_id', 'roi_revision', name=op.f('uq_curation_events__roi_id_roi_revision'))
    )
    op.create_index(op.f('ix_curation_events__batch_id'), 'curation_events', ['batch_id'], unique=False)
    op.create_index(op.f('ix_curation_events__curator_id_event_id'), 'curation_events', ['curator_id', 'event_id'], unique=False)
    op.create_index(
        op.f('ix_curation_events__segmentation_id_roi_id_curator_id_event_id_label'),
        'curation_events',
        ['segmentation_id', 'roi_id', 'curator_id', 'event_id', 'label'],
        unique=False,
    )
    _import_pipeline_decisions()
    statements = POSTGRES_FUNCTIONS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def _import_pipeline_decisions() -> None:
    """Each ROI's source_accepted becomes revision 1 of its history, by 'pipeline:<format>'."""
    op.execute(
        """
        INSERT INTO curators (curator_name, is_pipeline, created_at)
        SELECT DISTINCT 'pipeline:' || s.source_format, true, CURRENT_TIMESTAMP
        FROM segmentations s JOIN rois r ON r.segmentation_id = s.segmentation_id
        WHERE r.source_accepted IS NOT NULL
        """
    )
    op.execute(
        """
        INSERT INTO curation_events (segmentation_id, roi_id, curator_id, label, note, roi_revision, batch_id, created_at)
        SELECT r.segmentation_id, r.roi_id, c.curator_id,
               CASE WHEN r.source_accepted THEN 'accepted' ELSE 'rejected' END,
               'imported from the pipeline at upgrade', 1, 'upgrade-0003', s.created_at
        FROM rois r
        JOIN segmentations s ON s.segmentation_id = r.segmentation_id
        JOIN curators c ON c.curator_name = 'pipeline:' || s.source_format
        WHERE r.source_accepted IS NOT NULL AND r.kind = 'cell'
        ORDER BY r.roi_id
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS curation_events_append_only ON curation_events")
        op.execute("DROP TRIGGER IF EXISTS curation_events_check_insert ON curation_events")
        op.execute("DROP FUNCTION IF EXISTS segdb_curation_events_append_only()")
        op.execute("DROP FUNCTION IF EXISTS segdb_curation_events_check_insert()")
    else:
        op.execute("DROP TRIGGER IF EXISTS curation_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS curation_events_not_frozen")
    op.drop_index(op.f('ix_curation_events__segmentation_id_roi_id_curator_id_event_id_label'), table_name='curation_events')
    op.drop_index(op.f('ix_curation_events__curator_id_event_id'), table_name='curation_events')
    op.drop_index(op.f('ix_curation_events__batch_id'), table_name='curation_events')
    op.drop_table('curation_events')
    op.drop_table('curation_freezes')
    op.drop_table('curators')
