"""`segdb serve`: curating together in the browser, over the same archive API as the command line.

* :mod:`~segdb.web.views`: what the pages show (curation progress, a plane's ROIs with outlines and
  labels, decimated traces), read through :class:`segdb.Archive`.
* :mod:`~segdb.web.app`: :func:`create_app`, the ASGI application (FastAPI), its pages and JSON.
* :mod:`~segdb.web.login`: who writes (one curator, or curators logged in to a lab server) and the
  checks every write passes; :mod:`~segdb.web.users`: a lab server's users file.

Writes go only through the archive's curation store; no URL names a file.
"""

from __future__ import annotations

from segdb.web.app import create_app

__all__ = ["create_app"]
