"""Fixtures shared by every test: archives on SQLite and on PostgreSQL.

PostgreSQL tests run when SEGDB_TEST_POSTGRES_URL names a server (CI always sets
it); each test gets its own schema, dropped afterwards. Without it they skip and
say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ENV = "SEGDB_TEST_POSTGRES_URL"
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REAL_SUITE2P_DIR = SHARED_DATA / "suite2p-fissa-example" / "suite2p"


def _postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need a server: set {POSTGRES_ENV}, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    return url


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, empty PostgreSQL schema."""
    from sqlalchemy import create_engine, text

    base = _postgres_base_url()
    schema = f"segdb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        from segdb.arrays import close_all

        close_all()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty catalog database on each backend (no schema yet)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path):
    """A new, empty archive on SQLite (a folder) and on PostgreSQL (a schema + array folder)."""
    import segdb
    from segdb.arrays import close_all

    if request.param == "sqlite":
        opened = segdb.open(tmp_path / "archive")
    else:
        url = request.getfixturevalue("postgres_schema_url")
        opened = segdb.open(url, storage_root=tmp_path / "arrays")
    try:
        yield opened
    finally:
        close_all()
        opened.close()


@pytest.fixture
def real_suite2p_dir() -> Path:
    if not (REAL_SUITE2P_DIR / "plane0" / "stat.npy").is_file():
        pytest.skip(f"the real suite2p example is not at {REAL_SUITE2P_DIR.resolve()} (shared/data is absent)")
    return REAL_SUITE2P_DIR
