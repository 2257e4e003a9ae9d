"""ROI selection by content, compiled to SQL.

A filter selects ROIs by their own columns (kind, plane, acceptance, size,
position, key) and by their properties. It can be written as

- a string, read with Python's expression grammar but never evaluated
  (``tag == 'L2/3'`` selects the ROIs a curator tagged so):
  ``"snr > 5 and (region == 'V1 and V2' or not accepted)"``. It holds comparisons
  (``==, !=, <, <=, >, >=``, chained as in ``1 < snr < 5``), ``between`` (``snr between
  2 and 5``, both ends included), ``in`` / ``not in`` a list of values, and bare names
  meaning "this boolean is true" (``accepted``), joined with ``and``, ``or``, ``not`` (in
  any case: ``AND`` is ``and``) and parentheses;
- a mapping: ``{"snr": (">", 5), "kind": "cell", "accepted": True}`` (all must hold);
- a sequence of strings, mappings or :class:`Condition` objects (all must hold).

Every property a filter names must exist in the segmentations it runs on, and be compared
with a value of its type (:func:`check_where_fields`): a typo is an error, not an empty answer.
A ROI without a property (or whose value is NaN) satisfies no comparison on it,
whether negated or not, as NULL in SQL. Nothing is evaluated in Python:
:func:`roi_filter` returns SQLAlchemy conditions on the ``rois`` table, every value
a bound parameter, that the database answers from its indexes.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import operator
import re
import tokenize
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Select, Text, and_, bindparam, cast, not_, or_, select, true
from sqlalchemy.orm import Session

from segdb.archive.consensus import tagged_clause
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
SPECIAL_FIELDS = ("plane", "accepted", "key", "tag")


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


# A filter is a person's question, not a program: these bounds keep one from tying up the
# database (thousands of conditions make a plan that takes minutes to build).
MAX_FILTER_CHARACTERS = 4000
MAX_FILTER_CONDITIONS = 64


def parse_where(where: WhereSpec) -> list[Term]:
    """Turn any accepted filter spelling into a list of terms (all must hold).

    A conjunction of plain conditions gives a list of :class:`Condition`; ``or`` gives an
    :class:`AnyOf` term, and ``not`` is moved onto the conditions it covers. A filter of more
    than :data:`MAX_FILTER_CONDITIONS` conditions (or a text of more than
    :data:`MAX_FILTER_CHARACTERS`) is refused.
    """
    if isinstance(where, str) and len(where) > MAX_FILTER_CHARACTERS:
        raise InvalidInputError(
            f"the ROI filter {where[:40]!r}… is {len(where):,} characters long; keep it within "
            f"{MAX_FILTER_CHARACTERS:,} (select by a few conditions, or curate or tag the ROIs you mean)"
        )
    terms = _parse_where(where)
    count = len(_conditions_in(terms))
    if count > MAX_FILTER_CONDITIONS:
        raise InvalidInputError(
            f"the ROI filter has {count} conditions; keep it within {MAX_FILTER_CONDITIONS} (use 'in [...]' for "
            "a list of values, or a range with 'between')"
        )
    return terms


def _parse_where(where: WhereSpec) -> list[Term]:
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
            conditions.extend(_parse_where(item))
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
    "write conditions like \"snr > 5\", \"snr between 2 and 5\", \"region == 'V1'\" or \"kind in ['cell']\" "
    "(quote text), joined with and, or, not and parentheses"
)
# An unquoted word on the right of a comparison is text, as in kind == cell.
_BARE_WORD = re.compile(r"[A-Za-z_][\w.-]*")
_VALUE_TYPES = (bool, int, float, str)


class _ExpressionReader:
    """Reads a filter string into terms by walking its Python syntax tree."""

    def __init__(self, text: str):
        self.text = text
        # A single '=' reads as '=='; Python's grammar would refuse it. Keywords may be written in any case,
        # and 'x between a and b' is read as '(x >= a and x <= b)'.
        self.source = _between_as_comparisons(_keywords_in_lower_case(
            _single_equals_as_double(" ".join(text.strip().splitlines()))
        ))

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
                "a field is a plain name: a ROI column (kind, plane, key, accepted, tag, "
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
        if type(value) is int and not -(2**63) <= value < 2**63:
            # No driver sends an integer past 64 bits; as a float it compares the same with every stored value.
            return float(value)
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


_KEYWORDS = ("and", "or", "not", "in", "is")


def _name_tokens(source: str) -> list[tokenize.TokenInfo] | None:
    """The tokens of a one-line ``source``, or None when it does not tokenize (ast.parse says why)."""
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError):
        return None


def _keywords_in_lower_case(source: str) -> str:
    """``source`` with AND, Or, NOT, IN, … (outside quoted strings) written as Python's keywords."""
    for token in reversed(_name_tokens(source) or []):
        if token.type == tokenize.NAME and token.string.lower() in _KEYWORDS and not token.string.islower():
            start, end = token.start[1], token.end[1]
            source = source[:start] + token.string.lower() + source[end:]
    return source


def _between_as_comparisons(source: str) -> str:
    """``source`` with each ``field between low and high`` written ``(field >= low and field <= high)``.

    ``low`` and ``high`` are one value each (a number, possibly signed, a quoted string or a word);
    anything else is left for ast.parse to refuse, naming the part it cannot read.
    """
    tokens = _name_tokens(source)
    if tokens is None:
        return source
    edits: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == tokenize.NAME and token.string.lower() == "between" and i > 0 \
                and tokens[i - 1].type == tokenize.NAME:
            field = tokens[i - 1]
            low_end = _value_end(tokens, i + 1)
            if low_end is not None and low_end < len(tokens) and tokens[low_end].string.lower() == "and":
                high_end = _value_end(tokens, low_end + 1)
                if high_end is not None:
                    low = source[tokens[i + 1].start[1]:tokens[low_end - 1].end[1]]
                    high = source[tokens[low_end + 1].start[1]:tokens[high_end - 1].end[1]]
                    edits.append((field.start[1], tokens[high_end - 1].end[1],
                                  f"({field.string} >= {low} and {field.string} <= {high})"))
                    i = high_end
                    continue
        i += 1
    for start, end, text in reversed(edits):
        source = source[:start] + text + source[end:]
    return source


def _value_end(tokens: list[tokenize.TokenInfo], i: int) -> int | None:
    """The index after the one value (a signed number, a string or a word) that starts at ``tokens[i]``."""
    if i < len(tokens) and tokens[i].type == tokenize.OP and tokens[i].string in ("-", "+"):
        i += 1
    if i < len(tokens) and tokens[i].type in (tokenize.NUMBER, tokenize.STRING, tokenize.NAME):
        return i + 1
    return None


def roi_filter(
    where: WhereSpec,
    segmentation_ids: Sequence[int] | Select,
    *,
    accepted: ColumnElement[bool] | None = None,
    joined: Collection[str] = (),
) -> ColumnElement[bool]:
    """SQL condition on ``rois`` of ``segmentation_ids`` (ids or a SELECT of them) for a filter.

    Property conditions are answered by one range of the (property_name, segmentation_id,
    value_num) index per segmentation. ``accepted`` is the SQL meaning of 'accepted' (a
    curation consensus); without it the source pipeline's decision is used. The conditions that
    must hold on a property of ``joined`` are left out: the caller joins that property's rows
    with them (see :func:`property_join_conditions`).
    """
    terms = [term for term in parse_where(where) if not (is_property_condition(term) and term.field in joined)]
    return and_(true(), *_all_of_clauses(terms, segmentation_ids, accepted))


def property_join_conditions(where: WhereSpec, name: str, stored: Any,
                             segmentation_ids: Sequence[int]) -> list[ColumnElement[bool]] | None:
    """The conditions that ``where`` requires of property ``name`` (at its top level) as conditions on
    ``stored`` (an alias of roi_properties joined on roi_id and the name), or None when it requires none.

    Joined with these, the property's index range drives the query: each match's value comes with it,
    where a ``roi_id IN (...)`` filter beside an outer join for the value reads every match twice.
    """
    conditions = conditions_by_property(parse_where(where)).get(name)
    if not conditions:
        return None
    return [id_in(stored.segmentation_id, segmentation_ids),
            *(_property_comparison(condition, stored) for condition in conditions)]


def _all_of_clauses(
    terms: Sequence[Term], segmentation_ids: Sequence[int] | Select, accepted: ColumnElement[bool] | None
) -> list[ColumnElement[bool]]:
    """One clause per term that must hold, the conditions on one property joined into one.

    A ROI has one value of a property, so ``snr > 2 and snr < 5 and snr != 3`` is one range of the
    property index rather than three subqueries the planner must intersect.
    """
    clauses = [m.Roi.roi_id.in_(property_matches(conditions, segmentation_ids))
               for conditions in conditions_by_property(terms).values()]
    others = [term for term in terms if not is_property_condition(term)]
    return clauses + [_term_clause(term, segmentation_ids, accepted) for term in others]


def conditions_by_property(terms: Sequence[Term]) -> dict[str, list[Condition]]:
    """The terms that are single property conditions, grouped by their property, in order."""
    grouped: dict[str, list[Condition]] = {}
    for term in terms:
        if is_property_condition(term):
            grouped.setdefault(term.field, []).append(term)
    return grouped


def _term_clause(
    term: Term, segmentation_ids: Sequence[int] | Select, accepted: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    if isinstance(term, AnyOf):
        return or_(*(_term_clause(t, segmentation_ids, accepted) for t in term.terms))
    if isinstance(term, AllOf):
        return and_(*_all_of_clauses(term.terms, segmentation_ids, accepted))
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
    if field == "tag":
        return _tag_clause(condition, segmentation_ids)
    return m.Roi.roi_id.in_(property_matches([condition], segmentation_ids))


def _tag_clause(condition: Condition, segmentation_ids: Sequence[int] | Select) -> ColumnElement[bool]:
    """``tag == 'L2/3'``: the ROI carries that tag (any curator's); ``!=`` and ``not in``: it carries none
    of them. A ROI carries any number of tags, so these ask about the set, not one value."""
    op, value = condition.op, condition.value
    if op not in ("==", "!=", *SET_OPERATORS):
        raise InvalidInputError(f"tags can only be compared with ==, !=, in, not in; got {condition}")
    values = list(value) if op in SET_OPERATORS else [value]
    if not values:
        raise InvalidInputError(f"filter {condition}: give at least one tag in the list, e.g. \"tag in ['L2/3']\"")
    if any(not isinstance(v, str) for v in values):
        raise InvalidInputError(
            f"filter {condition}: a tag is text; compare it with a quoted string, e.g. \"tag == 'L2/3'\""
        )
    clause = tagged_clause(segmentation_ids, values)
    return not_(clause) if op in ("!=", "not in") else clause


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


def property_matches(conditions: Sequence[Condition], segmentation_ids: Sequence[int] | Select) -> Select:
    """SELECT roi_id of the ROIs of ``segmentation_ids`` (ids or a SELECT of them) whose
    property satisfies every one of ``conditions`` (all on the same property): one range of the
    (property_name, segmentation_id, value_num) index per segmentation."""
    [field] = {condition.field for condition in conditions}
    return select(m.RoiProperty.roi_id).where(
        m.RoiProperty.property_name == field,
        id_in(m.RoiProperty.segmentation_id, segmentation_ids),
        *(_property_comparison(condition) for condition in conditions),
    )


def _property_comparison(condition: Condition, stored: Any = m.RoiProperty) -> ColumnElement[bool]:
    """The condition on the value columns of ``stored`` (roi_properties or an alias of it)."""
    field, op, value = condition.field, condition.op, condition.value
    values = list(value) if op in SET_OPERATORS else [value]
    if all(isinstance(v, (bool, int, float)) for v in values):
        column = stored.value_num
        values = [float(v) for v in values]
    elif all(isinstance(v, str) for v in values):
        if op not in ("==", "!=", *SET_OPERATORS):
            raise InvalidInputError(f"filter {condition} compares {field} with text, which takes only ==, !=, in "
                                    "or not in")
        column = stored.value_text
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
                f"filter {condition}: {condition.field} is {'text' if kind is str else 'numeric'} (it takes "
                f"{'text' if kind is str else 'numbers'}); compare it with "
                f"{'a quoted string' if kind is str else 'a number'}, not {value!r}"
            )
    if condition.field == "kind":
        unknown = [v for v in values if v not in m.ROI_KINDS]
        if unknown:
            raise InvalidInputError(f"filter {condition}: ROI kinds are {m.ROI_KINDS}, not {unknown}")


NUMERIC, TEXT, ARRAY = "numeric", "text", "an array per ROI"
_LISTED = 25


def property_types(db: Session, segmentation_ids: Sequence[int], names: Sequence[str]) -> dict[str, set[str]]:
    """{property: its types (numeric, text, an array per ROI)} among ``names``, in ``segmentation_ids``.

    Read from the property descriptions (one row per segmentation and property), not from the values.
    """
    described = m.PropertyDescription
    rows = db.execute(
        select(described.property_name, described.value_dtype, cast(described.value_shape, Text))
        .where(id_in(described.segmentation_id, segmentation_ids), described.property_name.in_(sorted(set(names))))
        .distinct()
    ).all()
    types: dict[str, set[str]] = {}
    for name, dtype, shape in rows:
        if json.loads(shape or "[]"):
            kind = ARRAY
        elif dtype != "object" and _dtype_kind(dtype) in "biuf":
            kind = NUMERIC
        else:
            kind = TEXT
        types.setdefault(name, set()).add(kind)
    return types


def _dtype_kind(dtype: str) -> str:
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"


def property_names(db: Session, segmentation_ids: Sequence[int]) -> list[str]:
    """The names of the properties ROIs of ``segmentation_ids`` carry, sorted."""
    described = m.PropertyDescription
    return list(db.scalars(
        select(described.property_name).where(id_in(described.segmentation_id, segmentation_ids))
        .distinct().order_by(described.property_name)
    ))


def _conditions_in(terms: Sequence[Term]) -> list[Condition]:
    out: list[Condition] = []
    for term in terms:
        out.extend([term] if isinstance(term, Condition) else _conditions_in(term.terms))
    return out


def check_where_fields(db: Session, where: WhereSpec, segmentation_ids: Sequence[int], scope: str) -> None:
    """Refuse a filter that names a property ``segmentation_ids`` do not have, or compares one with a
    value of another type (``skew == 'high'`` where skew is numeric), naming the properties there are.

    ``scope`` says which segmentations these are, for the message (e.g. "segmentation 3").
    """
    conditions = [c for c in _conditions_in(parse_where(where))
                  if c.field not in ROI_COLUMNS and c.field not in SPECIAL_FIELDS]
    if not conditions:
        return
    types = property_types(db, segmentation_ids, [c.field for c in conditions])
    for condition in conditions:
        field = condition.field
        if field not in types:
            raise InvalidInputError(_unknown_property(field, property_names(db, segmentation_ids), scope))
        kinds = types[field]
        values = condition.value if condition.op in SET_OPERATORS else [condition.value]
        texts = [v for v in values if isinstance(v, str)]
        is_are = f"{field} is {' or '.join(sorted(kinds))} in {scope}"
        if kinds == {ARRAY}:
            raise InvalidInputError(f"filter {condition}: {field} holds {ARRAY} in {scope}, and filters compare "
                                    "single values")
        if texts and TEXT not in kinds:
            raise InvalidInputError(f"filter {condition}: {is_are}; compare it with a number, e.g. "
                                    f"\"{field} > 0.5\" (not {texts[0]!r})")
        if len(texts) < len(values) and NUMERIC not in kinds:
            raise InvalidInputError(f"filter {condition}: {is_are}; compare it with a quoted string, e.g. "
                                    f"\"{field} == 'V1'\"")
        if texts and condition.op not in ("==", "!=", *SET_OPERATORS):
            raise InvalidInputError(f"filter {condition}: {is_are}, and text is compared only with ==, !=, in "
                                    "or not in")


def _unknown_property(field: str, names: list[str], scope: str) -> str:
    columns = ", ".join([*ROI_COLUMNS, *SPECIAL_FIELDS])
    if not names:
        return (f"the ROI filter names {field!r}, but the ROIs of {scope} have no properties; filter on a ROI "
                f"column ({columns})")
    close = difflib.get_close_matches(field, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(names[:_LISTED]) + (f", … ({len(names)} in all)" if len(names) > _LISTED else "")
    return (f"the ROI filter names {field!r}{hint}, which is not a property of {scope}; its properties are "
            f"{shown}, and the ROI columns are {columns}")
