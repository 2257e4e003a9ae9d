"""Properties carry their ROI's segmentation, indexed with the property's name and value.

Why: "ROIs with snr > 5 in sessions after D" visited every ROI of the matching sessions
and looked up its property. With roi_properties.segmentation_id and an index on
(property_name, segmentation_id, value_num), the database reads one index range per
segmentation and touches only the ROIs that pass.

SQLite cannot add a NOT NULL column without a default, so there the table is rebuilt
(it keeps its WITHOUT ROWID layout); PostgreSQL adds, fills and then constrains it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _rebuild_sqlite() -> None:
    op.create_table('roi_properties_0005',
    sa.Column('roi_id', sa.Integer(), nullable=False),
    sa.Column('property_name', sa.String(length=255), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('value_type', sa.String(length=8), nullable=False),
    sa.Column('value_num', sa.Float(), nullable=True),
    sa.Column('value_text', sa.Text(), nullable=True),
    sa.CheckConstraint("value_type IN ('bool', 'int', 'float', 'str', 'json')", name='ck_roi_properties__known_value_type'),
    sa.ForeignKeyConstraint(['roi_id'], ['rois.roi_id'], name='fk_roi_properties__roi_id__rois', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('roi_id', 'property_name', name='pk_roi_properties'),
    sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO roi_properties_0005 "
        "(roi_id, property_name, segmentation_id, value_type, value_num, value_text) "
        "SELECT p.roi_id, p.property_name, r.segmentation_id, p.value_type, p.value_num, p.value_text "
        "FROM roi_properties AS p JOIN rois AS r ON r.roi_id = p.roi_id"
    )
    op.drop_table('roi_properties')
    op.rename_table('roi_properties_0005', 'roi_properties')
    op.create_index(op.f('ix_roi_properties__property_name_value_num'), 'roi_properties', ['property_name', 'value_num'], unique=False)


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite()
    else:
        op.add_column('roi_properties', sa.Column('segmentation_id', sa.Integer(), nullable=True))
        op.execute(
            "UPDATE roi_properties SET segmentation_id = rois.segmentation_id "
            "FROM rois WHERE rois.roi_id = roi_properties.roi_id"
        )
        op.alter_column('roi_properties', 'segmentation_id', existing_type=sa.Integer(), nullable=False)
    op.create_index(op.f('ix_roi_properties__property_name_segmentation_id_value_num'), 'roi_properties', ['property_name', 'segmentation_id', 'value_num'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_roi_properties__property_name_segmentation_id_value_num'), table_name='roi_properties')
    # Plain DROP COLUMN (SQLite >= 3.35): the column is in no index or constraint any more.
    op.drop_column('roi_properties', 'segmentation_id')
