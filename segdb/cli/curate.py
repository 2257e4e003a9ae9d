"""`segdb curate`: label and tag ROIs, see curation status and history, move labels in and out."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from segdb.cli.arguments import (
    add_archive_option,
    add_json_option,
    count_at_least,
    examples,
    open_archive,
    segmentation_ref,
)
from segdb.cli.output import print_records, print_rows
from segdb.errors import InvalidInputError

EVENT_COLUMNS = ["event_id", "plane", "roi", "curator", "label", "revision", "created_at", "note"]


def add_curate(commands: Any) -> None:
    curate = commands.add_parser(
        "curate", help="label and tag ROIs, see curation status and history",
        description="Label and tag ROIs as yourself ($SEGDB_CURATOR, else your login), see the consensus, move "
        "labels in and out. Every action names the segmentation with -s/--segmentation.",
    )
    actions = curate.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to do")
    for label, verb in (("accepted", "accept"), ("rejected", "reject"), ("unsure", "unsure")):
        sub = _action(actions, verb, f"label ROIs {label}", f"segdb curate {verb} 3 7 -s 12",
                      f"segdb curate {verb} roi_001 -s m1/s1/suite2p --plane plane1 --note 'checked by eye'")
        sub.add_argument("rois", nargs="+", metavar="ROI", help="ROI keys as the source named them")
        _segmentation_option(sub)
        _plane_option(sub)
        sub.add_argument("--note", default=None, help="a note kept with each label in the history")
        sub.add_argument("--expect-revision", type=count_at_least(0), default=None, metavar="N",
                         help="refuse if any ROI was labelled since revision N (as `curate history` shows it)")
        _finish(sub, run_label, json=True, label=label)
    tag = _action(actions, "tag", "put a free tag on ROIs (or take yours off); labels are untouched",
                  "segdb curate tag 3 7 -s 12 --tag L2/3",
                  "segdb curate tag 3 -s 12 --plane plane1 --tag interneuron --remove",
                  "segdb query --where \"tag == 'L2/3'\" --count")
    tag.add_argument("rois", nargs="+", metavar="ROI", help="ROI keys as the source named them")
    tag.add_argument("--tag", required=True, help="the tag, e.g. L2/3 or interneuron (any visible text)")
    _segmentation_option(tag)
    _plane_option(tag)
    tag.add_argument("--remove", action="store_true", help="take your tag off these ROIs instead")
    tag.add_argument("--note", default=None, help="a note kept with each tag event in the history")
    _finish(tag, run_tag, json=True)
    tags = _action(actions, "tags", "the tags on every tagged ROI", "segdb curate tags -s 12",
                   "segdb curate tags -s 12 --plane plane1 --json")
    _segmentation_option(tags)
    _plane_option(tags)
    _finish(tags, run_tags, json=True)
    undo = _action(actions, "undo", "take back your last labelling or tagging", "segdb curate undo -s 12")
    _segmentation_option(undo)
    _finish(undo, run_undo, json=True)
    status = _action(actions, "status", "consensus label of every ROI", "segdb curate status -s 12",
                     "segdb curate status -s 12 --policy curator:alice --json")
    _segmentation_option(status)
    _policy_option(status)
    _plane_option(status)
    _finish(status, run_status, json=True)
    history = _action(actions, "history", "every decision on one ROI", "segdb curate history 3 -s 12")
    history.add_argument("roi", metavar="ROI", help="the ROI's key as the source named it")
    _segmentation_option(history)
    _plane_option(history)
    _finish(history, run_history, json=True)
    export = _action(actions, "export", "write the curation state as CSV", "segdb curate export -s 12 state.csv",
                     "segdb curate export -s 12 state.csv --policy majority")
    _segmentation_option(export)
    export.add_argument("csv", metavar="CSV", help="the file to write (plane, roi, label, revision, one column "
                        "per curator)")
    _policy_option(export)
    _finish(export, run_export)
    imported = _action(actions, "import", "label ROIs from a CSV (plane, roi, label) as you; all rows or none",
                       "segdb curate import -s 12 labels.csv", "SEGDB_CURATOR=erin segdb curate import -s 12 state.csv")
    _segmentation_option(imported)
    imported.add_argument("csv", metavar="CSV", help="a CSV with columns plane, roi, label (as `curate export` "
                          "writes it); rows without a label are skipped")
    _finish(imported, run_import)
    iscell = _action(actions, "import-iscell", "a suite2p GUI session's iscell.npy as your labels",
                     "segdb curate import-iscell -s 12 suite2p/plane0/iscell.npy",
                     "segdb curate import-iscell -s 12 suite2p/plane1/iscell.npy --plane plane1")
    _segmentation_option(iscell)
    iscell.add_argument("iscell", metavar="ISCELL_NPY", help="suite2p's iscell.npy: one row per ROI, "
                        "(is cell 0/1, probability); row i labels ROI i")
    _plane_option(iscell)
    _finish(iscell, run_import_iscell)
    freeze = _action(actions, "freeze", "close a segmentation's curation",
                     "segdb curate freeze -s 12 --reason 'published in Smith 2025'")
    _segmentation_option(freeze)
    freeze.add_argument("--reason", default="", help="why, kept with the freeze and shown to whoever tries to label")
    _finish(freeze, run_freeze)
    roles = _action(actions, "require-roles", "PostgreSQL: curators must write as their own database role",
                    "segdb curate require-roles -a postgresql+psycopg://lab-db/segdb",
                    "segdb curate require-roles --off -a postgresql+psycopg://lab-db/segdb")
    roles.add_argument("--off", action="store_true", help="stop requiring it")
    _finish(roles, run_require_roles)


def _action(actions: Any, name: str, summary: str, *example_lines: str) -> argparse.ArgumentParser:
    return actions.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                              epilog=examples(*example_lines), formatter_class=argparse.RawDescriptionHelpFormatter)


def _segmentation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--segmentation", "-s", required=True, metavar="SEG",
                        help="the segmentation: its id or subject/session/name (see `segdb ls segmentations`)")


def _plane_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plane", default=None, help="the plane's name; needed when the segmentation has several")


def _policy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default="latest",
                        help="how labels combine: latest, majority, unanimous or curator:NAME (default: latest)")


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


def run_tag(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        records = curation.tag_rois(archive, segmentation_ref(args.segmentation), args.rois, args.tag,
                                    plane=args.plane, note=args.note, remove=args.remove)
    summary = (f"took your tag {args.tag!r} off {len(records)} ROI(s)" if args.remove
               else f"tagged {len(records)} ROI(s) {args.tag!r}")
    return _print_events(args, records, summary)


def run_tags(args: argparse.Namespace) -> int:
    from segdb import curation

    with open_archive(args) as archive:
        tagged = curation.roi_tags(archive, segmentation_ref(args.segmentation), plane=args.plane)
    if args.json:
        print_records(tagged, [], as_json=True)
        return 0
    print_rows([{"plane": t.plane, "roi": t.roi, "tags": ", ".join(t.tags),
                 "by": "; ".join(f"{tag}: {', '.join(names)}" for tag, names in t.by_tag.items())} for t in tagged],
               ["plane", "roi", "tags", "by"], as_json=False)
    return 0


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
    _print_event_table(records, as_json=args.json)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from segdb import curation

    target = Path(args.csv)
    if target.is_dir():
        raise InvalidInputError(
            f"{target} is a folder; give the path of the CSV file to write (e.g. {target / 'curation.csv'})"
        )
    if not target.parent.is_dir():
        raise InvalidInputError(f"the folder {target.parent} does not exist; create it or write the CSV elsewhere")

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
    _print_event_table(records, as_json=args.json)
    return 0


def _print_event_table(records: list, *, as_json: bool) -> None:
    """Events as a table whose label column reads 'tagged L2/3' for a tag event, or as JSON (with ``tag``)."""
    if as_json:
        print_records(records, EVENT_COLUMNS, as_json=True)
        return
    rows = [record.to_dict() for record in records]
    for row in rows:
        if row.get("tag") is not None:
            row["label"] = f"{row['label']} {row['tag']}"
    print_rows(rows, EVENT_COLUMNS, as_json=False)
