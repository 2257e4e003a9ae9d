"""An archive whose chunk files live in an S3-compatible bucket (a real SeaweedFS), catalog on SQLite and PostgreSQL.

Every promise the archive makes on a folder holds on a bucket: files are whole before rows name
them, never overwritten, verified by sha256 (or, with --fast, by the server's checksum), collected
by gc only with --apply; a killed ingest leaves nothing visible; reads fetch byte ranges, not
whole objects; secrets stay out of the catalog, pickles and errors.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import segdb
from segdb.archive.locations import STORAGE_MARKER
from segdb.arrays import S3Store, close_all, io_stats, reset_io_stats, staging_folder, this_host
from segdb.arrays.durable import TEMP_MARKER
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation


def _raw_store(archive) -> S3Store:
    """A second client on the archive's bucket prefix, to damage or add objects behind segdb's back."""
    return S3Store(archive.storage_root)


def _keys(archive) -> list[str]:
    return [key for key in archive.store.iter_keys() if key != STORAGE_MARKER]


def test_ingest_read_verify_gc_and_delete_on_a_bucket(bucket_archive):
    archive = bucket_archive
    source = synthetic_segmentation(n_rois=12, n_frames=2000, seed=3)
    record = archive.ingest(source, subject="m1", session="s1")
    [key] = _keys(archive)
    assert key.startswith("m1/s1/seg-") and archive.storage_root.startswith("s3://")

    close_all()
    reset_io_stats()
    extractor = archive.extractor(record)
    assert io_stats().store_requests == 0  # opening reads no object
    roi = source.get_roi_ids()[3]
    window = extractor.select_rois([roi]).slice_samples(0, 1000).get_traces()
    np.testing.assert_array_equal(window, source.get_traces(roi_ids=[roi])[:1000])
    assert 0 < io_stats().store_bytes_fetched < archive.store.size(key) / 4

    assert archive.verify().ok
    fast = archive.verify(fast=True)
    assert fast.ok and fast.files_checked_by_server == fast.files_checked == 1
    assert archive.gc(grace=dt.timedelta(0)).orphan_files == ()

    archive.delete_segmentation(record)
    assert _keys(archive) == []
    assert archive.store.exists(STORAGE_MARKER)


def test_verify_names_a_replaced_and_a_missing_object(bucket_archive):
    archive = bucket_archive
    archive.ingest(synthetic_segmentation(n_rois=4, n_frames=50, seed=1), subject="m1", session="s1", name="a")
    archive.ingest(synthetic_segmentation(n_rois=4, n_frames=50, seed=2), subject="m1", session="s1", name="b")
    damaged, missing = _keys(archive)  # a's file (seg-000001), then b's
    raw = _raw_store(archive)
    data = b"".join(raw._stream(damaged))
    raw.delete(damaged)
    replacement = bytes([data[0] ^ 0xFF]) + data[1:]
    raw.write_new(damaged, lambda path: path.write_bytes(replacement))
    raw.delete(missing)

    report = archive.verify()
    problems = {p.relative_path: p.problem for p in report.problems}
    assert problems[missing] == "missing"
    assert problems[damaged].startswith("damaged: sha256")
    fast = {p.relative_path: p.problem for p in archive.verify(fast=True).problems}
    assert fast[missing] == "missing"
    assert fast[damaged].startswith("damaged: the server's checksum")
    close_all()
    with pytest.raises(segdb.IntegrityError, match=f"{missing}' is missing.*segdb verify"):
        archive.extractor("m1/s1/b").get_traces()


def test_gc_lists_stray_and_temporary_objects_and_deletes_them_only_with_apply(bucket_archive):
    archive = bucket_archive
    archive.ingest(synthetic_segmentation(n_rois=4, n_frames=50, seed=1), subject="m1", session="s1")
    raw = _raw_store(archive)
    stray = "m1/stray.h5"
    temporary = f"m1/s1/.plane0.h5{TEMP_MARKER}{uuid.uuid4().hex}"
    for key in (stray, temporary):
        raw.write_text_new(key, "not ours")

    report = archive.gc(grace=dt.timedelta(0))
    assert sorted(report.orphan_files) == sorted([stray, temporary]) and not report.applied
    assert raw.exists(stray) and raw.exists(temporary)
    young = archive.gc()  # the default grace leaves just-written objects alone
    assert young.orphan_files == () and young.young_files == 2

    archive.gc(apply=True, grace=dt.timedelta(0))
    assert not raw.exists(stray) and not raw.exists(temporary)
    assert len(_keys(archive)) == 1 and archive.verify().ok


def test_added_traces_go_to_the_bucket_and_replace_old_files(bucket_archive):
    archive = bucket_archive
    record = archive.ingest(synthetic_segmentation(n_rois=5, n_frames=40, seed=1), subject="m1", session="s1")
    dff = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    archive.add_trace_series(record, "plane0", {"corrected": dff})
    archive.add_trace_series(record, "plane0", {"corrected": dff * 2}, replace=True)
    assert len(_keys(archive)) == 2  # the first derived file went when nothing named it any more
    close_all()
    np.testing.assert_allclose(archive.extractor(record).get_traces(name="corrected"), dff * 2)
    assert archive.verify(fast=True).ok


# A child ingest into the bucket, stopped at one point of its upload and killed there.
_KILLED_UPLOAD = textwrap.dedent(
    """
    import os, signal, sys
    import obstore
    import segdb
    import segdb.arrays.stores as stores
    from segdb.synthetic import synthetic_segmentation

    url, root, where = sys.argv[1], sys.argv[2] or None, sys.argv[3]
    archive = segdb.open(url, storage_root=root, create=False)
    stores.SINGLE_PUT_MAX_BYTES = 1  # every file goes multipart: to a temporary key, then copied into place

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "uploading":
        real_put = obstore.put

        def put(store, path, file, **options):
            def parts():
                for part in file:
                    yield part
                    die()  # one part sent, the upload not completed
            return real_put(store, path, parts(), **options)

        obstore.put = put
    elif where == "copying":
        obstore.copy = lambda *args, **options: die()  # the temporary object is whole, not yet in place
    else:
        real_write = archive.catalog.write_with_retry
        calls = []

        def write(work, *args, **options):
            calls.append(work)
            if len(calls) == 2:  # the reservation is written; the rows naming the uploaded file are next
                die()
            return real_write(work, *args, **options)

        archive.catalog.write_with_retry = write
    archive.ingest(synthetic_segmentation(n_rois=30, n_frames=3000, seed=1), subject="m1", session="s1", name="killed")
    """
)


@pytest.mark.parametrize("where", ["uploading", "copying", "recording"])
def test_an_ingest_killed_mid_upload_leaves_nothing_visible_and_gc_clears_it(bucket_archive, where, tmp_path,
                                                                              monkeypatch):
    archive = bucket_archive
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setenv("SEGDB_STAGING_DIR", str(staging))
    root = archive.storage_root if archive.catalog.dialect == "postgresql" else ""
    result = subprocess.run([sys.executable, "-c", _KILLED_UPLOAD, archive.catalog.url, root, where],
                            capture_output=True, timeout=300)
    assert result.returncode == -9, result.stderr.decode()

    assert archive.segmentations() == []
    report = archive.gc(grace=dt.timedelta(0))
    assert len(report.stale_segmentations) == 1
    # Killed while the file was staged for upload, its staging folder is left on this machine, and gc names it.
    staged = sorted(str(path) for path in staging.iterdir())
    assert list(report.staging_folders) == staged
    assert (len(staged), report.staging_bytes > 0) == ((1, True) if where != "recording" else (0, False))
    left = _keys(archive)
    if where == "uploading":
        assert left == []  # an unfinished multipart upload is no object
    else:
        # Killed while copying into place: only temporary objects are left (the upload's, and those of the
        # check that the server honours a conditional copy); after it: the whole file, which no row names.
        assert left and sorted(report.orphan_files) == left
        assert all(TEMP_MARKER in key for key in left) if where == "copying" else len(left) == 1
    archive.gc(apply=True, grace=dt.timedelta(0))
    assert _keys(archive) == [] and archive.segmentations(include_unfinished=True) == []
    assert list(staging.iterdir()) == []
    again = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s1", name="killed")
    assert again.status == "ready" and archive.verify().ok


def test_gc_leaves_the_staging_folders_of_running_and_recent_uploads(bucket_archive, tmp_path, monkeypatch):
    """A staging folder is a leftover only when its process has stopped (this host), or, made on another host
    sharing the folder, when it has not changed for --older-than-hours; and never within the grace period."""
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setenv("SEGDB_STAGING_DIR", str(staging))
    stopped = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(stopped.stdout)
    hour_ago = time.time() - 3600
    made = {}
    for name, pid, host, age in [("dead", dead_pid, this_host(), hour_ago), ("other-old", 1, "elsewhere", hour_ago),
                                 ("other-new", 1, "elsewhere", time.time()),
                                 ("dead-young", dead_pid, this_host(), time.time())]:
        folder = staging / f"segdb-upload-{pid}@{host}-{name.replace('-', '_')}"
        folder.mkdir()
        (folder / "object").write_bytes(b"x" * 1000)
        for path in (folder / "object", folder):
            os.utime(path, (age, age))
        made[name] = str(folder)
    (staging / "someone-elses-folder").mkdir()
    with staging_folder("upload") as running:
        (running / "object").write_bytes(b"y" * 10)
        os.utime(running, (hour_ago, hour_ago))
        report = bucket_archive.gc(grace=dt.timedelta(minutes=10), older_than=dt.timedelta(minutes=30))
        assert sorted(report.staging_folders) == sorted([made["dead"], made["other-old"]])
        assert report.staging_bytes == 2000
        bucket_archive.gc(apply=True, grace=dt.timedelta(minutes=10), older_than=dt.timedelta(minutes=30))
        assert running.is_dir()
    left = sorted(path.name for path in staging.iterdir())
    assert left == sorted([Path(made["other-new"]).name, Path(made["dead-young"]).name, "someone-elses-folder"])


def test_gc_does_not_say_it_deleted_a_staging_folder_it_could_not_remove(bucket_archive, tmp_path, monkeypatch):
    """A dead process's folder that cannot be removed (another user's in a shared /tmp; here an immutable
    file) is listed by a dry run but not claimed as deleted."""
    staging = tmp_path / "staging"
    folder = staging / f"segdb-upload-999999999@{this_host()}-stuck"
    folder.mkdir(parents=True)
    stuck = folder / "object"
    stuck.write_bytes(b"x" * 100)
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here to make a file that cannot be removed")
    try:
        monkeypatch.setenv("SEGDB_STAGING_DIR", str(staging))
        assert bucket_archive.gc(grace=dt.timedelta(0)).staging_folders == (str(folder),)
        assert bucket_archive.gc(apply=True, grace=dt.timedelta(0)).staging_folders == ()
        assert stuck.exists()
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)


def test_secrets_stay_out_of_the_catalog_pickles_and_errors(bucket_archive, seaweedfs, monkeypatch):
    archive = bucket_archive
    record = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=20, seed=1), subject="m1", session="s1")
    secret = seaweedfs.secret_access_key
    pickled = pickle.dumps(archive.extractor(record))
    assert secret.encode() not in pickled
    with archive.catalog.reading() as db:
        from sqlalchemy import text

        settings = db.execute(text("SELECT setting_value FROM archive_settings")).scalars().all()
    assert archive.storage_root in settings and not any(secret in value for value in settings)
    assert secret not in repr(archive)

    # Another process (here: this one with other credentials) reads with its own, never the pickled ones.
    close_all()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + secret)
    store = S3Store(archive.storage_root)
    with pytest.raises(segdb.StorageUnavailableError) as raised:
        store.size(_keys(archive)[0])
    message = str(raised.value)
    assert "\n" not in message and secret not in message and "refused" in message


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_a_read_after_the_server_stops_is_one_line_naming_the_object_and_endpoint(
        archive_maker, start_s3_server, tmp_path, monkeypatch, catalog):
    from object_store import new_bucket_prefix

    server = start_s3_server()
    with archive_maker.new(catalog, tmp_path, new_bucket_prefix(server, monkeypatch)) as archive:
        record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=200, seed=1), subject="m1", session="s1")
        archive.store.max_retries, archive.store.timeout = 1, 2.0
        archive.store._client = None
        close_all()
        extractor = archive.extractor(record)
        server.stop()
        with pytest.raises(segdb.StorageUnavailableError) as raised:
            extractor.get_traces()
        message = str(raised.value)
        assert "\n" not in message and server.endpoint in message and "m1/s1/seg-" in message


def test_init_on_a_bucket_and_verify_gc_from_the_command_line(seaweedfs, tmp_path, monkeypatch, capsys):
    from object_store import new_bucket_prefix

    url = new_bucket_prefix(seaweedfs, monkeypatch)
    folder = tmp_path / "lab"
    assert main(["init", str(folder), "--storage-root", url]) == 0
    assert url in capsys.readouterr().out
    with segdb.open(folder, create=False) as archive:  # the catalog remembers the bucket
        assert archive.storage_root == url
        archive.ingest(synthetic_segmentation(n_rois=3, n_frames=20, seed=1), subject="m1", session="s1")
    close_all()
    assert main(["verify", "-a", str(folder), "--fast"]) == 0
    out = capsys.readouterr().out
    assert "all files intact" in out and "by the server's checksum" in out
    assert main(["gc", "-a", str(folder)]) == 0
    assert "0 orphan file(s)" in capsys.readouterr().out
    # A stopped upload's staging folder is named, and deleted with --apply.
    staging = tmp_path / "staging"
    monkeypatch.setenv("SEGDB_STAGING_DIR", str(staging))
    leftover = staging / f"segdb-upload-999999999@{this_host()}-abc"
    leftover.mkdir(parents=True)
    (leftover / "object").write_bytes(b"z" * 2_000_000)
    os.utime(leftover, (time.time() - 3600,) * 2)
    os.utime(leftover / "object", (time.time() - 3600,) * 2)
    assert main(["gc", "-a", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"would delete: {leftover} (a stopped upload's staging folder" in out and "2.0 MB" in out, out
    assert "segdb gc --apply" in out and leftover.is_dir()
    assert main(["gc", "-a", str(folder), "--apply"]) == 0
    assert f"deleted: {leftover}" in capsys.readouterr().out and not leftover.exists()

    # A bucket that does not exist is refused in one line, and no catalog is left behind.
    missing = tmp_path / "nowhere"
    assert main(["init", str(missing), "--storage-root", f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "create the bucket" in err
    assert not (missing / "catalog.sqlite").exists()


def test_a_storage_root_of_another_scheme_is_refused(tmp_path, capsys):
    assert main(["init", str(tmp_path / "lab"), "--storage-root", "gs://bucket/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "neither a folder nor an s3:// bucket" in err


_READ_AND_EXIT = textwrap.dedent(
    """
    import sys
    import segdb

    archive = segdb.open(sys.argv[1], create=False)
    [record] = archive.segmentations()
    print(archive.extractor(record).slice_samples(0, 10).get_traces().shape)
    """
)


def test_a_script_that_read_from_a_bucket_exits_cleanly(bucket_archive):
    # HDF5 reads a bucket's file through a Python file object; closing it only at interpreter teardown crashed.
    archive = bucket_archive
    archive.ingest(synthetic_segmentation(n_rois=3, n_frames=20, seed=1), subject="m1", session="s1")
    result = subprocess.run([sys.executable, "-c", _READ_AND_EXIT, archive.catalog.url], capture_output=True,
                            text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, "(10, 3)"), result.stderr
