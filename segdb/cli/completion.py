"""`segdb completion SHELL`: a tab-completion script for bash, zsh or tcsh, made from the command's own parser."""

from __future__ import annotations

import argparse
from typing import Any

from segdb.errors import InvalidInputError

SHELLS = ("bash", "zsh", "tcsh")


def add_completion(commands: Any) -> None:
    completion = commands.add_parser(
        "completion", help="print a tab-completion script for your shell",
        description="Print a script that completes segdb's commands and options in your shell. Load it once per "
        "shell, or save it where your shell looks for completions (README: Shell completion).",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: " + ", ".join(SHELLS))
    completion.set_defaults(handler=run_completion)


def run_completion(args: argparse.Namespace) -> int:
    try:
        import shtab
    except ImportError:
        raise InvalidInputError(
            "shell completion needs the shtab package; install it with `pip install 'segdb[completion]'`"
        ) from None
    from segdb.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0
