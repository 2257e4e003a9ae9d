"""Listing what an archive holds: subjects, sessions, segmentations, planes and ROIs, as frozen records."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from segdb.archive.base import ArchiveBase, SegmentationRef
from segdb.archive.records import (
    PlaneRecord,
    RoiRecord,
    SegmentationRecord,
    SessionRecord,
    SubjectRecord,
)
from segdb.archive.values import (
    as_utc,
    check_limit,
    roi_key_value,
)
from segdb.catalog import models as m
from segdb.errors import (
    InvalidInputError,
)


class Listing(ArchiveBase):
    """Subjects, sessions, segmentations, planes and ROIs as frozen records."""

    def subjects(self) -> list[SubjectRecord]:
        with self.catalog.reading() as session:
            rows = session.execute(
                select(m.Subject, func.count(m.ImagingSession.session_id))
                .outerjoin(m.ImagingSession, m.ImagingSession.subject_id == m.Subject.subject_id)
                .group_by(m.Subject.subject_id)
                .order_by(m.Subject.subject_name)
            ).all()
            return [
                SubjectRecord(
                    s.subject_id, s.subject_name, s.species, int(n), sex=s.sex, age=s.age,
                    date_of_birth=as_utc(s.date_of_birth), genotype=s.genotype, strain=s.strain,
                )
                for s, n in rows
            ]

    def sessions(self, subject: str | None = None) -> list[SessionRecord]:
        ready = (
            select(m.Segmentation.session_id, func.count().label("n"))
            .where(m.Segmentation.status == "ready")
            .group_by(m.Segmentation.session_id)
            .subquery()
        )
        query = (
            select(m.ImagingSession, m.Subject.subject_name, ready.c.n)
            .join(m.ImagingSession.subject)
            .outerjoin(ready, ready.c.session_id == m.ImagingSession.session_id)
            .order_by(m.Subject.subject_name, m.ImagingSession.session_start, m.ImagingSession.session_name)
        )
        if subject is not None:
            query = query.where(m.Subject.subject_name == subject)
        with self.catalog.reading() as session:
            return [
                SessionRecord(
                    s.session_id, subj, s.session_name, as_utc(s.session_start), int(n or 0),
                    experimenters=tuple(s.experimenters or ()), description=s.session_description, lab=s.lab,
                    institution=s.institution,
                )
                for s, subj, n in session.execute(query).all()
            ]

    def segmentations(
        self,
        subject: str | None = None,
        session: str | None = None,
        *,
        include_unfinished: bool = False,
        limit: int | None = None,
    ) -> list[SegmentationRecord]:
        """Segmentations in the archive, newest session last; only finished ones unless asked.

        With ``limit``, only the ``limit`` segmentations ingested last (highest ids) among those the
        other arguments select, read newest first along the primary key, so the listing costs the
        same in an archive of any size; they come in the same order as the whole listing."""
        check_limit(limit, "segmentations")
        conditions = []
        if subject is not None:
            conditions.append(m.Subject.subject_name == subject)
        if session is not None:
            conditions.append(m.ImagingSession.session_name == session)
        if not include_unfinished:
            conditions.append(m.Segmentation.status == "ready")
        query = _segmentation_query().where(*conditions)
        if limit is not None:
            last = (
                select(m.Segmentation.segmentation_id)
                .join(m.Segmentation.session)
                .join(m.ImagingSession.subject)
                .where(*conditions)
                .order_by(m.Segmentation.segmentation_id.desc())
                .limit(int(limit))
            )
            query = query.where(m.Segmentation.segmentation_id.in_(last.scalar_subquery()))
        with self.catalog.reading() as db:
            return _segmentation_records(db, db.execute(query).all())

    def segmentation(self, segmentation: SegmentationRef) -> SegmentationRecord:
        """One segmentation, by id, record, or 'subject/session/name'."""
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            rows = db.execute(_segmentation_query().where(m.Segmentation.segmentation_id == seg_id)).all()
            return _segmentation_records(db, rows)[0]

    def planes(self, segmentation: SegmentationRef) -> list[PlaneRecord]:
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            rows = db.execute(
                select(m.ImagingPlane, m.FieldOfView.fov_name)
                .join(m.SegmentationPlane, m.SegmentationPlane.plane_id == m.ImagingPlane.plane_id)
                .outerjoin(m.FieldOfView, m.FieldOfView.fov_id == m.ImagingPlane.fov_id)
                .where(m.SegmentationPlane.segmentation_id == seg_id)
                .order_by(m.SegmentationPlane.plane_index)
            ).all()
            return [_plane_record(p, fov) for p, fov in rows]

    def rois(
        self, segmentation: SegmentationRef, *, plane: str | None = None, kind: str | None = "cell"
    ) -> list[RoiRecord]:
        """ROIs of a segmentation in catalog order (plane by plane, then mask order)."""
        if kind not in (None, *m.ROI_KINDS):
            raise InvalidInputError(f"ROI kind {kind!r} is not one of {m.ROI_KINDS} (or None for both)")
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            query = (
                select(m.Roi, m.ImagingPlane.plane_name)
                .join(m.Roi.plane)
                .join(
                    m.SegmentationPlane,
                    (m.SegmentationPlane.segmentation_id == m.Roi.segmentation_id)
                    & (m.SegmentationPlane.plane_id == m.Roi.plane_id),
                )
                .where(m.Roi.segmentation_id == seg_id)
                .order_by(m.SegmentationPlane.plane_index, m.Roi.kind.desc(), m.Roi.mask_index)
            )
            if plane is not None:
                query = query.where(m.ImagingPlane.plane_name == plane)
            if kind is not None:
                query = query.where(m.Roi.kind == kind)
            return [_roi_record(roi, plane_name) for roi, plane_name in db.execute(query).all()]


def _segmentation_query():
    return (
        select(m.Segmentation, m.ImagingSession.session_name, m.Subject.subject_name)
        .join(m.Segmentation.session)
        .join(m.ImagingSession.subject)
        .order_by(m.Subject.subject_name, m.ImagingSession.session_start, m.ImagingSession.session_name,
                  m.Segmentation.segmentation_id)
    )


def _segmentation_records(db: Session, rows: Sequence) -> list[SegmentationRecord]:
    ids = [seg.segmentation_id for seg, _, _ in rows]
    planes: dict[int, list] = {i: [] for i in ids}
    if ids:
        for sp, plane_name in db.execute(
            select(m.SegmentationPlane, m.ImagingPlane.plane_name)
            .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.SegmentationPlane.plane_id)
            .where(m.SegmentationPlane.segmentation_id.in_(ids))
            .order_by(m.SegmentationPlane.segmentation_id, m.SegmentationPlane.plane_index)
        ).all():
            planes[sp.segmentation_id].append((sp, plane_name))
    records = []
    for seg, session_name, subject_name in rows:
        parts = planes[seg.segmentation_id]
        records.append(
            SegmentationRecord(
                segmentation_id=seg.segmentation_id,
                subject=subject_name,
                session=session_name,
                name=seg.segmentation_name,
                source_format=seg.source_format,
                source_path=seg.source_path,
                status=seg.status,
                created_at=as_utc(seg.created_at),
                created_by=seg.created_by,
                planes=tuple(name for _, name in parts),
                num_rois=sum(sp.num_rois for sp, _ in parts),
                num_background=sum(sp.num_background for sp, _ in parts),
                num_samples=max((sp.num_samples for sp, _ in parts), default=0),
                sampling_frequency=parts[0][0].sampling_frequency if parts else None,
                parameters=dict(seg.parameters or {}),
            )
        )
    return records


def _plane_record(plane: m.ImagingPlane, fov_name: str | None) -> PlaneRecord:
    return PlaneRecord(
        plane_id=plane.plane_id,
        session_id=plane.session_id,
        name=plane.plane_name,
        height=plane.height,
        width=plane.width,
        pixel_size_um=plane.pixel_size_um,
        origin_um=(plane.origin_x_um, plane.origin_y_um, plane.origin_z_um),
        sampling_frequency=plane.sampling_frequency,
        field_of_view=fov_name,
        indicator=plane.indicator,
        location=plane.location,
        excitation_nm=plane.excitation_nm,
        emission_nm=plane.emission_nm,
        device=plane.device,
        description=plane.plane_description,
    )


def _roi_record(roi: m.Roi, plane_name: str) -> RoiRecord:
    return RoiRecord(
        roi_id=roi.roi_id,
        segmentation_id=roi.segmentation_id,
        plane=plane_name,
        key=roi_key_value(roi.roi_key, roi.roi_key_type),
        kind=roi.kind,
        mask_index=roi.mask_index,
        centroid_px=(roi.centroid_row, roi.centroid_col),
        centroid_um=(roi.centroid_x_um, roi.centroid_y_um),
        bbox=(roi.bbox_row_min, roi.bbox_row_max, roi.bbox_col_min, roi.bbox_col_max),
        pixel_count=roi.pixel_count,
        source_accepted=roi.source_accepted,
    )
