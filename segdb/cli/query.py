"""`segdb query`: ROIs across sessions, every filter evaluated in SQL."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from segdb.cli.arguments import add_archive_option, add_json_option, count_at_least, finite_number, open_archive
from segdb.cli.columns import parse_columns
from segdb.cli.output import print_rows
from segdb.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

FORMATS = ("table", "csv", "json", "parquet")


def add_query(commands: Any) -> None:
    query = commands.add_parser("query", help="find ROIs across sessions (filters evaluated in SQL)")
    add_archive_option(query)
    add_json_option(query)
    query.add_argument("--subject", help="only this subject")
    query.add_argument("--session", action="append", help="session name (repeatable)")
    query.add_argument("--after", help="sessions that started on or after this date (sessions without a start "
                                       "are left out, with a warning)")
    query.add_argument("--before", help="sessions that started on or before this date")
    query.add_argument("--fov", help="field of view (needed for --near / --box)")
    query.add_argument("--plane", help="only planes of this name")
    query.add_argument("--segmentation", help="segmentation name")
    query.add_argument("--kind", choices=["cell", "background", "all"], default="cell", help="default: cell")
    query.add_argument("--where", help="ROI properties, columns and curators' tags, e.g. \"skew > 2 and pixel_count "
                                       "between 40 and 120\" or \"tag == 'L2/3'\" (an unknown property is an error "
                                       "that lists those there are)")
    query.add_argument("--accepted", action="store_true", help="only accepted ROIs (under --policy)")
    query.add_argument("--rejected", action="store_true", help="only ROIs not accepted (under --policy)")
    query.add_argument("--policy", default="latest", help="curation policy: latest, majority, unanimous, curator:NAME")
    query.add_argument("--near", type=finite_number, nargs=3, metavar=("X_UM", "Y_UM", "RADIUS_UM"),
                       help="ROIs within RADIUS_UM of (x, y) in µm in the field of view's frame; x runs along "
                       "columns, y along rows (suite2p's med is [y, x] in pixels)")
    query.add_argument("--box", type=finite_number, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                       help="ROIs inside this rectangle, (x, y) corners in µm in the field of view's frame")
    query.add_argument("--limit", type=count_at_least(1), help="at most this many ROIs")
    query.add_argument("--count", action="store_true", help="print only how many ROIs match (counted in SQL)")
    query.add_argument("--explain", action="store_true", help="print the database's query plan instead")
    query.add_argument("--columns", default=None, metavar="A,B,…",
                       help="the columns to show: the hit's fields, properties (e.g. those --where tests) and label "
                       "(the curation label under --policy)")
    query.add_argument("--format", choices=FORMATS, default=None,
                       help="table (the default), csv, json (as --json) or parquet (needs pyarrow and -o); csv and "
                       "parquet have every field, centroid_px and fov_um as two columns each, unless --columns")
    query.add_argument("-o", "--output", default=None, metavar="FILE",
                       help="write the answer to FILE instead of printing it (parquet needs it)")
    query.set_defaults(handler=run_query)


def run_query(args: argparse.Namespace) -> int:
    if args.accepted and args.rejected:
        raise InvalidInputError("--accepted and --rejected exclude each other; give one of them, or neither "
                                "for ROIs of any curation label")
    output_format = _output_format(args)
    filters = dict(
        subject=args.subject, session=args.session, date_from=args.after, date_to=args.before,
        field_of_view=args.fov, plane=args.plane, segmentation=args.segmentation,
        kind=None if args.kind == "all" else args.kind, where=args.where,
        accepted=True if args.accepted else (False if args.rejected else None), curation=args.policy,
        near=tuple(args.near) if args.near else None, box=tuple(args.box) if args.box else None, limit=args.limit,
    )
    columns = None if args.columns is None else parse_columns(args.columns)
    with open_archive(args) as archive:
        if args.explain:
            print(archive.explain_query(count=args.count, **filters))
            return 0
        if args.count:
            count = archive.count_rois(**filters)
            print(json.dumps({"count": count}) if output_format == "json" else count)
            return 0
        from segdb.cli.query_table import query_table

        scoped = archive.scoped_query(**filters)
        table = query_table(archive, scoped, columns, output_format, policy=args.policy)
    write_table(table, columns, output_format, args.output)
    return 0


def _output_format(args: argparse.Namespace) -> str:
    """The one format --format and --json ask for; parquet only into a file."""
    if args.json and args.format not in (None, "json"):
        raise InvalidInputError(f"--json is --format json, but --format {args.format} is given too; give one of them")
    output_format = "json" if args.json else (args.format or "table")
    if output_format == "parquet" and args.output is None:
        raise InvalidInputError("--format parquet writes a file: give -o FILE, e.g. -o rois.parquet")
    if output_format == "parquet":
        from segdb.archive.tables import arrow_module

        arrow_module("--format parquet")
    return output_format


def write_table(table: dict[str, np.ndarray], columns: list[str] | None, output_format: str,
                output: str | None) -> None:
    """Print or write (``output``) a query's columns in ``output_format``."""
    from segdb.archive.tables import arrow_table
    from segdb.cli.query_table import TABLE_COLUMNS, hit_rows, write_csv

    if output_format == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(arrow_table(table, "--format parquet"), output)
        return
    with _opened(output) as stream:
        if output_format == "csv":
            write_csv(table, stream)
        elif output_format == "json":
            print(json.dumps(hit_rows(table), indent=2, default=str), file=stream)
        else:
            with contextlib.redirect_stdout(stream):
                print_rows(hit_rows(table), columns or TABLE_COLUMNS, as_json=False)
                print(f"{len(next(iter(table.values()), ()))} ROI(s)")


@contextlib.contextmanager
def _opened(output: str | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        return
    try:
        stream = open(output, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {output!r} ({exc.strerror}); give -o a file in a folder you can "
                                "write to") from exc
    with stream:
        yield stream
