"""Who is writing through `segdb serve`, and the checks every write passes.

Two ways to run: one curator on this machine (:class:`OneCurator`: the OS user or --curator, one token
per process), or a lab server (:class:`LabLogins`: curators of a users file log in; each login gets a
session cookie and its own token). Either way every request carries its curator and token in
``request.state``, and every write (any method but GET and HEAD) must send that token in the
``X-SegDB-Token`` header and, when the browser names where it comes from (Origin, Referer), come from
this server's own pages. On PostgreSQL, when the archive requires curators to be database roles, a lab
server's writes run as the logged-in curator's role.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from segdb.catalog import models as m
from segdb.curation.store import CURATORS_ARE_ROLES
from segdb.errors import SegDBError
from segdb.web.users import Users, read_users

TOKEN_HEADER = "X-SegDB-Token"
SESSION_COOKIE = "segdb_session"
LOGIN_COOKIE = "segdb_login"
SESSION_SECONDS = 12 * 3600
#: Failed logins: each waits this long, and an address with this many failures within the window is
#: refused until the window has passed.
FAILED_LOGIN_DELAY_S = 0.25
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW_S = 300
_SAFE_METHODS = ("GET", "HEAD")
_OPEN_PATHS = ("/login", "/logout")


class OneCurator:
    """`segdb serve` on one's own machine: every label is ``curator``'s; writes carry the process's token."""

    lab = False

    def __init__(self, curator: str):
        self.curator = curator
        self.token = secrets.token_urlsafe(24)

    def admit(self, request: Request) -> Response | None:
        """Give the request its curator and token; the answer instead of the page when it must not go ahead."""
        request.state.curator, request.state.token = self.curator, self.token
        return refusal_of_write(request)

    async def write_role(self, request: Request) -> str | None:
        """One curator writes as whoever runs the server, as from the command line."""
        return None


@dataclass(frozen=True)
class LoginSession:
    """One login: whose it is, the token its pages send with writes, until when it holds, and the password
    hash it was opened with (a changed password or a removed curator ends it)."""

    curator: str
    token: str
    expires: float
    password_hash: str


class LabLogins:
    """A lab server: curators named in a users file log in with their password; each login is a session
    kept in this process (a restart logs everyone out)."""

    lab = True

    def __init__(self, archive: Any, users_file: str | Path):
        self.archive = archive
        self.path = Path(users_file)
        self._users = read_users(self.path)
        self._seen = self._stamp()
        self._sessions: dict[str, LoginSession] = {}
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    # -- the users file -------------------------------------------------------------------------------

    def users(self) -> Users:
        """The users file as it is now: read again when it changed (`segdb serve adduser` while serving)."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._users, self._seen = read_users(self.path), stamp
        return self._users

    def _stamp(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return None
        return status.st_mtime_ns, status.st_size

    # -- sessions -------------------------------------------------------------------------------------

    def log_in(self, name: str, password: str) -> tuple[str, LoginSession] | None:
        """A new session if ``name`` is a curator here and ``password`` theirs: (the key its cookie holds,
        the session); None otherwise."""
        users = self.users()
        if not users.check(name, password):
            return None
        now = time.time()
        login = LoginSession(name, secrets.token_urlsafe(24), now + SESSION_SECONDS, users.hashes[name])
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions = {old: s for old, s in self._sessions.items() if s.expires > now}
            self._sessions[key] = login
        return key, login

    def session_of(self, request: Request) -> LoginSession | None:
        """The live session the request's cookie names, if any."""
        key = request.cookies.get(SESSION_COOKIE)
        login = self._sessions.get(key) if key else None
        if login is None:
            return None
        if login.expires <= time.time() or self.users().hashes.get(login.curator) != login.password_hash:
            self.log_out(key)
            return None
        return login

    def log_out(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key or "", None)

    # -- guessing -------------------------------------------------------------------------------------

    def seconds_until_retry(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        now = time.time()
        with self._lock:
            recent = self._failures.get(address, deque())
            while recent and recent[0] <= now - FAILED_LOGIN_WINDOW_S:
                recent.popleft()
            if len(recent) < MAX_FAILED_LOGINS:
                return 0.0
            return recent[0] + FAILED_LOGIN_WINDOW_S - now

    def failed(self, address: str) -> None:
        """Count a failed login from ``address``, and make its answer wait."""
        now = time.time()
        with self._lock:
            self._failures = {where: times for where, times in self._failures.items()
                              if times and times[-1] > now - FAILED_LOGIN_WINDOW_S}
            self._failures.setdefault(address, deque()).append(now)
        time.sleep(FAILED_LOGIN_DELAY_S)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    # -- every request --------------------------------------------------------------------------------

    def admit(self, request: Request) -> Response | None:
        """Give the request its curator and session token; the answer instead of the page when it must not
        go ahead (not logged in, or a write without its session's token)."""
        path = request.url.path
        if path.startswith("/static/") or path in _OPEN_PATHS:
            return None
        try:
            login = self.session_of(request)
        except SegDBError as error:  # the users file was damaged while serving
            return JSONResponse({"error": str(error)}, status_code=500)
        if login is None:
            if path.startswith("/api/") or request.method not in _SAFE_METHODS:
                return JSONResponse({"error": "log in first (open /login in the browser)"}, status_code=401)
            return RedirectResponse(f"/login?next={quote(_local_target(request), safe='/')}", status_code=303)
        request.state.curator, request.state.token = login.curator, login.token
        return refusal_of_write(request)

    async def write_role(self, request: Request) -> str | None:
        """The database role a write runs as: the logged-in curator's, where the archive requires it."""
        curator = getattr(request.state, "curator", None)
        if curator is None or request.method in _SAFE_METHODS:
            return None
        return curator if await run_in_threadpool(curators_are_roles, self.archive) else None


class AccessGuard:
    """ASGI middleware: every request passes ``access`` (:class:`OneCurator` or :class:`LabLogins`) before
    it reaches a page, and a write runs as the database role ``access`` names, if any."""

    def __init__(self, app: ASGIApp, access: OneCurator | LabLogins, archive: Any):
        self.app, self.access, self.archive = app, access, archive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = self.access.admit(request)
        if refused is not None:
            await refused(scope, receive, send)
            return
        role = await self.access.write_role(request)
        if role is None:
            await self.app(scope, receive, send)
            return
        with self.archive.catalog.writing_as(role):
            await self.app(scope, receive, send)


def refusal_of_write(request: Request) -> Response | None:
    """Why a write must not go ahead (a JSON answer), or None: it carries its page's token and, when the
    browser says where it comes from, comes from this server."""
    if request.method in _SAFE_METHODS:
        return None
    sent = request.headers.get(TOKEN_HEADER, "")
    if not sent:
        return _refused(400, "this write did not come from a segdb page (its token is missing); reload the page")
    if not secrets.compare_digest(sent, request.state.token):
        return _refused(403, "this write's token is not this page's (it is from another login or an older page); "
                             "reload the page")
    if not same_origin(request):
        return _refused(403, "this write comes from a page of another site; segdb takes writes only from its own pages")
    return None


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (else Referer), when it has one, is this server as the browser reached it."""
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value:
            return urlsplit(value).netloc == request.headers.get("host", "")
    return True


def curators_are_roles(archive: Any) -> bool:
    """Whether the archive requires each curator to write as the database role of the same name
    (`segdb curate require-roles`; PostgreSQL only)."""
    if archive.catalog.dialect != "postgresql":
        return False
    with archive.catalog.reading() as db:
        value = db.scalar(select(m.ArchiveSetting.setting_value)
                          .where(m.ArchiveSetting.setting_name == CURATORS_ARE_ROLES))
    return value == "true"


def _refused(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _local_target(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def add_login_pages(app: FastAPI, logins: LabLogins, templates: Jinja2Templates) -> None:
    """/login (the form, and its POST) and /logout."""

    def form(request: Request, message: str | None = None, status: int = 200, next_path: str = "/") -> Response:
        # One token per browser, kept while it has the cookie: a form in another tab (or a favicon's
        # redirect here) does not make the form on screen stale.
        token = request.cookies.get(LOGIN_COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
            token = secrets.token_urlsafe(24)
        response = templates.TemplateResponse(request, "login.html", {
            "curator": None, "message": message, "login_token": token, "next": safe_next(next_path),
        }, status_code=status)
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        if logins.session_of(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return form(request, next_path=next)

    @app.post("/login")
    async def log_in(request: Request) -> Response:
        fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        next_path = safe_next(fields.get("next"))
        sent, expected = fields.get("login_token", ""), request.cookies.get(LOGIN_COOKIE, "")
        if not same_origin(request) or not sent or not secrets.compare_digest(sent, expected):
            return form(request, "This login form is stale or came from another site; log in again here.", 403,
                        next_path)
        address = request.client.host if request.client else "?"
        wait = logins.seconds_until_retry(address)
        if wait:
            return form(request, f"Too many failed logins from {address}; try again in {int(wait) + 1} s.", 429,
                        next_path)
        name, password = fields.get("name", "").strip(), fields.get("password", "")
        opened = await run_in_threadpool(logins.log_in, name, password)
        if opened is None:
            await run_in_threadpool(logins.failed, address)
            return form(request, "Unknown curator name or wrong password.", 401, next_path)
        logins.succeeded(address)
        key, _ = opened
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(SESSION_COOKIE, key, max_age=SESSION_SECONDS, path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.get("/logout")
    def log_out(request: Request) -> Response:
        logins.log_out(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
