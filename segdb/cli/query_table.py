"""`segdb query`'s answer as columns, and those columns as the rows of a table, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from segdb.archive.query import FIELD_COLUMNS
from segdb.cli.columns import LABEL_COLUMN
from segdb.errors import InvalidInputError

#: What `segdb query` shows without --columns.
TABLE_COLUMNS = ["roi_id", "subject", "session", "segmentation", "plane", "key", "fov_um", "pixel_count"]

#: A hit's coordinate pairs, kept as two columns each.
PAIRS = {"centroid_px": ("centroid_row", "centroid_col"), "fov_um": ("fov_x_um", "fov_y_um")}

# What the label column is computed from.
_LABEL_SOURCES = ("segmentation_id", "plane", "kind", "mask_index")


def query_table(archive: Any, scoped: Any, columns: Sequence[str] | None, output_format: str, *,
                policy: str) -> dict[str, np.ndarray]:
    """The columns ``output_format`` writes, read through the archive's columnar path.

    json and table have every field (JSON prints them all, as ``--json`` always has), and with ``--columns``
    the mask index and the properties asked for; csv and parquet have the columns asked for, a pair such
    as fov_um as its two columns, or every field. ``label`` is each cell's consensus label under ``policy``.
    """
    asked = [] if columns is None else list(columns)
    extras = [name for name in asked if name not in FIELD_COLUMNS and name not in PAIRS
              and name not in (LABEL_COLUMN, "mask_index")]
    if output_format in ("json", "table"):
        wanted = [*FIELD_COLUMNS, *(["mask_index"] if columns is not None else []), *extras]
    elif columns is None:
        wanted = list(FIELD_COLUMNS)
    else:
        wanted = [part for name in asked if name != LABEL_COLUMN for part in PAIRS.get(name, (name,))]
    fetched = list(dict.fromkeys([*wanted, *(_LABEL_SOURCES if LABEL_COLUMN in asked else ())]))
    try:
        table = archive.scoped_columns(scoped, fetched)
    except InvalidInputError as exc:
        raise InvalidInputError(f"--columns: {exc}, and {LABEL_COLUMN!r} (the label under --policy)") from None
    if LABEL_COLUMN in asked:
        table[LABEL_COLUMN] = _labels(archive, table, policy)
    order = wanted + ([LABEL_COLUMN] if LABEL_COLUMN in asked else [])
    return {name: table[name] for name in order}


def _labels(archive: Any, table: dict[str, np.ndarray], policy: str) -> np.ndarray:
    """Each cell's consensus label under ``policy`` (undecided, and background components: None)."""
    labels = np.empty(len(table["kind"]), dtype=object)
    planes: dict[tuple[int, str], list[int]] = defaultdict(list)
    for position, (segmentation, plane, kind) in enumerate(
        zip(table["segmentation_id"].tolist(), table["plane"].tolist(), table["kind"].tolist())
    ):
        if kind == "cell":
            planes[segmentation, plane].append(position)
    for (segmentation, plane), positions in planes.items():
        indices = table["mask_index"][positions].tolist()
        labels[positions] = archive.curation_labels(segmentation, plane, indices, policy=policy)
    return labels


def hit_rows(table: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The columns as one dict per ROI, shaped as a query hit's ``to_dict`` (pairs as [a, b], session_start as
    ISO text, missing values as None), then the other columns."""
    values = {name: _plain(name, column) for name, column in table.items()}
    names = []
    for name in table:
        pair = next((p for p, parts in PAIRS.items() if name in parts), None)
        names.append(pair if pair is not None and all(part in table for part in PAIRS[pair]) else name)
    names = list(dict.fromkeys(names))
    for pair, (first, second) in PAIRS.items():
        if pair in names:
            values[pair] = [list(v) for v in zip(values.pop(first), values.pop(second))]
    return [dict(zip(names, row)) for row in zip(*(values[name] for name in names))]


def _plain(name: str, column: np.ndarray) -> list:
    """A column as plain Python values: NaN and NaT as None, datetimes as ISO text in UTC."""
    if name == "session_start":
        return [None if v is None else v.replace(tzinfo=dt.timezone.utc).isoformat()
                for v in column.astype("datetime64[us]").tolist()]
    if column.dtype.kind == "f":
        return [None if math.isnan(v) else v for v in column.tolist()]
    return column.tolist()


def write_csv(table: dict[str, np.ndarray], stream: TextIO) -> None:
    """The columns as CSV with a header row; missing values as empty cells, session_start as ISO text."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(list(table))
    writer.writerows(zip(*(_plain(name, column) for name, column in table.items())))
