"""segdb.masks trace extraction: AllenSDK's values from any kind of movie, NaN where due."""

from __future__ import annotations

import allensdk_reference as ref
import h5py
import numpy as np
import pytest
from roi_cases import random_border, random_roi_arrays, segdb_and_reference_rois

from segdb.errors import InvalidInputError
from segdb.masks import (
    NeuropilMask,
    RoiMask,
    calculate_roi_and_neuropil_traces,
    calculate_traces,
    create_neuropil_mask,
    create_roi_mask,
    create_roi_mask_array,
)
from segdb.masks.traces import DEFAULT_BLOCK_BYTES, _default_block_size

W, H = 48, 40
BORDER = [2.4, 3.6, 1.2, 5.0]


def random_movie(
    rng: np.random.Generator, dtype, frames: int = 23, height: int = H, width: int = W
):
    if np.dtype(dtype).kind == "f":
        return (rng.random((frames, height, width)) * 4000).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, (frames, height, width), endpoint=True).astype(dtype)


def assert_traces_equal(ours, expected, dtype):
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(ours, expected, rtol=1e-5)
        assert np.array_equal(np.isnan(ours), np.isnan(expected))
    else:
        assert np.array_equal(ours, expected, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.uint8, np.int16, np.int32])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("block_size", [None, 4])
def test_roi_and_neuropil_traces_match_allensdk_reference(dtype, seed, block_size):
    rng = np.random.default_rng(seed)
    border = random_border(rng)
    arrays = random_roi_arrays(rng, H, W, 9)
    ours, theirs = segdb_and_reference_rois(arrays, W, H, border)
    movie = random_movie(rng, dtype)

    roi_traces, neuropil_traces, exclusions = calculate_roi_and_neuropil_traces(
        movie, ours, border, block_size=block_size
    )
    ref_roi, ref_neuropil, ref_exclusions, _ = ref.roi_and_neuropil_traces(movie, theirs, border)
    assert roi_traces.shape == neuropil_traces.shape == (9, 23)
    assert roi_traces.dtype == np.float64
    assert_traces_equal(roi_traces, ref_roi, dtype)
    assert_traces_equal(neuropil_traces, ref_neuropil, dtype)
    assert exclusions == ref_exclusions
    # The layouts include an empty ROI, so some rows must be NaN and some must not.
    assert np.isnan(roi_traces).any() and np.isfinite(roi_traces).any()


def test_masks_too_large_for_int32_sums_are_still_exact():
    # 190 x 190 pixels of up to 65535 overflow int32, so float64 sums are used.
    rng = np.random.default_rng(3)
    plane = np.zeros((200, 200), dtype=bool)
    plane[5:195, 5:195] = True
    roi = create_roi_mask(200, 200, [0, 0, 0, 0], roi_mask=plane, label="big")
    movie = np.full((3, 200, 200), 65535, dtype=np.uint16)
    movie[:, rng.integers(0, 200, 50), rng.integers(0, 200, 50)] = 1
    traces, _ = calculate_traces(movie, [roi])
    expected, _ = ref.traces_of(movie, [ref.roi_from_array(200, 200, [0, 0, 0, 0], plane, "big")])
    assert np.array_equal(traces, expected)


def test_unweighted_mean_of_a_float_weighted_mask():
    plane = np.zeros((H, W))
    plane[10, 10], plane[10, 11] = 0.1, 0.9
    roi = create_roi_mask(W, H, BORDER, roi_mask=plane, label="w")
    movie = np.zeros((1, H, W), dtype=np.uint16)
    movie[0, 10, 10], movie[0, 10, 11] = 10, 20
    traces, _ = calculate_traces(movie, [roi])
    assert traces[0, 0] == 15.0


@pytest.fixture
def masks_and_movie():
    rng = np.random.default_rng(7)
    border = random_border(rng)
    arrays = random_roi_arrays(rng, H, W, 6)
    ours, _ = segdb_and_reference_rois(arrays, W, H, border)
    union = create_roi_mask_array(ours).any(axis=0)
    masks = ours + [create_neuropil_mask(m, border, union, f"np {m.label}") for m in ours]
    return masks, random_movie(rng, np.uint16, frames=37)


@pytest.mark.parametrize("block_size", [None, 1, 5, 37, 1000])
@pytest.mark.parametrize("chunks", [None, (4, H, W), (3, 8, 8)])
def test_h5py_dataset_gives_the_same_traces_as_an_array(
    tmp_path, masks_and_movie, block_size, chunks
):
    masks, movie = masks_and_movie
    expected, expected_exclusions = calculate_traces(movie, masks)
    with h5py.File(tmp_path / "movie.h5", "w") as f:
        f.create_dataset("data", data=movie, chunks=chunks)
    with h5py.File(tmp_path / "movie.h5", "r") as f:
        traces, exclusions = calculate_traces(f["data"], masks, block_size)
    assert np.array_equal(traces, expected, equal_nan=True)
    assert exclusions == expected_exclusions


def test_memmap_gives_the_same_traces_as_an_array(tmp_path, masks_and_movie):
    masks, movie = masks_and_movie
    path = tmp_path / "movie.dat"
    stored = np.memmap(path, dtype=movie.dtype, mode="w+", shape=movie.shape)
    stored[:] = movie
    stored.flush()
    reopened = np.memmap(path, dtype=movie.dtype, mode="r", shape=movie.shape)
    expected, _ = calculate_traces(movie, masks)
    traces, _ = calculate_traces(reopened, masks, block_size=6)
    assert np.array_equal(traces, expected, equal_nan=True)


def test_movie_file_path_reads_dataset_data(tmp_path):
    rng = np.random.default_rng(11)
    arrays = random_roi_arrays(rng, H, W, 5)
    ours, theirs = segdb_and_reference_rois(arrays, W, H, BORDER)
    movie = random_movie(rng, np.uint16)
    with h5py.File(tmp_path / "movie.h5", "w") as f:
        f["data"] = movie
        f["other"] = movie[:2]
    from_path = calculate_roi_and_neuropil_traces(tmp_path / "movie.h5", ours, BORDER)
    from_other = calculate_roi_and_neuropil_traces(
        str(tmp_path / "movie.h5"), ours, BORDER, dataset="other"
    )
    expected = ref.roi_and_neuropil_traces(movie, theirs, BORDER)
    assert np.array_equal(from_path[0], expected[0], equal_nan=True)
    assert np.array_equal(from_path[1], expected[1], equal_nan=True)
    assert from_path[2] == expected[2]
    assert from_other[0].shape == (5, 2)


def test_empty_and_border_overlapping_masks_give_nan_rows():
    inside = np.zeros((H, W), bool)
    inside[10:14, 10:14] = True
    edge = np.zeros((H, W), bool)
    edge[10:14, 0:4] = True
    masks = [
        create_roi_mask(W, H, BORDER, roi_mask=inside, label="inside"),
        create_roi_mask(W, H, BORDER, roi_mask=np.zeros((H, W)), label="empty"),
        create_roi_mask(W, H, BORDER, roi_mask=edge, label="edge"),
    ]
    movie = np.arange(5 * H * W, dtype=np.float32).reshape(5, H, W)
    traces, exclusions = calculate_traces(movie, masks)
    assert np.isfinite(traces[0]).all()
    assert np.isnan(traces[1]).all() and np.isnan(traces[2]).all()
    assert exclusions == [
        {"roi_id": "empty", "exclusion_label_name": "empty_roi_mask"},
        {"roi_id": "edge", "exclusion_label_name": "motion_border"},
    ]


def test_no_usable_mask_and_no_frames_give_nan_and_empty_traces():
    empty = create_roi_mask(W, H, BORDER, roi_mask=np.zeros((H, W)), label="e")
    traces, _ = calculate_traces(np.ones((4, H, W)), [empty])
    assert traces.shape == (1, 4) and np.isnan(traces).all()
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    traces, exclusions = calculate_traces(np.ones((0, H, W), dtype=np.uint16), [roi])
    assert traces.shape == (1, 0) and exclusions == []
    roi_traces, neuropil_traces, exclusions = calculate_roi_and_neuropil_traces(
        np.ones((4, H, W)), [], BORDER
    )
    assert roi_traces.shape == neuropil_traces.shape == (0, 4) and exclusions == []


def test_traces_keep_mask_list_order_whatever_the_positions():
    # Rows are reduced in image order internally; the result must follow the list.
    masks = [
        create_roi_mask(W, H, [0, 0, 0, 0], pix_list=[(x, y)], label=label)
        for x, y, label in [(40, 30, 10), (1, 1, 2), (20, 5, 1)]
    ]
    movie = np.zeros((2, H, W), dtype=np.uint16)
    movie[:, 30, 40], movie[:, 1, 1], movie[:, 5, 20] = 300, 100, 200
    traces, _ = calculate_traces(movie, masks)
    assert traces[:, 0].tolist() == [300.0, 100.0, 200.0]


def test_progress_bar_is_off_when_not_a_terminal(capsys, masks_and_movie):
    masks, movie = masks_and_movie
    with_bar, _ = calculate_traces(movie, masks, 8, progress=True)
    without, _ = calculate_traces(movie, masks, 8)
    assert np.array_equal(with_bar, without, equal_nan=True)
    assert "frame" not in capsys.readouterr().err


def test_default_block_is_about_128_mb_in_whole_chunks():
    class Dataset:
        shape = (10_000, 512, 512)
        dtype = np.dtype(np.uint16)
        chunks = (100, 512, 512)

    frame_bytes = 512 * 512 * 2
    assert (
        _default_block_size(np.empty((0, 512, 512), np.uint16), frame_bytes)
        == DEFAULT_BLOCK_BYTES // frame_bytes
    )
    assert _default_block_size(Dataset(), frame_bytes) == 200
    Dataset.chunks = (1000, 512, 512)
    assert _default_block_size(Dataset(), frame_bytes) == 1000


def invalid(call, *fragments):
    with pytest.raises(InvalidInputError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_mask_for_another_image_size_is_refused():
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="cell_9")
    invalid(
        lambda: calculate_traces(np.zeros((2, H, W + 1)), [roi]),
        "mask_list[0]",
        "'cell_9'",
        f"{H} x {W} image",
        f"{H} x {W + 1}",
    )


def test_hand_edited_mask_of_the_wrong_size_is_refused():
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10), (11, 11)], label="r")
    roi.mask = np.ones((3, 3), dtype=bool)
    invalid(
        lambda: calculate_traces(np.zeros((2, H, W)), [roi]),
        "shape (3, 3)",
        "box of 2 x 2",
        "re-create",
    )


@pytest.mark.parametrize(
    ("movie", "fragments"),
    [
        (np.zeros((H, W)), ["shape (40, 48)", "(frames, height, width)"]),
        (np.zeros((2, 1, H, W)), ["shape (2, 1, 40, 48)"]),
        (np.zeros((2, H, W), dtype=complex), ["dtype complex128"]),
    ],
)
def test_malformed_movies_are_refused(movie, fragments):
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    invalid(lambda: calculate_traces(movie, [roi]), *fragments)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True, "10"])
def test_bad_block_sizes_are_refused(block_size):
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    invalid(
        lambda: calculate_traces(np.zeros((2, H, W)), [roi], block_size),
        "block_size",
        repr(block_size),
    )


def test_mask_lists_with_non_masks_or_uninitialised_masks_are_refused():
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    movie = np.zeros((2, H, W))
    invalid(lambda: calculate_traces(movie, [roi, np.ones((H, W))]), "mask_list[1]", "ndarray")
    invalid(lambda: calculate_traces(movie, [RoiMask(W, H, "new", -1)]), "never initialised")


def test_roi_list_must_hold_rois_of_one_image_size():
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    neuropil = create_neuropil_mask(roi, BORDER, roi.get_mask_plane(), "np")
    assert isinstance(neuropil, NeuropilMask)
    movie = np.zeros((2, H, W))
    invalid(
        lambda: calculate_roi_and_neuropil_traces(movie, [roi, neuropil], BORDER),
        "NeuropilMask",
        "RoiMask",
    )
    other = create_roi_mask(W + 2, H, [0, 0, 0, 0], pix_list=[(10, 10)], label="o")
    invalid(
        lambda: calculate_roi_and_neuropil_traces(movie, [roi, other], BORDER),
        "roi_mask_list[1]",
        "'o'",
        f"{H} x {W + 2}",
    )


def test_missing_movie_file_or_dataset_is_refused(tmp_path):
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    invalid(
        lambda: calculate_roi_and_neuropil_traces(tmp_path / "absent.h5", [roi], BORDER),
        "absent.h5",
        "does not exist",
    )
    with h5py.File(tmp_path / "movie.h5", "w") as f:
        f["frames"] = np.zeros((2, H, W))
    invalid(
        lambda: calculate_roi_and_neuropil_traces(tmp_path / "movie.h5", [roi], BORDER),
        "no dataset 'data'",
        "['frames']",
        "dataset=",
    )


def test_pixel_groups_that_collide_fall_back_to_exact_sums(monkeypatch, masks_and_movie):
    # Shared pixels are summed once per group of identical masks, found by hashing; if
    # two different groups ever shared a key, the exact check must refuse the shortcut.
    import segdb.masks.traces as traces_module

    masks, movie = masks_and_movie
    expected, _ = calculate_traces(movie, masks)
    factor = traces_module._factor_shared_pixels
    outcomes = []

    def recording_factor(membership):
        outcomes.append(factor(membership))
        return outcomes[-1]

    monkeypatch.setattr(traces_module, "_factor_shared_pixels", recording_factor)
    calculate_traces(movie, masks)
    assert outcomes[-1] is not None  # these overlapping neuropil masks do share pixels
    monkeypatch.setattr(traces_module, "_mask_keys", lambda n: np.ones(n, dtype=np.uint64))
    colliding, _ = calculate_traces(movie, masks)
    assert outcomes[-1] is None
    assert np.array_equal(colliding, expected, equal_nan=True)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_worker_threads_give_identical_traces(tmp_path, masks_and_movie, workers):
    masks, movie = masks_and_movie
    expected, _ = calculate_traces(movie, masks, workers=1)
    with h5py.File(tmp_path / "movie.h5", "w") as f:
        f["data"] = movie
    with h5py.File(tmp_path / "movie.h5", "r") as f:
        traces, _ = calculate_traces(f["data"], masks, block_size=16, workers=workers)
    assert np.array_equal(traces, expected, equal_nan=True)


@pytest.mark.parametrize("workers", [0, -1, 1.5, False])
def test_bad_worker_counts_are_refused(workers):
    roi = create_roi_mask(W, H, BORDER, pix_list=[(10, 10)], label="r")
    invalid(
        lambda: calculate_traces(np.zeros((2, H, W)), [roi], workers=workers),
        "workers",
        repr(workers),
    )


class SliceableMovie:
    """A movie that only offers shape, dtype and slicing (like zarr or a lazy reader)."""

    def __init__(self, frames: np.ndarray) -> None:
        self._frames = frames
        self.shape = frames.shape
        self.dtype = frames.dtype
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, index: slice) -> np.ndarray:
        self.reads.append((index.start, index.stop))
        return self._frames[index].copy()


def test_any_sliceable_movie_is_read_in_blocks(masks_and_movie):
    masks, movie = masks_and_movie
    lazy = SliceableMovie(movie)
    traces, _ = calculate_traces(lazy, masks, block_size=10)
    expected, _ = calculate_traces(movie, masks)
    assert np.array_equal(traces, expected, equal_nan=True)
    assert lazy.reads == [(0, 10), (10, 20), (20, 30), (30, 37)]
