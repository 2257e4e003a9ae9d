"""Chosen columns of a ROI listing: the record's own fields, the plane's properties, the curation label."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from segdb.errors import InvalidInputError

#: The column that holds each ROI's consensus label under the listing's --policy.
LABEL_COLUMN = "label"


def parse_columns(text: str) -> list[str]:
    """``snr,skew,label`` as a list of column names."""
    columns = [name.strip() for name in text.split(",") if name.strip()]
    if not columns:
        raise InvalidInputError(f"--columns {text!r} names no column; give names separated by commas, e.g. snr,label")
    return columns


def roi_rows(archive: Any, records: Sequence[Any], columns: Sequence[str], *, policy: str) -> list[dict[str, Any]]:
    """Each ROI record as a row with ``columns`` filled in: its fields, its plane's property values (cells only;
    background components have none) and ``label``, the consensus label under ``policy`` (undecided: None).

    An unknown column is an error that lists the columns there are.
    """
    rows = [record.to_dict() for record in records]
    if not rows:
        return rows
    if "mask_index" not in rows[0]:
        _add_mask_indices(archive, rows)
    planes: dict[tuple[int, str], list[int]] = defaultdict(list)
    for position, row in enumerate(rows):
        if row["kind"] == "cell":
            planes[row["segmentation_id"], row["plane"]].append(position)
    fields = set(rows[0])
    wanted = [column for column in columns if column not in fields and column != LABEL_COLUMN]
    properties = set()
    for segmentation, plane in planes:
        properties.update(archive.property_names(segmentation, plane))
    unknown = [column for column in wanted if column not in properties]
    if unknown:
        raise InvalidInputError(
            f"--columns names {unknown}, which these ROIs do not have; the columns are {sorted(fields)}, "
            f"{LABEL_COLUMN!r} (the label under --policy) and the properties {sorted(properties) or '(none)'}"
        )
    for (segmentation, plane), positions in planes.items():
        indices = [rows[p]["mask_index"] for p in positions]
        values = archive.plane_properties(segmentation, plane, names=wanted) if wanted else {}
        labels = archive.curation_labels(segmentation, plane, indices, policy=policy) if LABEL_COLUMN in columns else []
        for order, position in enumerate(positions):
            for name in wanted:
                column = values.get(name)
                rows[position][name] = None if column is None else column[indices[order]].tolist()
            if labels:
                rows[position][LABEL_COLUMN] = labels[order]
    for row in rows:
        for column in columns:
            row.setdefault(column, None)
    return rows


def _add_mask_indices(archive: Any, rows: list[dict[str, Any]]) -> None:
    """Give query hits (which name ROIs by roi_id) the mask index their plane's properties are kept in."""
    wanted: dict[tuple[int, str], set[int]] = defaultdict(set)
    for row in rows:
        wanted[row["segmentation_id"], row["plane"]].add(row["roi_id"])
    index: dict[int, int] = {}
    for (segmentation, plane), roi_ids in wanted.items():
        index.update({r.roi_id: r.mask_index for r in archive.rois(segmentation, plane=plane, kind=None)
                      if r.roi_id in roi_ids})
    for row in rows:
        row["mask_index"] = index[row["roi_id"]]
