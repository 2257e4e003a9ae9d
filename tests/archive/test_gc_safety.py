"""`segdb gc --apply` beside live writers: it deletes a file only when, at that moment, no row
references it and no live writer holds a lease on it; it refuses a folder that is not the
archive's and a role that may not write; `verify` beside a delete reports, not crashes."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, select, text

import segdb
from segdb.catalog import models as m
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation

NOW = {"grace": dt.timedelta(0)}


def _source(seed=5, n_frames=200):
    return synthetic_segmentation(n_rois=6, n_frames=n_frames, seed=seed)


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def _killed_first_ingest(archive, subject="killed", session="s1") -> list[Path]:
    """What an ingest killed mid-write leaves: a 'writing' reservation in a new subject and session,
    its lease, the file it had landed and a temporary one, all from a process that is gone."""
    pid, host = _dead_pid(), socket.gethostname()
    with archive.catalog.writing() as db:
        subject_row = m.Subject(subject_name=subject)
        db.add(subject_row)
        db.flush()
        session_row = m.ImagingSession(subject_id=subject_row.subject_id, session_name=session)
        db.add(session_row)
        db.flush()
        seg = m.Segmentation(session_id=session_row.session_id, segmentation_name="crashed", source_format="x",
                             created_by="test", status="writing", writer_host=host, writer_pid=pid)
        db.add(seg)
        db.flush()
        folder = f"{subject}/{session}/seg-{seg.segmentation_id:06d}"
        landed = f"{folder}/plane0-{uuid.uuid4().hex[:12]}.h5"
        being_written = f"{folder}/plane1-{uuid.uuid4().hex[:12]}.h5"
        for path in (landed, being_written):
            db.add(m.FileLease(relative_path=path, writer_host=host, writer_pid=pid))
    files = [archive.storage_root / landed,
             archive.storage_root / folder / f".{Path(being_written).name}.tmp.{uuid.uuid4().hex}"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half an ingest")
    return files


def _paused_writer(write, where):
    """Run ``write(progress)`` in a thread that pauses at its first progress tick until released."""
    state = {"started": threading.Event(), "release": threading.Event(), "errors": []}

    def progress(_samples):
        if not state["started"].is_set():
            state["started"].set()
            state["release"].wait(60)

    def run():
        try:
            state["result"] = write(progress)
        except BaseException as exc:  # noqa: BLE001 - the test reports what the writer hit
            state["errors"].append(exc)
        finally:
            state["started"].set()

    state["thread"] = threading.Thread(target=run, name=f"writer-{where}")
    return state


def test_an_ingest_that_reserves_after_gc_read_the_catalog_keeps_its_files(archive, monkeypatch):
    """gc read the catalog, then an ingest reserved and began writing: its temporary file and fresh
    folders are not gc's to delete."""
    writer = _paused_writer(lambda tick: archive.ingest(_source(), subject="m1", session="s1", progress=tick),
                            "ingest")
    real_rglob = Path.rglob

    def scan_once_the_ingest_writes(self, pattern):
        if self == archive.storage_root and not writer["thread"].ident:
            writer["thread"].start()
            assert writer["started"].wait(60)
        return real_rglob(self, pattern)

    monkeypatch.setattr(Path, "rglob", scan_once_the_ingest_writes)
    report = archive.gc(apply=True, **NOW)
    monkeypatch.undo()
    writer["release"].set()
    writer["thread"].join(60)
    assert writer["errors"] == [] and writer["result"].status == "ready"
    assert report.orphan_files == ()
    assert archive.verify().ok


def test_a_file_committed_while_gc_scans_is_kept(archive, monkeypatch):
    """An ingest that reserved and committed between gc's catalog read and its folder scan keeps its file."""
    real_rglob = Path.rglob
    committed = []

    def scan_after_an_ingest(self, pattern):
        if self == archive.storage_root and not committed:
            committed.append(archive.ingest(_source(), subject="m1", session="s1"))
        return real_rglob(self, pattern)

    monkeypatch.setattr(Path, "rglob", scan_after_an_ingest)
    archive.gc(apply=True, **NOW)
    monkeypatch.undo()
    assert committed and archive.verify().ok
    [plane] = archive.plane_handles(committed[0])
    assert plane.traces["raw"][:3].shape[0] == 3


def test_trace_series_being_added_to_a_ready_segmentation_survive_gc(archive):
    record = archive.ingest(_source(), subject="m1", session="s1")
    traces = {"denoised": np.ones((200, 6), dtype=np.float32)}
    writer = _paused_writer(lambda tick: archive.add_trace_series(record, "plane0", traces, progress=tick), "traces")
    writer["thread"].start()
    assert writer["started"].wait(60)
    report = archive.gc(apply=True, **NOW)
    writer["release"].set()
    writer["thread"].join(60)
    assert writer["errors"] == [] and report.orphan_files == ()
    assert archive.verify().ok
    np.testing.assert_array_equal(archive.plane_handle(record, "plane0").traces["denoised"][:2], traces["denoised"][:2])


def test_gc_leaves_young_files_and_folders_for_the_grace_period(archive):
    archive.ingest(_source(), subject="m1", session="s1")
    stray = archive.storage_root / "m1" / "stray.h5"
    stray.write_bytes(b"not ours")
    fresh_folder = archive.storage_root / "m2" / "s1" / "seg-000099"
    fresh_folder.mkdir(parents=True)
    report = archive.gc(apply=True)
    assert report.orphan_files == () and stray.exists() and fresh_folder.is_dir()
    old = time.time() - 3600
    for path in (stray, fresh_folder, fresh_folder.parent, fresh_folder.parent.parent):
        os.utime(path, (old, old))
    report = archive.gc(apply=True)
    assert report.orphan_files == ("m1/stray.h5",) and not stray.exists()
    assert not (archive.storage_root / "m2").exists()
    assert archive.verify().ok


def test_a_negative_grace_period_is_refused(archive, capsys):
    assert main(["gc", "--apply", "--archive", archive.catalog.url, "--storage-root", str(archive.storage_root),
                 "--grace-minutes", "-5"]) == 2
    assert "give zero or more minutes" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["subject", "session"])
def test_subject_and_session_names_that_look_like_segmentation_folders_are_refused(archive, where):
    names = {"subject": "m1", "session": "s1", where: "seg-000001"}
    with pytest.raises(segdb.InvalidInputError, match=rf"the {where} 'seg-000001' .*seg-N.*choose another"):
        archive.ingest(_source(), **names)
    assert archive.segmentations(include_unfinished=True) == []
    assert not any(p.is_file() and p.name != ".segdb-archive" for p in archive.storage_root.rglob("*"))


def test_gc_apply_refuses_a_folder_that_is_not_marked_as_the_archives(postgres_schema_url, tmp_path):
    """An archive made before archive ids, with no files yet: pointed at someone's home folder,
    gc --apply deletes nothing there."""
    root = tmp_path / "arrays"
    with segdb.open(postgres_schema_url, storage_root=root) as archive:
        archive.check_storage_root()
        with archive.catalog.writing() as db:
            db.execute(text("DELETE FROM archive_settings WHERE setting_name = 'archive_id'"))
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("secret")
    (home / "README").write_text("mine")
    with segdb.open(postgres_schema_url, storage_root=home, create=False) as wrong:
        with pytest.raises(segdb.IntegrityError, match=rf"gc --apply deletes files only in this archive's storage "
                                                        rf"root, and {home} has no \.segdb-archive marker"):
            wrong.gc(apply=True, **NOW)
        assert len(wrong.gc(**NOW).orphan_files) == 2  # listing alone is harmless
    assert (home / ".ssh" / "id_ed25519").exists() and (home / "README").exists()
    assert not (home / ".segdb-archive").exists()


def test_gc_apply_refuses_another_archives_root_before_listing_it(archive, tmp_path):
    other = segdb.open(tmp_path / "other-lab")
    other.ingest(_source(), subject="m1", session="s1")
    other.close()
    with segdb.open(archive.reopen_spec()[0], storage_root=other.storage_root, create=False) as wrong:
        with pytest.raises(segdb.IntegrityError, match="belongs to another archive"):
            wrong.gc(apply=True, **NOW)
    with segdb.open(tmp_path / "other-lab", create=False) as other:
        assert other.verify().ok


@pytest.fixture
def read_only(postgres_schema_url, tmp_path):
    reader = f"segdb_gc_reader_{uuid.uuid4().hex[:8]}"
    owner = segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays")
    owner.ingest(_source(), subject="m1", session="s1")
    with owner.catalog.engine.begin() as conn:
        schema_name = conn.execute(text("SELECT current_schema()")).scalar()
        conn.exec_driver_sql(f"CREATE ROLE {reader}; GRANT USAGE ON SCHEMA {schema_name} TO {reader}; "
                             f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema_name} TO {reader}")
    as_reader = segdb.open(postgres_schema_url.replace("options=", f"options=-crole%3D{reader}%20"),
                           storage_root=tmp_path / "arrays", create=False)
    try:
        yield owner, as_reader, reader
    finally:
        as_reader.close()
        owner.close()
        admin = create_engine(postgres_schema_url.split("?")[0])
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {reader} CASCADE")
            conn.exec_driver_sql(f"DROP ROLE {reader}")
        admin.dispose()


def test_a_read_only_role_cannot_run_gc_apply(read_only, capsys):
    owner, as_reader, reader = read_only
    stray = owner.storage_root / "m1" / "stray.h5"
    stray.write_bytes(b"not ours")
    os.utime(stray, (time.time() - 3600,) * 2)
    with pytest.raises(segdb.SegDBError, match=rf"database role {reader} may not delete from array_files"):
        as_reader.gc(apply=True, **NOW)
    assert stray.exists()
    assert as_reader.gc(**NOW).orphan_files == ("m1/stray.h5",)
    root = str(as_reader.storage_root)
    assert main(["gc", "--apply", "--archive", as_reader.catalog.url, "--storage-root", root]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segdb: error: segdb gc --apply deletes files and catalog rows")
    assert stray.exists()


def test_verify_beside_a_delete_reports_files_deleted_meanwhile(archive, monkeypatch):
    a = archive.ingest(_source(1), subject="m1", session="s1", name="a")
    archive.ingest(_source(2), subject="m1", session="s1", name="b")
    real_sha256 = archive.store.sha256
    deleted = []

    def delete_everything_first(key):
        if not deleted:
            for record in archive.segmentations():
                archive.delete_segmentation(record)
                deleted.append(record.segmentation_id)
        return real_sha256(key)

    monkeypatch.setattr(archive.store, "sha256", delete_everything_first)
    report = archive.verify()
    assert deleted == [a.segmentation_id, a.segmentation_id + 1]
    assert report.ok and report.problems == ()
    assert len(report.deleted_meanwhile) == 2


def test_a_killed_first_ingest_is_collected_with_its_subject_and_session(archive):
    archive.ingest(_source(), subject="m1", session="s1")
    files = _killed_first_ingest(archive)
    report = archive.gc()
    assert len(report.stale_segmentations) == 1 and all(f.exists() for f in files)
    report = archive.gc(apply=True, **NOW)
    assert len(report.orphan_files) == 2 and not any(f.exists() for f in files)
    assert [s.name for s in archive.subjects()] == ["m1"]
    assert not (archive.storage_root / "killed").exists()
    with archive.catalog.reading() as db:
        assert db.scalars(select(m.FileLease)).all() == []
    assert archive.verify().ok and len(archive.segmentations()) == 1


def test_gc_in_a_loop_beside_two_ingesters_loses_nothing_and_still_collects_orphans(archive):
    """Two ingesters x 10 ingests and gc --apply (grace 0) in a loop: no ingest fails, no file goes
    missing, and a killed ingest's leftovers are collected."""
    url, root = archive.catalog.url, str(archive.storage_root)
    killed = _killed_first_ingest(archive)
    failures, stop = [], threading.Event()
    gc_runs = []

    def ingester(index):
        with segdb.open(url, storage_root=root, create=False) as mine:
            for number in range(10):
                try:
                    mine.ingest(_source(seed=number, n_frames=50), subject=f"m{index}", session=f"s{number}",
                                progress=lambda _samples: time.sleep(0.001))
                except BaseException as exc:  # noqa: BLE001 - every failure is counted
                    failures.append(f"{type(exc).__name__}: {exc}")

    def collector():
        with segdb.open(url, storage_root=root, create=False) as mine:
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    gc_runs.append(mine.gc(apply=True, **NOW))
                except BaseException as exc:  # noqa: BLE001
                    failures.append(f"gc: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=ingester, args=(i,)) for i in range(2)]
    gc_thread = threading.Thread(target=collector)
    gc_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    stop.set()
    gc_thread.join(300)
    assert failures == []
    assert len(gc_runs) > 1
    assert len(archive.segmentations()) == 20
    assert archive.verify().ok
    assert not any(f.exists() for f in killed)
    assert archive.segmentations(include_unfinished=True) == archive.segmentations()


def test_a_failed_write_leaves_no_lease_behind(archive):
    def fail(_samples):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        archive.ingest(_source(), subject="m1", session="s1", progress=fail)
    record = archive.ingest(_source(), subject="m1", session="s1")
    with pytest.raises(RuntimeError, match="disk full"):
        archive.add_trace_series(record, "plane0", {"denoised": np.ones((200, 6))}, progress=fail)
    with archive.catalog.reading() as db:
        assert db.scalars(select(m.FileLease)).all() == []
    assert archive.gc(**NOW).orphan_files == () and archive.verify().ok
