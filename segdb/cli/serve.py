"""`segdb serve`: the archive as web pages where a lab curates together."""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from segdb.cli.arguments import add_archive_option, open_public_archive
from segdb.errors import InvalidInputError

DEFAULT_PORT = 8765


def add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="curate in the browser: ROI outlines over the image, traces, labels, history",
        description="segdb serve -a ./lab-archive   then open http://127.0.0.1:8765",
    )
    add_archive_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--curator", default=None, help="whose labels these are (default $SEGDB_CURATOR, else your user)")
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    check_loopback(args.host)
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port {args.port} is not a port number (1-65535)")
    import uvicorn

    from segdb.web import create_app

    with open_public_archive(args) as archive:
        app = create_app(archive, curator=args.curator)
        warm_up()
        print(f"segdb serves {archive.catalog.url} at http://{args.host}:{args.port} as curator "
              f"{app.state.curator}; Ctrl-C stops it", flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def warm_up() -> None:
    """Import what the first page needs before anyone asks for it, so that page is as quick as the next."""
    import matplotlib.image  # noqa: F401 - the summary images
    import scipy.ndimage  # noqa: F401 - the outlines

    import segdb.extractors  # noqa: F401


def check_loopback(host: str) -> None:
    """Refuse to listen beyond this machine: anyone who reaches the port could label as the curator."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidInputError(
            f"--host {host} would let anyone who reaches this machine label ROIs as you; segdb serve listens on "
            "127.0.0.1 (this machine only); reach it from elsewhere through an SSH tunnel "
            "(ssh -L 8765:127.0.0.1:8765 HOST)"
        )
