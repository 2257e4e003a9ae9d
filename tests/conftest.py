"""Fixtures shared by every test: archives on SQLite and on PostgreSQL.

PostgreSQL tests run when SEGDB_TEST_POSTGRES_URL names a server (CI always sets
it); each test gets its own schema, dropped afterwards. Without it they skip and
say why.

Running the migrations for every test's archive would cost more than most tests:
each worker creates one archive per backend the way ``segdb.open`` does, and every
new archive is a copy of it (the SQLite catalog file, or on PostgreSQL the SQL that
the creation ran, replayed into a new schema). Tests of the migrations themselves
use ``catalog_url`` / ``postgres_schema_url``, which stay empty.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest

if TYPE_CHECKING:
    from segdb import Archive

# --import-mode=importlib puts no test folder on sys.path; the object-store helpers live beside this file.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import object_store  # noqa: E402
from archives import ARCHIVE_PLACES, archive_in  # noqa: E402
from object_store import new_bucket_prefix  # noqa: E402

POSTGRES_ENV = "SEGDB_TEST_POSTGRES_URL"
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REAL_SUITE2P_DIR = SHARED_DATA / "suite2p-fissa-example" / "suite2p"

# Test schemas are named segdb_test_<UTC start of the run>_<run>_<random>, so that a run can tell
# what a crashed run left behind from what a run going on right now (here or on another
# machine sharing the server) is using.
SCHEMA_PREFIX = "segdb_test_"
_STAMP_FORMAT = "%Y%m%d%H%M%S"
_STALE_AFTER = datetime.timedelta(days=1)


def _postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need a server: set {POSTGRES_ENV}, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    return url


# A test's commits need not wait for the server's disk: nothing here survives a server
# crash anyway, and what other connections see is the same. It makes the PostgreSQL
# tests about a third faster.
_NO_COMMIT_FLUSH = "-csynchronous_commit%3Doff"


def _schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}%20{_NO_COMMIT_FLUSH}"


class PostgresSchemas:
    """Creates and drops this run's test schemas on the server named by SEGDB_TEST_POSTGRES_URL."""

    def __init__(self, base_url: str):
        from sqlalchemy import create_engine

        self.base_url = base_url
        self.engine = create_engine(base_url, connect_args={"options": unquote(_NO_COMMIT_FLUSH)})
        now = datetime.datetime.now(datetime.timezone.utc)
        # The random part keeps two runs (or two xdist workers) that start in the same second apart.
        self.run_prefix = f"{SCHEMA_PREFIX}{now.strftime(_STAMP_FORMAT)}_{uuid.uuid4().hex[:6]}_"
        self._drop_stale(now)

    def new_schema(self, statements: list[tuple[str, object, bool]] = ()) -> str:
        """A new schema, with ``statements`` (recorded by :func:`_record_sql`) run in it."""
        schema = f"{self.run_prefix}{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            if statements:
                # LOCAL: the search path ends with this transaction, not with the pooled connection.
                conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
                cursor = conn.connection.driver_connection.cursor()
                for statement, parameters, many in statements:
                    (cursor.executemany if many else cursor.execute)(statement, parameters)
        return schema

    def drop(self, schema: str) -> None:
        with self.engine.begin() as conn:
            # IF EXISTS: another run's sweep may have got there first.
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def drop_this_runs_leftovers(self) -> None:
        """Drop what a test's own teardown could not (it failed before it got there)."""
        for schema in self._schemas_named(self.run_prefix):
            self.drop(schema)

    def _drop_stale(self, now: datetime.datetime) -> None:
        pattern = re.compile(rf"{SCHEMA_PREFIX}(\d{{14}})_[0-9a-f]{{6}}_[0-9a-f]+")
        for schema in self._schemas_named(SCHEMA_PREFIX):
            match = pattern.fullmatch(schema)
            if not match:
                continue
            started = datetime.datetime.strptime(match[1], _STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
            if now - started > _STALE_AFTER:
                self.drop(schema)

    def _schemas_named(self, prefix: str) -> list[str]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"), {"prefix": prefix}
                ).scalars()
            )


@contextlib.contextmanager
def _record_sql() -> Iterator[list[tuple[str, object, bool]]]:
    """Every statement any engine sends while the block runs, with its parameters, in order."""
    from sqlalchemy import Engine, event

    statements: list[tuple[str, object, bool]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany) -> None:
        statements.append((statement, parameters, executemany))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _swapped(value: object, old: str, new: str | None) -> object:
    """``value`` (statement parameters) with every parameter equal to ``old`` replaced by ``new``."""
    if isinstance(value, dict):
        return {key: _swapped(item, old, new) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_swapped(item, old, new) for item in value)
    return new if value == old else value


class ArchiveMaker:
    """New, empty archives at the current schema, copied from one that ``segdb.open`` created."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory):
        self._tmp_path_factory = tmp_path_factory
        self._sqlite_catalog: Path | None = None
        self._postgres: PostgresSchemas | None = None
        self._postgres_creation: tuple[list, str] | None = None

    @contextlib.contextmanager
    def new(self, backend: str, folder: Path, bucket_url: str | None = None) -> Iterator[Archive]:
        """An open archive whose files live under ``folder``, or in ``bucket_url`` (``s3://bucket/prefix``, a
        new prefix; the caller points ``AWS_*`` at its server); closed (and its schema dropped) on exit."""
        import segdb
        from segdb.archive.locations import STORAGE_ROOT_SETTING, write_storage_marker
        from segdb.arrays import close_all

        schema = None
        if backend == "sqlite":
            target, storage_root = folder / "archive", None
            (target / "arrays").mkdir(parents=True)
            shutil.copyfile(self._sqlite_template(), target / "catalog.sqlite")
            if bucket_url is not None:
                # As `segdb init FOLDER --storage-root s3://…` records it.
                with sqlite3.connect(target / "catalog.sqlite") as connection:
                    connection.execute("INSERT INTO archive_settings (setting_name, setting_value) VALUES (?, ?)",
                                       (STORAGE_ROOT_SETTING, bucket_url))
                connection.close()
        elif backend == "postgresql":
            if bucket_url is None:
                storage_root = (folder / "arrays").resolve()
                storage_root.mkdir(parents=True)
            schema = self.postgres().new_schema(self._postgres_creation_sql(bucket_url or str(storage_root)))
            target = _schema_url(self.postgres().base_url, schema)
            storage_root = None if bucket_url else storage_root
        else:
            raise ValueError(f"no test archive backend {backend!r}; use 'sqlite' or 'postgresql'")
        try:
            opened = segdb.open(target, storage_root=storage_root, create=False)
            if schema is not None or bucket_url is not None:
                # The copied catalog records the template's archive id; its root needs the marker that id names.
                write_storage_marker(opened.store, opened.archive_id)
            try:
                yield opened
            finally:
                close_all()
                opened.close()
        finally:
            if schema is not None:
                self.postgres().drop(schema)

    def postgres(self) -> PostgresSchemas:
        if self._postgres is None:
            self._postgres = PostgresSchemas(_postgres_base_url())
        return self._postgres

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.drop_this_runs_leftovers()
            self._postgres.engine.dispose()

    def _sqlite_template(self) -> Path:
        if self._sqlite_catalog is None:
            import segdb

            folder = self._tmp_path_factory.mktemp("sqlite-template") / "archive"
            segdb.open(folder).close()
            catalog = folder / "catalog.sqlite"
            if catalog.with_name(catalog.name + "-wal").exists():
                raise RuntimeError(f"{catalog} still has a write-ahead log after closing; a copy would miss it")
            self._sqlite_catalog = catalog
        return self._sqlite_catalog

    def _postgres_creation_sql(self, storage_root: str) -> list[tuple[str, object, bool]]:
        """The SQL that creating an archive with ``storage_root`` runs (recorded once, for another root)."""
        if self._postgres_creation is None:
            import segdb

            schemas = self.postgres()
            schema = schemas.new_schema()
            placeholder = str(self._tmp_path_factory.mktemp("postgres-template-arrays").resolve())
            try:
                with _record_sql() as statements:
                    segdb.open(_schema_url(schemas.base_url, schema), storage_root=placeholder).close()
            finally:
                schemas.drop(schema)
            if any(schema in sql or _swapped(params, schema, None) != params for sql, params, _ in statements):
                raise RuntimeError(
                    f"creating a PostgreSQL archive named its schema {schema!r} in its SQL, so replaying that SQL "
                    "in another schema would not make an archive there; update ArchiveMaker._postgres_creation_sql"
                )
            if sum(_swapped(params, placeholder, None) != params for _, params, _ in statements) != 1:
                raise RuntimeError(
                    f"creating a PostgreSQL archive no longer passes its storage root {placeholder!r} as exactly "
                    "one statement parameter, so tests/conftest.py cannot give each copy its own root; "
                    "update ArchiveMaker._postgres_creation_sql"
                )
            self._postgres_creation = (statements, placeholder)
        statements, placeholder = self._postgres_creation
        return [(sql, _swapped(parameters, placeholder, storage_root), many) for sql, parameters, many in statements]


@pytest.fixture(scope="session")
def archive_maker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveMaker]:
    """``archive_maker.new(backend, folder)`` gives a new, empty archive, for fixtures of any scope."""
    maker = ArchiveMaker(tmp_path_factory)
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture
def postgres_schema_url(archive_maker: ArchiveMaker) -> Iterator[str]:
    """A URL whose connections use a fresh, empty PostgreSQL schema."""
    schemas = archive_maker.postgres()
    schema = schemas.new_schema()
    try:
        yield _schema_url(schemas.base_url, schema)
    finally:
        from segdb.arrays import close_all

        close_all()
        schemas.drop(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty catalog database on each backend (no schema yet)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path, archive_maker: ArchiveMaker):
    """A new, empty archive on SQLite (a folder) and on PostgreSQL (a schema + array folder)."""
    with archive_maker.new(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture(params=ARCHIVE_PLACES)
def archive_everywhere(request: pytest.FixtureRequest, tmp_path: Path):
    """A new, empty archive with its catalog on SQLite and on PostgreSQL, and its files in a folder and in a
    bucket of a real S3 server (SeaweedFS)."""
    with archive_in(request.param, tmp_path, request) as opened:
        yield opened


@pytest.fixture(params=["sqlite", "postgresql"])
def bucket_archive(request: pytest.FixtureRequest, tmp_path: Path, archive_maker: ArchiveMaker,
                   monkeypatch: pytest.MonkeyPatch, seaweedfs):
    """A new, empty archive whose files are in a new prefix of SeaweedFS's bucket, its catalog on SQLite
    and on PostgreSQL; ``AWS_*`` point at the server for the test."""
    with archive_maker.new(request.param, tmp_path, new_bucket_prefix(seaweedfs, monkeypatch)) as opened:
        yield opened


@pytest.fixture
def real_suite2p_dir() -> Path:
    if not (REAL_SUITE2P_DIR / "plane0" / "stat.npy").is_file():
        pytest.skip(f"the real suite2p example is not at {REAL_SUITE2P_DIR.resolve()} (shared/data is absent)")
    return REAL_SUITE2P_DIR


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # pyproject's addopts asks pytest-xdist for workers; without xdist (-p no:xdist, or not
    # installed) the tests run in this process, and the option must still parse.
    if not pluginmanager.has_plugin("xdist"):
        parser.addoption("--numprocesses", help="ignored: pytest-xdist is not active, the tests run in one process")


# --------------------------------------------------------------------------- object storage


def _skip_or_fail(reason: str) -> None:
    """Skip a test whose object store cannot start, saying why; CI (``SEGDB_TEST_REQUIRE_S3=1``) fails it instead."""
    if os.environ.get("SEGDB_TEST_REQUIRE_S3") == "1":
        pytest.fail(reason + " (SEGDB_TEST_REQUIRE_S3=1: CI needs it)")
    pytest.skip(reason)


def _one_server(start, folder: Path, what: str) -> Iterator[object_store.S3Server]:
    try:
        server = start(folder)
    except object_store.ObjectStoreUnavailable as error:
        _skip_or_fail(f"S3 tests need {what} and it cannot start here: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object_store.SeaweedFS]:
    """One SeaweedFS S3 server per test process (xdist worker), stopped after the session."""
    yield from _one_server(object_store.start_seaweedfs, tmp_path_factory.mktemp("seaweedfs"), "SeaweedFS")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object_store.MotoServer]:
    """One moto S3 server per test process (xdist worker), stopped after the session."""
    yield from _one_server(object_store.start_moto, tmp_path_factory.mktemp("moto"), "moto's server")


# Each S3 implementation the store tests run on: how to start a private one, and its per-process fixture.
S3_SERVERS = {
    "seaweedfs": (object_store.start_seaweedfs, "seaweedfs"),
    "moto": (object_store.start_moto, "moto_server"),
}


@pytest.fixture(params=list(S3_SERVERS))
def s3_server(request: pytest.FixtureRequest) -> object_store.S3Server:
    """This process's S3 server of each implementation: SeaweedFS and moto."""
    return request.getfixturevalue(S3_SERVERS[request.param][1])


@pytest.fixture(params=list(S3_SERVERS))
def start_s3_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """Start a private server of each implementation (for tests that stop it); all are stopped after the test."""
    start_server = S3_SERVERS[request.param][0]
    started: list[object_store.S3Server] = []

    def start() -> object_store.S3Server:
        try:
            server = start_server(tmp_path / f"{request.param}-{len(started)}")
        except object_store.ObjectStoreUnavailable as error:
            _skip_or_fail(f"S3 tests on {request.param} need its server and it cannot start here: {error}")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
