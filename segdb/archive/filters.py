"""ROI selection by content, compiled to SQL.

A filter selects ROIs by their own columns (kind, plane, acceptance, size,
position, key) and by their properties. It can be written as

- a string, read with Python's expression grammar but never evaluated:
  ``"snr > 5 and (region == 'V1 and V2' or not accepted)"``. It holds comparisons
  (``==, !=, <, <=, >, >=``, chained as in ``1 < snr < 5``), ``in`` / ``not in`` a
  list of values, and bare names meaning "this boolean is true" (``accepted``),
  joined with ``and``, ``or``, ``not`` and parentheses;
- a mapping: ``{"snr": (">", 5), "kind": "cell", "accepted": True}`` (all must hold);
- a sequence of strings, mappings or :class:`Condition` objects (all must hold).

A ROI without a property (or whose value is NaN) satisfies no comparison on it,
whether negated or not, as NULL in SQL. Nothing is evaluated in Python:
:func:`roi_filter` returns SQLAlchemy conditions on the ``rois`` table, every value
a bound parameter, that the database answers from its indexes.
"""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
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
# What each operator becomes under 'not' (exact for NULL too: NOT (x > 5) is x <= 5 in SQL's logic).
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not in", "not in": "in"}
# What each operator becomes when its sides swap: 5 < snr is snr > 5.
_SWAPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

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

    def negated(self) -> Condition:
        """The condition that holds where this one does not (on ROIs that have the field)."""
        return Condition(self.field, _NEGATED[self.op], self.value)

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``terms`` holds: a filter's ``or``."""

    terms: tuple[Term, ...]

    def __str__(self) -> str:
        return "(" + " or ".join(str(term) for term in self.terms) + ")"


@dataclass(frozen=True)
class AllOf:
    """Every one of ``terms`` holds: an ``and`` inside an ``or`` (a filter's top-level ``and``
    is the list :func:`parse_where` returns)."""

    terms: tuple[Term, ...]

    def __str__(self) -> str:
        return "(" + " and ".join(str(term) for term in self.terms) + ")"


Term = Condition | AnyOf | AllOf
WhereSpec = str | Mapping[str, Any] | Sequence[str | Condition] | Condition | None


def parse_where(where: WhereSpec) -> list[Term]:
    """Turn any accepted filter spelling into a list of terms (all must hold).

    A conjunction of plain conditions gives a list of :class:`Condition`; ``or`` gives an
    :class:`AnyOf` term, and ``not`` is moved onto the conditions it covers.
    """
    if where is None:
        return []
    if isinstance(where, Condition):
        return [where]
    if isinstance(where, str):
        return _ExpressionReader(where).read()
    if isinstance(where, Mapping):
        conditions: list[Term] = []
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


def negate(term: Term) -> Term:
    """The term that holds where ``term`` does not, with the negation moved onto its conditions."""
    if isinstance(term, Condition):
        return term.negated()
    if isinstance(term, AnyOf):
        return AllOf(tuple(negate(t) for t in term.terms))
    return AnyOf(tuple(negate(t) for t in term.terms))


_COMPARISONS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}
_OTHER_OPERATORS = {
    ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
    ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitXor: "^", ast.BitAnd: "&", ast.MatMult: "@", ast.Invert: "~", ast.UAdd: "+", ast.USub: "-",
}
_HOW_TO_WRITE = (
    "write conditions like \"snr > 5\", \"region == 'V1'\" or \"kind in ['cell']\" (quote text), joined with "
    "and, or, not and parentheses"
)
# An unquoted word on the right of a comparison is text, as in kind == cell.
_BARE_WORD = re.compile(r"[A-Za-z_][\w.-]*")
_VALUE_TYPES = (bool, int, float, str)


class _ExpressionReader:
    """Reads a filter string into terms by walking its Python syntax tree."""

    def __init__(self, text: str):
        self.text = text
        # A single '=' reads as '=='; Python's grammar would refuse it.
        self.source = _single_equals_as_double(" ".join(text.strip().splitlines()))

    def read(self) -> list[Term]:
        if not self.source:
            raise InvalidInputError(
                f"the ROI filter {self.text!r} is empty; write e.g. 'snr > 5 and accepted', or give no filter"
            )
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            where = f" at {self.source[(exc.offset or 1) - 1:]!r}" if exc.offset else ""
            raise InvalidInputError(f"cannot read the ROI filter {self.text!r}{where}; {_HOW_TO_WRITE}") from None
        term = self._term(tree.body)
        return list(term.terms) if isinstance(term, AllOf) else [term]

    def _refuse(self, node: ast.AST, reason: str) -> InvalidInputError:
        part = ast.get_source_segment(self.source, node) or self.source
        return InvalidInputError(f"cannot read the condition {part!r} in the ROI filter {self.text!r}: {reason}")

    def _term(self, node: ast.expr) -> Term:
        if isinstance(node, ast.BoolOp):
            kind = AllOf if isinstance(node.op, ast.And) else AnyOf
            terms: list[Term] = []
            for value in node.values:
                term = self._term(value)
                # a and (b and c) is one AllOf of three; likewise for or.
                terms.extend(term.terms if isinstance(term, kind) else [term])
            return kind(tuple(terms))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            if isinstance(node.operand, ast.Name):
                return Condition(node.operand.id, "==", False)
            return negate(self._term(node.operand))
        if isinstance(node, ast.Compare):
            left = node.left
            conditions = []
            for op, right in zip(node.ops, node.comparators):
                conditions.append(self._comparison(node, left, op, right))
                left = right
            return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))
        if isinstance(node, ast.Name):
            return Condition(node.id, "==", True)
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            raise self._refuse(node, _not_a_logical_operator(node.op))
        raise self._refuse(node, self._not_a_condition(node))

    def _not_a_condition(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call):
            return "function calls are not part of a filter; compare a field with a value, e.g. 'snr > 5'"
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return (
                "a field is a plain name: a ROI column (kind, plane, key, accepted, "
                f"{', '.join(c for c in ROI_COLUMNS if c != 'kind')}) or a property, e.g. 'snr > 5'"
            )
        if isinstance(node, ast.Constant):
            return f"the value {node.value!r} alone is not a condition; compare a field with it, e.g. 'snr > 5'"
        return f"it is not a condition; {_HOW_TO_WRITE}"

    def _comparison(self, whole: ast.Compare, left: ast.expr, op_node: ast.cmpop, right: ast.expr) -> Condition:
        op = _COMPARISONS.get(type(op_node))
        if op is None:
            symbol = _OTHER_OPERATORS.get(type(op_node), type(op_node).__name__)
            raise self._refuse(whole, f"{symbol!r} is not a filter operator; use ==, !=, <, <=, >, >=, in, not in")
        if not isinstance(left, ast.Name) and isinstance(right, ast.Name) and op in _SWAPPED:
            left, right, op = right, left, _SWAPPED[op]
        if not isinstance(left, ast.Name):
            if not isinstance(left, (ast.Call, ast.Attribute, ast.Subscript)) and op in SET_OPERATORS:
                raise self._refuse(whole, f"write the field on the left of {op!r} and a list on its right, "
                                          "e.g. \"region in ['V1', 'LM']\"")
            if isinstance(left, (ast.Call, ast.Attribute, ast.Subscript)):
                raise self._refuse(left, self._not_a_condition(left))
            raise self._refuse(whole, "one side of a comparison must name a field (a ROI column or a property)")
        return Condition(left.id, op, self._value(whole, right, op))

    def _value(self, whole: ast.Compare, node: ast.expr, op: str) -> Any:
        if op in SET_OPERATORS:
            if not isinstance(node, (ast.List, ast.Tuple)):
                raise self._refuse(whole, f"{op!r} needs a list of values on its right, e.g. \"region in ['V1', 'LM']\"")
            return [self._literal(whole, element) for element in node.elts]
        if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            raise self._refuse(whole, f"{op!r} compares with one value; use 'in' to compare with a list")
        return self._literal(whole, node)

    def _literal(self, whole: ast.Compare, node: ast.expr) -> Any:
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            word = ast.get_source_segment(self.source, node) or ""
            if isinstance(node, (ast.Name, ast.Attribute, ast.BinOp)) and _BARE_WORD.fullmatch(word):
                return word
            if isinstance(node, ast.Call):
                raise self._refuse(whole, "function calls are not part of a filter; compare with a number or a "
                                          "quoted string") from None
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
                raise self._refuse(whole, _not_a_logical_operator(node.op)) from None
            raise self._refuse(whole, f"{word!r} is not a number, a quoted string or a list; write e.g. "
                                      "\"snr > 5\" or \"region == 'V1'\"") from None
        if not isinstance(value, _VALUE_TYPES):
            raise self._refuse(whole, f"{value!r} is not a number, a quoted string or True/False; write e.g. "
                                      "\"snr > 5\" or \"region == 'V1'\"")
        return value


def _not_a_logical_operator(op: ast.operator | ast.unaryop) -> str:
    symbol = _OTHER_OPERATORS.get(type(op), type(op).__name__)
    fix = {"&": "write 'and'", "|": "write 'or'", "~": "write 'not'"}.get(symbol, _HOW_TO_WRITE)
    return f"{symbol!r} is not a comparison or a logical operator; {fix}"


def _single_equals_as_double(source: str) -> str:
    """``source`` with each lone ``=`` operator (not one inside a quoted string) written ``==``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source  # ast.parse will say what is wrong with it
    columns = [token.start[1] for token in tokens if token.type == tokenize.OP and token.string == "="]
    for column in reversed(columns):
        source = source[:column] + "==" + source[column + 1:]
    return source


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
    clauses = [_term_clause(term, segmentation_ids, accepted) for term in parse_where(where)]
    return and_(true(), *clauses)


def _term_clause(
    term: Term, segmentation_ids: Sequence[int] | Select, accepted: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    if isinstance(term, AnyOf):
        return or_(*(_term_clause(t, segmentation_ids, accepted) for t in term.terms))
    if isinstance(term, AllOf):
        return and_(*(_term_clause(t, segmentation_ids, accepted) for t in term.terms))
    return _clause(term, segmentation_ids, accepted)


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


def is_property_condition(term: Term) -> bool:
    """Whether a term is one condition on a stored property (not a column of rois, a special
    field, or an ``or`` of several conditions)."""
    return isinstance(term, Condition) and term.field not in ROI_COLUMNS and term.field not in SPECIAL_FIELDS


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
    if all(isinstance(v, (bool, int, float)) for v in values):
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
