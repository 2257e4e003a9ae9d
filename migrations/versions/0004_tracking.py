"""Cross-session tracking: registrations, matching runs, pair scores, tracks; ROI positions per field of view.

Why: following a cell across sessions needs each plane placed in its field of view's
reference frame (plane_registrations, with imaging_planes.fov_transform), every
matching run kept with its method and parameters (matching_runs), the scored pairs
it linked (roi_matches) and the tracks it built (tracks, track_members). Runs never
change once written, so a track id keeps its meaning. ROIs get their field of view
and their centroid in its frame (rois.fov_id, fov_x_um, fov_y_um) so position
queries across sessions use one index. Existing planes without a field of view get
one per subject and plane name, as ingest now does by default.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matching_runs',
    sa.Column('matching_run_id', sa.Integer(), nullable=False),
    sa.Column('fov_id', sa.Integer(), nullable=False),
    sa.Column('plane_name', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=255), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('num_sessions', sa.Integer(), nullable=False),
    sa.Column('num_tracks', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['fov_id'], ['fields_of_view.fov_id'], name=op.f('fk_matching_runs__fov_id__fields_of_view'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('matching_run_id', name=op.f('pk_matching_runs'))
    )
    op.create_index(op.f('ix_matching_runs__fov_id'), 'matching_runs', ['fov_id'], unique=False)

    op.create_table('plane_registrations',
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('reference_plane_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('transform', sa.JSON(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('overlap', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['plane_id'], ['imaging_planes.plane_id'], name=op.f('fk_plane_registrations__plane_id__imaging_planes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reference_plane_id'], ['imaging_planes.plane_id'], name=op.f('fk_plane_registrations__reference_plane_id__imaging_planes'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('plane_id', name=op.f('pk_plane_registrations'))
    )
    op.create_table('tracks',
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('matching_run_id', sa.Integer(), nullable=False),
    sa.Column('num_sessions', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['matching_run_id'], ['matching_runs.matching_run_id'], name=op.f('fk_tracks__matching_run_id__matching_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('track_id', name=op.f('pk_tracks'))
    )
    op.create_index(op.f('ix_tracks__matching_run_id'), 'tracks', ['matching_run_id'], unique=False)

    op.create_table('roi_matches',
    sa.Column('matching_run_id', sa.Integer(), nullable=False),
    sa.Column('roi_a_id', sa.Integer(), nullable=False),
    sa.Column('roi_b_id', sa.Integer(), nullable=False),
    sa.Column('distance_um', sa.Float(), nullable=False),
    sa.Column('iou', sa.Float(), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['matching_run_id'], ['matching_runs.matching_run_id'], name=op.f('fk_roi_matches__matching_run_id__matching_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['roi_a_id'], ['rois.roi_id'], name=op.f('fk_roi_matches__roi_a_id__rois'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['roi_b_id'], ['rois.roi_id'], name=op.f('fk_roi_matches__roi_b_id__rois'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('matching_run_id', 'roi_a_id', 'roi_b_id', name=op.f('pk_roi_matches'))
    )
    op.create_index(op.f('ix_roi_matches__roi_b_id'), 'roi_matches', ['roi_b_id'], unique=False)

    op.create_table('track_members',
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('roi_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('matching_run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['matching_run_id'], ['matching_runs.matching_run_id'], name=op.f('fk_track_members__matching_run_id__matching_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['roi_id'], ['rois.roi_id'], name=op.f('fk_track_members__roi_id__rois'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.session_id'], name=op.f('fk_track_members__session_id__sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['track_id'], ['tracks.track_id'], name=op.f('fk_track_members__track_id__tracks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('track_id', 'roi_id', name=op.f('pk_track_members')),
    sa.UniqueConstraint('matching_run_id', 'roi_id', name=op.f('uq_track_members__matching_run_id_roi_id')),
    sa.UniqueConstraint('track_id', 'session_id', name=op.f('uq_track_members__track_id_session_id'))
    )
    op.create_index(op.f('ix_track_members__roi_id'), 'track_members', ['roi_id'], unique=False)

    op.add_column('rois', sa.Column('fov_id', sa.Integer(), nullable=True))
    op.add_column('rois', sa.Column('fov_x_um', sa.Float(), nullable=True))
    op.add_column('rois', sa.Column('fov_y_um', sa.Float(), nullable=True))
    op.create_index(op.f('ix_rois__fov_id_fov_x_um_fov_y_um'), 'rois', ['fov_id', 'fov_x_um', 'fov_y_um'], unique=False)

    _place_existing_rois()


def _place_existing_rois() -> None:
    op.execute(
        """
        INSERT INTO fields_of_view (subject_id, fov_name)
        SELECT DISTINCT s.subject_id, p.plane_name
        FROM imaging_planes p JOIN sessions s ON s.session_id = p.session_id
        WHERE p.fov_id IS NULL AND NOT EXISTS (
            SELECT 1 FROM fields_of_view f WHERE f.subject_id = s.subject_id AND f.fov_name = p.plane_name)
        """
    )
    op.execute(
        """
        UPDATE imaging_planes SET fov_id = (
            SELECT f.fov_id FROM fields_of_view f JOIN sessions s ON s.subject_id = f.subject_id
            WHERE s.session_id = imaging_planes.session_id AND f.fov_name = imaging_planes.plane_name)
        WHERE fov_id IS NULL
        """
    )
    op.execute(
        """
        UPDATE rois SET fov_id = (SELECT p.fov_id FROM imaging_planes p WHERE p.plane_id = rois.plane_id),
                        fov_x_um = centroid_x_um, fov_y_um = centroid_y_um
        """
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): a batch rebuild of rois would cascade-delete its dependants.
    op.drop_index(op.f('ix_rois__fov_id_fov_x_um_fov_y_um'), table_name='rois')
    op.drop_column('rois', 'fov_y_um')
    op.drop_column('rois', 'fov_x_um')
    op.drop_column('rois', 'fov_id')

    op.drop_index(op.f('ix_track_members__roi_id'), table_name='track_members')

    op.drop_table('track_members')
    op.drop_index(op.f('ix_roi_matches__roi_b_id'), table_name='roi_matches')

    op.drop_table('roi_matches')
    op.drop_index(op.f('ix_tracks__matching_run_id'), table_name='tracks')

    op.drop_table('tracks')
    op.drop_table('plane_registrations')
    op.drop_index(op.f('ix_matching_runs__fov_id'), table_name='matching_runs')

    op.drop_table('matching_runs')
