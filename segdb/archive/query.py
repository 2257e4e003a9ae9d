"""Cross-session ROI queries, evaluated in SQL on the catalog's indexes.

Filters compose (all must hold): subject, session (names, or a date range on the
session start), field of view, plane, segmentation, kind, any ROI filter of
:mod:`segdb.archive.filters` (properties, size, key), acceptance under a curation
policy, and position in a field of view's reference frame (a radius around a
point, or a box). Positions are µm in the field of view's frame: each ROI's
centroid with its plane's registration applied (rois.fov_x_um, fov_y_um).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import math
import shlex
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Float, Select, and_, case, cast, func, intersect, literal_column, select
from sqlalchemy.orm import Session, aliased

from segdb.archive.consensus import accepted_clause, check_policy
from segdb.archive.filters import (
    WhereSpec,
    check_where_fields,
    conditions_by_property,
    id_in,
    is_property_condition,
    parse_where,
    property_join_conditions,
    property_matches,
    roi_filter,
)
from segdb.archive.records import Record
from segdb.archive.values import as_utc, check_limit, parse_datetime, roi_key_value
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
        check_limit(self.limit, "ROIs")

    def position_statement(self, db: Session, segmentation_ids: Sequence[int]) -> Select | None:
        """The index range scans that find ROIs by position among ``segmentation_ids``, or None
        without a position filter.

        Positions are looked up first, on (fov_id, segmentation_id, fov_x_um, fov_y_um) with the field
        of view's and the segmentations' ids spelled out: one small range per segmentation, so the
        database cannot choose a scan over a subject's every ROI instead, and a query over a few
        sessions does not read the position range of every session the field of view has.
        """
        if self.near is None and self.box is None:
            return None
        if self.field_of_view is None:
            raise InvalidInputError(
                "positions are µm in a field of view's reference frame: give field_of_view= (--fov) with near/box"
            )
        fov_ids = list(db.scalars(self._fov_ids_statement()))
        return select(m.Roi.roi_id).where(
            m.Roi.fov_id.in_(fov_ids), id_in(m.Roi.segmentation_id, segmentation_ids), *self._position()
        )

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
        missing = [f"{subject}/{session}" for subject, session in db.execute(self.sessions_without_start_statement())]
        if missing:
            shown = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
            warnings.warn(
                f"the date range (--after/--before) leaves out {len(missing)} session(s) that have no start time "
                f"({shown}); give each one with `segdb session set {missing[0]} --start 2026-03-01T09:30` "
                "(archive.set_session(..., session_start=...))",
                stacklevel=2,
            )
        return len(missing)

    def sessions_without_start_statement(self) -> Select:
        """(subject, session) of the sessions that the other filters select but that have no start time."""
        # For each session without a start only (found by the session_start index): has it a ready segmentation?
        ready = select(m.Segmentation.segmentation_id).where(
            m.Segmentation.session_id == m.ImagingSession.session_id, m.Segmentation.status == "ready"
        )
        if self.segmentation is not None:
            ready = ready.where(m.Segmentation.segmentation_name == self.segmentation)
        query = (
            select(m.Subject.subject_name, m.ImagingSession.session_name)
            .join(m.ImagingSession.subject)
            .where(m.ImagingSession.session_start.is_(None), ready.exists())
            .order_by(m.Subject.subject_name, m.ImagingSession.session_name)
        )
        if self.subject is not None:
            query = query.where(m.Subject.subject_name == self.subject)
        if self._session_names() is not None:
            query = query.where(m.ImagingSession.session_name.in_(self._session_names()))
        return query

    def segmentation_ids(self, db: Session) -> list[int]:
        """The ready segmentations the subject, session and segmentation filters allow.

        Resolved first (there are thousands of segmentations at most, against millions of
        ROIs), so that ROIs are then found by their segmentation, and property conditions
        by one index range per segmentation.
        """
        return sorted(db.scalars(self.segmentations_statement()))

    def segmentations_statement(self) -> Select:
        # Unordered (the ids are sorted after): ORDER BY segmentation_id would have SQLite walk every
        # segmentation in id order rather than find a date range's sessions by their start.
        query = (
            select(m.Segmentation.segmentation_id)
            .join(m.Segmentation.session)
            .where(m.Segmentation.status == "ready")
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

    def _conditions(self, segmentation_ids: Sequence[int], roi_ids: Sequence[int] | None,
                    joined: Sequence[str] = ()) -> list:
        """The WHERE conditions on rois; those on the properties ``joined`` are left to the caller's joins."""
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
        conditions.append(roi_filter(self.where, segmentation_ids, joined=joined))
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

    def column_statement(self, segmentation_ids: Sequence[int], roi_ids: Sequence[int] | None,
                         sources: Sequence[str], properties: Mapping[str, tuple[str, str]]) -> Select:
        """The SELECT of :meth:`statement` with only the rois columns ``sources`` and, per property, its
        stored value (value_num, or value_text for text and JSON) from an outer join: one row per ROI.

        A property the filter has conditions on is joined with them instead (an inner join, the filter's
        ``roi_id IN (...)`` for it left out): its index range then drives the query and brings each value
        along, where the IN list and an outer join read every match twice (on SQLite, half the engine's time
        for "snr > 5" and its snr column).

        Only a limited query is ordered in SQL (to know which ROIs come first); otherwise the rows come
        in the database's order and :func:`session_order` sorts them, which costs less than SQL's sort.
        """
        values, joined = [], []
        query = select(*(getattr(m.Roi, name) for name in sources))
        for name, (value_type, _) in properties.items():
            stored = aliased(m.RoiProperty)
            on = [stored.roi_id == m.Roi.roi_id, stored.property_name == name]
            required = property_join_conditions(self.where, name, stored, segmentation_ids)
            if required is None:
                query = query.outerjoin(stored, and_(*on))
            else:
                query = query.join(stored, and_(*on, *required))
                joined.append(name)
            values.append(stored.value_text if value_type in ("str", "json") else stored.value_num)
        query = query.add_columns(*values).where(*self._conditions(segmentation_ids, roi_ids, joined))
        if self.limit is not None:
            query = (
                query.join(m.Segmentation, m.Segmentation.segmentation_id == m.Roi.segmentation_id)
                .join(m.Segmentation.session)
                .order_by(m.ImagingSession.session_start, m.ImagingSession.session_name, m.Roi.roi_id)
                .limit(int(self.limit))
            )
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
        by_position = self.position_statement(db, segmentation_ids)
        roi_ids = None if by_position is None else list(db.scalars(by_position))
        if roi_ids == []:
            return None
        return segmentation_ids, roi_ids

    def count(self, db: Session) -> int:
        scope = self.scope(db)
        return 0 if scope is None else int(db.scalar(self.count_statement(*scope)))

    def run(self, db: Session) -> list[RoiHit]:
        scope = self.scope(db)
        return [] if scope is None else self.hits(db, *scope)

    def hits(self, db: Session, segmentation_ids: Sequence[int], roi_ids: Sequence[int] | None) -> list[RoiHit]:
        """Every ROI of this query among ``segmentation_ids`` (and ``roi_ids``) as a RoiHit, in session order."""
        rows = db.connection().execute(self.statement(segmentation_ids, roi_ids)).all()
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
                 f"{explain(db, self.segmentations_statement())}"]
        if segmentation_ids:
            by_position = self.position_statement(db, segmentation_ids)
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


# -- columnar answers ----------------------------------------------------------------------------

#: The columns of a query's table, in order: a RoiHit's fields, its coordinate pairs split in two.
FIELD_COLUMNS = (
    "roi_id", "subject", "session", "session_start", "segmentation_id", "segmentation", "plane", "field_of_view",
    "key", "kind", "centroid_row", "centroid_col", "fov_x_um", "fov_y_um", "pixel_count",
)

# The rois columns each table column is made from (names come from small lookups by id).
_SOURCES = {
    "roi_id": ("roi_id",), "subject": ("segmentation_id",), "session": ("segmentation_id",),
    "session_start": ("segmentation_id",), "segmentation_id": ("segmentation_id",),
    "segmentation": ("segmentation_id",), "plane": ("plane_id",), "field_of_view": ("fov_id",),
    "key": ("roi_key", "roi_key_type"), "kind": ("kind",), "centroid_row": ("centroid_row",),
    "centroid_col": ("centroid_col",), "fov_x_um": ("fov_x_um",), "fov_y_um": ("fov_y_um",),
    "pixel_count": ("pixel_count",), "mask_index": ("mask_index",),
}


@dataclass(frozen=True)
class ScopedQuery:
    """A query whose names were checked and whose segmentations and position matches were found once:
    what a lazy answer keeps so that counting, listing and fetching columns later ask no more of it."""

    query: RoiQuery
    segmentation_ids: tuple[int, ...]
    roi_ids: tuple[int, ...] | None
    empty: bool

    @classmethod
    def resolve(cls, db: Session, query: RoiQuery) -> ScopedQuery:
        """Check ``query`` and find its segmentations and position matches."""
        segmentation_ids = query.segmentation_ids(db)
        query.check(db, segmentation_ids)
        by_position = query.position_statement(db, segmentation_ids) if segmentation_ids else None
        roi_ids = None if by_position is None else tuple(db.scalars(by_position))
        empty = not segmentation_ids or roi_ids == ()
        if not empty:
            query.statement(segmentation_ids, roi_ids)  # a filter that cannot be written in SQL is refused now
        return cls(query, tuple(segmentation_ids), roi_ids, empty)

    def count(self, db: Session) -> int:
        """How many ROIs match, counted in SQL (no row is fetched)."""
        if self.empty:
            return 0
        return int(db.scalar(self.query.count_statement(self.segmentation_ids, self.roi_ids)))

    def records(self, db: Session) -> list[RoiHit]:
        """Every match as a RoiHit, in session order."""
        if self.empty:
            return []
        return self.query.hits(db, self.segmentation_ids, self.roi_ids)

    def columns(self, db: Session, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The matches as one array per column (``names``: fields of :data:`FIELD_COLUMNS`, ``mask_index``
        or properties; default every field), read in one statement whose rows go straight into arrays.

        Numeric properties are float64 (NaN where a ROI has no value) unless every ROI found has a value,
        then their described dtype; text properties are str objects (None where missing).
        """
        names = list(FIELD_COLUMNS if names is None else names)
        properties = _property_dtypes(db, [n for n in names if n not in _SOURCES], self.segmentation_ids)
        sources = list(dict.fromkeys(["roi_id", "segmentation_id"] + [
            source for name in names if name in _SOURCES for source in _SOURCES[name]
        ]))
        with _no_garbage_collection():
            statement = None
            if not self.empty:
                statement = self.query.column_statement(self.segmentation_ids, self.roi_ids, sources, properties)
            raw: dict | None = None
            if statement is not None and _packs_binary(db, properties):
                raw = _packed_columns(db, statement, sources, properties)
            if raw is None:
                rows = [] if statement is None else db.connection().execute(statement).cursor.fetchall()
                raw = dict(zip([*sources, *properties], _transposed(rows, len(sources) + len(properties))))
                del rows
            table = _table(db, names, raw, properties)
            if self.query.limit is not None or len(raw["roi_id"]) < 2:
                return table
            order = session_order(db, np.array(raw["segmentation_id"], dtype=np.int64),
                                  np.array(raw["roi_id"], dtype=np.int64))
            return {name: column[order] for name, column in table.items()}


def session_order(db: Session, segmentation_ids: np.ndarray, roi_ids: np.ndarray) -> np.ndarray:
    """The permutation that puts rows in the record path's order: by session start, session name (as the
    database orders them, NULL starts included), then roi_id."""
    unique, inverse = np.unique(segmentation_ids, return_inverse=True)
    ordered = db.execute(
        select(m.Segmentation.segmentation_id, m.ImagingSession.session_start, m.ImagingSession.session_name)
        .join(m.Segmentation.session)
        .where(id_in(m.Segmentation.segmentation_id, unique.tolist()))
        .order_by(m.ImagingSession.session_start, m.ImagingSession.session_name)
    ).all()
    rank: dict[int, int] = {}
    previous = None
    for segmentation_id, start, name in ordered:
        if (start, name) != previous:
            previous = (start, name)
            position = len(rank)
        rank[segmentation_id] = position
    session_rank = np.array([rank[int(i)] for i in unique], dtype=np.int64)
    return np.lexsort((roi_ids, session_rank[inverse.reshape(-1)]))


@contextlib.contextmanager
def _no_garbage_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector: fetching rows makes tuples and values by the hundred thousand, none
    of them cyclic, and each collection they trigger walks every object the process holds (in a process that
    holds much, more time than the fetch itself)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _packs_binary(db: Session, properties: Mapping[str, tuple[str, str]]) -> bool:
    """Whether the columns can come packed as fixed-width binary numbers: on PostgreSQL, with no text or
    JSON property (whose values are text of any length)."""
    return (db.get_bind().dialect.name == "postgresql"
            and all(value_type not in ("str", "json") for value_type, _ in properties.values()))


#: The rois columns that may be NULL, read as float64 with NaN for NULL.
_NULLABLE = {"fov_id", "fov_x_um", "fov_y_um"}
#: ROI keys that fit int64 as text (at most 18 digits), read as numbers; the others are read by id.
_INT64_KEY = "^-?[0-9]{1,18}$"


def _packed_columns(db: Session, statement: Select, sources: Sequence[str],
                    properties: Mapping[str, tuple[str, str]]) -> dict[str, np.ndarray]:
    """The statement's columns as one bytea that numpy reads as a record array: each row's values made
    8 bytes wide and never NULL (NaN for NULL), sent big-endian (int8send, float8send), concatenated, and
    the rows aggregated by string_agg, so that the driver makes one Python value for the whole answer
    where its rows make one per cell.

    ``COPY (...) TO STDOUT (FORMAT BINARY)`` was measured first and loses: the server sends one message
    per row, and psycopg's copy reads each through Python (81,084 messages for query B, about 1 s of client
    time under profile). Keys are int8 when their source's type is int and they fit; the others (text keys,
    ints past 18 digits) are read by roi_id afterwards.
    """
    found = statement.subquery()
    stored_values = list(found.c)[len(sources):]
    nan = literal_column("'NaN'::float8")
    exprs, kinds = [], []
    for name in sources:
        column = found.c[name]
        if name == "roi_key_type":
            continue
        if name == "roi_key":
            exact = and_(found.c.roi_key_type == "int", column.regexp_match(_INT64_KEY))
            exprs += [case((exact, cast(column, BigInteger)), else_=0), cast(case((exact, 1), else_=0), BigInteger)]
            kinds += [("roi_key", "i"), ("key_is_int", "i")]
        elif name == "kind":
            exprs.append(cast(case(*((column == kind, code) for code, kind in enumerate(m.ROI_KINDS)), else_=-1),
                              BigInteger))
            kinds.append((name, "i"))
        elif name in _NULLABLE:
            exprs.append(func.coalesce(cast(column, Float), nan))
            kinds.append((name, "f"))
        elif name in ("centroid_row", "centroid_col"):
            exprs.append(cast(column, Float))
            kinds.append((name, "f"))
        else:
            exprs.append(cast(column, BigInteger))
            kinds.append((name, "i"))
    for name, value in zip(properties, stored_values):
        exprs.append(func.coalesce(cast(value, Float), nan))
        kinds.append((name, "f"))
    sent = [func.int8send(expr) if kind == "i" else func.float8send(expr) for expr, (_, kind) in zip(exprs, kinds)]
    packed = sent[0]
    for value in sent[1:]:
        packed = packed.op("||")(value)
    buffer = db.connection().execute(select(func.string_agg(packed, literal_column("''::bytea")))).scalar() or b""
    record = np.dtype([(f"value{index}", ">i8" if kind == "i" else ">f8") for index, (_, kind) in enumerate(kinds)])
    rows = np.frombuffer(buffer, dtype=record)
    raw: dict[str, Any] = {}
    for index, (name, kind) in enumerate(kinds):
        raw[name] = rows[f"value{index}"].astype(np.int64 if kind == "i" else np.float64)
    if "kind" in raw:
        raw["kind"] = np.array(m.ROI_KINDS, dtype=object)[raw["kind"]]
    if "roi_key" in raw:
        raw["key"] = _packed_keys(db, raw["roi_id"], raw.pop("roi_key"), raw.pop("key_is_int").astype(bool))
    return raw


def _packed_keys(db: Session, roi_ids: np.ndarray, int_keys: np.ndarray, is_int: np.ndarray) -> np.ndarray:
    """The ROI keys of packed columns: the int8 ones as they came, the others (text, or ints past int64) read by id."""
    if is_int.all():
        return int_keys
    others = roi_ids[~is_int]
    stored = dict(((roi_id, roi_key_value(key, key_type)) for roi_id, key, key_type in db.execute(
        select(m.Roi.roi_id, m.Roi.roi_key, m.Roi.roi_key_type).where(id_in(m.Roi.roi_id, others.tolist())))))
    out = int_keys.astype(object)
    out[~is_int] = [stored[int(i)] for i in others]
    return out


def _transposed(rows: list[tuple], width: int) -> list[tuple]:
    return list(zip(*rows)) if rows else [()] * width


def _property_dtypes(db: Session, names: Sequence[str], segmentation_ids: Sequence[int]) -> dict[str, tuple[str, str]]:
    """{property: (how it is stored, dtype)} for ``names`` in these segmentations, from their descriptions
    (one row per segmentation and property, not the values); an unknown name is an error listing the
    columns there are."""
    if not names:
        return {}
    if not segmentation_ids:
        # No segmentation is selected, so no property can be checked, and the answer is empty anyway.
        return {name: ("float", "<f8") for name in dict.fromkeys(names)}
    described: dict[str, list[tuple[str, tuple]]] = {}
    found = db.execute(
        select(m.PropertyDescription.property_name, m.PropertyDescription.value_dtype,
               m.PropertyDescription.value_shape)
        .where(id_in(m.PropertyDescription.segmentation_id, segmentation_ids))
    ).all()
    for name, dtype, shape in found:
        described.setdefault(name, []).append((dtype, tuple(shape or ())))
    unknown = [name for name in names if name not in described]
    if unknown:
        raise InvalidInputError(
            f"columns {unknown} are neither fields nor properties of the ROIs this query finds; the fields are "
            f"{', '.join(FIELD_COLUMNS)} and mask_index, the properties {', '.join(sorted(described)) or '(none)'}"
        )
    return {name: _stored_as(described[name]) for name in dict.fromkeys(names)}


def _stored_as(descriptions: Sequence[tuple[str, tuple]]) -> tuple[str, str]:
    """(value type, dtype) of a property described in several segmentations: json when its values are
    arrays, str for text, a number otherwise (dtypes merged as the values would be)."""
    dtypes = [dtype for dtype, _ in descriptions]
    if any(shape for _, shape in descriptions):
        return "json", "object"
    merged = _merged_dtype(dtypes)
    if merged == "object" or np.dtype(merged).kind in "USO":
        return "str", "object"
    return {"b": "bool", "i": "int", "u": "int"}.get(np.dtype(merged).kind, "float"), merged


def _merged_dtype(dtypes: Sequence[str]) -> str:
    if "object" in dtypes:
        return "object"
    try:
        return np.result_type(*(np.dtype(d) for d in dtypes)).str
    except TypeError:  # text in one segmentation, numbers in another
        return "object"


def _table(db: Session, names: Sequence[str], raw: dict[str, tuple], properties: dict[str, tuple[str, str]]
           ) -> dict[str, np.ndarray]:
    """The columns asked for, made from the fetched rois columns and property values."""
    segmentation_ids = np.array(raw["segmentation_id"], dtype=np.int64)
    lookup = _segmentation_lookup(db, segmentation_ids)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in properties:
            out[name] = _property_array(raw[name], *properties[name])
        elif name in lookup:
            out[name] = lookup[name]
        elif name == "plane":
            out[name] = _named(db, m.ImagingPlane.plane_id, m.ImagingPlane.plane_name, raw["plane_id"])
        elif name == "field_of_view":
            out[name] = _named(db, m.FieldOfView.fov_id, m.FieldOfView.fov_name, raw["fov_id"])
        elif name == "key":
            out[name] = raw["key"] if "key" in raw else _keys(raw["roi_key"], raw["roi_key_type"])
        elif name == "kind":
            out[name] = np.array(raw["kind"], dtype=object)
        elif name in ("roi_id", "pixel_count", "mask_index"):
            out[name] = np.array(raw[name], dtype=np.int64)
        else:
            out[name] = np.array(raw[name], dtype=np.float64)
    return out


def _segmentation_lookup(db: Session, segmentation_ids: np.ndarray) -> dict[str, np.ndarray]:
    """subject, session, session_start, segmentation and segmentation_id columns from the segmentation of each row."""
    unique, inverse = np.unique(segmentation_ids, return_inverse=True)
    found = {
        row.segmentation_id: row for row in db.execute(
            select(m.Segmentation.segmentation_id, m.Subject.subject_name, m.ImagingSession.session_name,
                   m.ImagingSession.session_start, m.Segmentation.segmentation_name)
            .join(m.Segmentation.session).join(m.ImagingSession.subject)
            .where(id_in(m.Segmentation.segmentation_id, unique.tolist()))
        )
    } if unique.size else {}
    rows = [found[int(i)] for i in unique]
    starts = [as_utc(row.session_start) for row in rows]
    start_values = np.array(
        [np.datetime64(s.astimezone(dt.timezone.utc).replace(tzinfo=None), "us") if s else np.datetime64("NaT", "us")
         for s in starts], dtype="datetime64[us]")
    return {
        "segmentation_id": segmentation_ids,
        "subject": np.array([row.subject_name for row in rows], dtype=object)[inverse],
        "session": np.array([row.session_name for row in rows], dtype=object)[inverse],
        "session_start": start_values[inverse],
        "segmentation": np.array([row.segmentation_name for row in rows], dtype=object)[inverse],
    }


def _named(db: Session, id_column: Any, name_column: Any, ids: tuple) -> np.ndarray:
    """The name of each id (None stays None) as an object array, looked up once per distinct id."""
    unique, inverse = np.unique(np.array(ids, dtype=np.float64), return_inverse=True)
    known = [int(i) for i in unique if not np.isnan(i)]
    names = _names(db, id_column, name_column, set(known)) if known else {}
    table = np.empty(len(unique), dtype=object)
    table[:] = [None if np.isnan(i) else names.get(int(i)) for i in unique]
    return table[inverse.reshape(-1)]


def _keys(keys: tuple, key_types: tuple) -> np.ndarray:
    """ROI keys with their source's type: int64 when every key is an int, else objects (ints and strs)."""
    types = set(key_types)
    if types == {"int"}:
        return np.array(keys, dtype=np.int64)
    out = np.empty(len(keys), dtype=object)
    out[:] = [roi_key_value(k, t) for k, t in zip(keys, key_types)]
    return out


def _property_array(values: tuple, value_type: str, dtype: str) -> np.ndarray:
    if value_type == "json":
        out = np.empty(len(values), dtype=object)
        out[:] = [None if v is None else json.loads(v) for v in values]
        return out
    if value_type == "str":
        return np.array(values, dtype=object)
    numbers = np.array(values, dtype=np.float64)
    if dtype != "object" and not np.isnan(numbers).any() and np.dtype(dtype).kind in "biu":
        return numbers.astype(np.dtype(dtype))
    return numbers
