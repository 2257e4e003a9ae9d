"""Integrity: verify names damaged files, reads of damaged files fail loudly, paths stay in the root,
and a crash mid-ingest leaves nothing visible, only leftovers that gc reports."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

import segdb
from segdb.arrays import close_all
from segdb.catalog import models as m
from segdb.synthetic import synthetic_segmentation


def _ingest(archive, name="run", n_frames=400):
    return archive.ingest(
        synthetic_segmentation(n_rois=8, n_frames=n_frames, seed=5), subject="m1", session="s1", name=name
    )


def _only_file(archive) -> Path:
    [(relative, _, _)] = archive.array_files()
    return archive.storage_root / relative


def test_verify_passes_on_an_intact_archive(archive):
    _ingest(archive)
    report = archive.verify()
    assert report.ok and report.files_checked == 1 and report.bytes_checked > 0


def test_verify_names_missing_and_damaged_files(archive):
    _ingest(archive, "a")
    _ingest(archive, "b")
    files = [archive.storage_root / rel for rel, _, _ in archive.array_files()]
    files[0].unlink()
    with open(files[1], "r+b") as handle:
        handle.seek(files[1].stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    report = archive.verify()
    problems = {p.relative_path: p.problem for p in report.problems}
    assert problems[files[0].relative_to(archive.storage_root).as_posix()] == "missing"
    assert "damaged: sha256" in problems[files[1].relative_to(archive.storage_root).as_posix()]


def test_reading_a_truncated_file_raises_integrity_error_naming_it(archive):
    record = _ingest(archive)
    path = _only_file(archive)
    close_all()
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 100)
    [plane] = archive.plane_handles(record)
    with pytest.raises(segdb.IntegrityError, match=path.name):
        plane.traces["raw"][:10]


def test_reading_a_missing_file_raises_integrity_error_naming_it(archive):
    record = _ingest(archive)
    path = _only_file(archive)
    close_all()
    path.unlink()
    [plane] = archive.plane_handles(record)
    with pytest.raises(segdb.IntegrityError, match="missing"):
        plane.masks.pixel_masks([0])


@pytest.mark.parametrize("bad_path", ["../outside.h5", "/etc/passwd", "m1/../../x.h5"])
def test_rows_pointing_outside_the_storage_root_are_refused_on_read(archive, bad_path):
    record = _ingest(archive)
    with archive.catalog.writing() as db:
        db.execute(update(m.ArrayFile).values(relative_path=bad_path))
    with pytest.raises(segdb.IntegrityError, match="storage root|relative|\\.\\."):
        [plane] = archive.plane_handles(record)
        plane.traces["raw"][:1]
    assert not archive.verify().ok


def test_a_symlink_escaping_the_root_is_refused(archive, tmp_path):
    record = _ingest(archive)
    path = _only_file(archive)
    outside = tmp_path / "outside.h5"
    path.rename(outside)
    path.symlink_to(outside)
    close_all()
    [plane] = archive.plane_handles(record)
    with pytest.raises(segdb.IntegrityError, match="outside|escape|root"):
        plane.traces["raw"][:1]


_CRASHING_INGEST = textwrap.dedent(
    """
    import os, signal, sys
    import segdb
    from segdb.synthetic import synthetic_segmentation

    url, root = sys.argv[1], sys.argv[2]
    archive = segdb.open(url, storage_root=root or None)
    source = synthetic_segmentation(n_rois=40, n_frames=20000, seed=1)

    def die(_samples):
        os.kill(os.getpid(), signal.SIGKILL)

    archive.ingest(source, subject="m1", session="s1", name="crashed", progress=die)
    """
)


def test_a_killed_ingest_leaves_nothing_visible_and_gc_reports_and_clears_it(archive):
    url = archive.catalog.url
    root = "" if archive.catalog.dialect == "sqlite" else str(archive.storage_root)
    result = subprocess.run([sys.executable, "-c", _CRASHING_INGEST, url, root], capture_output=True, timeout=300)
    assert result.returncode == -9, result.stderr.decode()

    assert archive.segmentations() == []
    assert [s.status for s in archive.segmentations(include_unfinished=True)] == ["writing"]
    report = archive.gc(grace=dt.timedelta(0))
    assert len(report.stale_segmentations) == 1
    assert report.orphan_files, "the crashed write should have left a file for gc to report"
    assert all(f.startswith("m1/s1/seg-") for f in report.orphan_files)
    assert not report.applied and all((archive.storage_root / f).exists() for f in report.orphan_files)

    cleared = archive.gc(apply=True, grace=dt.timedelta(0))
    assert cleared.applied
    assert archive.segmentations(include_unfinished=True) == []
    assert archive.gc().orphan_files == ()
    # The name is free again.
    record = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s1", name="crashed")
    assert record.status == "ready"


def test_gc_leaves_referenced_files_and_reports_stray_ones(archive):
    _ingest(archive)
    stray = archive.storage_root / "m1" / "stray.h5"
    stray.write_bytes(b"not ours")
    report = archive.gc(grace=dt.timedelta(0))
    assert report.orphan_files == ("m1/stray.h5",)
    assert stray.exists()
    archive.gc(apply=True, grace=dt.timedelta(0))
    assert not stray.exists()
    assert archive.verify().ok


def test_an_ingest_in_progress_is_not_collected(archive):
    """A 'writing' segmentation whose writer is alive keeps its files through gc --apply."""
    seen = {}

    def during_write(_samples):
        if not seen:
            seen["report"] = archive.gc(apply=True, grace=dt.timedelta(0))

    archive.ingest(synthetic_segmentation(n_rois=4, n_frames=50), subject="m1", session="s1", progress=during_write)
    assert seen["report"].orphan_files == ()
    assert seen["report"].stale_segmentations == ()
    assert archive.verify().ok
    np.testing.assert_equal(len(archive.segmentations()), 1)
