"""ROI selection by content, compiled to SQL.

A filter is a conjunction of conditions on a ROI's own columns (kind, plane,
acceptance, size, position) or on its properties. It can be written as

- a string: ``"snr > 5 and kind == 'cell' and accepted"``,
- a mapping: ``{"snr": (">", 5), "kind": "cell", "accepted": True}``,
- a sequence of strings or :class:`Condition` objects (all must hold).

Nothing is evaluated in Python: :func:`roi_filter` returns SQLAlchemy
conditions on the ``rois`` table that the database answers from its indexes.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, not_, or_, select, true

from segdb.catalog import models as m
from segdb.errors import InvalidInputError

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
SET_OPERATORS = ("in", "not in")

# Fields that are columns of the rois table, with the type their values must have.
ROI_COLUMNS: dict[str, tuple[Any, type | tuple[type, ...]]] = {
    "kind": (m.Roi.kind, str),
    "pixel_count": (m.Roi.pixel_count, (int, float)),
    "centroid_row": (m.Roi.centroid_row, (int, float)),
    "centroid_col": (m.Roi.centroid_col, (int, float)),
    "centroid_x_um": (m.Roi.centroid_x_um, (int, float)),
    "centroid_y_um": (m.Roi.centroid_y_um, (int, float)),
}
SPECIAL_FIELDS = ("plane", "accepted", "key")


@dataclass(frozen=True)
class Condition:
    """One condition: ``field op value`` (op one of ==, !=, <, <=, >, >=, in, not in)."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in OPERATORS and self.op not in SET_OPERATORS:
            raise InvalidInputError(
                f"filter operator {self.op!r} on {self.field!r} is not one of "
                f"{', '.join([*OPERATORS, *SET_OPERATORS])}"
            )
        if self.op in SET_OPERATORS and (isinstance(self.value, (str, bytes)) or not isinstance(self.value, Sequence)):
            raise InvalidInputError(
                f"filter {self.field} {self.op} needs a list of values, got {self.value!r}"
            )

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value!r}"


WhereSpec = str | Mapping[str, Any] | Sequence[str | Condition] | Condition | None


def parse_where(where: WhereSpec) -> list[Condition]:
    """Turn any accepted filter spelling into a list of conditions (all must hold)."""
    if where is None:
        return []
    if isinstance(where, Condition):
        return [where]
    if isinstance(where, str):
        return _parse_expression(where)
    if isinstance(where, Mapping):
        conditions = []
        for field, spec in where.items():
            if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
                conditions.append(Condition(str(field), spec[0], spec[1]))
            elif isinstance(spec, (list, set, frozenset)):
                conditions.append(Condition(str(field), "in", list(spec)))
            else:
                conditions.append(Condition(str(field), "==", spec))
        return conditions
    if isinstance(where, Sequence):
        conditions = []
        for item in where:
            conditions.extend(parse_where(item))
        return conditions
    raise InvalidInputError(
        f"a ROI filter is a string like \"snr > 5 and accepted\", a mapping like {{'snr': ('>', 5)}}, or a list "
        f"of those; got {type(where).__name__}"
    )


_COMPARISON = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|<=|>=|<|>|=|not\s+in|in)\s*(.+?)\s*$")


def _parse_expression(text: str) -> list[Condition]:
    conditions = []
    for part in re.split(r"\s+and\s+", text.strip()):
        if not part:
            raise InvalidInputError(f"the ROI filter {text!r} has an empty condition; write e.g. 'snr > 5 and accepted'")
        bare = re.fullmatch(r"\s*(not\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*", part)
        if bare:
            conditions.append(Condition(bare.group(2), "==", not bare.group(1)))
            continue
        match = _COMPARISON.match(part)
        if not match:
            raise InvalidInputError(
                f"cannot read the condition {part!r} in the ROI filter {text!r}; write 'name op value' with op one of "
                "==, !=, <, <=, >, >=, in, not in (e.g. \"snr > 5\", \"kind == 'cell'\", \"plane in ['plane0']\")"
            )
        field, op, literal = match.groups()
        op = "==" if op == "=" else re.sub(r"\s+", " ", op)
        try:
            value = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", literal):
                raise InvalidInputError(
                    f"cannot read the condition {part!r} in the ROI filter {text!r}: {literal!r} is not a number, "
                    "a quoted string or a list; write e.g. \"snr > 5\" or \"region == 'V1'\""
                ) from None
            value = literal  # a bare word, e.g. kind == cell
        conditions.append(Condition(field, op, value))
    return conditions


def roi_filter(
    where: WhereSpec,
    segmentation_ids: Sequence[int] | Select,
    *,
    accepted: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """SQL condition on ``rois`` of ``segmentation_ids`` (ids or a SELECT of them) for a filter.

    Property conditions are answered by one range of the (property_name, segmentation_id,
    value_num) index per segmentation. ``accepted`` is the SQL meaning of 'accepted' (a
    curation consensus); without it the source pipeline's decision is used.
    """
    clauses = [_clause(condition, segmentation_ids, accepted) for condition in parse_where(where)]
    return and_(true(), *clauses)


def _clause(
    condition: Condition, segmentation_ids: Sequence[int] | Select, accepted: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    field, op, value = condition.field, condition.op, condition.value
    if field in ROI_COLUMNS:
        column, kind = ROI_COLUMNS[field]
        _check_values(condition, kind)
        return _compare(column, op, value)
    if field == "plane":
        _check_values(condition, str)
        plane_ids = select(m.ImagingPlane.plane_id).where(_compare(m.ImagingPlane.plane_name, op, value))
        return m.Roi.plane_id.in_(plane_ids)
    if field == "key":
        values = value if op in SET_OPERATORS else [value]
        if op not in ("==", "!=", *SET_OPERATORS):
            raise InvalidInputError(f"ROI keys can only be compared with ==, !=, in, not in; got {condition}")
        keys = [str(v) for v in values]
        clause = m.Roi.roi_key.in_(keys)
        return not_(clause) if op in ("!=", "not in") else clause
    if field == "accepted":
        if op not in ("==", "!=") or not isinstance(value, bool):
            raise InvalidInputError(f"acceptance is filtered as 'accepted' or 'not accepted'; got {condition}")
        wanted = value if op == "==" else not value
        if accepted is None:
            # No decision (NULL) counts as accepted: a pipeline that rejects nothing accepts all.
            column = m.Roi.source_accepted
            accepted = or_(column.is_(None), column == True)  # noqa: E712 - SQL comparison
        return accepted if wanted else not_(accepted)
    return m.Roi.roi_id.in_(property_matches(condition, segmentation_ids))


def id_in(column: Any, ids: Sequence[int] | Select) -> ColumnElement[bool]:
    """``column IN ids``; a list of ids is written into the SQL text, not bound one parameter
    each, so that tens of thousands of them stay within the drivers' parameter limits."""
    if isinstance(ids, Select):
        return column.in_(ids)
    return column.in_(bindparam(None, [int(i) for i in ids], expanding=True, literal_execute=True))


def is_property_condition(condition: Condition) -> bool:
    """Whether a condition is on a stored property (not a column of rois or a special field)."""
    return condition.field not in ROI_COLUMNS and condition.field not in SPECIAL_FIELDS


def property_matches(condition: Condition, segmentation_ids: Sequence[int] | Select) -> Select:
    """SELECT roi_id of the ROIs of ``segmentation_ids`` (ids or a SELECT of them) whose
    property satisfies ``condition``: one range of the (property_name, segmentation_id,
    value_num) index per segmentation."""
    return select(m.RoiProperty.roi_id).where(
        m.RoiProperty.property_name == condition.field,
        id_in(m.RoiProperty.segmentation_id, segmentation_ids),
        _property_comparison(condition),
    )


def _property_comparison(condition: Condition) -> ColumnElement[bool]:
    field, op, value = condition.field, condition.op, condition.value
    values = list(value) if op in SET_OPERATORS else [value]
    if all(isinstance(v, bool) or isinstance(v, (int, float)) for v in values):
        column = m.RoiProperty.value_num
        values = [float(v) for v in values]
    elif all(isinstance(v, str) for v in values):
        if op not in ("==", "!=", *SET_OPERATORS):
            raise InvalidInputError(f"text property {field!r} can only be compared with ==, !=, in, not in")
        column = m.RoiProperty.value_text
    else:
        raise InvalidInputError(
            f"property filter {condition} mixes or uses unsupported value types; compare with numbers, booleans "
            "or strings"
        )
    return _compare(column, op, values if op in SET_OPERATORS else values[0])


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "in":
        return column.in_(list(value))
    if op == "not in":
        return column.not_in(list(value))
    return OPERATORS[op](column, value)


def _check_values(condition: Condition, kind: type | tuple[type, ...]) -> None:
    values = condition.value if condition.op in SET_OPERATORS else [condition.value]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kind):
            raise InvalidInputError(
                f"filter {condition}: {condition.field!r} takes "
                f"{'text' if kind is str else 'numbers'}, got {value!r}"
            )
    if condition.field == "kind":
        unknown = [v for v in values if v not in m.ROI_KINDS]
        if unknown:
            raise InvalidInputError(f"filter {condition}: ROI kinds are {m.ROI_KINDS}, not {unknown}")
