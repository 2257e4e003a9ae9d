"""Engines and units of work: the one place that talks to the database driver.

SQLite gets WAL, foreign keys and a busy timeout on every connection, and a
writer takes the write lock up front (``BEGIN IMMEDIATE``) so two writers never
deadlock half-way through a transaction. Driver errors leave this module as
segdb errors, told apart by their codes; :func:`redacted_url` is how a catalog
URL is shown without its password.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from segdb.errors import ConflictError, InvalidInputError, SegDBError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "segdb_begin_immediate"

T = TypeVar("T")

# The role a context's write units take on (see Catalog.writing_as): (catalog, role), or None.
_WRITE_ROLE: contextvars.ContextVar[tuple[Catalog, str] | None] = contextvars.ContextVar("segdb_write_role",
                                                                                        default=None)
_POSTGRES_ROLE_REFUSED = {"42501", "22023"}  # permission denied to set role; role does not exist


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


SUPPORTED_DATABASES = "SQLite (an archive folder, or sqlite:///FILE) or PostgreSQL (postgresql+psycopg://USER@HOST/DB)"


# How often a PostgreSQL server checks, while running a statement, that its client is still there.
CLIENT_CHECK_INTERVAL_MS = 1000


def create_catalog_engine(url: str, *, statement_timeout_ms: int = 0) -> Engine:
    """Create an engine for a catalog URL with segdb's connection settings.

    On PostgreSQL, ``statement_timeout_ms`` (0: none) is set once on each new connection, and
    the server cancels a connection's statement soon after its client has gone.

    A URL segdb cannot use (not a URL, the ``postgres://`` scheme, a database other than SQLite
    or PostgreSQL, a driver that is not installed) is an InvalidInputError naming the URL
    (password hidden) and the fix.
    """
    shown = redacted_url(url)
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise InvalidInputError(f"{shown!r} is not a database URL; a catalog is {SUPPORTED_DATABASES}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgres":
        fixed = shown.split("://", 1)[1]
        raise InvalidInputError(
            f"the catalog URL {shown} uses the scheme postgres://, which SQLAlchemy does not accept; "
            f"write it postgresql+psycopg://{fixed}"
        )
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInputError(
            f"the catalog URL {shown} names a {backend} database; segdb's catalog is {SUPPORTED_DATABASES}"
        )
    if backend == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", None, ""):
        # psycopg 3 is the driver segdb installs; a bare postgresql:// URL means it.
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ModuleNotFoundError, sa_exc.NoSuchModuleError) as exc:
        driver = parsed.get_driver_name()
        if driver == "psycopg":
            fix = "install it with pip install 'segdb[postgres]'"
        else:
            fix = "segdb installs psycopg: write the URL as postgresql+psycopg://… and pip install 'segdb[postgres]'"
        raise InvalidInputError(
            f"cannot open catalog {shown}: the PostgreSQL driver {driver!r} is not installed; {fix}"
        ) from exc

    @event.listens_for(engine, "connect")
    def _set_session_bounds(dbapi_connection, _record):  # noqa: ANN001 - driver objects
        cursor = dbapi_connection.cursor()
        if statement_timeout_ms:
            cursor.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        if getattr(dbapi_connection.info, "server_version", 0) >= 140000:
            # A client that goes away (killed, network gone) takes its running statement with it,
            # instead of leaving the server working on a question nobody will read.
            cursor.execute(f"SET client_connection_check_interval = {CLIENT_CHECK_INTERVAL_MS}")
        cursor.close()
        dbapi_connection.commit()

    return engine


def unreachable_catalog_error(location: str, exc: sa_exc.OperationalError) -> SegDBError:
    """A refused or failed connection as one line naming the catalog (password hidden) and the fix."""
    reason = str(exc.orig or exc).strip().splitlines()[0]
    lowered = reason.lower()
    database = _quoted_after("database", reason)
    if "does not exist" in lowered and database:
        fix = (f"create it (createdb {database}, or CREATE DATABASE {database}) and then "
               f"`segdb init {location} --storage-root FOLDER`, or correct the database name in the URL")
    elif "role" in lowered and "does not exist" in lowered:
        fix = "check the user name in the URL (that role must exist on the server)"
    elif "connection refused" in lowered:
        fix = "no PostgreSQL server listens there: check the host and port in the URL (5432 is the default) " \
              "and that the server is running"
    elif "resolve host" in lowered or "name or service not known" in lowered:
        fix = "check the host name in the URL"
    elif "password authentication failed" in lowered or "no password supplied" in lowered:
        fix = "check the user name and password (in the URL, PGPASSWORD or ~/.pgpass)"
    elif "unable to open database file" in lowered:
        fix = "its folder does not exist or cannot be written; check the path"
    else:
        fix = "check the URL and that the server is running"
    return SegDBError(f"cannot reach the catalog at {location}: {reason}; {fix}")


# SQLite's result codes for a file that is not a database, or one whose pages are damaged.
_SQLITE_NOTADB = 26
_SQLITE_CORRUPT = 11


def is_damaged_sqlite(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying its file is not a database or is damaged (garbage, truncated)."""
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_NOTADB, _SQLITE_CORRUPT)


def damaged_catalog_error(catalog_file: str, reason: str) -> SegDBError:
    """A catalog file that SQLite cannot read as a catalog, as one line saying what to do."""
    return SegDBError(
        f"the catalog file {catalog_file} is not a readable SQLite catalog ({reason}); segdb changes nothing in it: "
        "restore catalog.sqlite from a backup (the array files beside it are not affected)"
    )


def _quoted_after(word: str, text: str) -> str | None:
    match = re.search(rf'{word} "([^"]+)"', text)
    return match.group(1) if match else None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001 - driver objects
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        if conn.get_execution_options().get(_IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Catalog:
    """Engine plus session factories for one catalog database."""

    def __init__(self, url: str):
        self.url = url
        # Reads on PostgreSQL are bounded by the server (see reading()); the bound is set once per
        # connection, and writing() lifts it for its own transaction.
        self._connection_timeout_ms = read_timeout_ms() if str(url).startswith("postgresql") else 0
        self.engine = create_catalog_engine(url, statement_timeout_ms=self._connection_timeout_ms)
        if self._connection_timeout_ms:

            @event.listens_for(self.engine, "begin")
            def _writes_unbounded(conn):  # noqa: ANN001
                # A write (an ingest's rows, a migration) is not a question: no read bound applies to it.
                if conn.get_execution_options().get(_IMMEDIATE):
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False, autoflush=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_file(self) -> str | None:
        """The SQLite catalog's file, to name in messages (None on PostgreSQL)."""
        return self.engine.url.database if self.dialect == "sqlite" else None

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work; it never commits.

        On PostgreSQL each of its statements is cancelled by the server after
        :func:`read_timeout_ms` (``$SEGDB_STATEMENT_TIMEOUT``, seconds; default 60, 0 for none), so
        one question cannot keep a shared server busy, even after its client has gone.
        """
        session = self._read_sessions()
        try:
            timeout = read_timeout_ms()
            if self.dialect == "postgresql" and timeout != self._connection_timeout_ms:
                session.execute(text(f"SET LOCAL statement_timeout = {timeout}"))
            yield session
        except sa_exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _POSTGRES_QUERY_CANCELED:
                raise SegDBError(
                    f"the catalog cancelled a read after {read_timeout_ms() / 1000:g} s "
                    f"({STATEMENT_TIMEOUT_VARIABLE}); narrow the question (fewer sessions or conditions), or set "
                    f"{STATEMENT_TIMEOUT_VARIABLE} to more seconds (0 for no limit)"
                ) from exc
            raise translate_db_error(exc, self.sqlite_file) from exc
        finally:
            session.rollback()
            session.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """A unit of work that commits on success and rolls back on any error."""
        session = self._write_sessions()
        try:
            self._take_write_role(session)
            yield session
            session.commit()
        except sa_exc.DBAPIError as exc:
            session.rollback()
            raise translate_db_error(exc, self.sqlite_file) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextlib.contextmanager
    def writing_as(self, role: str) -> Iterator[None]:
        """Within the block, each write unit of work of this catalog (in this thread or task) runs as the
        PostgreSQL ``role`` (``SET LOCAL ROLE``), so that a server connected as one role writes each curator's
        labels as that curator's own role. The connection's role must be a member of ``role``."""
        if self.dialect != "postgresql":
            raise InvalidInputError(f"writing as database role {role!r} needs PostgreSQL; SQLite has no roles")
        token = _WRITE_ROLE.set((self, role))
        try:
            yield
        finally:
            _WRITE_ROLE.reset(token)

    def _take_write_role(self, session: Session) -> None:
        acting = _WRITE_ROLE.get()
        if acting is None or acting[0] is not self:
            return
        role = acting[1]
        own = session.execute(text("SELECT current_user")).scalar()
        quote = self.engine.dialect.identifier_preparer.quote_identifier
        try:
            session.execute(text(f"SET LOCAL ROLE {quote(role)}"))
        except sa_exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _POSTGRES_ROLE_REFUSED:
                raise
            if getattr(exc.orig, "sqlstate", None) == "22023":
                reason = f"there is no database role {role!r}"
                fix = f"CREATE ROLE {quote(role)} LOGIN IN ROLE segdb_curator; GRANT {quote(role)} TO {quote(own)}"
            else:
                reason = f"database role {own!r} is not a member of role {role!r}"
                fix = f"GRANT {quote(role)} TO {quote(own)}"
            raise ConflictError(
                f"cannot write as database role {role!r}: {reason}; a database administrator runs {fix} "
                "(segdb_curator: the curator role of `segdb db roles`)"
            ) from None

    def write_with_retry(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run ``work`` in a write unit, retrying the few races a busy catalog can lose.

        Retries cover SQLite's "database is locked" past its busy timeout and
        PostgreSQL serialization failures / unique races on get-or-create rows.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.writing() as session:
                    return work(session)
            except _RetryableError:
                if attempt == attempts:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def refresh_statistics(self, tables: Sequence[str], *, added_rows: int, measured_by: str) -> bool:
        """On PostgreSQL, ANALYZE ``tables`` when ``added_rows`` new rows of ``measured_by`` are over a fifth
        of what the planner last counted there (or it never counted); returns whether it did.

        Autovacuum catches up within a minute or so; until then a new segmentation's ROIs look like
        none to the planner, which then joins them row by row (a plane page of 2,000 ROIs took 1 s
        instead of 0.2 s). A role that does not own the tables gets a notice and nothing changes.
        """
        if self.dialect != "postgresql" or added_rows <= 0:
            return False
        with self.writing() as db:
            counted = db.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"),
                                 {"table": measured_by}).scalar()
            if counted is not None and counted >= 0 and added_rows <= 0.2 * counted:
                return False
            quote = db.get_bind().dialect.identifier_preparer.quote
            db.execute(text(f"ANALYZE {', '.join(quote(table) for table in tables)}"))
        return True

    def missing_privileges(self, privilege: str, tables: Sequence[str]) -> list[str]:
        """Which of ``tables`` this connection's database role lacks ``privilege`` on (PostgreSQL; SQLite has no roles)."""
        if self.dialect != "postgresql":
            return []
        with self.reading() as db:
            return [
                table for table in tables
                if not db.execute(text("SELECT has_table_privilege(:table, :privilege)"),
                                  {"table": table, "privilege": privilege}).scalar()
            ]

    def role_name(self) -> str:
        """The database role this connection acts as on PostgreSQL (its current_user)."""
        if self.dialect != "postgresql":
            return "(SQLite has no roles)"
        with self.reading() as db:
            return str(db.execute(text("SELECT current_user")).scalar())

    def dispose(self) -> None:
        self.engine.dispose()


STATEMENT_TIMEOUT_VARIABLE = "SEGDB_STATEMENT_TIMEOUT"
DEFAULT_STATEMENT_TIMEOUT_S = 60.0
_POSTGRES_QUERY_CANCELED = "57014"


def read_timeout_ms() -> int:
    """How long (ms) one read statement may run on PostgreSQL: ``$SEGDB_STATEMENT_TIMEOUT`` seconds (0: no limit)."""
    return _milliseconds_from(STATEMENT_TIMEOUT_VARIABLE, DEFAULT_STATEMENT_TIMEOUT_S)


LOCK_TIMEOUT_VARIABLE = "SEGDB_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 10.0
POSTGRES_LOCK_NOT_AVAILABLE = "55P03"


def lock_timeout_ms() -> int:
    """How long (ms) a writer waits for another's lock on PostgreSQL: ``$SEGDB_LOCK_TIMEOUT`` seconds (0: forever)."""
    return _milliseconds_from(LOCK_TIMEOUT_VARIABLE, DEFAULT_LOCK_TIMEOUT_S)


def _milliseconds_from(variable: str, default_s: float) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return int(default_s * 1000)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds < 0:
        raise SegDBError(f"{variable}={raw!r} is not a number of seconds; set it like {default_s:g}, or 0 for no limit")
    return max(1, int(round(seconds * 1000))) if seconds else 0


class _RetryableError(ConflictError):
    """A write that lost a race and may succeed if tried again."""


# How a driver error is classified, from PostgreSQL's SQLSTATE or SQLite's extended result code.
_BUSY = "busy"  # lost a race for a lock or a snapshot: retry
_DUPLICATE = "duplicate"  # another writer created the same row first: retry (get-or-create finds it)
_REFUSED = "refused"  # a constraint refused the row itself: retrying cannot help
_POSTGRES_BUSY = {
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "55P03": "lock not available",
}
_POSTGRES_UNIQUE_VIOLATION = "23505"
_POSTGRES_INTEGRITY_CLASS = "23"  # 23503 foreign key, 23502 not null, 23514 check, 23P01 exclusion
_SQLITE_BUSY = 5  # with its extended codes BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT in the high bits
_SQLITE_CONSTRAINT = 19
_SQLITE_DUPLICATES = {2067, 1555}  # SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY


def _error_kind(exc: sa_exc.DBAPIError) -> str | None:
    """What kind of failure a driver error is, read from its error code (None: not one segdb handles)."""
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)  # psycopg 3
    if sqlstate:
        if sqlstate in _POSTGRES_BUSY:
            return _BUSY
        if sqlstate == _POSTGRES_UNIQUE_VIOLATION:
            return _DUPLICATE
        return _REFUSED if sqlstate.startswith(_POSTGRES_INTEGRITY_CLASS) else None
    code = getattr(original, "sqlite_errorcode", None)  # sqlite3, Python 3.11+
    if code is not None:
        if code & 0xFF == _SQLITE_BUSY:
            return _BUSY
        if code in _SQLITE_DUPLICATES:
            return _DUPLICATE
        return _REFUSED if code & 0xFF == _SQLITE_CONSTRAINT else None
    # A driver without codes: only the exception class is known.
    return _REFUSED if isinstance(exc, sa_exc.IntegrityError) else None


def translate_db_error(exc: sa_exc.DBAPIError, catalog_file: str | None = None) -> SegDBError:
    """Turn a driver error into a segdb error a scientist can read.

    Lost races (SQLite busy past its timeout; PostgreSQL serialization failures, deadlocks and
    lock timeouts; a unique row another writer created first) are conflicts that
    :meth:`Catalog.write_with_retry` tries again; other constraint violations are conflicts it
    does not.
    """
    message = (str(exc.orig) if exc.orig is not None else str(exc)).strip()
    if is_damaged_sqlite(exc):
        return damaged_catalog_error(catalog_file or "of this archive", message)
    kind = _error_kind(exc)
    if kind == _BUSY:
        return _RetryableError(
            f"the catalog was busy with another writer and this write could not proceed ({message}); try again"
        )
    if kind == _DUPLICATE:
        return _RetryableError(f"another writer created the same record first ({message})")
    if kind == _REFUSED:
        return ConflictError(f"the catalog refused this write: {message}")
    if isinstance(exc, sa_exc.OperationalError):
        return SegDBError(f"the catalog database could not be reached or used: {message}")
    return SegDBError(f"catalog error: {message}")


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, to show in messages and logs.

    Text that is not a URL SQLAlchemy can read has everything between ``//user:`` and the
    last ``@`` hidden instead.
    """
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return _redacted_authority(url)
    if parsed.host and "@" in parsed.host:
        # An unencoded '@' in the password: make_url split at the first one, leaving the rest in the host.
        return _redacted_authority(url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True).replace("password=%2A%2A%2A", "password=***")


def _redacted_authority(text: str) -> str:
    text = re.sub(r"(//[^:/@]*):.*@", r"\1:***@", text, count=1)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", text)
