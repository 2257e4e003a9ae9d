"""Lazy handles on a segmentation's planes: catalog rows joined to array references.

A :class:`PlaneHandle` is built from a few indexed queries and holds references,
not data: no array file is opened until one of its arrays is sliced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from segdb.archive.locations import ARCHIVE_ID_SETTING
from segdb.archive.properties import decode_property_values
from segdb.arrays import ARCHIVE_ID_ATTR, PLANE_ATTR, SEGMENTATION_ID_ATTR, ArrayFile, ArrayRef, CsrMaskRef
from segdb.catalog import models as m


def chunk_file_identity(archive_id: str | None, segmentation_id: int, plane_name: str) -> dict[str, str]:
    """Whose a chunk file is, as written into its root attributes at ingest and expected on every open.

    With the file's own path (which the writer adds), a file put in the place of another
    segmentation's, or another archive's, is refused when it is opened.
    """
    identity = {SEGMENTATION_ID_ATTR: str(int(segmentation_id)), PLANE_ATTR: plane_name}
    if archive_id is not None:
        identity[ARCHIVE_ID_ATTR] = archive_id
    return identity


@dataclass(frozen=True)
class PlaneHandle:
    """One plane of a segmentation: its metadata, ROI keys, and lazy array references."""

    segmentation_id: int
    plane_id: int
    plane_name: str
    plane_index: int
    frame_shape: tuple[int, int]
    num_samples: int
    sampling_frequency: float | None
    channel_names: tuple[str, ...]
    roi_keys: tuple[int | str, ...]
    background_keys: tuple[int | str, ...]
    masks: CsrMaskRef
    background_masks: CsrMaskRef | None
    traces: dict[str, ArrayRef] = field(default_factory=dict)
    background_traces: dict[str, ArrayRef] = field(default_factory=dict)
    images: dict[str, ArrayRef] = field(default_factory=dict)
    timestamps: ArrayRef | None = None
    roi_locations: np.ndarray | None = None
    mask_sets: dict[str, CsrMaskRef] = field(default_factory=dict)


def plane_handles(db: Session, storage_root: Path, segmentation_id: int) -> list[PlaneHandle]:
    """Handles for every plane of a segmentation, in plane order."""
    rows = db.execute(
        select(m.SegmentationPlane, m.ImagingPlane, m.ArrayFile)
        .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.SegmentationPlane.plane_id)
        .join(m.ArrayFile, m.ArrayFile.array_file_id == m.SegmentationPlane.array_file_id)
        .where(m.SegmentationPlane.segmentation_id == segmentation_id)
        .order_by(m.SegmentationPlane.plane_index)
    ).all()
    archive_id = db.scalar(
        select(m.ArchiveSetting.setting_value).where(m.ArchiveSetting.setting_name == ARCHIVE_ID_SETTING)
    )
    plane_names = {plane.plane_id: plane.plane_name for _, plane, _ in rows}
    files: dict[int, ArrayFile] = {}

    def file_of(row: m.ArrayFile, plane_id: int) -> ArrayFile:
        if row.array_file_id not in files:
            files[row.array_file_id] = ArrayFile(
                storage_root, row.relative_path, size_bytes=row.size_bytes, sha256=row.sha256,
                identity=chunk_file_identity(archive_id, segmentation_id, plane_names[plane_id]),
            )
        return files[row.array_file_id]

    rois = defaultdict(lambda: {"cell": [], "background": []})
    for plane_id, kind, key, key_type, row, col in db.execute(
        select(m.Roi.plane_id, m.Roi.kind, m.Roi.roi_key, m.Roi.roi_key_type, m.Roi.location_row, m.Roi.location_col)
        .where(m.Roi.segmentation_id == segmentation_id)
        .order_by(m.Roi.plane_id, m.Roi.kind, m.Roi.mask_index)
    ):
        rois[plane_id][kind].append((int(key) if key_type == "int" else key, row, col))

    def with_files(model: type, order: Any) -> Any:
        return db.execute(
            select(model, m.ArrayFile)
            .join(m.ArrayFile, m.ArrayFile.array_file_id == model.array_file_id)
            .where(model.segmentation_id == segmentation_id)
            .order_by(order)
        )

    traces = defaultdict(lambda: {"cell": {}, "background": {}})
    for series, file_row in with_files(m.TraceSeries, m.TraceSeries.trace_series_id):
        traces[series.plane_id][series.kind][series.trace_name] = ArrayRef(
            file_of(file_row, series.plane_id), series.dataset, (series.num_samples, series.num_columns), series.dtype
        )
    images = defaultdict(dict)
    for image, file_row in with_files(m.SummaryImage, m.SummaryImage.summary_image_id):
        images[image.plane_id][image.image_name] = ArrayRef(
            file_of(file_row, image.plane_id), image.dataset, (image.height, image.width), image.dtype
        )
    mask_sets = defaultdict(dict)
    for mask_set, file_row in with_files(m.MaskSet, m.MaskSet.mask_set_id):
        mask_sets[mask_set.plane_id][mask_set.mask_set_name] = CsrMaskRef(
            file_of(file_row, mask_set.plane_id), mask_set.csr_group, num_masks=mask_set.num_masks
        )

    handles = []
    for seg_plane, plane, file_row in rows:
        chunk_file = file_of(file_row, plane.plane_id)
        cells = rois[plane.plane_id]["cell"]
        background = rois[plane.plane_id]["background"]
        handles.append(
            PlaneHandle(
                segmentation_id=segmentation_id,
                plane_id=plane.plane_id,
                plane_name=plane.plane_name,
                plane_index=seg_plane.plane_index,
                frame_shape=(plane.height, plane.width),
                num_samples=seg_plane.num_samples,
                sampling_frequency=seg_plane.sampling_frequency,
                channel_names=tuple(seg_plane.channel_names or ()),
                roi_keys=tuple(key for key, _, _ in cells),
                background_keys=tuple(key for key, _, _ in background),
                masks=CsrMaskRef(chunk_file, "masks", num_masks=len(cells)),
                background_masks=CsrMaskRef(chunk_file, "background", num_masks=len(background)) if background else None,
                traces=traces[plane.plane_id]["cell"],
                background_traces=traces[plane.plane_id]["background"],
                images=images[plane.plane_id],
                timestamps=(
                    ArrayRef(chunk_file, seg_plane.timestamps_dataset, (seg_plane.num_samples,), "<f8")
                    if seg_plane.timestamps_dataset
                    else None
                ),
                mask_sets=mask_sets[plane.plane_id],
                roi_locations=np.array([[r for _, r, _ in cells], [c for _, _, c in cells]], dtype=np.int64).reshape(
                    2, len(cells)
                ),
            )
        )
    return handles


def plane_properties(
    db: Session, segmentation_id: int, plane_id: int, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Properties of a plane's cell ROIs (all, or only ``names``), as arrays in mask order, with their stored dtypes."""
    described_query = select(m.PropertyDescription).where(m.PropertyDescription.segmentation_id == segmentation_id)
    values_query = (
        select(m.RoiProperty.property_name, m.RoiProperty.value_type, m.RoiProperty.value_num, m.RoiProperty.value_text)
        .join(m.Roi, m.Roi.roi_id == m.RoiProperty.roi_id)
        .where(m.Roi.segmentation_id == segmentation_id, m.Roi.plane_id == plane_id, m.Roi.kind == "cell")
        .order_by(m.RoiProperty.property_name, m.Roi.mask_index)
    )
    if names is not None:
        wanted = sorted(set(names))
        described_query = described_query.where(m.PropertyDescription.property_name.in_(wanted))
        values_query = values_query.where(
            m.RoiProperty.property_name.in_(wanted), m.RoiProperty.segmentation_id == segmentation_id
        )
    described = {d.property_name: d for d in db.scalars(described_query)}
    columns: dict[str, list] = defaultdict(list)
    for name, value_type, num, text in db.execute(values_query):
        columns[name].append((value_type, num, text))
    out = {}
    for name, values in columns.items():
        info = described.get(name)
        value_type = values[0][0]
        out[name] = decode_property_values(
            value_type,
            info.value_dtype if info else "<f8",
            info.value_shape if info else [],
            [v[1] for v in values],
            [v[2] for v in values],
        )
    return out


def plane_property_names(db: Session, segmentation_id: int, plane_id: int) -> list[str]:
    """The names of the properties a plane's cell ROIs carry, sorted."""
    return list(
        db.scalars(
            select(m.RoiProperty.property_name)
            .join(m.Roi, m.Roi.roi_id == m.RoiProperty.roi_id)
            .where(
                m.RoiProperty.segmentation_id == segmentation_id,
                m.Roi.plane_id == plane_id,
                m.Roi.kind == "cell",
            )
            .distinct()
            .order_by(m.RoiProperty.property_name)
        )
    )


def property_descriptions(db: Session, segmentation_id: int) -> dict[str, str]:
    return {
        d.property_name: d.description
        for d in db.scalars(
            select(m.PropertyDescription).where(m.PropertyDescription.segmentation_id == segmentation_id)
        )
    }
