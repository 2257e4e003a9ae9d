"""How typed ROI property values are stored in the catalog and read back."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from segdb.catalog import models as m
from segdb.errors import InvalidInputError

if TYPE_CHECKING:
    from segdb.archive.payload import PropertyColumn


def encode_property_value(value_type: str, value: Any) -> tuple[float | None, str | None]:
    """How one property value is stored: numbers in value_num (NaN as NULL), the rest as text."""
    if value_type == "json":
        return None, json.dumps(np.asarray(value).tolist())
    if value_type == "str":
        return None, value.decode() if isinstance(value, bytes) else str(value)
    number = float(value)
    return (None if math.isnan(number) else number), None


def decode_property_values(value_type: str, dtype: str, shape: Sequence[int], nums: Sequence, texts: Sequence) -> np.ndarray:
    """The inverse of :func:`encode_property_value` for a column of values."""
    if value_type == "json":
        return np.array([json.loads(t) for t in texts], dtype=None if dtype == "object" else np.dtype(dtype)).reshape(
            (len(texts), *shape)
        )
    if value_type == "str":
        return np.array(list(texts), dtype=None if dtype == "object" else np.dtype(dtype))
    values = np.array([np.nan if n is None else n for n in nums], dtype=np.float64)
    return values.astype(np.dtype(dtype))


def insert_property_rows(db: Session, seg_id: int, roi_ids: list[int], columns: Iterable[PropertyColumn],
                       described: set[str]) -> None:
    """Insert one row per ROI and property, describing each property the first time ``described`` lacks it."""
    rows = []
    for column in columns:
        if column.name not in described:
            db.add(
                m.PropertyDescription(
                    segmentation_id=seg_id, property_name=column.name, description=column.description,
                    value_dtype=column.value_dtype, value_shape=list(column.value_shape),
                )
            )
            described.add(column.name)
        for roi_id, value in zip(roi_ids, column.values):
            num, text = encode_property_value(column.value_type, value)
            rows.append(
                {"roi_id": roi_id, "segmentation_id": seg_id, "property_name": column.name,
                 "value_type": column.value_type, "value_num": num, "value_text": text}
            )
    if rows:
        db.flush()
        db.execute(insert(m.RoiProperty), rows)


def merged_property_dtype(name: str, where: str, kept_types: set[str], kept_dtype: str, kept_shape: Sequence[int],
                          column: PropertyColumn) -> str:
    """The dtype a property is described with after ``column`` replaces some of its values, or an error.

    ``kept_types`` are the value types of the rows that stay. A property holds one kind of value:
    numbers may widen (int to float, a longer string), but strings do not join numbers, nor an element
    shape another; changing the kind means setting the property for every ROI that holds it.
    """
    if not kept_types:
        return column.value_dtype
    numeric = {"int", "float"}
    kinds = kept_types | {column.value_type}
    same_kind = len(kinds) == 1 or kinds <= numeric
    if not same_kind or list(kept_shape) != list(column.value_shape):
        held = "/".join(sorted(kept_types))
        shape = f" of shape {tuple(kept_shape)}" if kept_shape else ""
        raise InvalidInputError(
            f"property {name!r} of {where} holds {held} values{shape}; the new values are {column.value_type}"
            f"{f' of shape {column.value_shape}' if column.value_shape else ''}; give {held} values, or set it for "
            "every ROI that holds it (every plane) to change its type"
        )
    if "object" in (kept_dtype, column.value_dtype):
        return "object"
    return np.result_type(np.dtype(kept_dtype), np.dtype(column.value_dtype)).str
