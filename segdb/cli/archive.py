"""`segdb init`, `ls`, `delete`, `verify`, `gc` and `demo`: the archive as a whole."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from segdb.cli.arguments import (
    add_archive_option,
    add_json_option,
    count_at_least,
    number_between,
    open_archive,
    segmentation_ref,
)
from segdb.cli.columns import parse_columns, roi_rows
from segdb.cli.describe import PLANE_COLUMNS, SESSION_COLUMNS, SUBJECT_COLUMNS
from segdb.cli.output import print_json, print_records, print_rows
from segdb.errors import InvalidInputError, NotFoundError

LS_COLUMNS = {
    "subjects": SUBJECT_COLUMNS,
    "sessions": ["session_id", *SESSION_COLUMNS[:-1], "num_segmentations"],
    "segmentations": ["segmentation_id", "subject", "session", "name", "source_format", "planes", "num_rois",
                      "num_samples", "status"],
    "planes": PLANE_COLUMNS,
    "rois": ["roi_id", "plane", "key", "kind", "centroid_px", "centroid_um", "pixel_count", "source_accepted"],
}


def add_init(commands: Any) -> None:
    init = commands.add_parser("init", help="create a new, empty archive")
    init.add_argument("target", help="archive folder or database URL")
    init.add_argument("--storage-root", default=None, help="array folder (required for a database URL)")
    init.set_defaults(handler=run_init)


def add_ls(commands: Any) -> None:
    ls = commands.add_parser(
        "ls", help="list what the archive holds",
        description="List what the archive holds. For rois, centroid_px(row,col) is the centroid in pixels, row "
        "first as in numpy and roiextractors; centroid_um(x,y) is the same point in µm in the plane's frame, x "
        "along columns and y along rows (as `segdb query --near X Y` takes it).",
    )
    ls.add_argument("what", choices=list(LS_COLUMNS), help="what to list: " + ", ".join(LS_COLUMNS))
    add_archive_option(ls)
    add_json_option(ls)
    ls.add_argument("--subject", default=None, help="only this subject")
    ls.add_argument("--session", default=None, help="only sessions of this name")
    ls.add_argument("--segmentation", "-s", default=None, help="id or subject/session/name (for planes and rois)")
    ls.add_argument("--plane", default=None, help="only this plane (for rois)")
    ls.add_argument("--kind", choices=["cell", "background", "all"], default="cell", help="for rois")
    ls.add_argument("--all", action="store_true", help="include unfinished ingests (for segmentations)")
    ls.add_argument("--limit", type=count_at_least(1), default=None, metavar="N",
                    help="for segmentations: only the N ingested last (default all)")
    ls.add_argument("--columns", default=None, metavar="A,B,…",
                    help="for rois: the columns to show, from the ROI's fields, its plane's properties (e.g. snr, "
                    "skew) and label (its curation label under --policy); default: " + ",".join(LS_COLUMNS["rois"]))
    ls.add_argument("--policy", default="latest",
                    help="for rois with the label column: latest, majority, unanimous or curator:NAME (default latest)")
    ls.set_defaults(handler=run_ls)


def add_delete(commands: Any) -> None:
    delete = commands.add_parser(
        "delete", help="delete a segmentation and its array files",
        description="Delete a segmentation: its ROIs, traces, array files and the curation events and track "
                    "members that refer to it. On a terminal it says what goes and asks first; elsewhere "
                    "(a script) it needs --yes.",
    )
    delete.add_argument("segmentation", help="id or subject/session/name")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (needed off a terminal)")
    delete.add_argument("--force", action="store_true",
                        help="delete even if people have curated it or a stored matching run uses it "
                             "(those runs are then marked as changed)")
    add_archive_option(delete)
    delete.set_defaults(handler=run_delete)


def add_verify(commands: Any) -> None:
    verify = commands.add_parser("verify", help="recompute every array file's sha256 and name damaged files")
    add_archive_option(verify)
    add_json_option(verify)
    verify.add_argument("--fast", action="store_true",
                        help="in a bucket, compare each file's size and the server's checksum (ETag) recorded at "
                             "upload, one request per file, instead of streaming it to recompute its sha256")
    verify.set_defaults(handler=run_verify)


def add_gc(commands: Any) -> None:
    gc = commands.add_parser("gc", help="list (and with --apply delete) orphan files and unfinished ingests")
    add_archive_option(gc)
    add_json_option(gc)
    gc.add_argument("--apply", action="store_true", help="delete what is listed")
    gc.add_argument("--older-than-hours", type=number_between(0, 100_000, "hours"), default=6.0,
                    help="treat another machine's unfinished ingest as crashed after this long (default 6)")
    gc.add_argument("--grace-minutes", type=float, default=None,
                    help="leave files and folders younger than this many minutes alone (a writer may be filling "
                         "them; default 10)")
    gc.set_defaults(handler=run_gc)


def add_demo(commands: Any) -> None:
    demo = commands.add_parser("demo", help="build a small synthetic lab archive and show what it holds")
    demo.add_argument("folder", nargs="?", default="./demo-archive", help="where to build it (default ./demo-archive)")
    demo.add_argument("--seed", type=count_at_least(0), default=0, help="random seed of the synthetic data (default 0)")
    demo.set_defaults(handler=run_demo)


def run_init(args: argparse.Namespace) -> int:
    from segdb.archive import Archive

    archive = Archive.create(args.target, storage_root=args.storage_root)
    print(f"created an empty archive at {archive.location} (arrays in {archive.storage_root})")
    archive.close()
    return 0


def run_ls(args: argparse.Namespace) -> int:
    if args.limit is not None and args.what != "segmentations":
        raise InvalidInputError(f"--limit is for `segdb ls segmentations`, not `segdb ls {args.what}`")
    if args.what in ("planes", "rois") and args.segmentation is None:
        raise InvalidInputError(f"`segdb ls {args.what}` lists one segmentation's {args.what}: give --segmentation "
                                "ID or subject/session/name (`segdb ls segmentations` lists them)")
    with open_archive(args) as archive:
        # A name that is not in the archive is an error, not an empty listing.
        if args.what in ("sessions", "segmentations"):
            archive.check_names(subject=args.subject, session=args.session if args.what == "segmentations" else None)
        if args.what == "rois" and args.plane is not None:
            planes = [plane.name for plane in archive.planes(segmentation_ref(args.segmentation))]
            if args.plane not in planes:
                raise NotFoundError(f"segmentation {args.segmentation} has no plane {args.plane!r}; its planes are "
                                    f"{', '.join(planes)} (`segdb ls planes -s {args.segmentation}` lists them)")
        if args.what == "subjects":
            records = archive.subjects()
        elif args.what == "sessions":
            records = archive.sessions(subject=args.subject)
        elif args.what == "planes":
            records = archive.planes(segmentation_ref(args.segmentation))
        elif args.what == "segmentations":
            records = _segmentations(archive, args)
        else:
            kind = None if args.kind == "all" else args.kind
            records = archive.rois(segmentation_ref(args.segmentation), plane=args.plane, kind=kind)
            if args.columns is not None:
                columns = parse_columns(args.columns)
                print_rows(roi_rows(archive, records, columns, policy=args.policy), columns, as_json=args.json)
                return 0
        if args.columns is not None:
            raise InvalidInputError(f"--columns is for `segdb ls rois`, not `segdb ls {args.what}`")
        print_records(records, LS_COLUMNS[args.what], as_json=args.json)
    return 0


def _segmentations(archive: Any, args: argparse.Namespace) -> list:
    """The segmentations ``segdb ls`` shows: all, or with --limit N the N ingested last, saying on stderr
    when there are more."""
    from segdb.archive.values import LARGEST_ID

    options = dict(subject=args.subject, session=args.session, include_unfinished=args.all)
    if args.limit is None:
        return archive.segmentations(**options)
    records = archive.segmentations(**options, limit=min(args.limit + 1, LARGEST_ID))
    if len(records) > args.limit:
        oldest = min(record.segmentation_id for record in records)
        records = [record for record in records if record.segmentation_id != oldest]
        print(f"the {args.limit} segmentations ingested last are shown; there are more (drop --limit for all)",
              file=sys.stderr)
    return records


def run_delete(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        plan = archive.deletion_plan(segmentation_ref(args.segmentation))
        record = plan.segmentation
        described = f"segmentation {record.segmentation_id} {record.subject}/{record.session}/{record.name}"
        print(f"{described}: {_what_goes(plan)}")
        if (plan.people_curation_events or plan.matching_runs) and not args.force:
            archive.delete_segmentation(record.segmentation_id)  # refuses, saying why and that --force would do it
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInputError(
                    f"`segdb delete` asks before it deletes {described}, and stdin is not a terminal; "
                    "pass --yes to delete without asking"
                )
            answer = input("delete it? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                print("nothing deleted")
                return 1
        archive.delete_segmentation(record.segmentation_id, force=args.force)
    print(f"deleted {described}")
    return 0


def _what_goes(plan: Any) -> str:
    parts = [f"{plan.num_rois} ROI(s)", f"{plan.array_files} array file(s) ({plan.array_bytes / 1e6:.1f} MB)"]
    parts.append(f"{plan.people_curation_events} curation event(s) by people, "
                 f"{plan.pipeline_curation_events} by the pipeline")
    if plan.matching_runs:
        runs = ", ".join(str(run) for run in plan.matching_runs)
        parts.append(f"{plan.track_members} track member(s) of matching run(s) {runs}")
    return "deleting it deletes " + "; ".join(parts)


def run_verify(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        report = archive.verify(fast=args.fast)
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"checked {report.files_checked} array file(s), {report.bytes_checked / 1e6:.1f} MB")
        if report.files_checked_by_server:
            print(f"  {report.files_checked_by_server} of them by the server's checksum and size (--fast), "
                  "not by their sha256")
        elif args.fast:
            print("  --fast found no server checksum to compare (files in a folder, or uploaded before segdb "
                  "recorded one): every file was hashed")
        for problem in report.problems:
            print(f"  {problem.relative_path}: {problem.problem}")
        if report.deleted_meanwhile:
            print(f"  {len(report.deleted_meanwhile)} file(s) were deleted with their segmentation while being checked")
        print("all files intact" if report.ok else f"{len(report.problems)} file(s) missing or damaged")
    return 0 if report.ok else 1


def run_gc(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        grace = {} if args.grace_minutes is None else {"grace": dt.timedelta(minutes=args.grace_minutes)}
        report = archive.gc(apply=args.apply, older_than=dt.timedelta(hours=args.older_than_hours), **grace)
    if args.json:
        print_json(report.to_dict())
        return 0
    verb = "deleted" if report.applied else "would delete"
    print(f"{len(report.orphan_files)} orphan file(s), {report.orphan_bytes / 1e6:.1f} MB; "
          f"{len(report.stale_segmentations)} unfinished ingest(s)")
    for path in report.orphan_files:
        print(f"  {verb}: {path}")
    for seg_id in report.stale_segmentations:
        print(f"  {verb}: unfinished segmentation {seg_id}")
    for folder in report.staging_folders:
        print(f"  {verb}: {folder} (a stopped upload's staging folder on this machine)")
    if report.staging_folders:
        print(f"  staging folders: {len(report.staging_folders)}, {report.staging_bytes / 1e6:.1f} MB")
    if report.young_files:
        print(f"  left for now: {report.young_files} unreferenced file(s) too young to be sure no writer still "
              "needs them (--grace-minutes)")
    if not report.applied and (report.orphan_files or report.stale_segmentations or report.staging_folders):
        print("run `segdb gc --apply` to delete them")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from segdb.demo import build_demo_archive

    if Path(args.folder).exists() and not Path(args.folder).is_dir():
        raise InvalidInputError(f"{args.folder} is a file; give the demo a new folder to build its archive in")
    build_demo_archive(Path(args.folder), seed=args.seed, out=sys.stdout)
    return 0
