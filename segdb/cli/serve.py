"""`segdb serve`: the archive as web pages where a lab curates together.

``segdb serve`` runs the server: for one curator on this machine, or, with ``--users FILE``, for the
curators of a users file, who log in (then it may listen beyond this machine). ``segdb serve adduser``
adds a curator to a users file.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import sys
from typing import Any

from segdb.cli.arguments import add_archive_option, examples, open_public_archive
from segdb.errors import InvalidInputError

DEFAULT_PORT = 8765


def add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="curate in the browser: ROI outlines over the image, traces, labels, history",
        description="segdb serve -a ./lab-archive   then open http://127.0.0.1:8765",
    )
    add_archive_option(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; another needs --users)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--curator", default=None, help="whose labels these are (default $SEGDB_CURATOR, else your user)")
    serve.add_argument("--users", default=None, metavar="FILE",
                       help="a lab server: curators log in with the passwords of this users file "
                            "(`segdb serve adduser`), and each label is the logged-in curator's")
    serve.set_defaults(handler=run_serve)
    actions = serve.add_subparsers(dest="serve_action", required=False, metavar="ACTION",
                                   help="adduser: add a curator to a users file (without it: run the server)")
    adduser = actions.add_parser(
        "adduser", help="add a curator and their password to a users file (created if missing)",
        description="Add a curator and their password to a users file for `segdb serve --users`; the file "
                    "keeps only a salted hash and is created readable by you only.",
        epilog=examples("segdb serve adduser --users users.toml alice",
                        "printf '%s\\n' \"$PASSWORD\" | segdb serve adduser --users users.toml bob --password-stdin"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adduser.add_argument("name", metavar="NAME", help="the curator's name, as their labels will carry it "
                                                      "(on PostgreSQL with require-roles: their database role)")
    adduser.add_argument("--users", required=True, metavar="FILE", help="the users file (TOML) to add them to")
    adduser.add_argument("--replace", action="store_true", help="set a new password for a curator already there")
    adduser.add_argument("--password-stdin", action="store_true",
                         help="read the password from the first line of standard input instead of asking twice")
    adduser.set_defaults(handler=run_adduser)


def run_serve(args: argparse.Namespace) -> int:
    check_host(args.host, args.users)
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port {args.port} is not a port number (1-65535)")
    import uvicorn

    from segdb.web import create_app
    from segdb.web.login import curators_are_roles
    from segdb.web.users import read_users

    if args.users is not None and not read_users(args.users).hashes:
        raise InvalidInputError(f"the users file {args.users} names no curators, so nobody could log in; add one "
                                f"with `segdb serve adduser --users {args.users} NAME`")

    with open_public_archive(args) as archive:
        app = create_app(archive, curator=args.curator, users=args.users)
        warm_up()
        url = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}"
        if args.users is None:
            mode = f"as curator {app.state.access.curator} (this machine only)"
        else:
            count = len(app.state.access.users().hashes)
            mode = f"to the {count} curator(s) of {args.users}, who log in at {url}/login"
            if curators_are_roles(archive):
                mode += "; each writes as their own database role (the archive requires it)"
        print(f"segdb serves {archive.catalog.url} at {url} {mode}; Ctrl-C stops it", flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def run_adduser(args: argparse.Namespace) -> int:
    from segdb.web.users import add_user, check_curator_name

    name = check_curator_name(args.name)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("the same password again: ") != password:
            raise InvalidInputError("the two passwords differ; nothing was written; run the command again")
    users = add_user(args.users, name, password, replace=args.replace)
    print(f"{'set a new password for' if args.replace else 'added'} curator {name} in {users.path} "
          f"({len(users.hashes)} curator(s)); `segdb serve --users {users.path}` lets them log in")
    return 0


def warm_up() -> None:
    """Import what the first page needs before anyone asks for it, so that page is as quick as the next."""
    import matplotlib.image  # noqa: F401 - the summary images
    import scipy.ndimage  # noqa: F401 - the outlines

    import segdb.extractors  # noqa: F401


def check_host(host: str, users: str | None) -> None:
    """Listen beyond this machine only as a lab server (--users), where each curator logs in: without it,
    anyone who reaches the port could label as the one curator."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and users is None:
        raise InvalidInputError(
            f"--host {host} would let anyone who reaches this machine label ROIs as you; without --users segdb "
            "serve listens on 127.0.0.1 (this machine only): give --users FILE (curators log in; "
            "`segdb serve adduser --users FILE NAME` adds one) or reach it from elsewhere through an SSH tunnel "
            "(ssh -L 8765:127.0.0.1:8765 HOST)"
        )
