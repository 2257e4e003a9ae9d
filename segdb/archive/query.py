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
import math
import shlex
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, func, intersect, select
from sqlalchemy.orm import Session

from segdb.archive.consensus import accepted_clause, check_policy
from segdb.archive.filters import (
    WhereSpec,
    check_where_fields,
    conditions_by_property,
    id_in,
    is_property_condition,
    parse_where,
    property_matches,
    roi_filter,
)
from segdb.archive.records import Record
from segdb.archive.values import LARGEST_ID, as_utc, parse_datetime, roi_key_value
from segdb.catalog import models as m
from segdb.errors import InvalidInputError, NotFoundError


@dataclass(frozen=True)
class RoiHit(Record):
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


# The columns of a RoiHit that rois holds, in the order run() reads them.
_HIT_COLUMNS = (
    m.Roi.roi_id, m.Roi.segmentation_id, m.Roi.roi_key, m.Roi.roi_key_type, m.Roi.kind, m.Roi.centroid_row,
    m.Roi.centroid_col, m.Roi.fov_x_um, m.Roi.fov_y_um, m.Roi.pixel_count, m.Roi.plane_id, m.Roi.fov_id,
)


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

    def __post_init__(self) -> None:
        # A driver refuses a LIMIT past 64 bits with a traceback, and SQLite reads a negative one as none.
        if self.limit is not None and not (isinstance(self.limit, (int, np.integer))
                                           and not isinstance(self.limit, (bool, np.bool_))
                                           and 1 <= self.limit <= LARGEST_ID):
            raise InvalidInputError(f"limit is {self.limit!r}; give a whole number of ROIs from 1 to 2**63 - 1")

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
        fov_ids = list(db.scalars(self._fov_ids_statement()))
        return select(m.Roi.roi_id).where(m.Roi.fov_id.in_(fov_ids), *self._position())

    def _fov_ids_statement(self) -> Select:
        """The ids of the fields of view named ``field_of_view`` (of ``subject`` when given)."""
        fovs = select(m.FieldOfView.fov_id).where(m.FieldOfView.fov_name == self.field_of_view)
        if self.subject is not None:
            fovs = fovs.join(m.FieldOfView.subject).where(
                m.Subject.subject_name == self.subject
            )
        return fovs

    def _session_names(self) -> list[str] | None:
        if self.session is None:
            return None
        return [self.session] if isinstance(self.session, str) else list(self.session)

    def check_names(self, db: Session) -> None:
        """Refuse a subject, session, segmentation, plane or field of view that the archive does not hold
        (among what the other names select), naming what it does hold: such a name matches nothing."""
        within: list[str] = []
        sessions = select(m.ImagingSession.session_id).join(m.ImagingSession.subject)
        if self.subject is not None:
            _require_names(db, select(m.Subject.subject_name), m.Subject.subject_name, [self.subject], "subject",
                           "the archive", "segdb ls subjects")
            sessions = sessions.where(m.Subject.subject_name == self.subject)
            within.append(f"subject {self.subject!r}")
        names = self._session_names()
        if names is not None:
            _require_names(db, select(m.ImagingSession.session_name).where(
                m.ImagingSession.session_id.in_(sessions)), m.ImagingSession.session_name, names, "session",
                _within(within), _ls("sessions", subject=self.subject))
            sessions = sessions.where(m.ImagingSession.session_name.in_(names))
            within.append(f"session{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}")
        segmentations = select(m.Segmentation.segmentation_id).where(
            m.Segmentation.status == "ready", m.Segmentation.session_id.in_(sessions))
        listing = _ls("segmentations", subject=self.subject, session=names[0] if names and len(names) == 1 else None)
        if self.segmentation is not None:
            _require_names(db, select(m.Segmentation.segmentation_name).where(
                m.Segmentation.segmentation_id.in_(segmentations)), m.Segmentation.segmentation_name,
                [self.segmentation], "segmentation named", _within(within), listing)
            segmentations = segmentations.where(m.Segmentation.segmentation_name == self.segmentation)
            within.append(f"segmentation {self.segmentation!r}")
        if self.plane is not None:
            _require_names(db, select(m.ImagingPlane.plane_name).join(
                m.SegmentationPlane, m.SegmentationPlane.plane_id == m.ImagingPlane.plane_id).where(
                m.SegmentationPlane.segmentation_id.in_(segmentations)), m.ImagingPlane.plane_name, [self.plane],
                "plane", _within(within), listing, "planes")
        if self.field_of_view is not None:
            fovs = select(m.FieldOfView.fov_name)
            if self.subject is not None:
                fovs = fovs.join(m.FieldOfView.subject).where(m.Subject.subject_name == self.subject)
            of_subject = [f"subject {self.subject!r}"] if self.subject is not None else []
            _require_names(db, fovs, m.FieldOfView.fov_name, [self.field_of_view], "field of view", _within(of_subject),
                           "segdb ls planes -s SEGMENTATION", "field_of_view")

    def warn_of_sessions_without_start(self, db: Session) -> int:
        """With a date range, warn of the sessions it leaves out because they have no start time; how many."""
        if self.date_from is None and self.date_to is None:
            return 0
        ready = select(m.Segmentation.session_id).where(m.Segmentation.status == "ready")
        if self.segmentation is not None:
            ready = ready.where(m.Segmentation.segmentation_name == self.segmentation)
        query = (
            select(m.Subject.subject_name, m.ImagingSession.session_name)
            .join(m.ImagingSession.subject)
            .where(m.ImagingSession.session_start.is_(None), m.ImagingSession.session_id.in_(ready))
            .order_by(m.Subject.subject_name, m.ImagingSession.session_name)
        )
        if self.subject is not None:
            query = query.where(m.Subject.subject_name == self.subject)
        if self._session_names() is not None:
            query = query.where(m.ImagingSession.session_name.in_(self._session_names()))
        missing = [f"{subject}/{session}" for subject, session in db.execute(query)]
        if missing:
            shown = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
            warnings.warn(
                f"the date range (--after/--before) leaves out {len(missing)} session(s) that have no start time "
                f"({shown}); give each one with `segdb session set {missing[0]} --start 2026-03-01T09:30` "
                "(archive.set_session(..., session_start=...))",
                stacklevel=2,
            )
        return len(missing)

    def segmentation_ids(self, db: Session) -> list[int]:
        """The ready segmentations the subject, session and segmentation filters allow.

        Resolved first (there are thousands of segmentations at most, against millions of
        ROIs), so that ROIs are then found by their segmentation, and property conditions
        by one index range per segmentation.
        """
        return list(db.scalars(self._segmentations_statement()))

    def _segmentations_statement(self) -> Select:
        query = (
            select(m.Segmentation.segmentation_id)
            .join(m.Segmentation.session)
            .where(m.Segmentation.status == "ready")
            .order_by(m.Segmentation.segmentation_id)
        )
        if self.subject is not None:
            query = query.join(m.ImagingSession.subject).where(
                m.Subject.subject_name == self.subject
            )
        if self.session is not None:
            query = query.where(m.ImagingSession.session_name.in_(self._session_names()))
        if self.date_from is not None:
            query = query.where(m.ImagingSession.session_start >= _as_datetime(self.date_from, "date_from"))
        if self.date_to is not None:
            query = query.where(m.ImagingSession.session_start <= _as_datetime(self.date_to, "date_to"))
        if self.segmentation is not None:
            query = query.where(m.Segmentation.segmentation_name == self.segmentation)
        return query

    def _conditions(self, segmentation_ids: Sequence[int], roi_ids: Sequence[int] | None) -> list:
        conditions = [id_in(m.Roi.segmentation_id, segmentation_ids)]
        if roi_ids is not None:
            conditions.append(id_in(m.Roi.roi_id, roi_ids))
        if self.plane is not None:
            plane_ids = select(m.ImagingPlane.plane_id).where(m.ImagingPlane.plane_name == self.plane)
            conditions.append(m.Roi.plane_id.in_(plane_ids))
        if self.kind is not None:
            if self.kind not in m.ROI_KINDS:
                raise InvalidInputError(f"kind {self.kind!r} is not one of {m.ROI_KINDS}")
            conditions.append(m.Roi.kind == self.kind)
        if self.field_of_view is not None:
            conditions.append(m.Roi.fov_id.in_(self._fov_ids_statement()))
        conditions.append(roi_filter(self.where, segmentation_ids))
        candidates = and_(*conditions)
        if self.accepted is None:
            return [candidates]
        # The consensus is computed only for the candidate ROIs, never for the whole archive.
        clause = accepted_clause(select(m.Roi.roi_id).where(candidates), self.curation)
        return [candidates, clause if self.accepted else ~clause]

    def statement(self, segmentation_ids: Sequence[int], roi_ids: Sequence[int] | None = None) -> Select:
        """The SELECT that answers this query (one row of rois columns per ROI, in session order)
        among ROIs of ``segmentation_ids`` (see :meth:`segmentation_ids`), and within ``roi_ids``
        when given. The names of sessions, planes and fields of view are looked up once each."""
        query = (
            select(*_HIT_COLUMNS)
            .join(m.Segmentation, m.Segmentation.segmentation_id == m.Roi.segmentation_id)
            .join(m.Segmentation.session)
            .where(*self._conditions(segmentation_ids, roi_ids))
            .order_by(m.ImagingSession.session_start, m.ImagingSession.session_name, m.Roi.roi_id)
        )
        if self.limit is not None:
            query = query.limit(int(self.limit))
        return query

    def count_statement(self, segmentation_ids: Sequence[int], roi_ids: Sequence[int] | None = None) -> Select:
        """SELECT count(*) for this query: the rois table alone, no joins.

        When every filter is a property condition (the usual "snr > 5 in these sessions"),
        the count is read from the property index alone: properties belong to cell ROIs
        only and carry their segmentation, so the index ranges already hold the answer.
        """
        where = parse_where(self.where)
        property_only = (
            roi_ids is None and where and all(is_property_condition(c) for c in where)
            and self.kind in (None, "cell") and self.plane is None and self.field_of_view is None
            and self.accepted is None and self.limit is None
        )
        if property_only:
            matches = [property_matches(c, segmentation_ids) for c in conditions_by_property(where).values()]
            found = matches[0] if len(matches) == 1 else intersect(*matches)
            return select(func.count()).select_from(found.subquery())
        conditions = self._conditions(segmentation_ids, roi_ids)
        if self.limit is not None:
            limited = select(m.Roi.roi_id).where(*conditions).limit(int(self.limit)).subquery()
            return select(func.count()).select_from(limited)
        return select(func.count(m.Roi.roi_id)).where(*conditions)

    def _position(self) -> list:
        out = []
        if self.near is not None:
            try:
                x, y, radius = (float(v) for v in self.near)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"near is {self.near!r}; give (x_um, y_um, radius_um)") from exc
            if not all(map(math.isfinite, (x, y, radius))):
                raise InvalidInputError(f"near is {self.near!r}; give (x_um, y_um, radius_um) as finite numbers")
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
            if not all(map(math.isfinite, (x0, y0, x1, y1))):
                raise InvalidInputError(f"box is {self.box!r}; give (x_min, y_min, x_max, y_max) as finite µm")
            out += [m.Roi.fov_x_um.between(min(x0, x1), max(x0, x1)), m.Roi.fov_y_um.between(min(y0, y1), max(y0, y1))]
        return out

    def check(self, db: Session, segmentation_ids: Sequence[int]) -> None:
        """Refuse what would make the answer silently empty: an unknown name, curator or property."""
        check_policy(self.curation, db)
        self.check_names(db)
        self.warn_of_sessions_without_start(db)
        if segmentation_ids:
            scope = (f"segmentation {segmentation_ids[0]}" if len(segmentation_ids) == 1
                     else f"the {len(segmentation_ids)} segmentations the query selects")
            check_where_fields(db, self.where, segmentation_ids, scope)

    def scope(self, db: Session) -> tuple[list[int], list[int] | None] | None:
        """(segmentation ids, ROI ids found by position or None), or None when nothing can match."""
        segmentation_ids = self.segmentation_ids(db)
        self.check(db, segmentation_ids)
        if not segmentation_ids:
            return None
        by_position = self.position_statement(db)
        roi_ids = None if by_position is None else list(db.scalars(by_position))
        if roi_ids == []:
            return None
        return segmentation_ids, roi_ids

    def count(self, db: Session) -> int:
        scope = self.scope(db)
        return 0 if scope is None else int(db.scalar(self.count_statement(*scope)))

    def run(self, db: Session) -> list[RoiHit]:
        scope = self.scope(db)
        if scope is None:
            return []
        rows = db.connection().execute(self.statement(*scope)).all()
        segmentations = {
            row.segmentation_id: (row.subject_name, row.session_name, as_utc(row.session_start), row.segmentation_name)
            for row in db.execute(
                select(
                    m.Segmentation.segmentation_id, m.Subject.subject_name, m.ImagingSession.session_name,
                    m.ImagingSession.session_start, m.Segmentation.segmentation_name,
                )
                .join(m.Segmentation.session)
                .join(m.ImagingSession.subject)
                .where(id_in(m.Segmentation.segmentation_id, {row.segmentation_id for row in rows}))
            )
        }
        planes = _names(db, m.ImagingPlane.plane_id, m.ImagingPlane.plane_name, {row.plane_id for row in rows})
        fovs = _names(db, m.FieldOfView.fov_id, m.FieldOfView.fov_name, {row.fov_id for row in rows} - {None})
        hits = []
        for (roi_id, segmentation_id, key, key_type, kind, row, col, fov_x, fov_y, pixels, plane_id,
             fov_id) in rows:
            subject, session, start, segmentation = segmentations[segmentation_id]
            hits.append(RoiHit(
                roi_id, subject, session, start, segmentation_id, segmentation, planes[plane_id], fovs.get(fov_id),
                roi_key_value(key, key_type), kind, (row, col), (fov_x, fov_y), pixels,
            ))
        return hits

    def explain(self, db: Session, *, count: bool = False) -> str:
        """The database's plans for this query, step by step (which indexes each uses);
        with ``count``, the plan of counting the ROIs instead of listing them."""
        segmentation_ids = self.segmentation_ids(db)
        self.check(db, segmentation_ids)
        steps = [f"segmentations by subject, session and date ({len(segmentation_ids)} found):\n"
                 f"{explain(db, self._segmentations_statement())}"]
        if segmentation_ids:
            by_position = self.position_statement(db)
            roi_ids = None
            if by_position is not None:
                roi_ids = list(db.scalars(by_position))
                steps.append(f"ROIs by position ({len(roi_ids)} found):\n{explain(db, by_position)}")
            if roi_ids != []:
                final = self.count_statement if count else self.statement
                what = "counted" if count else "listed"
                steps.append(f"the other filters, {what}:\n{explain(db, final(segmentation_ids, roi_ids))}")
        return "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))


def _require_names(db: Session, names: Select, column: Any, wanted: Sequence[str], what: str, where: str,
                   command: str, column_shown: str | None = None) -> None:
    """Raise NotFoundError naming the first of ``wanted`` that ``names`` (a SELECT of ``column``) lacks,
    with some names it holds and the ``command`` that lists them (in its ``column_shown``)."""
    found = set(db.scalars(names.where(column.in_(list(wanted))).distinct()))
    missing = [name for name in wanted if name not in found]
    if not missing:
        return
    shown = list(db.scalars(names.distinct().order_by(column).limit(_SHOWN + 1)))
    if not shown:
        there = "there are none"
    else:
        there = "there are " + ", ".join(shown[:_SHOWN]) + (", …" if len(shown) > _SHOWN else "")
    listed = f"`{command}` lists them" + (f" in its {column_shown} column" if column_shown else "")
    raise NotFoundError(f"no {what} {missing[0]!r} in {where}; {there} ({listed})")


_SHOWN = 8


def _within(names: list[str]) -> str:
    return "the archive" if not names else "the archive for " + " and ".join(names)


def _ls(what: str, **options: str | None) -> str:
    """The `segdb ls` command that lists ``what`` with these options."""
    given = [f"--{name} {shlex.quote(value)}" for name, value in options.items() if value is not None]
    return " ".join(["segdb ls", what, *given])


def _names(db: Session, id_column: Any, name_column: Any, ids: set[int]) -> dict[int, str]:
    """{id: name} for the rows of a small table with these ids."""
    return {i: name for i, name in db.execute(select(id_column, name_column).where(id_in(id_column, ids)))}


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
    parsed = parse_datetime(value)
    if parsed is None:
        raise InvalidInputError(f"{label} is empty; give a date like 2026-03-01")
    return parsed
