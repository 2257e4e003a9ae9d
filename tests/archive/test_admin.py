"""Catalog administration from an archive target: schema status, upgrade, the PostgreSQL schema, owner scripts."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

import segdb
from segdb.archive import admin
from segdb.catalog import schema
from segdb.catalog.engine import create_catalog_engine, redacted_url


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """(target, storage_root) of a new, empty archive on SQLite (a folder) and on PostgreSQL (a URL)."""
    if request.param == "sqlite":
        folder = tmp_path / "lab"
        segdb.open(folder).close()
        return str(folder), None
    url = request.getfixturevalue("postgres_schema_url")
    segdb.open(url, storage_root=tmp_path / "arrays").close()
    return url, tmp_path / "arrays"


def _url(target: str) -> str:
    return target if "://" in target else f"sqlite:///{target}/catalog.sqlite"


def _tables(target: str) -> set[str]:
    engine = create_catalog_engine(_url(target))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_new_catalog_is_at_the_expected_revision_and_matches_the_models(target):
    where, root = target
    status = admin.schema_status(where, storage_root=root)
    assert status.revision == status.expected_revision == schema.SCHEMA_REVISION == admin.SCHEMA_REVISION
    assert status.drift == ()
    assert status.location == (where if "://" not in where else redacted_url(where))


def test_upgrade_brings_an_older_catalog_to_the_expected_revision(target):
    where, root = target
    engine = create_catalog_engine(_url(where))
    schema.downgrade(engine, "0004")
    engine.dispose()
    assert admin.schema_status(where, storage_root=root).revision == "0004"

    assert admin.upgrade_schema(where, storage_root=root) == "0004"
    status = admin.schema_status(where, storage_root=root)
    assert (status.revision, status.drift) == (schema.SCHEMA_REVISION, ())
    assert admin.upgrade_schema(where, storage_root=root) == schema.SCHEMA_REVISION


def test_an_owner_script_runs_on_the_catalog(target):
    where, root = target
    admin.run_owner_script(where, "CREATE TABLE owner_notes (note_text VARCHAR(40))", storage_root=root)
    assert "owner_notes" in _tables(where)


def test_a_folder_without_an_archive_is_refused_and_left_alone(tmp_path):
    missing = tmp_path / "nothing-here"
    for call in (lambda: admin.schema_status(missing), lambda: admin.upgrade_schema(missing),
                 lambda: admin.run_owner_script(missing, "SELECT 1")):
        with pytest.raises(segdb.NotFoundError, match="no segdb archive at .*segdb init"):
            call()
    assert not missing.exists()


def test_an_embedded_archive_has_no_postgres_schema(tmp_path):
    segdb.open(tmp_path / "lab").close()
    with pytest.raises(segdb.InvalidInputError, match="SQLite.*only in a PostgreSQL catalog"):
        admin.postgres_schema(tmp_path / "lab")


def test_postgres_schema_names_the_schema_the_tables_live_in(postgres_schema_url, tmp_path):
    segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays").close()
    options = make_url(postgres_schema_url).query["options"]
    expected = re.search(r"search_path=(\S+)", options).group(1)
    assert admin.postgres_schema(postgres_schema_url) == expected


def test_a_failing_owner_script_leaves_nothing_behind(postgres_schema_url, tmp_path):
    segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays").close()
    script = "CREATE TABLE owner_notes (note_text text); CREATE TABLE owner_notes (note_text text);"
    with pytest.raises(segdb.SegDBError, match="owner_notes"):
        admin.run_owner_script(postgres_schema_url, script)
    assert "owner_notes" not in _tables(postgres_schema_url)
