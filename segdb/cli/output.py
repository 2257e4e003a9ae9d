"""How commands print what they found: a list of records as a table, or as JSON with --json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def print_json(value: Any) -> None:
    """Print a value as indented JSON; dates and other non-JSON values as their text."""
    print(json.dumps(value, indent=2, default=str))


def print_records(records: Sequence[Any], columns: Sequence[str], *, as_json: bool) -> None:
    """Print frozen records (anything with ``to_dict``) as a table of ``columns``, or every field as JSON."""
    rows = [record.to_dict() for record in records]
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("(none)")
        return
    table = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(cells[i]) for cells in table)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)).rstrip())
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
