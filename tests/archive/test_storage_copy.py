"""`segdb storage copy`: an archive's files move between a folder and a bucket (a real SeaweedFS), catalog on
SQLite and PostgreSQL; every file is verified by sha256 at the new root before one transaction switches the
catalog to it, a dry run changes nothing, an interrupted copy resumes, a differing object is never overwritten,
and readers keep reading throughout."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import segdb
from segdb.archive.locations import STORAGE_MARKER, STORAGE_ROOT_SETTING
from segdb.arrays import LocalStore, S3Store, close_all, open_store
from segdb.catalog import models as m
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation
from tests.conftest import archive_in, new_bucket_prefix


def _fill(archive, count: int = 2) -> list:
    """Ingest ``count`` small segmentations; returns (record, source) pairs."""
    made = []
    for index in range(count):
        source = synthetic_segmentation(n_rois=5, n_frames=300, seed=index)
        made.append((archive.ingest(source, subject="m1", session="s1", name=f"seg{index}"), source))
    return made


def _objects(root) -> list[str]:
    store = open_store(root)
    if not store.root_exists():
        return []
    return [key for key in store.iter_keys() if key != STORAGE_MARKER]


def _recorded_root(archive) -> str | None:
    with archive.catalog.reading() as db:
        return db.scalar(select(m.ArchiveSetting.setting_value)
                         .where(m.ArchiveSetting.setting_name == STORAGE_ROOT_SETTING))


def _reopened(archive):
    close_all()
    return segdb.open(archive.catalog.url, create=False)


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_folder_to_bucket_switches_the_catalog_and_an_open_extractor_keeps_reading(
        catalog, tmp_path, request, seaweedfs, monkeypatch):
    with archive_in(catalog, tmp_path, request) as archive:
        made = _fill(archive)
        source_root = archive.storage_root
        destination = new_bucket_prefix(seaweedfs, monkeypatch)
        before = archive.extractor(made[0][0])  # opened before the copy, on the folder
        files = archive.array_files()

        dry = archive.copy_storage(destination)
        assert (dry.copied, dry.copied_bytes, dry.already_there) == (2, sum(f[1] for f in files), 0)
        assert not dry.switched and not dry.applied and dry.ok
        assert not open_store(destination).exists(STORAGE_MARKER) and _objects(destination) == []

        report = archive.copy_storage(destination, source=source_root, apply=True)
        assert report.switched and report.ok and report.copied == 2 and not report.overridden
        assert sorted(_objects(destination)) == [f[0] for f in files]
        assert open_store(destination).read_text(STORAGE_MARKER).strip() == archive.archive_id
        assert _recorded_root(archive) == destination
        assert _objects(source_root) == [f[0] for f in files]  # the source files are left in place

        close_all()
        np.testing.assert_array_equal(before.get_traces(), made[0][1].get_traces())

        shutil.rmtree(source_root)  # new opens read the bucket only; the extractor opened before read the folder
        close_all()
        with pytest.raises(segdb.SegDBError, match="missing"):
            before.get_traces()
        with _reopened(archive) as fresh:
            assert fresh.storage_root == destination and not fresh.in_folder
            fast = fresh.verify(fast=True)
            assert fast.ok and fast.files_checked_by_server == fast.files_checked == 2
            assert fresh.verify().ok
            for record, source in made:
                np.testing.assert_array_equal(fresh.extractor(record).get_traces(), source.get_traces())


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_bucket_to_folder_switches_the_catalog_and_forgets_the_server_checksums(catalog, tmp_path, request):
    with archive_in(f"{catalog}+bucket", tmp_path, request) as archive:
        made = _fill(archive)
        source_root = archive.storage_root
        destination = tmp_path / "moved" / "arrays"

        dry = archive.copy_storage(destination)
        assert dry.copied == 2 and not destination.exists()

        report = archive.copy_storage(destination, apply=True)
        assert report.switched and report.copied == 2
        assert archive.in_folder and archive.storage_root == destination.resolve()  # this archive follows
        assert _recorded_root(archive) == str(destination.resolve())
        with archive.catalog.reading() as db:
            assert set(db.scalars(select(m.ArrayFile.server_checksum))) == {None}
        assert len(_objects(source_root)) == 2

        with _reopened(archive) as fresh:
            assert fresh.storage_root == destination.resolve() and fresh.verify().ok
            for record, source in made:
                np.testing.assert_array_equal(fresh.extractor(record).get_traces(), source.get_traces())


def test_back_beside_a_sqlite_catalog_the_recorded_root_is_dropped(tmp_path, request):
    with archive_in("sqlite+bucket", tmp_path, request) as archive:
        made = _fill(archive, 1)
        beside = Path(archive.location) / "arrays"
        assert archive.copy_storage(beside, apply=True).switched
        assert _recorded_root(archive) is None  # the layout's default, so the folder can move as a whole
        close_all()
        with segdb.open(archive.location, create=False) as fresh:
            assert fresh.storage_root == beside.resolve() and fresh.verify().ok
            np.testing.assert_array_equal(fresh.extractor(made[0][0]).get_traces(), made[0][1].get_traces())


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_an_interrupted_copy_resumes_and_finishes(catalog, tmp_path, request, seaweedfs, monkeypatch):
    with archive_in(catalog, tmp_path, request) as archive:
        made = _fill(archive, 3)
        destination = new_bucket_prefix(seaweedfs, monkeypatch)
        real_put = S3Store.put_new
        calls = []

        def put_then_fail(self, key, source):
            calls.append(key)
            if len(calls) == 2:
                raise KeyboardInterrupt  # the user pressed ^C during the second upload
            return real_put(self, key, source)

        with monkeypatch.context() as patch:
            patch.setattr(S3Store, "put_new", put_then_fail)
            with pytest.raises(KeyboardInterrupt):
                archive.copy_storage(destination, apply=True)
        assert len(_objects(destination)) == 1
        assert archive.in_folder and _reopened(archive).in_folder  # not switched

        report = archive.copy_storage(destination, apply=True)
        assert (report.already_there, report.copied, report.switched) == (1, 2, True)
        with _reopened(archive) as fresh:
            assert not fresh.in_folder and fresh.verify().ok
            np.testing.assert_array_equal(fresh.extractor(made[2][0]).get_traces(), made[2][1].get_traces())


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_a_differing_object_at_the_destination_is_not_overwritten_and_the_root_not_switched(
        catalog, tmp_path, request, seaweedfs, monkeypatch):
    with archive_in(catalog, tmp_path, request) as archive:
        _fill(archive)
        destination = new_bucket_prefix(seaweedfs, monkeypatch)
        (clash, _, _), (other, _, _) = archive.array_files()
        S3Store(destination).write_text_new(clash, "someone else's object")

        for apply in (False, True):
            report = archive.copy_storage(destination, apply=apply)
            assert [p.relative_path for p in report.problems] == [clash] and not report.switched
            assert "not overwritten" in report.problems[0].problem
        assert S3Store(destination).read_text(clash) == "someone else's object"
        assert S3Store(destination).exists(other)  # the rest is copied, ready for the run that follows
        assert archive.in_folder and _recorded_root(archive) == (None if catalog == "sqlite" else str(archive.storage_root))

        S3Store(destination).delete(clash)  # the user moves it away
        assert archive.copy_storage(destination, apply=True).switched


def test_a_copy_is_not_switched_while_an_ingest_is_writing(archive, tmp_path):
    _fill(archive, 1)
    destination = tmp_path / "elsewhere"
    with archive.catalog.writing() as db:
        db.add(m.FileLease(relative_path="m1/s1/seg-000099/plane0-x.h5", writer_host=socket.gethostname(),
                           writer_pid=os.getpid()))
    with pytest.raises(segdb.ConflictError, match="an ingest is writing.*run `segdb storage copy` again"):
        archive.copy_storage(destination, apply=True)
    assert archive.in_folder and archive.storage_root != destination.resolve()
    with archive.catalog.writing() as db:
        db.query(m.FileLease).delete()
    report = archive.copy_storage(destination, apply=True)
    assert (report.already_there, report.copied, report.switched) == (1, 0, True)


def test_files_ingested_while_copying_are_copied_before_the_switch(archive, tmp_path):
    _fill(archive, 1)
    added = []

    def ingest_once(_bytes: int) -> None:
        if not added:
            added.append(archive.ingest(synthetic_segmentation(n_rois=3, n_frames=50, seed=9),
                                        subject="m2", session="s1"))

    report = archive.copy_storage(tmp_path / "elsewhere", apply=True, progress=ingest_once)
    assert report.switched and report.copied == 2 and report.files == 2
    assert archive.verify().ok and archive.verify().files_checked == 2


def test_folder_to_folder_from_the_command_line_and_one_line_errors(archive, tmp_path, capsys, monkeypatch):
    _fill(archive, 1)
    target = archive.catalog.url
    source = str(archive.storage_root)
    destination = tmp_path / "new-arrays"

    assert main(["storage", "copy", str(tmp_path / "not-the-root"), str(destination), "-a", target]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("segdb: error: ")
    assert "is not the storage root" in error and source in error

    assert main(["storage", "copy", source, source, "-a", target]) == 2
    assert "already the archive's storage root" in capsys.readouterr().err
    assert main(["storage", "copy", source, f"{source}/inner", "-a", target]) == 2
    assert "one inside the other" in capsys.readouterr().err

    other = tmp_path / "other-archive"
    LocalStore(other).write_text_new(STORAGE_MARKER, "0123456789abcdef\n")
    assert main(["storage", "copy", source, str(other), "-a", target]) == 2
    assert "storage root of another archive" in capsys.readouterr().err

    assert main(["storage", "copy", source, str(destination), "-a", target]) == 0
    assert "would copy 1" in capsys.readouterr().out and not destination.exists()
    assert main(["storage", "copy", source, str(destination), "-a", target, "--apply", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["switched"] and out["copied"] == 1 and out["ok"]
    close_all()
    assert main(["verify", "-a", target]) == 0 and "all files intact" in capsys.readouterr().out


def test_an_overriding_storage_root_is_named_in_the_output(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "lab"
    with segdb.open(folder) as archive:
        _fill(archive, 1)
    mounted = tmp_path / "mounted-elsewhere"
    shutil.copytree(folder / "arrays", mounted)  # the same files, reached by another path
    monkeypatch.setenv("SEGDB_STORAGE_ROOT", str(mounted))
    destination = tmp_path / "new-arrays"
    assert main(["storage", "copy", str(mounted), str(destination), "-a", str(folder), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "note: SEGDB_STORAGE_ROOT overrides the catalog's storage root" in out and str(destination) in out
    monkeypatch.delenv("SEGDB_STORAGE_ROOT")
    close_all()
    with segdb.open(folder, create=False) as fresh:
        assert fresh.storage_root == destination.resolve() and fresh.verify().ok


def test_a_writer_that_opened_before_the_switch_is_refused_when_it_records_its_file(archive, tmp_path):
    _fill(archive, 1)
    close_all()
    writer = segdb.open(archive.catalog.url, create=False)  # another process's archive, opened before the move
    old_root = writer.storage_root
    destination = tmp_path / "elsewhere"
    try:
        assert archive.copy_storage(destination, apply=True).switched
        with pytest.raises(segdb.ConflictError, match="moved to a new storage root.*open the archive again"):
            writer.ingest(synthetic_segmentation(n_rois=3, n_frames=50, seed=9), subject="m2", session="s1")
        assert [s.subject for s in archive.segmentations()] == ["m1"]
        assert _objects(old_root) == [f[0] for f in archive.array_files()]  # the refused file went with it
    finally:
        writer.close()
    close_all()
    with segdb.open(archive.catalog.url, create=False) as fresh:
        fresh.ingest(synthetic_segmentation(n_rois=3, n_frames=50, seed=9), subject="m2", session="s1")
        assert len(_objects(destination)) == 2 and fresh.verify().ok
