"""A chunk file cannot pass for another: each file carries its own identity (path, segmentation,
plane, archive) in its root attributes, and every open checks it against the catalog."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import segdb
from segdb.arrays import close_all
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation

# The root attributes of the chunk file layout that say whose a file is (segdb.arrays.layout).
RELATIVE_PATH_ATTR, ARCHIVE_ID_ATTR = "segdb_relative_path", "segdb_archive_id"
SEGMENTATION_ID_ATTR, PLANE_ATTR = "segdb_segmentation_id", "segdb_plane"


def _ingest(archive, name: str, n_frames: int = 300, seed: int = 5):
    return archive.ingest(
        synthetic_segmentation(n_rois=6, n_frames=n_frames, seed=seed), subject="m1", session="s1", name=name,
        session_start="2026-03-01T10:00", progress=False,
    )


def _file_of(archive, record) -> Path:
    [plane] = archive.plane_handles(record)
    return archive.storage_root / plane.masks.file.relative_path


def _swap(first: Path, second: Path) -> None:
    close_all()
    spare = first.with_name("swap.tmp")
    os.rename(first, spare)
    os.rename(second, first)
    os.rename(spare, second)


def test_chunk_files_record_whose_they_are(archive):
    record = _ingest(archive, "a")
    path = _file_of(archive, record)
    with h5py.File(path, "r") as handle:
        attrs = dict(handle.attrs)
    assert attrs[RELATIVE_PATH_ATTR] == path.relative_to(archive.storage_root).as_posix()
    assert attrs[SEGMENTATION_ID_ATTR] == str(record.segmentation_id)
    assert attrs[PLANE_ATTR] == "plane0"
    assert attrs[ARCHIVE_ID_ATTR] == archive.archive_id


@pytest.mark.parametrize("same_size", [True, False], ids=["same-size", "other-size"])
def test_a_file_swapped_with_another_segmentations_is_refused_on_read(archive, same_size):
    # The same source twice makes files of the same size that only their identity tells apart.
    first = _ingest(archive, "a", seed=1)
    second = _ingest(archive, "b", seed=1 if same_size else 2, n_frames=300 if same_size else 500)
    first_path, second_path = _file_of(archive, first), _file_of(archive, second)
    assert (first_path.stat().st_size == second_path.stat().st_size) is same_size
    _swap(first_path, second_path)
    for record, path, other in ((first, first_path, second), (second, second_path, first)):
        [plane] = archive.plane_handles(record)
        with pytest.raises(segdb.IntegrityError) as caught:
            plane.traces["raw"][:5]
        message = str(caught.value)
        relative = path.relative_to(archive.storage_root).as_posix()
        assert "is another file" in message and "segdb verify" in message
        assert f"segmentation {other.segmentation_id}," in message.split("but the catalog expects")[0]
        assert f"expects {relative!r} (segmentation {record.segmentation_id}," in message
        # Masks and every other dataset of the file go through the same check.
        with pytest.raises(segdb.IntegrityError, match="is another file"):
            plane.masks.pixel_masks([0])


def test_a_derived_trace_file_swapped_in_is_refused(archive):
    first, second = _ingest(archive, "a", seed=1), _ingest(archive, "b", seed=2)
    for record in (first, second):
        archive.add_trace_series(record, "plane0", {"smoothed": np.ones((300, 6), np.float32)}, progress=False)
    [one], [two] = archive.plane_handles(first), archive.plane_handles(second)
    one_path = archive.storage_root / one.traces["smoothed"].file.relative_path
    two_path = archive.storage_root / two.traces["smoothed"].file.relative_path
    with h5py.File(one_path, "r") as handle:
        assert handle.attrs[SEGMENTATION_ID_ATTR] == str(first.segmentation_id)
        assert handle.attrs[PLANE_ATTR] == "plane0"
    _swap(one_path, two_path)
    [one] = archive.plane_handles(first)
    with pytest.raises(segdb.IntegrityError, match="is another file"):
        one.traces["smoothed"][:5]
    # The plane's own file is untouched and still reads.
    assert one.traces["raw"][:5].shape == (5, 6)


def test_the_cli_names_the_swapped_file_in_one_line(archive, tmp_path, capsys):
    first, second = _ingest(archive, "a", seed=1), _ingest(archive, "b", seed=1)
    first_path, second_path = _file_of(archive, first), _file_of(archive, second)
    _swap(first_path, second_path)
    url, root = archive.reopen_spec()
    code = main(["export", "nwb", "m1/s1/a", str(tmp_path / "out"), "--archive", url, "--storage-root", root,
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("segdb: error: ") and err.count("\n") == 1
    assert "is another file" in err and first_path.name in err and "segdb verify" in err
