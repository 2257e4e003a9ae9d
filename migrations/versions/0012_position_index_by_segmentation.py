"""ROIs by position are found within the segmentations a query selects, not every session's.

Why: "ROIs of subject S within 15 µm of P" read the whole (fov_id, fov_x_um) range of the field of
view's every session before the query's sessions narrowed it, so a query over the last ten sessions
grew with the archive (2.6x from 10^6 to 10^7 ROIs on SQLite). The index now leads with the field of
view and the segmentation, then the position: one small range per segmentation selected, the way
roi_properties' (property_name, segmentation_id, value_num) index is read.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_rois__fov_id_fov_x_um_fov_y_um"), table_name="rois")
    op.create_index(op.f("ix_rois__fov_id_segmentation_id_fov_x_um_fov_y_um"), "rois",
                    ["fov_id", "segmentation_id", "fov_x_um", "fov_y_um"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rois__fov_id_segmentation_id_fov_x_um_fov_y_um"), table_name="rois")
    op.create_index(op.f("ix_rois__fov_id_fov_x_um_fov_y_um"), "rois", ["fov_id", "fov_x_um", "fov_y_um"],
                    unique=False)
