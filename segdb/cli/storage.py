"""`segdb storage copy`: move an archive's array files to another folder or bucket, then point the catalog there."""

from __future__ import annotations

import argparse
import os
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, open_archive
from segdb.cli.output import print_json


def add_storage(commands: Any) -> None:
    storage = commands.add_parser("storage", help="move the archive's array files to another folder or bucket")
    actions = storage.add_subparsers(dest="storage_command", required=True, metavar="ACTION",
                                     help="what to do with the storage root")
    copy = actions.add_parser(
        "copy", help="copy every array file from SRC to DST, verify it, then make DST the storage root",
        description="Copy every array file the catalog records from SRC (the archive's storage root) to DST (a "
                    "folder or s3://bucket/prefix), recompute each copy's sha256 and compare it with the catalog's, "
                    "and then, in one catalog transaction, record DST as the storage root. Without --apply it only "
                    "says what it would copy. Run it again after an interruption: files already at DST are verified "
                    "and kept. An object at DST that differs is never overwritten. The files at SRC are left in "
                    "place (delete them once no reader needs them); readers that opened the archive before the "
                    "switch keep reading SRC.",
    )
    copy.add_argument("source", metavar="SRC", help="the archive's current storage root (a folder or s3:// URL)")
    copy.add_argument("destination", metavar="DST", help="the new storage root: a folder or s3://bucket/prefix")
    copy.add_argument("--apply", action="store_true", help="copy the files and switch the catalog (else a dry run)")
    add_archive_option(copy)
    add_json_option(copy)
    copy.set_defaults(handler=run_storage_copy)


def run_storage_copy(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        report = archive.copy_storage(args.destination, source=args.source, apply=args.apply)
    if args.json:
        print_json({**report.to_dict(), "ok": report.ok})
        return 0 if report.ok else 1
    verb = "copied" if report.applied else "would copy"
    print(f"{report.files} array file(s), {report.total_bytes / 1e6:.1f} MB, in {report.source}: "
          f"{verb} {report.copied} ({report.copied_bytes / 1e6:.1f} MB) to {report.destination}; "
          f"{report.already_there} already there and verified")
    for problem in report.problems:
        print(f"  {problem.relative_path}: {problem.problem}")
    if report.problems:
        print(f"not switched: {len(report.problems)} file(s) stop the move; the catalog still names {report.source}")
    elif report.switched:
        print(f"the catalog now names {report.destination} as the storage root; the files in {report.source} are "
              "left in place: delete them once no reader that opened the archive before needs them")
    else:
        print("run again with --apply to copy them and switch the catalog")
    if report.overridden:
        given = "SEGDB_STORAGE_ROOT" if os.environ.get("SEGDB_STORAGE_ROOT") else "--storage-root"
        print(f"note: {given} overrides the catalog's storage root ({report.catalog_root}); opens that give it keep "
              f"using {report.source}: unset it, or set it to {report.destination}")
    return 0 if report.ok else 1
