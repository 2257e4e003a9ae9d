"""Migrations and models agree, and schema versions are checked on open, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

import segdb
from segdb.catalog import schema
from segdb.catalog.engine import Catalog
from segdb.errors import SchemaVersionError
from segdb.synthetic import synthetic_segmentation


def test_schema_revision_is_the_migrations_head():
    assert schema.SCHEMA_REVISION == schema.head_revision()


def test_upgrade_to_head_creates_exactly_the_models_schema(catalog_url):
    catalog = Catalog(catalog_url)
    try:
        schema.upgrade(catalog.engine)
        assert schema.current_revision(catalog.engine) == schema.SCHEMA_REVISION
        assert schema.schema_drift(catalog.engine) == []
    finally:
        catalog.dispose()


def test_base_head_base_head_with_data_in_the_tables(catalog_url, tmp_path):
    if catalog_url.startswith("sqlite"):
        archive = segdb.open(tmp_path / "archive")
        engine = archive.catalog.engine
    else:
        archive = segdb.open(catalog_url, storage_root=tmp_path / "arrays")
        engine = archive.catalog.engine
    try:
        archive.ingest(synthetic_segmentation(n_rois=5, n_frames=20), subject="m1", session="s1")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM rois")).scalar() == 5
        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        assert "rois" not in inspect(engine).get_table_names()
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.SCHEMA_REVISION
        assert schema.schema_drift(engine) == []
    finally:
        archive.close()


def test_an_archive_that_is_behind_is_refused_until_upgraded_with_its_data_intact(catalog_url, tmp_path):
    if catalog_url.startswith("sqlite"):
        target, options = tmp_path / "archive", {}
    else:
        target, options = catalog_url, {"storage_root": tmp_path / "arrays"}
    archive = segdb.open(target, **options)
    record = archive.ingest(synthetic_segmentation(n_rois=6, n_frames=15), subject="m1", session="s1")
    rois_before = archive.rois(record)
    schema.downgrade(archive.catalog.engine, "0001")
    archive.close()

    with pytest.raises(SchemaVersionError, match="segdb db upgrade"):
        segdb.open(target, **options)
    catalog = Catalog(archive.catalog.url)
    schema.upgrade(catalog.engine)
    catalog.dispose()

    reopened = segdb.open(target, **options)
    try:
        assert reopened.rois(record.segmentation_id) == rois_before
        assert schema.schema_drift(reopened.catalog.engine) == []
    finally:
        reopened.close()


def test_opening_a_catalog_from_a_newer_segdb_says_to_upgrade_segdb(catalog_url, tmp_path):
    catalog = Catalog(catalog_url)
    try:
        schema.upgrade(catalog.engine)
        with catalog.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'fffe'"))
        with pytest.raises(SchemaVersionError, match="upgrade segdb"):
            schema.check_schema(catalog.engine, "test catalog")
    finally:
        catalog.dispose()


def test_a_database_without_segdb_tables_is_not_an_archive(catalog_url):
    catalog = Catalog(catalog_url)
    try:
        with pytest.raises(SchemaVersionError, match="segdb init"):
            schema.check_schema(catalog.engine, "test catalog")
    finally:
        catalog.dispose()


def test_open_without_create_refuses_a_missing_archive(tmp_path):
    with pytest.raises(segdb.NotFoundError, match="segdb init"):
        segdb.open(tmp_path / "nothing-here", create=False)


def test_a_new_postgres_catalog_needs_a_storage_root(postgres_schema_url, monkeypatch):
    monkeypatch.delenv("SEGDB_STORAGE_ROOT", raising=False)
    with pytest.raises(segdb.InvalidInputError, match="storage root"):
        segdb.open(postgres_schema_url)


def test_storage_root_is_recorded_in_a_postgres_catalog_and_can_be_overridden(postgres_schema_url, tmp_path):
    first = segdb.open(postgres_schema_url, storage_root=tmp_path / "shared-arrays")
    first.close()
    again = segdb.open(postgres_schema_url)
    assert again.storage_root == (tmp_path / "shared-arrays").resolve()
    again.close()
    elsewhere = segdb.open(postgres_schema_url, storage_root=tmp_path / "mounted-here")
    assert elsewhere.storage_root == (tmp_path / "mounted-here").resolve()
    elsewhere.close()
