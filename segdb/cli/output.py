"""How commands print what they found: a list of records as a table, or as JSON with --json."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

#: Table headers that say the order and unit of a coordinate pair (JSON keeps the field names).
COLUMN_HEADERS = {
    "centroid_px": "centroid_px(row,col)",
    "centroid_um": "centroid_um(x,y)",
    "fov_um": "fov_um(x,y)",
}


def print_json(value: Any) -> None:
    """Print a value as indented JSON; dates and other non-JSON values as their text."""
    print(json.dumps(value, indent=2, default=str))


def print_records(records: Sequence[Any], columns: Sequence[str], *, as_json: bool) -> None:
    """Print frozen records (anything with ``to_dict``) as a table of ``columns``, or every field as JSON."""
    print_rows([record.to_dict() for record in records], columns, as_json=as_json)


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    """Print rows (dictionaries) as a table of ``columns``, or every field as JSON."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("(none)")
        return
    table = [[_cell(row.get(column)) for column in columns] for row in rows]
    headers = [COLUMN_HEADERS.get(column, column) for column in columns]
    widths = [max(len(header), *(len(cells[i]) for cells in table)) for i, header in enumerate(headers)]
    print("  ".join(header.ljust(width) for header, width in zip(headers, widths)).rstrip())
    for cells in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        # Names written "Last, First" keep their commas, so such a list is joined with semicolons.
        separator = "; " if any(isinstance(v, str) and "," in v for v in value) else ", "
        return "(" + separator.join(_cell(v) for v in value) + ")"
    return str(value)


# The library's messages name the Python argument and the command's option side by side:
# "pass replace=True (--replace)", "frame_shape=(H, W) (CLI: --frame-shape H W)", "--overwrite (overwrite=True)".
_PYTHON_THEN_OPTION = re.compile(r"\b\w+=(?:\([^()]*\)|[^\s()]*)(?: or '[^']*')? \((?:CLI: )?(--[^()]*)\)")
_OPTION_THEN_PYTHON = re.compile(r"(--[\w-]+) \(\w+=[^\s()]*\)")


def cli_wording(message: str) -> str:
    """A library message as the command says it: only the option, where the message names both."""
    return _OPTION_THEN_PYTHON.sub(r"\1", _PYTHON_THEN_OPTION.sub(r"\1", message))
