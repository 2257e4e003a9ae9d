"""Initial catalog: subjects, sessions, planes, segmentations, ROIs, properties and array files.

Why: the first schema of segdb. It creates exactly the tables of
segdb/catalog/models.py at the time of writing; later changes come as new
revisions, never as edits of this one.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archive_settings',
    sa.Column('setting_name', sa.String(length=64), nullable=False),
    sa.Column('setting_value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('setting_name', name=op.f('pk_archive_settings'))
    )
    op.create_table('array_files',
    sa.Column('array_file_id', sa.Integer(), nullable=False),
    sa.Column('relative_path', sa.String(length=1024), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('size_bytes >= 0', name=op.f('ck_array_files__nonnegative_size')),
    sa.PrimaryKeyConstraint('array_file_id', name=op.f('pk_array_files')),
    sa.UniqueConstraint('relative_path', name=op.f('uq_array_files__relative_path'))
    )
    op.create_table('subjects',
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('subject_name', sa.String(length=255), nullable=False),
    sa.Column('species', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject_id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('subject_name', name=op.f('uq_subjects__subject_name'))
    )
    op.create_table('fields_of_view',
    sa.Column('fov_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('fov_name', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.subject_id'], name=op.f('fk_fields_of_view__subject_id__subjects'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('fov_id', name=op.f('pk_fields_of_view')),
    sa.UniqueConstraint('subject_id', 'fov_name', name=op.f('uq_fields_of_view__subject_id_fov_name'))
    )
    op.create_index(op.f('ix_fields_of_view__subject_id'), 'fields_of_view', ['subject_id'], unique=False)

    op.create_table('sessions',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('session_name', sa.String(length=255), nullable=False),
    sa.Column('session_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.subject_id'], name=op.f('fk_sessions__subject_id__subjects'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_sessions')),
    sa.UniqueConstraint('subject_id', 'session_name', name=op.f('uq_sessions__subject_id_session_name'))
    )
    op.create_index(op.f('ix_sessions__session_start'), 'sessions', ['session_start'], unique=False)
    op.create_index(op.f('ix_sessions__subject_id'), 'sessions', ['subject_id'], unique=False)

    op.create_table('imaging_planes',
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('fov_id', sa.Integer(), nullable=True),
    sa.Column('plane_name', sa.String(length=255), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('pixel_size_um', sa.Float(), nullable=False),
    sa.Column('origin_x_um', sa.Float(), nullable=False),
    sa.Column('origin_y_um', sa.Float(), nullable=False),
    sa.Column('origin_z_um', sa.Float(), nullable=False),
    sa.Column('sampling_frequency', sa.Float(), nullable=True),
    sa.Column('channel_names', sa.JSON(), nullable=False),
    sa.Column('fov_transform', sa.JSON(), nullable=True),
    sa.CheckConstraint('height > 0 AND width > 0', name=op.f('ck_imaging_planes__positive_frame_shape')),
    sa.CheckConstraint('pixel_size_um > 0', name=op.f('ck_imaging_planes__positive_pixel_size')),
    sa.ForeignKeyConstraint(['fov_id'], ['fields_of_view.fov_id'], name=op.f('fk_imaging_planes__fov_id__fields_of_view'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.session_id'], name=op.f('fk_imaging_planes__session_id__sessions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('plane_id', name=op.f('pk_imaging_planes')),
    sa.UniqueConstraint('session_id', 'plane_name', name=op.f('uq_imaging_planes__session_id_plane_name'))
    )
    op.create_index(op.f('ix_imaging_planes__fov_id'), 'imaging_planes', ['fov_id'], unique=False)
    op.create_index(op.f('ix_imaging_planes__session_id'), 'imaging_planes', ['session_id'], unique=False)

    op.create_table('segmentations',
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('segmentation_name', sa.String(length=255), nullable=False),
    sa.Column('source_format', sa.String(length=64), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=True),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('writer_host', sa.String(length=255), nullable=True),
    sa.Column('writer_pid', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('writing', 'ready')", name=op.f('ck_segmentations__known_status')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.session_id'], name=op.f('fk_segmentations__session_id__sessions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('segmentation_id', name=op.f('pk_segmentations')),
    sa.UniqueConstraint('session_id', 'segmentation_name', name=op.f('uq_segmentations__session_id_segmentation_name'))
    )
    op.create_index(op.f('ix_segmentations__session_id'), 'segmentations', ['session_id'], unique=False)
    op.create_index(op.f('ix_segmentations__status'), 'segmentations', ['status'], unique=False)

    op.create_table('property_descriptions',
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('property_name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('value_dtype', sa.String(length=32), nullable=False),
    sa.Column('value_shape', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['segmentation_id'], ['segmentations.segmentation_id'], name=op.f('fk_property_descriptions__segmentation_id__segmentations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segmentation_id', 'property_name', name=op.f('pk_property_descriptions'))
    )
    op.create_table('segmentation_planes',
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('plane_index', sa.Integer(), nullable=False),
    sa.Column('array_file_id', sa.Integer(), nullable=False),
    sa.Column('num_samples', sa.Integer(), nullable=False),
    sa.Column('num_rois', sa.Integer(), nullable=False),
    sa.Column('num_background', sa.Integer(), nullable=False),
    sa.Column('sampling_frequency', sa.Float(), nullable=True),
    sa.Column('channel_names', sa.JSON(), nullable=False),
    sa.Column('timestamps_dataset', sa.String(length=255), nullable=True),
    sa.CheckConstraint('num_samples >= 0', name=op.f('ck_segmentation_planes__nonnegative_num_samples')),
    sa.ForeignKeyConstraint(['array_file_id'], ['array_files.array_file_id'], name=op.f('fk_segmentation_planes__array_file_id__array_files'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['plane_id'], ['imaging_planes.plane_id'], name=op.f('fk_segmentation_planes__plane_id__imaging_planes'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['segmentation_id'], ['segmentations.segmentation_id'], name=op.f('fk_segmentation_planes__segmentation_id__segmentations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segmentation_id', 'plane_id', name=op.f('pk_segmentation_planes'))
    )
    op.create_index(op.f('ix_segmentation_planes__array_file_id'), 'segmentation_planes', ['array_file_id'], unique=False)
    op.create_index(op.f('ix_segmentation_planes__plane_id'), 'segmentation_planes', ['plane_id'], unique=False)

    op.create_table('rois',
    sa.Column('roi_id', sa.Integer(), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('roi_key', sa.String(length=255), nullable=False),
    sa.Column('roi_key_type', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('mask_index', sa.Integer(), nullable=False),
    sa.Column('trace_column', sa.Integer(), nullable=False),
    sa.Column('centroid_row', sa.Float(), nullable=False),
    sa.Column('centroid_col', sa.Float(), nullable=False),
    sa.Column('centroid_x_um', sa.Float(), nullable=False),
    sa.Column('centroid_y_um', sa.Float(), nullable=False),
    sa.Column('bbox_row_min', sa.Integer(), nullable=False),
    sa.Column('bbox_row_max', sa.Integer(), nullable=False),
    sa.Column('bbox_col_min', sa.Integer(), nullable=False),
    sa.Column('bbox_col_max', sa.Integer(), nullable=False),
    sa.Column('pixel_count', sa.Integer(), nullable=False),
    sa.Column('location_row', sa.Integer(), nullable=False),
    sa.Column('location_col', sa.Integer(), nullable=False),
    sa.Column('source_accepted', sa.Boolean(), nullable=True),
    sa.CheckConstraint("kind IN ('cell', 'background')", name=op.f('ck_rois__known_kind')),
    sa.CheckConstraint("roi_key_type IN ('int', 'str')", name=op.f('ck_rois__known_key_type')),
    sa.CheckConstraint('pixel_count >= 0', name=op.f('ck_rois__nonnegative_pixel_count')),
    sa.ForeignKeyConstraint(['segmentation_id', 'plane_id'], ['segmentation_planes.segmentation_id', 'segmentation_planes.plane_id'], name=op.f('fk_rois__segmentation_id_plane_id__segmentation_planes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('roi_id', name=op.f('pk_rois')),
    sa.UniqueConstraint('segmentation_id', 'plane_id', 'kind', 'mask_index', name=op.f('uq_rois__segmentation_id_plane_id_kind_mask_index')),
    sa.UniqueConstraint('segmentation_id', 'plane_id', 'roi_key', name=op.f('uq_rois__segmentation_id_plane_id_roi_key'))
    )
    op.create_index(op.f('ix_rois__plane_id_centroid_x_um_centroid_y_um'), 'rois', ['plane_id', 'centroid_x_um', 'centroid_y_um'], unique=False)
    op.create_index(op.f('ix_rois__plane_id_kind'), 'rois', ['plane_id', 'kind'], unique=False)

    op.create_table('summary_images',
    sa.Column('summary_image_id', sa.Integer(), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('image_name', sa.String(length=255), nullable=False),
    sa.Column('array_file_id', sa.Integer(), nullable=False),
    sa.Column('dataset', sa.String(length=255), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('dtype', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['array_file_id'], ['array_files.array_file_id'], name=op.f('fk_summary_images__array_file_id__array_files'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['segmentation_id', 'plane_id'], ['segmentation_planes.segmentation_id', 'segmentation_planes.plane_id'], name=op.f('fk_summary_images__segmentation_id_plane_id__segmentation_planes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('summary_image_id', name=op.f('pk_summary_images')),
    sa.UniqueConstraint('segmentation_id', 'plane_id', 'image_name', name=op.f('uq_summary_images__segmentation_id_plane_id_image_name'))
    )
    op.create_index(op.f('ix_summary_images__array_file_id'), 'summary_images', ['array_file_id'], unique=False)

    op.create_table('trace_series',
    sa.Column('trace_series_id', sa.Integer(), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('plane_id', sa.Integer(), nullable=False),
    sa.Column('trace_name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('array_file_id', sa.Integer(), nullable=False),
    sa.Column('dataset', sa.String(length=255), nullable=False),
    sa.Column('num_samples', sa.Integer(), nullable=False),
    sa.Column('num_columns', sa.Integer(), nullable=False),
    sa.Column('dtype', sa.String(length=32), nullable=False),
    sa.CheckConstraint("kind IN ('cell', 'background')", name=op.f('ck_trace_series__known_kind')),
    sa.ForeignKeyConstraint(['array_file_id'], ['array_files.array_file_id'], name=op.f('fk_trace_series__array_file_id__array_files'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['segmentation_id', 'plane_id'], ['segmentation_planes.segmentation_id', 'segmentation_planes.plane_id'], name=op.f('fk_trace_series__segmentation_id_plane_id__segmentation_planes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('trace_series_id', name=op.f('pk_trace_series')),
    sa.UniqueConstraint('segmentation_id', 'plane_id', 'kind', 'trace_name', name=op.f('uq_trace_series__segmentation_id_plane_id_kind_trace_name'))
    )
    op.create_index(op.f('ix_trace_series__array_file_id'), 'trace_series', ['array_file_id'], unique=False)

    op.create_table('roi_properties',
    sa.Column('roi_id', sa.Integer(), nullable=False),
    sa.Column('property_name', sa.String(length=255), nullable=False),
    sa.Column('value_type', sa.String(length=8), nullable=False),
    sa.Column('value_num', sa.Float(), nullable=True),
    sa.Column('value_text', sa.Text(), nullable=True),
    sa.CheckConstraint("value_type IN ('bool', 'int', 'float', 'str', 'json')", name=op.f('ck_roi_properties__known_value_type')),
    sa.ForeignKeyConstraint(['roi_id'], ['rois.roi_id'], name=op.f('fk_roi_properties__roi_id__rois'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('roi_id', 'property_name', name=op.f('pk_roi_properties')),
    sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_roi_properties__property_name_value_num'), 'roi_properties', ['property_name', 'value_num'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_roi_properties__property_name_value_num'), table_name='roi_properties')

    op.drop_table('roi_properties')
    op.drop_index(op.f('ix_trace_series__array_file_id'), table_name='trace_series')

    op.drop_table('trace_series')
    op.drop_index(op.f('ix_summary_images__array_file_id'), table_name='summary_images')

    op.drop_table('summary_images')
    op.drop_index(op.f('ix_rois__plane_id_kind'), table_name='rois')
    op.drop_index(op.f('ix_rois__plane_id_centroid_x_um_centroid_y_um'), table_name='rois')

    op.drop_table('rois')
    op.drop_index(op.f('ix_segmentation_planes__plane_id'), table_name='segmentation_planes')
    op.drop_index(op.f('ix_segmentation_planes__array_file_id'), table_name='segmentation_planes')

    op.drop_table('segmentation_planes')
    op.drop_table('property_descriptions')
    op.drop_index(op.f('ix_segmentations__status'), table_name='segmentations')
    op.drop_index(op.f('ix_segmentations__session_id'), table_name='segmentations')

    op.drop_table('segmentations')
    op.drop_index(op.f('ix_imaging_planes__session_id'), table_name='imaging_planes')
    op.drop_index(op.f('ix_imaging_planes__fov_id'), table_name='imaging_planes')

    op.drop_table('imaging_planes')
    op.drop_index(op.f('ix_sessions__subject_id'), table_name='sessions')
    op.drop_index(op.f('ix_sessions__session_start'), table_name='sessions')

    op.drop_table('sessions')
    op.drop_index(op.f('ix_fields_of_view__subject_id'), table_name='fields_of_view')

    op.drop_table('fields_of_view')
    op.drop_table('subjects')
    op.drop_table('array_files')
    op.drop_table('archive_settings')
