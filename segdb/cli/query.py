"""`segdb query`: ROIs across sessions, every filter evaluated in SQL."""

from __future__ import annotations

import argparse
import json
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, count_at_least, finite_number, open_archive
from segdb.cli.columns import parse_columns, roi_rows
from segdb.cli.output import print_records, print_rows
from segdb.errors import InvalidInputError


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
    query.set_defaults(handler=run_query)


def run_query(args: argparse.Namespace) -> int:
    if args.accepted and args.rejected:
        raise InvalidInputError("--accepted and --rejected exclude each other; give one of them, or neither "
                                "for ROIs of any curation label")
    filters = dict(
        subject=args.subject, session=args.session, date_from=args.after, date_to=args.before,
        field_of_view=args.fov, plane=args.plane, segmentation=args.segmentation,
        kind=None if args.kind == "all" else args.kind, where=args.where,
        accepted=True if args.accepted else (False if args.rejected else None), curation=args.policy,
        near=tuple(args.near) if args.near else None, box=tuple(args.box) if args.box else None, limit=args.limit,
    )
    with open_archive(args) as archive:
        if args.explain:
            print(archive.explain_query(count=args.count, **filters))
            return 0
        if args.count:
            count = archive.count_rois(**filters)
            print(json.dumps({"count": count}) if args.json else count)
            return 0
        hits = archive.query_rois(**filters)
        if args.columns is not None:
            columns = parse_columns(args.columns)
            print_rows(roi_rows(archive, hits, columns, policy=args.policy), columns, as_json=args.json)
            if not args.json:
                print(f"{len(hits)} ROI(s)")
            return 0
    print_records(hits, ["roi_id", "subject", "session", "segmentation", "plane", "key", "fov_um", "pixel_count"],
                  as_json=args.json)
    if not args.json:
        print(f"{len(hits)} ROI(s)")
    return 0
