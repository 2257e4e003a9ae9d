"""Mask sets: masks derived from a plane's ROIs, such as neuropil masks.

Why: `archive.extract_traces` computes neuropil masks (AllenSDK style) along with
ROI and neuropil traces from a movie; the masks are kept in a new chunk file and
this table says where, so they can be read back next to the traces made with them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mask_sets',
    sa.Column('mask_set_id', sa.Integer(), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('mask_set_name', sa.String(length=255), nullable=False),
    sa.Column('array_file_id', sa.Integer(), nullable=False),
    sa.Column('csr_group', sa.String(length=255), nullable=False),
    sa.Column('num_masks', sa.Integer(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['array_file_id'], ['array_files.array_file_id'], name=op.f('fk_mask_sets__array_file_id__array_files'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['segmentation_id', 'plane_id'], ['segmentation_planes.segmentation_id', 'segmentation_planes.plane_id'], name=op.f('fk_mask_sets__segmentation_id_plane_id__segmentation_planes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mask_set_id', name=op.f('pk_mask_sets')),
    sa.UniqueConstraint('segmentation_id', 'plane_id', 'mask_set_name', name=op.f('uq_mask_sets__segmentation_id_plane_id_mask_set_name'))
    )
    op.create_index(op.f('ix_mask_sets__array_file_id'), 'mask_sets', ['array_file_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_mask_sets__array_file_id'), table_name='mask_sets')

    op.drop_table('mask_sets')
