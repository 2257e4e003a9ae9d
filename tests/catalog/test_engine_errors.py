"""Driver errors become segdb errors by their codes (PostgreSQL's SQLSTATE, SQLite's extended
result codes), each provoked for real: a lost race is a conflict that write_with_retry tries
again, a row a constraint refuses is a conflict it does not; and URLs are shown without their
password."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from segdb.catalog import engine as catalog_engine
from segdb.catalog.engine import Catalog, redacted_url
from segdb.errors import ConflictError, SegDBError


def _create_tables(catalog: Catalog) -> None:
    with catalog.writing() as db:
        db.execute(text(
            "CREATE TABLE parents (parent_id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE, "
            "CHECK (length(name) < 10))"
        ))
        db.execute(text(
            "CREATE TABLE children (child_id INTEGER PRIMARY KEY, "
            "parent_id INTEGER NOT NULL REFERENCES parents (parent_id))"
        ))
        db.execute(text("INSERT INTO parents VALUES (1, 'first')"))


@pytest.fixture
def catalog(catalog_url):
    """A catalog on each backend with two small tables of its own, and one parent row."""
    opened = Catalog(catalog_url)
    _create_tables(opened)
    yield opened
    opened.dispose()


def _driver_error(error: SegDBError) -> Exception:
    """The driver's own exception behind a segdb error."""
    assert isinstance(error.__cause__, sa_exc.DBAPIError), error.__cause__
    return error.__cause__.orig


@pytest.mark.parametrize(
    ("statement", "postgres_code", "sqlite_code"),
    [
        ("INSERT INTO children VALUES (1, 99)", "23503", "SQLITE_CONSTRAINT_FOREIGNKEY"),
        ("INSERT INTO parents VALUES (2, NULL)", "23502", "SQLITE_CONSTRAINT_NOTNULL"),
        ("INSERT INTO parents VALUES (2, 'far too long')", "23514", "SQLITE_CONSTRAINT_CHECK"),
    ],
)
def test_a_row_a_constraint_refuses_is_a_conflict_not_retried(catalog, statement, postgres_code, sqlite_code):
    calls = []

    def work(db):
        calls.append(statement)
        db.execute(text(statement))

    with pytest.raises(ConflictError, match="the catalog refused this write") as caught:
        catalog.write_with_retry(work)
    assert len(calls) == 1
    driver = _driver_error(caught.value)
    if catalog.dialect == "sqlite":
        assert driver.sqlite_errorname == sqlite_code
    else:
        assert driver.sqlstate == postgres_code


@pytest.mark.parametrize(
    ("statement", "sqlite_code"),
    [
        ("INSERT INTO parents VALUES (2, 'first')", "SQLITE_CONSTRAINT_UNIQUE"),
        ("INSERT INTO parents VALUES (1, 'second')", "SQLITE_CONSTRAINT_PRIMARYKEY"),
    ],
)
def test_a_duplicate_row_is_a_conflict_that_is_retried(catalog, statement, sqlite_code):
    duplicate = pytest.raises(ConflictError, match="another writer created the same record first")
    with duplicate as caught, catalog.writing() as db:
        db.execute(text(statement))
    driver = _driver_error(caught.value)
    if catalog.dialect == "sqlite":
        assert driver.sqlite_errorname == sqlite_code
    else:
        assert driver.sqlstate == "23505"

    calls = []

    def get_or_create(db):
        calls.append(1)
        if len(calls) == 1:
            db.execute(text(statement))  # as if another writer had inserted the row a moment before
        return db.scalar(text("SELECT count(*) FROM parents"))

    assert catalog.write_with_retry(get_or_create) == 1
    assert len(calls) == 2


def test_an_error_that_is_no_conflict_stays_a_catalog_error(catalog):
    with pytest.raises(SegDBError, match="catalog") as caught, catalog.reading() as db:
        db.execute(text("SELECT name FROM no_such_table"))
    assert not isinstance(caught.value, ConflictError)


def test_sqlite_busy_past_its_timeout_is_a_conflict_that_is_retried(tmp_path, monkeypatch):
    # A short busy timeout so that the lock held below is waited on briefly, then reported.
    monkeypatch.setattr(catalog_engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    catalog = Catalog(f"sqlite:///{tmp_path / 'busy.sqlite'}")
    _create_tables(catalog)
    holder = catalog.engine.connect()
    try:
        holder.execute(text("INSERT INTO parents VALUES (5, 'held')"))  # holds the write lock until rollback
        with pytest.raises(ConflictError, match="busy with another writer") as caught, catalog.writing() as db:
            db.execute(text("SELECT 1"))
        assert _driver_error(caught.value).sqlite_errorname == "SQLITE_BUSY"

        calls = []

        def write(db):
            calls.append(1)
            if len(calls) == 2:
                holder.rollback()  # the other writer finishes between the attempts
            db.execute(text("INSERT INTO parents VALUES (6, 'after')"))

        catalog.write_with_retry(write)
        assert len(calls) == 2
        with catalog.reading() as db:
            assert db.scalar(text("SELECT name FROM parents WHERE parent_id = 6")) == "after"
    finally:
        holder.close()
        catalog.dispose()


@pytest.fixture
def postgres_catalog(postgres_schema_url):
    opened = Catalog(postgres_schema_url)
    _create_tables(opened)
    yield opened
    opened.dispose()


def test_a_postgres_serialization_failure_is_a_conflict_that_is_retried(postgres_catalog):
    catalog = postgres_catalog
    calls = []

    def rename(db):
        calls.append(1)
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        name = db.scalar(text("SELECT name FROM parents WHERE parent_id = 1"))  # the snapshot is taken here
        if len(calls) == 1:
            with catalog.engine.begin() as other:
                other.execute(text("UPDATE parents SET name = 'other' WHERE parent_id = 1"))
        db.execute(text("UPDATE parents SET name = :name WHERE parent_id = 1"), {"name": name + "+"})

    with pytest.raises(ConflictError, match="busy with another writer") as caught, catalog.writing() as db:
        rename(db)
    assert _driver_error(caught.value).sqlstate == "40001"

    calls.clear()
    catalog.write_with_retry(rename)
    assert len(calls) == 2
    with catalog.reading() as db:
        assert db.scalar(text("SELECT name FROM parents WHERE parent_id = 1")) == "other+"


def test_a_postgres_lock_timeout_is_a_conflict_that_is_retried(postgres_catalog):
    catalog = postgres_catalog
    holder = catalog.engine.connect()
    try:
        holder.execute(text("SELECT name FROM parents WHERE parent_id = 1 FOR UPDATE"))  # holds the row lock
        calls = []

        def rename(db):
            calls.append(1)
            if len(calls) == 2:
                holder.rollback()  # the other writer finishes between the attempts
            db.execute(text("SET LOCAL lock_timeout = '50ms'"))
            db.execute(text("UPDATE parents SET name = 'renamed' WHERE parent_id = 1"))

        with pytest.raises(ConflictError, match="busy with another writer") as caught, catalog.writing() as db:
            rename(db)
        assert _driver_error(caught.value).sqlstate == "55P03"

        calls.clear()
        catalog.write_with_retry(rename)
        assert len(calls) == 2
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("postgresql+psycopg://alice:s3cret@db.lab.org:5432/segdb", ["alice", "db.lab.org", "5432", "/segdb"]),
        ("postgresql://alice:s3cr@t@db.lab.org/segdb", ["alice", "db.lab.org", "/segdb"]),
        ("postgresql://alice:s3cr%40t@db.lab.org/segdb", ["alice", "db.lab.org", "/segdb"]),
        ("postgresql://db.lab.org/segdb?user=alice&password=s3cret&sslmode=require", ["db.lab.org", "sslmode=require"]),
        ("postgresql://alice:s3cret@db.lab.org:port/segdb", ["alice", "db.lab.org", "/segdb"]),
        ("postgresql://alice:s3cret@[::1]:5432/segdb", ["alice", "[::1]", "/segdb"]),
    ],
)
def test_a_redacted_url_keeps_everything_but_the_password(url, kept):
    shown = redacted_url(url)
    assert "s3cr" not in shown and "***" in shown
    for part in kept:
        assert part in shown


@pytest.mark.parametrize("url", ["postgresql://alice@db.lab.org/segdb", "sqlite:////data/lab archive/catalog.sqlite"])
def test_a_url_without_a_password_is_shown_as_it_is(url):
    assert redacted_url(url) == url


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_url_with(postgres_schema_url: str, **changes) -> str:
    from sqlalchemy.engine import make_url

    return make_url(postgres_schema_url).set(password="s3cret", **changes).render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no such database", r"database \"segdb_no_such_db\" does not exist; create it \(createdb segdb_no_such_db"),
        ("wrong port", r"Connection refused; no PostgreSQL server listens there: check the host and port"),
        ("postgres scheme", r"uses the scheme postgres://, which SQLAlchemy does not accept; write it "
                            r"postgresql\+psycopg://"),
        ("missing driver", r"the PostgreSQL driver 'pg8000' is not installed; segdb installs psycopg"),
        ("mysql", r"names a mysql database; segdb's catalog is SQLite .* or PostgreSQL"),
    ],
)
def test_a_catalog_that_cannot_be_used_is_one_line_naming_the_url_and_the_fix(postgres_schema_url, capsys, case,
                                                                              expected):
    from segdb.cli import main

    if case == "no such database":
        url = _postgres_url_with(postgres_schema_url, database="segdb_no_such_db")
    elif case == "wrong port":
        url = _postgres_url_with(postgres_schema_url, port=_free_port())
    elif case == "postgres scheme":
        url = "postgres://" + _postgres_url_with(postgres_schema_url).split("://", 1)[1]
    elif case == "missing driver":
        try:
            import pg8000  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("pg8000 is installed here, so it cannot stand for a missing driver")
        url = _postgres_url_with(postgres_schema_url, drivername="postgresql+pg8000")
    else:
        url = "mysql://lab:s3cret@127.0.0.1/lab"
    assert main(["ls", "subjects", "--archive", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segdb: error: ") and "Traceback" not in err
    assert "s3cret" not in err and "***@" in err
    assert re.search(expected, err), err
    if case == "mysql":
        assert "segdb[postgres]" not in err


def test_a_read_that_runs_too_long_is_cancelled_by_the_server_with_a_clear_error(postgres_schema_url, monkeypatch):
    from sqlalchemy import text

    from segdb.catalog.engine import Catalog
    from segdb.errors import SegDBError

    catalog = Catalog(postgres_schema_url)
    try:
        monkeypatch.setenv("SEGDB_STATEMENT_TIMEOUT", "0.2")
        with pytest.raises(SegDBError, match=r"cancelled a read after 0.2 s \(SEGDB_STATEMENT_TIMEOUT\)"):
            with catalog.reading() as db:
                db.execute(text("SELECT pg_sleep(5)"))
        with catalog.reading() as db:
            assert db.execute(text("SHOW statement_timeout")).scalar() == "200ms"
        monkeypatch.setenv("SEGDB_STATEMENT_TIMEOUT", "0")
        with catalog.reading() as db:
            assert db.execute(text("SELECT pg_sleep(0.3)")).all()
        monkeypatch.setenv("SEGDB_STATEMENT_TIMEOUT", "soon")
        with pytest.raises(SegDBError, match="SEGDB_STATEMENT_TIMEOUT='soon' is not a number of seconds"):
            with catalog.reading():
                pass
    finally:
        catalog.dispose()


def test_reads_on_postgresql_have_a_statement_timeout_by_default(postgres_schema_url, monkeypatch):
    from sqlalchemy import text

    from segdb.catalog.engine import Catalog

    monkeypatch.delenv("SEGDB_STATEMENT_TIMEOUT", raising=False)
    catalog = Catalog(postgres_schema_url)
    try:
        with catalog.reading() as db:
            assert db.execute(text("SHOW statement_timeout")).scalar() == "1min"
        with catalog.writing() as db:
            assert db.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        catalog.dispose()


def test_a_statement_whose_client_was_killed_is_cancelled_by_the_server(postgres_schema_url):
    import signal
    import subprocess
    import sys
    import time
    import uuid

    from sqlalchemy import create_engine

    name = f"segdb-test-{uuid.uuid4().hex[:8]}"
    client = subprocess.Popen([sys.executable, "-c", (
        "import sys; from sqlalchemy import text; from segdb.catalog.engine import Catalog\n"
        "catalog = Catalog(sys.argv[1])\n"
        "with catalog.reading() as db:\n"
        "    db.execute(text(\"SET application_name = '\" + sys.argv[2] + \"'\"))\n"
        "    db.execute(text('SELECT pg_sleep(300)'))\n"
    ), postgres_schema_url, name], env={**os.environ, "SEGDB_STATEMENT_TIMEOUT": "0"})
    # Autocommit: PostgreSQL keeps one snapshot of pg_stat_activity per transaction.
    watcher = create_engine(postgres_schema_url.split("?")[0], isolation_level="AUTOCOMMIT")
    running = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND state = 'active'")
    try:
        with watcher.connect() as conn:
            for _ in range(300):
                if conn.execute(running, {"name": name}).scalar():
                    break
                assert client.poll() is None, "the client ended before its statement ran"
                time.sleep(0.05)
            else:
                raise AssertionError("the client's statement never started")
            client.send_signal(signal.SIGKILL)
            client.wait()
            # The server notices within its check interval (1 s); without it, it sleeps on for 5 minutes.
            for _ in range(100):
                if not conn.execute(running, {"name": name}).scalar():
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("the server kept running the statement of a client that was killed")
    finally:
        if client.poll() is None:
            client.kill()
        with watcher.connect() as conn:
            conn.execute(text("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                         {"name": name})
        watcher.dispose()
