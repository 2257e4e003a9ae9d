"""Cross-session ROI queries, evaluated in SQL on the catalog's indexes.

Filters compose (all must hold): subject, session (names, or a date range on the
session start), field of view, plane, segmentation, kind, any ROI filter of
:mod:`segdb.archive.filters` (properties, size, key), acceptance under a curation
policy, and position in a field of view's reference frame (a radius around a
point, or a box). Positions are µm in the field of view's frame: each ROI's
centroid with its plane's registration applied (rois.fov_x_um, fov_y_um).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from segdb.archive.consensus import accepted_clause, check_policy
from segdb.archive.filters import WhereSpec, roi_filter
from segdb.archive.records import _Record
from segdb.catalog import models as m
from segdb.errors import InvalidInputError


@dataclass(frozen=True)
class RoiHit(_Record):
    roi_id: int
    subject: str
    session: str
    session_start: dt.datetime | None
    segmentation_id: int
    segmentation: str
    plane: str
    field_of_view: str | None
    key: int | str
    kind: str
    centroid_px: tuple[float, float]
    fov_um: tuple[float | None, float | None]
    pixel_count: int


@dataclass(frozen=True)
class RoiQuery:
    """A composable cross-session ROI filter; every field left None is not filtered on."""

    subject: str | None = None
    session: str | Sequence[str] | None = None
    date_from: dt.datetime | dt.date | str | None = None
    date_to: dt.datetime | dt.date | str | None = None
    field_of_view: str | None = None
    plane: str | None = None
    segmentation: str | None = None
    kind: str | None = "cell"
    where: WhereSpec = None
    accepted: bool | None = None
    curation: str = "latest"
    near: tuple[float, float, float] | None = None
    box: tuple[float, float, float, float] | None = None
    limit: int | None = None

    def position_statement(self, db: Session) -> Select | None:
        """The index range scan that finds ROIs by position, or None without a position filter.

        Positions are looked up first, on (fov_id, fov_x_um, fov_y_um) with the field of view's
        ids spelled out, so the database cannot choose a scan over a subject's every ROI instead.
        """
        if self.near is None and self.box is None:
            return None
        if self.field_of_view is None:
            raise InvalidInputError(
                "positions are µm in a field of view's reference frame: give field_of_view= (--fov) with near/box"
            )
        fovs = select(m.FieldOfView.fov_id).where(m.FieldOfView.fov_name == self.field_of_view)
        if self.subject is not None:
            fovs = fovs.join(m.Subject, m.Subject.subject_id == m.FieldOfView.subject_id).where(
                m.Subject.subject_name == self.subject
            )
        fov_ids = list(db.scalars(fovs))
        return select(m.Roi.roi_id).where(m.Roi.fov_id.in_(fov_ids), *self._position())

    def _conditions(self, roi_ids: Sequence[int] | None) -> list:
        check_policy(self.curation)
        conditions = [m.Segmentation.status == "ready"]
        if roi_ids is not None:
            conditions.append(m.Roi.roi_id.in_(list(roi_ids)))
        if self.subject is not None:
            conditions.append(m.Subject.subject_name == self.subject)
        if self.session is not None:
            names = [self.session] if isinstance(self.session, str) else list(self.session)
            conditions.append(m.ImagingSession.session_name.in_(names))
        if self.date_from is not None:
            conditions.append(m.ImagingSession.session_start >= _as_datetime(self.date_from, "date_from"))
        if self.date_to is not None:
            conditions.append(m.ImagingSession.session_start <= _as_datetime(self.date_to, "date_to"))
        if self.plane is not None:
            conditions.append(m.ImagingPlane.plane_name == self.plane)
        if self.segmentation is not None:
            conditions.append(m.Segmentation.segmentation_name == self.segmentation)
        if self.kind is not None:
            if self.kind not in m.ROI_KINDS:
                raise InvalidInputError(f"kind {self.kind!r} is not one of {m.ROI_KINDS}")
            conditions.append(m.Roi.kind == self.kind)
        if self.field_of_view is not None:
            fov_ids = select(m.FieldOfView.fov_id).where(m.FieldOfView.fov_name == self.field_of_view)
            if self.subject is not None:
                fov_ids = fov_ids.join(m.Subject, m.Subject.subject_id == m.FieldOfView.subject_id).where(
                    m.Subject.subject_name == self.subject
                )
            conditions.append(m.Roi.fov_id.in_(fov_ids))
        conditions.append(roi_filter(self.where))
        candidates = and_(*conditions)
        if self.accepted is None:
            return [candidates]
        # The consensus is computed only for the candidate ROIs, never for the whole archive.
        clause = accepted_clause(self._lean(select(m.Roi.roi_id)).where(candidates), self.curation)
        return [candidates, clause if self.accepted else ~clause]

    def _lean(self, query: Select) -> Select:
        """Only the joins the filters need (a count does not need the names of things)."""
        query = (
            query.select_from(m.Roi)
            .join(m.Segmentation, m.Segmentation.segmentation_id == m.Roi.segmentation_id)
            .join(m.ImagingSession, m.ImagingSession.session_id == m.Segmentation.session_id)
        )
        if self.subject is not None:
            query = query.join(m.Subject, m.Subject.subject_id == m.ImagingSession.subject_id)
        if self.plane is not None:
            query = query.join(m.ImagingPlane, m.ImagingPlane.plane_id == m.Roi.plane_id)
        return query

    def statement(self, roi_ids: Sequence[int] | None = None) -> Select:
        """The SELECT that answers this query (one row per ROI), within ``roi_ids`` when given."""
        query = (
            select(
                m.Roi.roi_id,
                m.Roi.segmentation_id,
                m.Roi.roi_key,
                m.Roi.roi_key_type,
                m.Roi.kind,
                m.Roi.centroid_row,
                m.Roi.centroid_col,
                m.Roi.fov_x_um,
                m.Roi.fov_y_um,
                m.Roi.pixel_count,
                m.Subject.subject_name,
                m.ImagingSession.session_name,
                m.ImagingSession.session_start,
                m.Segmentation.segmentation_name,
                m.ImagingPlane.plane_name,
                m.FieldOfView.fov_name,
            )
            .join(m.Segmentation, m.Segmentation.segmentation_id == m.Roi.segmentation_id)
            .join(m.ImagingSession, m.ImagingSession.session_id == m.Segmentation.session_id)
            .join(m.Subject, m.Subject.subject_id == m.ImagingSession.subject_id)
            .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.Roi.plane_id)
            .outerjoin(m.FieldOfView, m.FieldOfView.fov_id == m.Roi.fov_id)
            .where(*self._conditions(roi_ids))
            .order_by(m.ImagingSession.session_start, m.ImagingSession.session_name, m.Roi.roi_id)
        )
        if self.limit is not None:
            query = query.limit(int(self.limit))
        return query

    def count_statement(self, roi_ids: Sequence[int] | None = None) -> Select:
        """SELECT count(*) for this query, with only the joins its filters need."""
        query = self._lean(select(func.count(m.Roi.roi_id))).where(*self._conditions(roi_ids))
        if self.limit is not None:
            return select(func.count()).select_from(
                self._lean(select(m.Roi.roi_id)).where(*self._conditions(roi_ids)).limit(int(self.limit)).subquery()
            )
        return query

    def _position(self) -> list:
        out = []
        if self.near is not None:
            try:
                x, y, radius = (float(v) for v in self.near)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"near is {self.near!r}; give (x_um, y_um, radius_um)") from exc
            if radius < 0:
                raise InvalidInputError(f"the radius {radius} µm is negative")
            out += [
                m.Roi.fov_x_um.between(x - radius, x + radius),
                m.Roi.fov_y_um.between(y - radius, y + radius),
                (m.Roi.fov_x_um - x) * (m.Roi.fov_x_um - x) + (m.Roi.fov_y_um - y) * (m.Roi.fov_y_um - y)
                <= radius * radius,
            ]
        if self.box is not None:
            try:
                x0, y0, x1, y1 = (float(v) for v in self.box)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"box is {self.box!r}; give (x_min, y_min, x_max, y_max) in µm") from exc
            out += [m.Roi.fov_x_um.between(min(x0, x1), max(x0, x1)), m.Roi.fov_y_um.between(min(y0, y1), max(y0, y1))]
        return out

    def count(self, db: Session) -> int:
        by_position = self.position_statement(db)
        roi_ids = None if by_position is None else list(db.scalars(by_position))
        if roi_ids == []:
            return 0
        return int(db.scalar(self.count_statement(roi_ids)))

    def run(self, db: Session) -> list[RoiHit]:
        from segdb.archive.core import as_utc, roi_key_value

        by_position = self.position_statement(db)
        roi_ids = None if by_position is None else list(db.scalars(by_position))
        if roi_ids == []:
            return []
        return [
            RoiHit(
                roi_id=row.roi_id,
                subject=row.subject_name,
                session=row.session_name,
                session_start=as_utc(row.session_start),
                segmentation_id=row.segmentation_id,
                segmentation=row.segmentation_name,
                plane=row.plane_name,
                field_of_view=row.fov_name,
                key=roi_key_value(row.roi_key, row.roi_key_type),
                kind=row.kind,
                centroid_px=(row.centroid_row, row.centroid_col),
                fov_um=(row.fov_x_um, row.fov_y_um),
                pixel_count=row.pixel_count,
            )
            for row in db.execute(self.statement(roi_ids)).all()
        ]


def explain(db: Session, statement: Select) -> str:
    """The database's query plan for a statement (to show which indexes it uses)."""
    dialect = db.get_bind().dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
    rows = db.connection().exec_driver_sql(prefix + str(compiled)).all()
    if dialect.name == "sqlite":
        return "\n".join(str(row[-1]) for row in rows)
    return "\n".join(str(row[0]) for row in rows)


def _as_datetime(value: Any, label: str) -> dt.datetime:
    from segdb.archive.core import _parse_datetime

    parsed = _parse_datetime(value)
    if parsed is None:
        raise InvalidInputError(f"{label} is empty; give a date like 2026-03-01")
    return parsed
