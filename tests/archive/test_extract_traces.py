"""archive.extract_traces: AllenSDK-style ROI and neuropil traces from a movie, stored in the archive."""

from __future__ import annotations

import datetime as dt

import h5py
import numpy as np
import pytest

import segdb
from segdb.cli import main
from segdb.masks import calculate_roi_and_neuropil_traces, create_roi_mask
from segdb.synthetic import synthetic_segmentation

FRAME = (40, 48)
BORDER = (2.0, 3.0, 1.0, 2.0)


@pytest.fixture
def movie_and_record(archive):
    source = synthetic_segmentation(n_rois=8, n_frames=60, frame_shape=FRAME, seed=3)
    record = archive.ingest(source, subject="m1", session="s1")
    movie = np.random.default_rng(5).integers(0, 4000, (60, *FRAME)).astype(np.uint16)
    return archive, record, source, movie


def _expected(source, movie):
    height, width = FRAME
    rois = [
        create_roi_mask(width, height, list(BORDER), pix_list=[(int(c), int(r)) for r, c, _ in mask], label=key)
        for key, mask in zip(source.get_roi_ids(), source.get_roi_pixel_masks())
    ]
    roi_traces, neuropil_traces, _ = calculate_roi_and_neuropil_traces(movie, rois, list(BORDER))
    return roi_traces.T, neuropil_traces.T


def test_traces_equal_the_masks_module_and_are_stored_as_new_series(movie_and_record):
    archive, record, source, movie = movie_and_record
    report = archive.extract_traces(record, movie, motion_border=BORDER, names=("allen_raw", "allen_neuropil"))
    assert report.num_rois == 8 and report.num_samples == 60
    expected_roi, expected_neuropil = _expected(source, movie)
    extractor = archive.extractor(record)
    np.testing.assert_allclose(extractor.get_traces(name="allen_raw"), expected_roi.astype(np.float32), equal_nan=True)
    np.testing.assert_allclose(extractor.get_traces(name="allen_neuropil"), expected_neuropil.astype(np.float32),
                               equal_nan=True)
    excluded = {label for label, _ in report.excluded}
    nan_columns = {str(key) for key, column in zip(extractor.get_roi_ids(), extractor.get_traces(name="allen_raw").T)
                   if np.isnan(column).all()}
    assert nan_columns == excluded
    assert archive.verify().ok
    # The ingest's own series are untouched.
    np.testing.assert_array_equal(extractor.get_traces(name="raw"), source.get_traces(name="raw"))


def test_neuropil_masks_are_kept_as_a_mask_set(movie_and_record):
    archive, record, source, movie = movie_and_record
    archive.extract_traces(record, movie, motion_border=BORDER, names=("a", "b"))
    [plane] = archive.plane_handles(record)
    neuropil = plane.mask_sets["b"].pixel_masks(range(8))
    union = np.zeros(FRAME, bool)
    for mask in source.get_roi_pixel_masks():
        union[mask[:, 0].astype(int), mask[:, 1].astype(int)] = True
    for mask in neuropil:
        rows, cols = mask[:, 0].astype(int), mask[:, 1].astype(int)
        assert not union[rows, cols].any(), "a neuropil mask never holds ROI pixels"
        assert rows.min() >= 1 and cols.min() >= 2, "neuropil masks stay inside the motion border"


def test_existing_names_are_a_conflict_unless_replaced(movie_and_record):
    archive, record, source, movie = movie_and_record
    with pytest.raises(segdb.ConflictError, match="replace"):
        archive.extract_traces(record, movie, motion_border=BORDER)
    np.testing.assert_array_equal(archive.extractor(record).get_traces(), source.get_traces())
    archive.extract_traces(record, movie, motion_border=BORDER, replace=True)
    expected_roi, _ = _expected(source, movie)
    np.testing.assert_allclose(archive.extractor(record).get_traces(), expected_roi.astype(np.float32), equal_nan=True)
    # Replacing again leaves no file behind that nothing references.
    archive.extract_traces(record, movie, motion_border=BORDER, replace=True)
    assert archive.gc(grace=dt.timedelta(0)).orphan_files == ()
    assert archive.verify().ok


def test_a_movie_of_the_wrong_shape_is_refused_and_nothing_is_stored(movie_and_record):
    archive, record, _, movie = movie_and_record
    with pytest.raises(segdb.InvalidInputError, match="60 samples of 40 x 48"):
        archive.extract_traces(record, movie[:, :, :40], names=("a", "b"))
    with pytest.raises(segdb.InvalidInputError, match="60 samples"):
        archive.extract_traces(record, movie[:50], names=("a", "b"))
    assert "a" not in archive.plane_handles(record)[0].traces
    assert len(archive.array_files()) == 1


def test_movies_from_hdf5_and_npy_files(movie_and_record, tmp_path):
    archive, record, source, movie = movie_and_record
    with h5py.File(tmp_path / "movie.h5", "w") as handle:
        handle.create_dataset("data", data=movie, chunks=(10, *FRAME))
    np.save(tmp_path / "movie.npy", movie)
    archive.extract_traces(record, tmp_path / "movie.h5", motion_border=BORDER, names=("h5_raw", "h5_np"))
    archive.extract_traces(record, tmp_path / "movie.npy", motion_border=BORDER, names=("npy_raw", "npy_np"))
    extractor = archive.extractor(record)
    np.testing.assert_array_equal(extractor.get_traces(name="h5_raw"), extractor.get_traces(name="npy_raw"))
    with pytest.raises(segdb.InvalidInputError, match="dataset"):
        archive.extract_traces(record, tmp_path / "movie.h5", dataset="nope", names=("x", "y"))


def test_tiff_movies_when_tifffile_is_installed(movie_and_record, tmp_path):
    tifffile = pytest.importorskip("tifffile", reason="TIFF movies need tifffile (pip install tifffile)")
    archive, record, source, movie = movie_and_record
    tifffile.imwrite(tmp_path / "movie.tif", movie)
    archive.extract_traces(record, tmp_path / "movie.tif", motion_border=BORDER, names=("tif_raw", "tif_np"))
    expected_roi, _ = _expected(source, movie)
    np.testing.assert_allclose(archive.extractor(record).get_traces(name="tif_raw"), expected_roi.astype(np.float32),
                               equal_nan=True)


def test_deleting_the_segmentation_removes_the_derived_file(movie_and_record):
    archive, record, _, movie = movie_and_record
    archive.extract_traces(record, movie, names=("a", "b"))
    assert len(archive.array_files()) == 2
    archive.delete_segmentation(record)
    assert archive.array_files() == []
    assert archive.gc(grace=dt.timedelta(0)).orphan_files == ()


def test_extract_traces_from_the_command_line(tmp_path, capsys):
    archive = segdb.open(tmp_path / "lab")
    source = synthetic_segmentation(n_rois=5, n_frames=30, frame_shape=FRAME, seed=1)
    record = archive.ingest(source, subject="m1", session="s1")
    archive.close()
    movie = np.random.default_rng(1).integers(0, 100, (30, *FRAME)).astype(np.uint16)
    np.save(tmp_path / "movie.npy", movie)
    code = main(["extract-traces", str(record.segmentation_id), str(tmp_path / "movie.npy"), "-a", str(tmp_path / "lab"),
                 "--names", "cli_raw", "cli_neuropil", "--border", "1", "1", "1", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "stored 'cli_raw' and 'cli_neuropil' traces of 5 ROIs x 30 samples" in out
    reopened = segdb.open(tmp_path / "lab")
    assert reopened.extractor(record.segmentation_id).get_traces(name="cli_raw").shape == (30, 5)
    reopened.close()
