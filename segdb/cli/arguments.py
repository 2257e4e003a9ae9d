"""What the commands share: the --archive and --json options, and opening the archive they name."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
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
    """A segmentation as the user named it: an id (ASCII digits), or 'subject/session/name'."""
    from segdb.archive.values import id_from_text

    number = id_from_text(text)
    return text if number is None else number


def catalog_id(what: str) -> Callable[[str], int]:
    """An argparse type for the id of a ``what`` (a matching run, a track): ASCII digits naming at most 2**63 - 1."""

    def parse(text: str) -> int:
        from segdb.archive.values import LARGEST_ID, id_from_text

        number = id_from_text(text)
        if number is None or not 0 < number <= LARGEST_ID:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what} id; ids are whole numbers from 1 to 2**63 - 1")
        return number

    return parse


def number_between(low: float, high: float, unit: str) -> Callable[[str], float]:
    """An argparse type for a number of ``unit`` from ``low`` to ``high`` (NaN and infinity refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit} from {low:g} to {high:g}")
        return value

    return parse


def finite_number(text: str) -> float:
    """An argparse type for a finite number (NaN and infinity refused: they would match nothing, silently)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def count_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for a whole number from ``minimum`` to 2**63 - 1 (what a database LIMIT or seed takes)."""

    def parse(text: str) -> int:
        from segdb.archive.values import LARGEST_ID

        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= LARGEST_ID:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {minimum} to 2**63 - 1")
        return value

    return parse


def open_archive(args: argparse.Namespace, *, create: bool = False) -> Archive:
    """The archive that --archive / --storage-root name, without the extractor classes (a fast start)."""
    from segdb.archive import Archive

    return Archive.open(args.archive, storage_root=args.storage_root, create=create)


def open_public_archive(args: argparse.Namespace) -> PublicArchive:
    """The archive as :func:`segdb.open` returns it, for commands that need its extractors."""
    import segdb

    return segdb.open(args.archive, storage_root=args.storage_root, create=False)
