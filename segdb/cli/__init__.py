"""The `segdb` command.

Each command group lives in its own module, which adds its parser and binds a handler
with ``set_defaults(handler=...)``. Building the parser imports nothing heavy: a handler
imports what its command needs when it runs, so ``segdb --help`` and ``segdb ls`` start fast.

May import: every layer's public names (the facade, the archive, the feature packages, the
demo); never the catalog itself or SQL (a test holds it): what it needs of the database
is in :mod:`segdb.archive.admin`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from segdb.cli import (
    archive,
    completion,
    curate,
    db,
    describe,
    export,
    extract,
    ingest,
    query,
    serve,
    show,
    storage,
    track,
)
from segdb.cli.examples import add_examples
from segdb.cli.output import cli_wording
from segdb.errors import SegDBError
from segdb.version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segdb", description="A lab archive for calcium-imaging segmentations."
    )
    parser.add_argument("--version", action="version", version=f"segdb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="what to do; `segdb COMMAND --help` says more")
    archive.add_init(commands)
    ingest.add_ingest(commands)
    archive.add_ls(commands)
    archive.add_delete(commands)
    describe.add_describe(commands)
    curate.add_curate(commands)
    query.add_query(commands)
    track.add_track(commands)
    archive.add_verify(commands)
    archive.add_gc(commands)
    storage.add_storage(commands)
    db.add_db(commands)
    extract.add_extract_traces(commands)
    export.add_export(commands)
    show.add_show(commands)
    serve.add_serve(commands)
    archive.add_demo(commands)
    completion.add_completion(commands)
    add_examples(parser, commands)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line a scientist reads, not Python's file, line and category."""
    print(f"segdb: warning: {cli_wording(str(message))}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `segdb` command; returns its exit code (2 for any segdb error, printed as one line)."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args) or 0)
    except SegDBError as exc:
        print(f"segdb: error: {cli_wording(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other Unix tools do.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("segdb: interrupted; nothing half-written is visible (`segdb gc` lists leftovers)", file=sys.stderr)
        return 130
