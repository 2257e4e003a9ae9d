"""PostgreSQL: a read-only role, a curator role that may only append curation events, and an archive
that requires every curator to write as their own database role."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

import segdb
from segdb import curation
from segdb.catalog import models as m
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def roles(postgres_schema_url, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    names = {"reader": f"segdb_reader_{suffix}", "curator": f"segdb_curator_{suffix}", "alice": f"alice_{suffix}"}
    owner = segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays")
    record = owner.ingest(synthetic_segmentation(n_rois=4, n_frames=10), subject="m1", session="s1")
    with owner.catalog.engine.begin() as conn:
        schema_name = conn.execute(text("SELECT current_schema()")).scalar()
        conn.exec_driver_sql(curation.roles_sql(schema_name, reader=names["reader"], curator_role=names["curator"]))
        conn.exec_driver_sql(f'CREATE ROLE {names["alice"]} LOGIN IN ROLE {names["curator"]}')
    as_alice = segdb.open(postgres_schema_url.replace("options=", f"options=-crole%3D{names['alice']}%20"),
                          storage_root=tmp_path / "arrays", create=False)
    try:
        yield owner, as_alice, record, names
    finally:
        as_alice.close()
        owner.close()
        admin = create_engine(postgres_schema_url.split("?")[0])
        with admin.begin() as conn:
            for role in (names["alice"], names["curator"], names["reader"]):
                conn.exec_driver_sql(f"DROP OWNED BY {role} CASCADE")
                conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_a_curator_role_appends_labels_but_cannot_change_anything_else(roles):
    _, as_alice, record, names = roles
    [event] = as_alice.curate(record, [1], "rejected", curator=names["alice"])
    assert event.curator == names["alice"]
    with pytest.raises(Exception, match="permission denied"):
        with as_alice.catalog.engine.begin() as conn:
            conn.execute(text("UPDATE rois SET pixel_count = 0"))
    with pytest.raises(Exception, match="permission denied|append-only"):
        with as_alice.catalog.engine.begin() as conn:
            conn.execute(text("DELETE FROM curation_events"))


def test_an_archive_can_require_curators_to_write_as_themselves(roles):
    owner, as_alice, record, names = roles
    curation.require_curator_roles(owner)
    with pytest.raises(segdb.ConflictError, match="write as themselves"):
        as_alice.curate(record, [0], "accepted", curator="bob")
    with pytest.raises(Exception, match="may not write as database role"):
        with as_alice.catalog.engine.begin() as conn:
            bob = conn.execute(
                m.Curator.__table__.insert().values(curator_name="bob", is_pipeline=False, created_at=text("now()"))
                .returning(m.Curator.curator_id)
            ).scalar()
            roi_id = conn.execute(text("SELECT min(roi_id) FROM rois")).scalar()
            conn.execute(
                m.CurationEvent.__table__.insert().values(
                    segmentation_id=record.segmentation_id, roi_id=roi_id, curator_id=bob, label="accepted",
                    roi_revision=50, batch_id="x", created_at=text("now()"),
                )
            )
    [event] = as_alice.curate(record, [0], "accepted", curator=names["alice"])
    assert event.curator == names["alice"]


def test_roles_are_refused_on_sqlite(tmp_path):
    archive = segdb.open(tmp_path / "lab")
    with pytest.raises(segdb.InvalidInputError, match="PostgreSQL"):
        curation.require_curator_roles(archive)
    archive.close()


def test_db_roles_prints_the_sql(postgres_schema_url, tmp_path, capsys):
    segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays").close()
    assert main(["db", "roles", "-a", postgres_schema_url]) == 0
    out = capsys.readouterr().out
    assert "CREATE ROLE segdb_reader NOLOGIN" in out and "GRANT INSERT ON" in out and "curation_events" in out
