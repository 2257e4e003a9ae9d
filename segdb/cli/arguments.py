"""What the commands share: the --archive and --json options, and opening the archive they name."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from segdb.api import Archive as PublicArchive
    from segdb.archive import Archive


def add_archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive",
        "-a",
        default=None,
        help="archive folder or database URL (default: $SEGDB_URL, else ./segdb-archive)",
    )
    parser.add_argument("--storage-root", default=None, help="where array files live (overrides the catalog's)")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def examples(*lines: str) -> str:
    """The epilog every command's --help ends with: real command lines to copy (use RawDescriptionHelpFormatter)."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def segmentation_ref(text: str) -> int | str:
    """A segmentation as the user named it: an id, or 'subject/session/name'."""
    return int(text) if text.isdigit() else text


def open_archive(args: argparse.Namespace, *, create: bool = False) -> Archive:
    """The archive that --archive / --storage-root name, without the extractor classes (a fast start)."""
    from segdb.archive import Archive

    return Archive.open(args.archive, storage_root=args.storage_root, create=create)


def open_public_archive(args: argparse.Namespace) -> PublicArchive:
    """The archive as :func:`segdb.open` returns it, for commands that need its extractors."""
    import segdb

    return segdb.open(args.archive, storage_root=args.storage_root, create=False)
