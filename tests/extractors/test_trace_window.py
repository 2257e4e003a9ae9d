"""One lazy trace window for every extractor: it indexes like the numpy array of the same traces."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from roiextractors import NumpySegmentationExtractor

from segdb.arrays import io_stats, reset_io_stats
from segdb.extractors import MultiSegmentationExtractor, TraceWindow
from segdb.synthetic import synthetic_segmentation

KEYS = [
    3,
    -1,
    slice(2, 9),
    slice(None, None, -3),
    [5, 1, 5],
    np.arange(40) % 3 == 0,
    (slice(None), 2),
    (4, [2, 0]),
    (slice(30, 5, -4), slice(1, None)),
    (Ellipsis, 1),
]


@pytest.fixture
def source() -> NumpySegmentationExtractor:
    return synthetic_segmentation(n_rois=5, n_frames=40, seed=2)


def check_indexes_like_numpy(window: TraceWindow, expected: np.ndarray) -> None:
    assert isinstance(window, TraceWindow)
    assert window.shape == expected.shape and len(window) == expected.shape[0] and window.ndim == 2
    np.testing.assert_array_equal(np.asarray(window), expected)
    for key in KEYS:
        np.testing.assert_array_equal(window[key], expected[key], err_msg=f"key {key!r}")


def test_a_window_on_any_extractor_indexes_like_its_traces(source):
    window = TraceWindow(source, "dff", source.get_roi_ids(), np.float64)
    check_indexes_like_numpy(window, source.get_traces(name="dff"))


def test_the_archive_extractors_windows_index_like_their_traces(archive, source):
    extractor = archive.extractor(archive.ingest(source, subject="m1", session="s1"))
    view = extractor.select_rois([4, 0, 2, 1, 3])
    window = view.get_traces_dict()["raw"]
    assert window.roi_ids == [4, 0, 2, 1, 3] and window.name == "raw"
    check_indexes_like_numpy(window, source.get_traces(roi_ids=[4, 0, 2, 1, 3]))
    restored = pickle.loads(pickle.dumps(window))
    np.testing.assert_array_equal(restored[5:9, [1]], window[5:9, [1]])


def test_a_window_reads_only_what_get_traces_reads(archive, source):
    extractor = archive.extractor(archive.ingest(source, subject="m1", session="s1"))
    window = extractor.get_traces_dict()["raw"]
    reset_io_stats()
    assert window[10:20, [3, 1]].shape == (10, 2)
    by_window = io_stats().bytes_read
    reset_io_stats()
    extractor.get_traces(roi_ids=[3, 1], start_frame=10, end_frame=20)
    assert by_window == io_stats().bytes_read == 10 * 2 * source.get_traces(name="raw").dtype.itemsize


def test_the_multiplane_windows_index_like_their_traces(source):
    multi = MultiSegmentationExtractor([source, synthetic_segmentation(n_rois=3, n_frames=40, seed=3)])
    check_indexes_like_numpy(multi.get_traces_dict()["raw"], multi.get_traces())


def test_a_window_refuses_indices_outside_it(source):
    window = TraceWindow(source, "raw", source.get_roi_ids(), np.float64)
    with pytest.raises(IndexError, match="sample 40 is outside 0..39"):
        window[40]
    with pytest.raises(IndexError):
        window[:, 5]
    with pytest.raises(IndexError, match="2-D"):
        window[0, 0, 0]
