"""Catalog.writing_as: write units take on a PostgreSQL role for a block (a lab server writing as each
curator), only in that block and only for that catalog; SQLite, which has no roles, refuses."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from segdb.catalog.engine import Catalog
from segdb.errors import ConflictError, InvalidInputError


@pytest.fixture
def role(postgres_schema_url):
    name = f"segdb_write_role_{uuid.uuid4().hex[:8]}"
    catalog = Catalog(postgres_schema_url)
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" NOLOGIN')
    try:
        yield catalog, name
    finally:
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        catalog.dispose()


def _writer(catalog: Catalog) -> str:
    with catalog.writing() as db:
        return db.execute(text("SELECT current_user")).scalar()


def test_write_units_take_on_the_role_only_inside_the_block_and_only_for_that_catalog(role, postgres_schema_url):
    catalog, name = role
    own = _writer(catalog)
    other = Catalog(postgres_schema_url)
    try:
        with catalog.writing_as(name):
            assert _writer(catalog) == name
            assert catalog.role_name() == own
            assert _writer(other) == own
        assert _writer(catalog) == own
    finally:
        other.dispose()


def test_a_role_that_does_not_exist_is_one_line_saying_what_to_create(role):
    catalog, _ = role
    with catalog.writing_as('no_such "role"'), pytest.raises(ConflictError) as refused:
        _writer(catalog)
    assert str(refused.value).startswith("cannot write as database role 'no_such \"role\"': there is no database "
                                         "role 'no_such \"role\"'; a database administrator runs CREATE ROLE "
                                         '"no_such ""role"""')


def test_sqlite_has_no_roles_to_write_as(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    with pytest.raises(InvalidInputError, match="needs PostgreSQL; SQLite has no roles"):
        with catalog.writing_as("alice"):
            pass
    catalog.dispose()
