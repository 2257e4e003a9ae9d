"""ROIs for the layers above: cross-session queries, where-filters, properties and curation labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from segdb.archive.base import ArchiveBase, SegmentationRef
from segdb.archive.consensus import accepted_clause, check_policy, consensus
from segdb.archive.filters import WhereSpec, check_where_fields, roi_filter
from segdb.archive.payload import (
    property_column,
)
from segdb.archive.properties import insert_property_rows, merged_property_dtype
from segdb.archive.query import RoiHit, RoiQuery, ScopedQuery
from segdb.archive.reader import (
    plane_properties,
    plane_property_names,
    property_descriptions,
)
from segdb.catalog import models as m
from segdb.errors import InvalidInputError, NotFoundError


class RoiAccess(ArchiveBase):
    """Reading and selecting ROIs for the layers above: queries, filters, properties, labels."""

    def query_rois(self, **filters: Any) -> list[RoiHit]:
        """ROIs across sessions matching every filter, answered in SQL; see :class:`RoiQuery`."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return query.run(db)

    def scoped_query(self, **filters: Any) -> ScopedQuery:
        """A query checked now (unknown names and properties are errors here, warnings are given here) and
        ready to be counted, listed or fetched as columns later; see :class:`ScopedQuery`."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return ScopedQuery.resolve(db, query)

    def scoped_count(self, scoped: ScopedQuery) -> int:
        """How many ROIs a scoped query finds, counted in SQL."""
        with self.catalog.reading() as db:
            return scoped.count(db)

    def scoped_hits(self, scoped: ScopedQuery) -> list[RoiHit]:
        """The ROIs a scoped query finds, as records in session order."""
        with self.catalog.reading() as db:
            return scoped.records(db)

    def scoped_columns(self, scoped: ScopedQuery, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The ROIs a scoped query finds as one array per column; see :meth:`ScopedQuery.columns`."""
        with self.catalog.reading() as db:
            return scoped.columns(db, columns)

    def count_rois(self, **filters: Any) -> int:
        """How many ROIs a query finds, counted in SQL."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return query.count(db)

    def explain_query(self, *, count: bool = False, **filters: Any) -> str:
        """The database's plan for a query (which indexes it uses); ``count`` for counting it."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return query.explain(db, count=count)

    def check_names(self, **names: Any) -> None:
        """Refuse a subject, session, segmentation, plane or field_of_view name the archive does not hold
        (among what the other names select), naming what it holds; see :meth:`RoiQuery.check_names`."""
        with self.catalog.reading() as db:
            RoiQuery(**names).check_names(db)

    def check_curation_policy(self, policy: str) -> str:
        """``policy`` if it is a consensus policy whose ``curator:NAME`` (if any) names a curator of the archive."""
        with self.catalog.reading() as db:
            return check_policy(policy, db)

    def matching_mask_indices(
        self, segmentation: SegmentationRef, plane: str, where: WhereSpec, *, curation: str = "latest"
    ) -> tuple[list[int], list[int]]:
        """Mask indices of a plane's cells and background components that satisfy ``where``, in SQL.

        'accepted' in the filter means accepted under the curation policy ``curation``.
        """
        with self.catalog.reading() as db:
            check_policy(curation, db)
            seg_id = self.resolve_segmentation(db, segmentation)
            check_where_fields(db, where, [seg_id], f"segmentation {seg_id}")
            condition = roi_filter(where, [seg_id], accepted=accepted_clause(seg_id, curation))
            rows = db.execute(
                select(m.Roi.kind, m.Roi.mask_index)
                .join(m.Roi.plane)
                .where(m.Roi.segmentation_id == seg_id, m.ImagingPlane.plane_name == plane, condition)
                .order_by(m.Roi.kind.desc(), m.Roi.mask_index)
            ).all()
        cells = [int(i) for kind, i in rows if kind == "cell"]
        background = [int(i) for kind, i in rows if kind == "background"]
        return cells, background

    def set_roi_property(
        self,
        segmentation: SegmentationRef,
        plane: str,
        name: str,
        values_by_mask_index: Mapping[int, Any],
        *,
        description: str = "",
    ) -> None:
        """Write a property of some cell ROIs of a plane (insert or replace), visible to every reader.

        A property holds a value for every cell ROI of a plane that has it: a new property must be
        given for all of them, an existing one may be replaced for some. Everything is checked before
        anything is written, and the write is one transaction.
        """
        indices = [int(i) for i in values_by_mask_index]
        values = np.asarray([values_by_mask_index[i] for i in values_by_mask_index])
        column = property_column(name, values, description, f"plane {plane!r}")

        def write(db: Session) -> None:
            seg_id, plane_id, plane_name = self.resolve_plane(db, segmentation, plane)
            where = f"segmentation {seg_id} plane {plane_name!r}"
            cells = dict(
                db.execute(
                    select(m.Roi.mask_index, m.Roi.roi_id).where(
                        m.Roi.segmentation_id == seg_id, m.Roi.plane_id == plane_id, m.Roi.kind == "cell"
                    )
                ).all()
            )
            unknown = [i for i in indices if i not in cells]
            if unknown:
                raise NotFoundError(
                    f"mask indices {unknown[:10]} are not cell ROIs of {where} "
                    f"(it has {len(cells)}: 0..{len(cells) - 1})"
                )
            roi_ids = [cells[i] for i in indices]
            kept = db.execute(
                select(m.RoiProperty.value_type, m.Roi.plane_id, func.count())
                .join(m.Roi, m.Roi.roi_id == m.RoiProperty.roi_id)
                .where(
                    m.RoiProperty.segmentation_id == seg_id,
                    m.RoiProperty.property_name == name,
                    m.RoiProperty.roi_id.notin_(roi_ids),
                )
                .group_by(m.RoiProperty.value_type, m.Roi.plane_id)
            ).all()
            kept_here = sum(count for _, plane_of, count in kept if plane_of == plane_id)
            if kept_here + len(roi_ids) != len(cells):
                raise InvalidInputError(
                    f"property {name!r} is not set for the other {len(cells) - len(roi_ids) - kept_here} ROIs of "
                    f"{where}, and a property holds a value for each of its {len(cells)} ROIs; set it on the "
                    "whole plane (archive.extractor(...) without select_rois), with NaN or '' where a value is missing"
                )
            described = db.get(m.PropertyDescription, (seg_id, name))
            value_dtype = merged_property_dtype(
                name, f"segmentation {seg_id}", {value_type for value_type, _, _ in kept},
                described.value_dtype if described else column.value_dtype,
                described.value_shape if described else column.value_shape, column,
            )
            if described is None:
                db.add(
                    m.PropertyDescription(
                        segmentation_id=seg_id, property_name=name, description=description,
                        value_dtype=value_dtype, value_shape=list(column.value_shape),
                    )
                )
            else:
                described.value_dtype = value_dtype
                described.value_shape = list(column.value_shape)
                if description:
                    described.description = description
            db.execute(
                delete(m.RoiProperty).where(m.RoiProperty.roi_id.in_(roi_ids), m.RoiProperty.property_name == name)
            )
            db.flush()
            insert_property_rows(db, seg_id, roi_ids, [column], {name})

        self.catalog.write_with_retry(write)

    def property_descriptions(self, segmentation: SegmentationRef) -> dict[str, str]:
        with self.catalog.reading() as db:
            return property_descriptions(db, self.resolve_segmentation(db, segmentation))

    def curation_labels(
        self, segmentation: SegmentationRef, plane: str, mask_indices: Sequence[int], *, policy: str = "latest"
    ) -> list[str | None]:
        """The consensus label of each of a plane's cell ROIs under ``policy`` (None: nobody decided)."""
        with self.catalog.reading() as db:
            check_policy(policy, db)
            seg_id = self.resolve_segmentation(db, segmentation)
            state = consensus(seg_id, policy).subquery("state")
            labels = dict(
                db.execute(
                    select(m.Roi.mask_index, state.c.label)
                    .join(state, state.c.roi_id == m.Roi.roi_id)
                    .join(m.Roi.plane)
                    .where(m.Roi.segmentation_id == seg_id, m.ImagingPlane.plane_name == plane, m.Roi.kind == "cell")
                ).all()
            )
        return [labels.get(int(i)) for i in mask_indices]

    def plane_properties(
        self, segmentation: SegmentationRef, plane: str | None = None, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Properties of one plane's cell ROIs (all, or only ``names``), as arrays in catalog (mask) order."""
        with self.catalog.reading() as db:
            seg_id, plane_id, _ = self.resolve_plane(db, segmentation, plane)
            return plane_properties(db, seg_id, plane_id, names)

    def property_names(self, segmentation: SegmentationRef, plane: str | None = None) -> list[str]:
        """The names of the properties one plane's cell ROIs carry (read from the property index)."""
        with self.catalog.reading() as db:
            seg_id, plane_id, _ = self.resolve_plane(db, segmentation, plane)
            return plane_property_names(db, seg_id, plane_id)

    def place_plane(self, db: Session, plane_id: int, fov_transform: Sequence[Sequence[float]]) -> None:
        """Set a plane's 2x3 affine (µm, plane frame -> field of view frame) and move its ROIs' field-of-view
        positions with it, inside the caller's unit of work.

        The positions are computed in SQL from each ROI's centroid, as :func:`segdb.geometry.apply_affine`
        computes them at ingest.
        """
        (a, b, c), (d, e, f) = fov_transform
        row = db.get(m.ImagingPlane, plane_id)
        if row is None:
            raise NotFoundError(f"imaging plane {plane_id} is not in the archive at {self.location}")
        row.fov_transform = [list(map(float, line)) for line in fov_transform]
        db.execute(
            update(m.Roi)
            .where(m.Roi.plane_id == plane_id)
            .values(
                fov_id=row.fov_id,
                fov_x_um=a * m.Roi.centroid_x_um + b * m.Roi.centroid_y_um + c,
                fov_y_um=d * m.Roi.centroid_x_um + e * m.Roi.centroid_y_um + f,
            )
        )
