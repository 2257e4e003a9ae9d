"""The catalog's tables: everything about a segmentation except its big arrays.

Arrays (masks, traces, images, timestamps) live in write-once HDF5 chunk files;
the rows here say where, with the file's size and sha256 in ``array_files``.
Every path stored here is relative to the archive's storage root.

Naming: tables are plural nouns, keys are ``<table singular>_id``, and every
constraint and index is named by :data:`NAMING_CONVENTION`, so migrations on
SQLite and PostgreSQL refer to the same names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, foreign, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_N_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SEGMENTATION_STATUSES = ("writing", "ready")
ROI_KINDS = ("cell", "background")
ROI_KEY_TYPES = ("int", "str")
PROPERTY_VALUE_TYPES = ("bool", "int", "float", "str", "json")
TRACE_KINDS = ("cell", "background")

# Table option of every table whose integer id people see or keep (in a notebook, a script, a
# paper's methods): SQLite's AUTOINCREMENT, so an id is never handed out again after its row is
# deleted. PostgreSQL's sequences never hand one out twice anyway.
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ArchiveSetting(Base):
    """Archive-wide settings, such as the storage root recorded for a shared catalog."""

    __tablename__ = "archive_settings"

    setting_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    setting_value: Mapped[str] = mapped_column(Text)


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (IDS_NEVER_REUSED,)

    subject_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_name: Mapped[str] = mapped_column(String(255), unique=True)
    species: Mapped[str | None] = mapped_column(String(255))
    # What NWB's Subject and DANDI ask for; each is optional and checked when set (segdb.archive.metadata).
    sex: Mapped[str | None] = mapped_column(String(1))
    # ISO 8601 duration at the first session (P90D), or a range (P90D/P120D).
    age: Mapped[str | None] = mapped_column(String(64))
    date_of_birth: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    genotype: Mapped[str | None] = mapped_column(Text)
    strain: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ImagingSession(Base):
    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("subject_id", "session_name"), IDS_NEVER_REUSED)

    session_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.subject_id", ondelete="RESTRICT"), index=True)
    session_name: Mapped[str] = mapped_column(String(255))
    # When imaging started, if known; date-range queries run on this column.
    session_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # People who ran the session, as "Last, First" (NWB's experimenter), in order.
    experimenters: Mapped[list[Any] | None] = mapped_column(JSON)
    session_description: Mapped[str | None] = mapped_column(Text)
    lab: Mapped[str | None] = mapped_column(String(255))
    institution: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    # For joins (select(...).join(ImagingSession.subject)); never loaded implicitly.
    subject: Mapped[Subject] = relationship(lazy="raise")


class FieldOfView(Base):
    """A place in a subject's brain imaged in one or more sessions: the shared reference frame."""

    __tablename__ = "fields_of_view"
    __table_args__ = (UniqueConstraint("subject_id", "fov_name"), IDS_NEVER_REUSED)

    fov_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.subject_id", ondelete="RESTRICT"), index=True)
    fov_name: Mapped[str] = mapped_column(String(255))

    subject: Mapped[Subject] = relationship(lazy="raise")


class ImagingPlane(Base):
    """One plane of one session: frame size, pixel size, rate, and where it sits in its field of view."""

    __tablename__ = "imaging_planes"
    __table_args__ = (
        UniqueConstraint("session_id", "plane_name"),
        CheckConstraint("height > 0 AND width > 0", name="positive_frame_shape"),
        CheckConstraint("pixel_size_um > 0", name="positive_pixel_size"),
        IDS_NEVER_REUSED,
    )

    plane_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.session_id", ondelete="RESTRICT"), index=True)
    fov_id: Mapped[int | None] = mapped_column(ForeignKey("fields_of_view.fov_id", ondelete="RESTRICT"), index=True)
    plane_name: Mapped[str] = mapped_column(String(255))
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    pixel_size_um: Mapped[float] = mapped_column(Float, default=1.0)
    # Stage position of pixel (0, 0) in µm; with pixel_size_um this places ROIs in µm.
    origin_x_um: Mapped[float] = mapped_column(Float, default=0.0)
    origin_y_um: Mapped[float] = mapped_column(Float, default=0.0)
    origin_z_um: Mapped[float] = mapped_column(Float, default=0.0)
    sampling_frequency: Mapped[float | None] = mapped_column(Float)
    channel_names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # 2x3 affine from this plane's µm frame to its field of view's reference frame;
    # None means identity.
    fov_transform: Mapped[list[Any] | None] = mapped_column(JSON)
    # How the plane was imaged, as NWB's ImagingPlane and OpticalChannel record it.
    indicator: Mapped[str | None] = mapped_column(String(255))
    location: Mapped[str | None] = mapped_column(String(255))
    excitation_nm: Mapped[float | None] = mapped_column(Float)
    emission_nm: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(255))
    plane_description: Mapped[str | None] = mapped_column(Text)


class ArrayFile(Base):
    """A write-once HDF5 chunk file under the storage root."""

    __tablename__ = "array_files"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="nonnegative_size"), IDS_NEVER_REUSED)

    array_file_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    relative_path: Mapped[str] = mapped_column(String(1024), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # The object store's fingerprint of the file (its S3 ETag) as the upload returned it; NULL in a folder.
    server_checksum: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class FileLease(Base):
    """A file a writer is about to create under the storage root, not yet in ``array_files``.

    A writer commits its lease before it creates the file (or its folders) and deletes it in the
    transaction that inserts the file's ``array_files`` row, so at every moment a file being
    written is covered by one or the other and ``segdb gc`` leaves it alone. A lease also covers
    the file's temporary names while it is written. Leases of writers that are gone (their
    process has exited on this host, or older than gc's ``older_than`` on another) are collected.
    """

    __tablename__ = "file_leases"

    relative_path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    writer_host: Mapped[str] = mapped_column(String(255))
    writer_pid: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Segmentation(Base):
    """One run of a pipeline over one session (all its planes)."""

    __tablename__ = "segmentations"
    __table_args__ = (
        UniqueConstraint("session_id", "segmentation_name"),
        CheckConstraint(
            "status IN ('writing', 'ready')",
            name="known_status",
        ),
        IDS_NEVER_REUSED,
    )

    segmentation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.session_id", ondelete="RESTRICT"), index=True)
    segmentation_name: Mapped[str] = mapped_column(String(255))
    source_format: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    created_by: Mapped[str] = mapped_column(String(255))
    # 'writing' while its chunk files are being written; only 'ready' ones are visible.
    status: Mapped[str] = mapped_column(String(16), default="writing", index=True)
    # Which process is writing it, so `segdb gc` can tell a crashed ingest from a running one.
    writer_host: Mapped[str | None] = mapped_column(String(255))
    writer_pid: Mapped[int | None] = mapped_column(Integer)

    session: Mapped[ImagingSession] = relationship(lazy="raise")


class SegmentationPlane(Base):
    """The part of a segmentation on one plane, and the chunk file holding its arrays."""

    __tablename__ = "segmentation_planes"
    __table_args__ = (
        CheckConstraint("num_samples >= 0", name="nonnegative_num_samples"),
    )

    segmentation_id: Mapped[int] = mapped_column(
        ForeignKey("segmentations.segmentation_id", ondelete="CASCADE"), primary_key=True
    )
    plane_id: Mapped[int] = mapped_column(
        ForeignKey("imaging_planes.plane_id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    plane_index: Mapped[int] = mapped_column(Integer)
    array_file_id: Mapped[int] = mapped_column(ForeignKey("array_files.array_file_id", ondelete="RESTRICT"), index=True)
    num_samples: Mapped[int] = mapped_column(Integer)
    num_rois: Mapped[int] = mapped_column(Integer)
    num_background: Mapped[int] = mapped_column(Integer)
    sampling_frequency: Mapped[float | None] = mapped_column(Float)
    channel_names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Dataset of timestamps in the plane's chunk file, when the source had them.
    timestamps_dataset: Mapped[str | None] = mapped_column(String(255))


def _in_segmentation_plane() -> ForeignKeyConstraint:
    """The (segmentation_id, plane_id) key of a row that belongs to one plane of one segmentation."""
    return ForeignKeyConstraint(
        ["segmentation_id", "plane_id"],
        ["segmentation_planes.segmentation_id", "segmentation_planes.plane_id"],
        ondelete="CASCADE",
    )


def _named_per_plane(*name_columns: str) -> tuple[UniqueConstraint, ForeignKeyConstraint]:
    """Table arguments of a per-plane array table: its names are unique within a plane of a segmentation."""
    return UniqueConstraint("segmentation_id", "plane_id", *name_columns), _in_segmentation_plane()


class PlaneArray:
    """Columns of a row that describes one dataset of a plane in one of its segmentation's chunk files."""

    segmentation_id: Mapped[int] = mapped_column(Integer)
    plane_id: Mapped[int] = mapped_column(Integer)
    array_file_id: Mapped[int] = mapped_column(ForeignKey("array_files.array_file_id", ondelete="RESTRICT"), index=True)


class Roi(Base):
    """One ROI (or background component) as the source pipeline named it."""

    __tablename__ = "rois"
    __table_args__ = (
        # Keys are unique per plane: suite2p numbers the ROIs of every plane from 0.
        UniqueConstraint("segmentation_id", "plane_id", "roi_key"),
        UniqueConstraint("segmentation_id", "plane_id", "kind", "mask_index"),
        _in_segmentation_plane(),
        CheckConstraint("kind IN ('cell', 'background')", name="known_kind"),
        CheckConstraint("roi_key_type IN ('int', 'str')", name="known_key_type"),
        CheckConstraint("pixel_count >= 0", name="nonnegative_pixel_count"),
        Index(None, "plane_id", "kind"),
        Index(None, "plane_id", "centroid_x_um", "centroid_y_um"),
        # Cross-session position queries: a field of view, the segmentations the query selects, then a box in
        # its reference frame, so that the sessions chosen narrow the range before the archive's size does.
        Index(None, "fov_id", "segmentation_id", "fov_x_um", "fov_y_um"),
        IDS_NEVER_REUSED,
    )

    roi_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segmentation_id: Mapped[int] = mapped_column(Integer)
    plane_id: Mapped[int] = mapped_column(Integer)
    # The key as the source named it, kept as text with its type so 3 and "3" both round-trip.
    roi_key: Mapped[str] = mapped_column(String(255))
    roi_key_type: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    # Row of this ROI's mask in the plane file's CSR group (its place in catalog order),
    # and its column in the plane's traces.
    mask_index: Mapped[int] = mapped_column(Integer)
    trace_column: Mapped[int] = mapped_column(Integer)
    centroid_row: Mapped[float] = mapped_column(Float)
    centroid_col: Mapped[float] = mapped_column(Float)
    centroid_x_um: Mapped[float] = mapped_column(Float)
    centroid_y_um: Mapped[float] = mapped_column(Float)
    bbox_row_min: Mapped[int] = mapped_column(Integer)
    bbox_row_max: Mapped[int] = mapped_column(Integer)
    bbox_col_min: Mapped[int] = mapped_column(Integer)
    bbox_col_max: Mapped[int] = mapped_column(Integer)
    pixel_count: Mapped[int] = mapped_column(Integer)
    # The centroid in its field of view's reference frame (the plane's fov_transform applied),
    # copied here (with the plane's fov_id) so position queries across sessions run on one index.
    fov_id: Mapped[int | None] = mapped_column(Integer)
    fov_x_um: Mapped[float | None] = mapped_column(Float)
    fov_y_um: Mapped[float | None] = mapped_column(Float)
    # roiextractors' location convention: median (row, col) of the mask's brightest pixels.
    location_row: Mapped[int] = mapped_column(Integer)
    location_col: Mapped[int] = mapped_column(Integer)
    # The source pipeline's own accept/reject decision, when it made one.
    source_accepted: Mapped[bool | None] = mapped_column(Boolean)

    # The plane is reached through the composite key to segmentation_planes, so the join is spelled out.
    plane: Mapped[ImagingPlane] = relationship(
        primaryjoin=lambda: ImagingPlane.plane_id == foreign(Roi.plane_id), viewonly=True, lazy="raise"
    )


class RoiProperty(Base):
    """A typed per-ROI value; numbers and booleans sit in value_num so SQL can compare them.

    Only cell ROIs carry properties. ``segmentation_id`` repeats the ROI's segmentation so
    that "snr > 5 in these sessions" is one index range per segmentation, answered
    without visiting the ROIs that fail it.
    """

    __tablename__ = "roi_properties"
    __table_args__ = (
        CheckConstraint(
            "value_type IN ('bool', 'int', 'float', 'str', 'json')",
            name="known_value_type",
        ),
        Index(None, "property_name", "value_num"),
        Index(None, "property_name", "segmentation_id", "value_num"),
        # Clustered on (roi_id, property_name) in SQLite: a property lookup is one b-tree descent.
        {"sqlite_with_rowid": False},
    )

    roi_id: Mapped[int] = mapped_column(ForeignKey("rois.roi_id", ondelete="CASCADE"), primary_key=True)
    property_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Always rois.segmentation_id of roi_id (written together with the property).
    segmentation_id: Mapped[int] = mapped_column(Integer)
    value_type: Mapped[str] = mapped_column(String(8))
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)


class PropertyDescription(Base):
    """What a property of a segmentation means, as its source described it."""

    __tablename__ = "property_descriptions"

    segmentation_id: Mapped[int] = mapped_column(
        ForeignKey("segmentations.segmentation_id", ondelete="CASCADE"), primary_key=True
    )
    property_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # numpy dtype and per-ROI shape of the values, so get_property returns what was set.
    value_dtype: Mapped[str] = mapped_column(String(32))
    value_shape: Mapped[list[Any]] = mapped_column(JSON, default=list)


class TraceSeries(PlaneArray, Base):
    """One named trace series of one plane: a (num_samples, num_columns) dataset in a chunk file."""

    __tablename__ = "trace_series"
    __table_args__ = (
        *_named_per_plane("kind", "trace_name"),
        CheckConstraint("kind IN ('cell', 'background')", name="known_kind"),
        IDS_NEVER_REUSED,
    )

    trace_series_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trace_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str] = mapped_column(String(255))
    num_samples: Mapped[int] = mapped_column(Integer)
    num_columns: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(32))


class SummaryImage(PlaneArray, Base):
    """A summary image (mean, correlation, max projection, …) of one plane."""

    __tablename__ = "summary_images"
    __table_args__ = (*_named_per_plane("image_name"), IDS_NEVER_REUSED)

    summary_image_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_name: Mapped[str] = mapped_column(String(255))
    dataset: Mapped[str] = mapped_column(String(255))
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(32))


class MaskSet(PlaneArray, Base):
    """Masks derived from a plane's ROIs (e.g. neuropil masks), one per cell ROI in mask order."""

    __tablename__ = "mask_sets"
    __table_args__ = (*_named_per_plane("mask_set_name"), IDS_NEVER_REUSED)

    mask_set_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mask_set_name: Mapped[str] = mapped_column(String(255))
    csr_group: Mapped[str] = mapped_column(String(255))
    num_masks: Mapped[int] = mapped_column(Integer)
    # How the masks were made (e.g. motion border, dilation), for provenance.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


CURATION_LABELS = ("accepted", "rejected", "unsure", "cleared")
# A curator's free labels ("L2/3", "interneuron") on a ROI: 'tagged' puts the event's tag on, 'untagged'
# takes the curator's off. They sit in the same history and never count as an accept/reject decision.
TAG_LABELS = ("tagged", "untagged")
PIPELINE_CURATOR_PREFIX = "pipeline:"


class Curator(Base):
    """Someone (or a pipeline, named 'pipeline:<format>') who labels ROIs."""

    __tablename__ = "curators"
    __table_args__ = (IDS_NEVER_REUSED,)

    curator_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    curator_name: Mapped[str] = mapped_column(String(255), unique=True)
    is_pipeline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class CurationEvent(Base):
    """One labelling decision, or one tag put on or taken off. Append-only: the current state is
    derived, never overwritten.

    ``roi_revision`` counts the ROI's events (1, 2, …), tag events included; its uniqueness per ROI
    is what makes two concurrent writers unable to both append the same revision.
    """

    __tablename__ = "curation_events"
    __table_args__ = (
        UniqueConstraint("roi_id", "roi_revision"),
        CheckConstraint(
            "(label IN ('accepted', 'rejected', 'unsure', 'cleared') AND tag IS NULL) "
            "OR (label IN ('tagged', 'untagged') AND tag IS NOT NULL)",
            name="known_label",
        ),
        CheckConstraint("roi_revision >= 1", name="positive_revision"),
        # Covers the consensus query: last label per (ROI, curator) without touching the table.
        Index(None, "segmentation_id", "roi_id", "curator_id", "event_id", "label"),
        # Covers the tag queries (each curator's last event per ROI and tag) and holds tag events only,
        # which are few beside the labels.
        Index(None, "segmentation_id", "tag", "roi_id", "curator_id", "event_id", "label",
              sqlite_where=text("tag IS NOT NULL"), postgresql_where=text("tag IS NOT NULL")),
        Index(None, "curator_id", "event_id"),
        IDS_NEVER_REUSED,
    )

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segmentation_id: Mapped[int] = mapped_column(
        ForeignKey("segmentations.segmentation_id", ondelete="CASCADE")
    )
    roi_id: Mapped[int] = mapped_column(ForeignKey("rois.roi_id", ondelete="CASCADE"))
    curator_id: Mapped[int] = mapped_column(ForeignKey("curators.curator_id", ondelete="RESTRICT"))
    label: Mapped[str] = mapped_column(String(16))
    # The free label a 'tagged' / 'untagged' event is about; NULL on every accept/reject event.
    tag: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    roi_revision: Mapped[int] = mapped_column(Integer)
    # Events written together share a batch, so `segdb curate undo` can take back the last one.
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class CurationFreeze(Base):
    """A segmentation whose curation is closed: no new events may be written."""

    __tablename__ = "curation_freezes"

    segmentation_id: Mapped[int] = mapped_column(
        ForeignKey("segmentations.segmentation_id", ondelete="CASCADE"), primary_key=True
    )
    frozen_by: Mapped[str] = mapped_column(String(255))
    frozen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    reason: Mapped[str] = mapped_column(Text, default="")


class PlaneRegistration(Base):
    """How a plane was placed in its field of view's reference frame (estimated or supplied)."""

    __tablename__ = "plane_registrations"

    plane_id: Mapped[int] = mapped_column(ForeignKey("imaging_planes.plane_id", ondelete="CASCADE"), primary_key=True)
    reference_plane_id: Mapped[int | None] = mapped_column(
        ForeignKey("imaging_planes.plane_id", ondelete="SET NULL")
    )
    method: Mapped[str] = mapped_column(String(64))
    # 2x3 affine on (x, y) µm, plane frame -> field of view frame (as imaging_planes.fov_transform).
    transform: Mapped[list[Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    overlap: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    created_by: Mapped[str] = mapped_column(String(255))


class MatchingRun(Base):
    """One run of cross-session matching over a field of view; runs coexist and never change."""

    __tablename__ = "matching_runs"
    __table_args__ = (IDS_NEVER_REUSED,)

    matching_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fov_id: Mapped[int] = mapped_column(ForeignKey("fields_of_view.fov_id", ondelete="RESTRICT"), index=True)
    plane_name: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(255))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    created_by: Mapped[str] = mapped_column(String(255))
    num_sessions: Mapped[int] = mapped_column(Integer)
    num_tracks: Mapped[int] = mapped_column(Integer)


class RoiMatch(Base):
    """A scored pair of ROIs of two sessions that a matching run linked."""

    __tablename__ = "roi_matches"

    matching_run_id: Mapped[int] = mapped_column(
        ForeignKey("matching_runs.matching_run_id", ondelete="CASCADE"), primary_key=True
    )
    roi_a_id: Mapped[int] = mapped_column(ForeignKey("rois.roi_id", ondelete="CASCADE"), primary_key=True)
    roi_b_id: Mapped[int] = mapped_column(ForeignKey("rois.roi_id", ondelete="CASCADE"), primary_key=True, index=True)
    distance_um: Mapped[float] = mapped_column(Float)
    iou: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)


class Track(Base):
    """One cell followed across sessions by one matching run. A track id never changes meaning."""

    __tablename__ = "tracks"
    __table_args__ = (IDS_NEVER_REUSED,)

    track_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matching_run_id: Mapped[int] = mapped_column(
        ForeignKey("matching_runs.matching_run_id", ondelete="CASCADE"), index=True
    )
    num_sessions: Mapped[int] = mapped_column(Integer)


class TrackMember(Base):
    """A ROI of a track: at most one per session, and a ROI in at most one track of a run."""

    __tablename__ = "track_members"
    __table_args__ = (
        UniqueConstraint("track_id", "session_id"),
        UniqueConstraint("matching_run_id", "roi_id"),
    )

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.track_id", ondelete="CASCADE"), primary_key=True)
    roi_id: Mapped[int] = mapped_column(ForeignKey("rois.roi_id", ondelete="CASCADE"), primary_key=True, index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"))
    matching_run_id: Mapped[int] = mapped_column(
        ForeignKey("matching_runs.matching_run_id", ondelete="CASCADE")
    )
