"""`segdb curate`: label ROIs, see curation status and history, move labels in and out."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, open_archive, segmentation_ref
from segdb.cli.output import print_records

EVENT_COLUMNS = ["event_id", "plane", "roi", "curator", "label", "revision", "created_at", "note"]


def add_curate(commands: Any) -> None:
    curate = commands.add_parser("curate", help="label ROIs, see curation status and history")
    actions = curate.add_subparsers(dest="action", required=True, metavar="ACTION")
    for label, verb in (("accepted", "accept"), ("rejected", "reject"), ("unsure", "unsure")):
        sub = actions.add_parser(verb, help=f"label ROIs {label}")
        sub.add_argument("rois", nargs="+", help="ROI keys as the source named them")
        sub.add_argument("--segmentation", "-s", required=True, help="id or subject/session/name")
        sub.add_argument("--plane", default=None)
        sub.add_argument("--note", default=None)
        sub.add_argument("--expect-revision", type=int, default=None,
                         help="refuse if any ROI was labelled since this revision")
        _finish(sub, run_label, json=True, label=label)
    undo = actions.add_parser("undo", help="take back your last labelling")
    undo.add_argument("--segmentation", "-s", required=True)
    _finish(undo, run_undo, json=True)
    status = actions.add_parser("status", help="consensus label of every ROI")
    status.add_argument("segmentation")
    status.add_argument("--policy", default="latest", help="latest, majority, unanimous or curator:NAME")
    status.add_argument("--plane", default=None)
    _finish(status, run_status, json=True)
    history = actions.add_parser("history", help="every decision on one ROI")
    history.add_argument("roi")
    history.add_argument("--segmentation", "-s", required=True)
    history.add_argument("--plane", default=None)
    _finish(history, run_history, json=True)
    export = actions.add_parser("export", help="write the curation state as CSV")
    export.add_argument("segmentation")
    export.add_argument("csv")
    export.add_argument("--policy", default="latest")
    _finish(export, run_export)
    imported = actions.add_parser("import", help="label ROIs from a CSV (plane, roi, label) as you")
    imported.add_argument("segmentation")
    imported.add_argument("csv")
    _finish(imported, run_import)
    iscell = actions.add_parser("import-iscell", help="a suite2p GUI session's iscell.npy as your labels")
    iscell.add_argument("segmentation")
    iscell.add_argument("iscell")
    iscell.add_argument("--plane", default=None)
    _finish(iscell, run_import_iscell)
    freeze = actions.add_parser("freeze", help="close a segmentation's curation")
    freeze.add_argument("segmentation")
    freeze.add_argument("--reason", default="")
    _finish(freeze, run_freeze)
    roles = actions.add_parser("require-roles", help="PostgreSQL: curators must write as their own database role")
    roles.add_argument("--off", action="store_true")
    _finish(roles, run_require_roles)


def _finish(parser: argparse.ArgumentParser, handler: Any, *, json: bool = False, **defaults: Any) -> None:
    """Every curate action ends the same way: --archive, --json where it prints records, and its handler."""
    add_archive_option(parser)
    if json:
        add_json_option(parser)
    parser.set_defaults(handler=handler, **defaults)


def run_label(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        records = curation.curate(archive, segmentation_ref(args.segmentation), args.rois, args.label,
                                  plane=args.plane, note=args.note, expected_revision=args.expect_revision)
    return _print_events(args, records, f"labelled {len(records)} ROI(s) {args.label}")


def run_undo(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        records = curation.undo_curation(archive, segmentation_ref(args.segmentation))
    return _print_events(args, records, f"undid your last labelling of {len(records)} ROI(s)")


def run_status(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        status = curation.curation_status(archive, segmentation_ref(args.segmentation), policy=args.policy,
                                          plane=args.plane)
    if not args.json:
        counts = Counter(s.label or "undecided" for s in status)
        print(f"policy {args.policy}: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())))
    print_records(status, ["plane", "roi", "label", "revision", "by_curator"], as_json=args.json)
    return 0


def run_history(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        records = curation.curation_history(archive, segmentation_ref(args.segmentation), args.roi, plane=args.plane)
    print_records(records, EVENT_COLUMNS, as_json=args.json)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        count = curation.export_curation_csv(archive, segmentation_ref(args.segmentation), args.csv,
                                             policy=args.policy)
    print(f"wrote {count} ROI(s) to {args.csv}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        records = curation.import_curation_csv(archive, segmentation_ref(args.segmentation), args.csv)
    print(f"labelled {len(records)} ROI(s) from {args.csv}")
    return 0


def run_import_iscell(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        records = curation.import_iscell(archive, segmentation_ref(args.segmentation), args.iscell, plane=args.plane)
    print(f"labelled {len(records)} ROI(s) from {args.iscell}")
    return 0


def run_freeze(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        curation.freeze_curation(archive, segmentation_ref(args.segmentation), reason=args.reason)
    print("curation frozen")
    return 0


def run_require_roles(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        curation.require_curator_roles(archive, not args.off)
    print("curators must now write as their own database role" if not args.off else "role check off")
    return 0


def _print_events(args: argparse.Namespace, records: list, summary: str) -> int:
    """The events a command appended: a summary line and a table, or only the JSON with --json."""
    if not args.json:
        print(summary)
    print_records(records, EVENT_COLUMNS, as_json=args.json)
    return 0
