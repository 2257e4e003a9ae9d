"""PostgreSQL: a read-only role, a curator role that may only append curation events, and an archive
that requires every curator to write as their own database role."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from postgres_roles import drop_roles, install_roles, open_as
from sqlalchemy import create_engine, text

import segdb
from segdb import curation
from segdb.catalog import models as m
from segdb.catalog import schema
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def roles(postgres_schema_url, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    names = {"reader": f"segdb_reader_{suffix}", "curator": f"segdb_curator_{suffix}", "alice": f"alice_{suffix}"}
    owner = segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays")
    record = owner.ingest(synthetic_segmentation(n_rois=4, n_frames=10), subject="m1", session="s1")
    install_roles(owner, reader=names["reader"], curator=names["curator"], logins=[names["alice"]])
    as_alice = open_as(postgres_schema_url, names["alice"], tmp_path / "arrays")
    try:
        yield owner, as_alice, record, names
    finally:
        as_alice.close()
        owner.close()
        drop_roles(postgres_schema_url, [names["alice"], names["curator"], names["reader"]])


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
    with pytest.raises(Exception, match="may create only its own curator"):
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


def _as_role(url: str, role: str, application_name: str = "segdb-test") -> str:
    """``url`` connecting as ``role`` (the test server's login sets the role for the session)."""
    return url.replace("options=", f"options=-crole%3D{role}%20-capplication_name%3D{application_name}%20")


def _first_roi(conn) -> int:
    return conn.execute(text("SELECT min(roi_id) FROM rois WHERE kind = 'cell'")).scalar()


def _insert_event(conn, record, curator_id: int, **values) -> dict:
    row = {"segmentation_id": record.segmentation_id, "roi_id": _first_roi(conn), "curator_id": curator_id,
           "label": "accepted", "roi_revision": 1000, "batch_id": uuid.uuid4().hex, "created_at": text("now()")}
    row.update(values)
    inserted = conn.execute(
        m.CurationEvent.__table__.insert().values(**row)
        .returning(m.CurationEvent.roi_revision, m.CurationEvent.created_at, m.CurationEvent.batch_id)
    ).one()
    return inserted._asdict()


def _curator_id(archive, name: str) -> int:
    with archive.catalog.engine.connect() as conn:
        return conn.execute(text("SELECT curator_id FROM curators WHERE curator_name = :n"), {"n": name}).scalar()


def test_temp_tables_do_not_shadow_what_the_triggers_look_up(roles):
    owner, as_alice, record, names = roles
    owner.curate(record, [2], "accepted", curator="bob")
    curation.require_curator_roles(owner)
    bob = _curator_id(owner, "bob")
    with pytest.raises(Exception, match="may not write as database role"):
        with as_alice.catalog.engine.begin() as conn:
            conn.execute(text("CREATE TEMP TABLE archive_settings (setting_name text, setting_value text)"))
            _insert_event(conn, record, bob)
    as_alice.curate(record, [3], "accepted", curator=names["alice"])
    curation.freeze_curation(owner, record, curator="owner")
    with pytest.raises(Exception, match="frozen"):
        with as_alice.catalog.engine.begin() as conn:
            conn.execute(text("CREATE TEMP TABLE curation_freezes (segmentation_id int)"))
            _insert_event(conn, record, _curator_id(owner, names["alice"]))


def test_the_trigger_functions_pin_their_search_path_with_pg_temp_last(roles):
    owner, *_ = roles
    with owner.catalog.engine.connect() as conn:
        configs = _trigger_configs(conn)
    assert configs and all(config == ["search_path=pg_catalog, pg_temp"] for config in configs.values()), configs


def _trigger_configs(conn) -> dict:
    return dict(conn.execute(text(
        "SELECT proname, proconfig FROM pg_proc WHERE proname LIKE 'segdb\\_%' "
        "AND pronamespace = current_schema()::regnamespace"
    )).all())


def test_an_archive_made_before_0009_gets_the_pinned_triggers_by_upgrading(postgres_schema_url, tmp_path):
    archive = segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays")
    engine = archive.catalog.engine
    try:
        schema.downgrade(engine, "0008")
        with engine.connect() as conn:
            assert list(_trigger_configs(conn).values()) == [None, None]
        assert main(["db", "upgrade", "-a", postgres_schema_url, "--storage-root", str(tmp_path / "arrays")]) == 0
        with engine.connect() as conn:
            configs = _trigger_configs(conn)
        assert "segdb_curators_check_insert" in configs
        assert list(configs.values()) == [["search_path=pg_catalog, pg_temp"]] * 3, configs
    finally:
        archive.close()


def test_a_curator_cannot_create_identities(roles):
    owner, as_alice, record, names = roles
    curation.require_curator_roles(owner)
    for name, pipeline, refused in (("carol", False, "only its own curator"),
                                    ("pipeline:suite2p-rerun", True, "pipeline curators are created only")):
        with pytest.raises(Exception, match=refused):
            with as_alice.catalog.engine.begin() as conn:
                conn.execute(m.Curator.__table__.insert().values(curator_name=name, is_pipeline=pipeline,
                                                                 created_at=text("now()")))
    with owner.catalog.engine.begin() as conn:  # as an ingest of suite2p would
        pipeline_id = conn.execute(m.Curator.__table__.insert().values(
            curator_name="pipeline:suite2p", is_pipeline=True, created_at=text("now()")
        ).returning(m.Curator.curator_id)).scalar()
    with pytest.raises(Exception, match="pipeline"):
        with as_alice.catalog.engine.begin() as conn:
            _insert_event(conn, record, pipeline_id)
    [event] = as_alice.curate(record, [1], "rejected", curator=names["alice"])
    assert event.curator == names["alice"]
    with owner.catalog.engine.connect() as conn:
        made = conn.execute(text("SELECT count(*) FROM curators WHERE curator_name"
                                 " IN ('carol', 'pipeline:suite2p-rerun')"))
        assert made.scalar() == 0


def test_revision_time_and_batch_come_from_the_database(roles):
    owner, as_alice, record, names = roles
    [bobs] = owner.curate(record, [2], "accepted", curator="bob")
    curation.require_curator_roles(owner)
    as_alice.curate(record, [0], "accepted", curator=names["alice"])
    alice = _curator_id(owner, names["alice"])
    with as_alice.catalog.engine.begin() as conn:
        before = conn.execute(text("SELECT max(roi_revision) FROM curation_events WHERE roi_id = :r"),
                              {"r": _first_roi(conn)}).scalar()
        stored = _insert_event(conn, record, alice, roi_revision=1_000_000, created_at="1999-01-01T00:00:00+00:00")
        now = conn.execute(text("SELECT now()")).scalar()
    assert stored["roi_revision"] == before + 1
    assert stored["created_at"] == now
    for batch in (bobs.batch_id, f"undo-{bobs.batch_id}"):
        with pytest.raises(Exception, match="batch"):
            with as_alice.catalog.engine.begin() as conn:
                _insert_event(conn, record, alice, batch_id=batch)
    with pytest.raises(segdb.ConflictError, match="since you looked"):
        as_alice.curate(record, [0], "rejected", curator=names["alice"], expected_revision=1)
    [undone] = as_alice.undo_curation(record, curator=names["alice"])
    assert undone.curator == names["alice"] and undone.batch_id.startswith("undo-")


def test_a_lock_held_by_another_role_is_reported_not_waited_on(roles, postgres_schema_url, monkeypatch):
    owner, as_alice, record, names = roles
    with owner.catalog.engine.begin() as conn:  # a person who logs in as the read-only role
        conn.exec_driver_sql(f'ALTER ROLE {names["reader"]} LOGIN')
    holder = create_engine(postgres_schema_url.replace("postgres@", f'{names["reader"]}@', 1),
                           connect_args={"application_name": "lock-holder"})
    monkeypatch.setenv("SEGDB_LOCK_TIMEOUT", "0.5")
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(min(roi_id)) FROM rois WHERE kind = 'cell'"))
            started = time.monotonic()
            with pytest.raises(segdb.ConflictError, match=rf"{names['reader']}.*lock-holder") as refused:
                as_alice.curate(record, [0, 1], "accepted", curator=names["alice"])
            assert time.monotonic() - started < 5
            assert "SEGDB_LOCK_TIMEOUT" in str(refused.value) and "\n" not in str(refused.value)
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.commit()
        [event, _] = as_alice.curate(record, [0, 1], "accepted", curator=names["alice"])
        assert event.curator == names["alice"]
    finally:
        holder.dispose()


def test_a_bad_lock_timeout_is_one_line(roles, monkeypatch):
    _, as_alice, record, names = roles
    monkeypatch.setenv("SEGDB_LOCK_TIMEOUT", "soon")
    with pytest.raises(segdb.SegDBError, match="SEGDB_LOCK_TIMEOUT='soon'"):
        as_alice.curate(record, [0], "accepted", curator=names["alice"])


@pytest.fixture
def role_names():
    suffix = uuid.uuid4().hex[:8]
    names = {"reader": f"segdb_reader_{suffix}", "curator": f"segdb_curator_{suffix}"}
    yield names
    url = os.environ["SEGDB_TEST_POSTGRES_URL"]
    admin = create_engine(url)
    with admin.begin() as conn:
        for role in (names["curator"], names["reader"]):
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
                conn.exec_driver_sql(f"DROP OWNED BY {role} CASCADE")
                conn.exec_driver_sql(f"DROP ROLE {role}")
    admin.dispose()


def test_db_roles_apply_can_run_again(postgres_schema_url, tmp_path, role_names, capsys):
    segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays").close()
    command = ["db", "roles", "--apply", "-a", postgres_schema_url,
               "--reader-role", role_names["reader"], "--curator-role", role_names["curator"]]
    assert main(command) == 0
    assert main(command) == 0
    assert role_names["reader"] in capsys.readouterr().out


def test_db_roles_apply_by_a_curator_is_one_line(roles, postgres_schema_url, tmp_path, role_names, capsys):
    *_, names = roles
    command = ["db", "roles", "--apply", "-a", _as_role(postgres_schema_url, names["alice"]),
               "--reader-role", role_names["reader"], "--curator-role", role_names["curator"]]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("segdb: error:") and err.count("\n") == 1, err
    assert names["alice"] in err and "segdb db roles" in err and "Traceback" not in err
