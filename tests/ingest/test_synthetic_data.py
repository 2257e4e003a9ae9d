"""Synthetic writers: suite2p files typed as suite2p writes them, cells that look like cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segdb.errors import InvalidInputError
from segdb.synthetic import synthetic_segmentation, write_suite2p_folder


@pytest.fixture(scope="module")
def suite2p_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_suite2p_folder(
        tmp_path_factory.mktemp("synthetic") / "suite2p",
        n_planes=2,
        n_rois=40,
        n_frames=600,
        frame_shape=(128, 144),
        sampling_frequency=20.0,
        seed=7,
    )


def test_suite2p_files_have_suite2p_shapes_and_dtypes(suite2p_folder: Path) -> None:
    plane = suite2p_folder / "plane0"
    for name in ("F", "Fneu", "spks"):
        traces = np.load(plane / f"{name}.npy")
        assert traces.shape == (40, 600) and traces.dtype == np.float32
    iscell = np.load(plane / "iscell.npy")
    assert iscell.shape == (40, 2) and set(np.unique(iscell[:, 0])) <= {0.0, 1.0}
    assert np.all((iscell[:, 1] >= 0) & (iscell[:, 1] <= 1))
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    assert stat.dtype == object and stat.shape == (40,)
    required = {
        "ypix",
        "xpix",
        "lam",
        "med",
        "npix",
        "compact",
        "skew",
        "std",
        "radius",
        "aspect_ratio",
        "footprint",
        "overlap",
    }
    assert all(required <= set(entry) for entry in stat)
    assert stat[0]["ypix"].dtype == np.int64 and stat[0]["lam"].dtype == np.float32
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    assert (ops["Ly"], ops["Lx"], ops["fs"], ops["nframes"], ops["nplanes"], ops["nchannels"]) == (
        128,
        144,
        20.0,
        600,
        2,
        1,
    )
    assert ops["meanImg"].shape == (128, 144)
    (y0, y1), (x0, x1) = ops["yrange"], ops["xrange"]
    assert ops["Vcorr"].shape == ops["max_proj"].shape == (y1 - y0, x1 - x0)


def test_cells_are_compact_blobs_inside_the_crop_that_mostly_do_not_overlap(suite2p_folder: Path) -> None:
    plane = suite2p_folder / "plane0"
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    npix = np.array([entry["npix"] for entry in stat])
    assert npix.min() >= 30 and npix.max() <= 160
    for entry in stat:
        assert entry["npix"] == entry["ypix"].size == entry["xpix"].size == entry["lam"].size
        assert ops["yrange"][0] <= entry["ypix"].min() and entry["ypix"].max() < ops["yrange"][1]
        assert ops["xrange"][0] <= entry["xpix"].min() and entry["xpix"].max() < ops["xrange"][1]
        # Gaussian-ish weights: the brightest pixel is near the median position.
        brightest = np.argmax(entry["lam"])
        assert abs(entry["ypix"][brightest] - entry["med"][0]) <= 3
        assert abs(entry["xpix"][brightest] - entry["med"][1]) <= 3
    overlapping = np.mean([entry["overlap"].mean() for entry in stat])
    assert overlapping < 0.1


def test_traces_have_transients_above_a_baseline_and_slower_neuropil(suite2p_folder: Path) -> None:
    plane = suite2p_folder / "plane0"
    raw, neuropil = np.load(plane / "F.npy"), np.load(plane / "Fneu.npy")
    corrected = raw - 0.7 * neuropil
    assert np.all(raw > 0)
    # Calcium transients make the corrected trace right-skewed.
    assert np.median([entry["skew"] for entry in np.load(plane / "stat.npy", allow_pickle=True)]) > 0
    assert np.mean([np.mean(row > np.median(row) + 3 * np.std(np.diff(row))) for row in corrected]) > 0.001

    # Neuropil changes slowly: consecutive frames are strongly correlated.
    def lag1(traces: np.ndarray) -> float:
        centred = traces - traces.mean(axis=1, keepdims=True)
        return float(np.mean(np.sum(centred[:, 1:] * centred[:, :-1], axis=1) / np.sum(centred**2, axis=1)))

    assert lag1(neuropil) > 0.8
    assert np.count_nonzero(np.load(plane / "spks.npy")) > 0


def test_same_seed_writes_the_same_files_and_planes_differ(tmp_path: Path, suite2p_folder: Path) -> None:
    again = write_suite2p_folder(
        tmp_path / "suite2p",
        n_planes=1,
        n_rois=40,
        n_frames=600,
        frame_shape=(128, 144),
        sampling_frequency=20.0,
        seed=7,
    )
    np.testing.assert_array_equal(np.load(again / "plane0" / "F.npy"), np.load(suite2p_folder / "plane0" / "F.npy"))
    assert not np.array_equal(
        np.load(suite2p_folder / "plane0" / "F.npy"), np.load(suite2p_folder / "plane1" / "F.npy")
    )


def test_without_ops_no_ops_file_is_left_behind(tmp_path: Path) -> None:
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=3, n_frames=10, frame_shape=(40, 40))
    write_suite2p_folder(folder, n_rois=3, n_frames=10, frame_shape=(40, 40), with_ops=False)
    assert not (folder / "plane0" / "ops.npy").exists()
    assert (folder / "plane0" / "stat.npy").exists()


def test_writer_refuses_a_frame_too_small_for_cells(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="frame_shape"):
        write_suite2p_folder(tmp_path / "suite2p", frame_shape=(8, 8))


@pytest.mark.parametrize(
    ("roi_ids", "expected"),
    [("int", [0, 1, 2, 3, 4]), ("str", ["roi_000", "roi_001", "roi_002", "roi_003", "roi_004"])],
)
def test_synthetic_segmentation_keys_shapes_and_acceptance(roi_ids: str, expected: list) -> None:
    extractor = synthetic_segmentation(n_rois=5, n_frames=50, frame_shape=(40, 48), roi_ids=roi_ids)

    assert extractor.get_roi_ids() == expected
    assert all(type(key) is type(expected[0]) for key in extractor.get_roi_ids())
    assert tuple(extractor.get_frame_shape()) == (40, 48)
    assert extractor.get_roi_image_masks().shape == (40, 48, 5)
    for name in ("raw", "dff", "neuropil", "deconvolved"):
        assert extractor.get_traces(name=name).shape == (50, 5)
    assert extractor.get_image("mean").shape == extractor.get_image("correlation").shape == (40, 48)
    assert extractor.get_property("accepted", expected).dtype == bool
    assert extractor.get_sampling_frequency() == 30.0


def test_synthetic_segmentation_refuses_keys_roiextractors_reads_as_background() -> None:
    with pytest.raises(InvalidInputError, match="background"):
        synthetic_segmentation(n_rois=2, roi_ids=["background_a", "cell_b"])
