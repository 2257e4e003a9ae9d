"""Lazy references: nothing read until sliced, only the selection read, refused index forms named."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segdb.arrays import (
    ArrayRef,
    CsrMaskRef,
    IOStats,
    PlaneArrays,
    WrittenFile,
    close_all,
    io_stats,
    open_file_count,
    read_trace_block,
    reset_io_stats,
    write_trace_file,
)
from segdb.errors import IntegrityError, InvalidInputError

from .conftest import array_file, trace_ref

# --------------------------------------------------------------------------- laziness


def test_making_references_reads_and_opens_nothing(
    root: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    _, written = plane
    file = array_file(root, written)
    ref = ArrayRef.from_info(file, written.datasets["traces/raw"])
    masks = CsrMaskRef(file, "masks", num_masks=30)
    assert (ref.shape, ref.dtype, ref.ndim, len(ref), len(masks)) == ((1000, 30), np.float32, 2, 1000, 30)
    assert io_stats() == IOStats()
    assert open_file_count() == 0


def test_slicing_reads_only_the_selection(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    ref = trace_ref(root, written)
    np.testing.assert_array_equal(ref[10:20, 3], arrays.traces["raw"][10:20, 3])
    stats = io_stats()
    assert stats.files_opened == 1
    assert stats.dataset_reads == 1
    assert stats.bytes_read == 10 * 4
    assert stats.chunks_touched == 1


def test_whole_array_conversion_reads_everything(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    ref = trace_ref(root, written, "traces/deconvolved")
    np.testing.assert_array_equal(np.asarray(ref), arrays.traces["deconvolved"])
    assert io_stats().bytes_read == arrays.traces["deconvolved"].nbytes


@pytest.mark.parametrize(
    "key",
    [
        (slice(None), 4),
        5,
        -1,
        (slice(5, 5), slice(None)),
        (slice(-50, None), slice(28, 99)),
        Ellipsis,
        (Ellipsis, 2),
        (np.int64(3), slice(1, 3)),
        (7, 3),
    ],
    ids=repr,
)
def test_getitem_matches_numpy(root: Path, plane: tuple[PlaneArrays, WrittenFile], key: Any) -> None:
    arrays, written = plane
    expected = arrays.traces["raw"][key]
    got = trace_ref(root, written)[key]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ((0, 0, 0), IndexError),
        (1000, IndexError),
        ((Ellipsis, 0, Ellipsis), IndexError),
    ],
    ids=repr,
)
def test_getitem_refuses_bad_keys(
    root: Path, plane: tuple[PlaneArrays, WrittenFile], key: Any, error: type
) -> None:
    with pytest.raises(error):
        trace_ref(root, plane[1])[key]


@pytest.mark.parametrize(
    "key",
    [
        (slice(900, 100, -7), slice(None, None, 3)),
        (slice(100, 300, 50), slice(None)),
        (slice(0, 50), [29, 0, 7, 7, 3]),
        ([999, 0, 500, 0], slice(2, 9)),
        (slice(100, 200), np.arange(30) % 3 == 0),
        (slice(100, 300, 50), []),
        (np.int64(3), np.array([2, 1])),
        (slice(None), [30]),
        ([1, 2], [1, 2]),
        (None, 1),
        True,
        1.0,
    ],
    ids=repr,
)
def test_getitem_refuses_other_index_forms_and_says_which_are_taken(
    root: Path, plane: tuple[PlaneArrays, WrittenFile], key: Any
) -> None:
    ref = trace_ref(root, plane[1])
    with pytest.raises(InvalidInputError) as caught:
        ref[key]
    message = str(caught.value)
    assert "'traces/raw'" in message
    assert "an integer or a slice with step 1 on each axis, and '...'" in message
    assert "read_trace_block(ref, start, stop, columns)" in message
    assert io_stats() == IOStats()  # refused before the file is opened


# --------------------------------------------------------------------------- trace blocks


@pytest.mark.parametrize(
    "columns",
    [[17, 2, 2, 29, 0, 17, 5], [3], list(range(30))[::-1], [], [8, 9, 10, 11, 12]],
    ids=repr,
)
@pytest.mark.parametrize(("start", "stop"), [(0, 1000), (130, 390), (999, 1000), (400, 400)])
def test_read_trace_block_equals_numpy_fancy_indexing(
    root: Path, plane: tuple[PlaneArrays, WrittenFile], columns: list[int], start: int, stop: int
) -> None:
    arrays, written = plane
    block = read_trace_block(trace_ref(root, written), start, stop, columns)
    expected = arrays.traces["raw"][start:stop][:, columns]
    assert block.shape == (stop - start, len(columns))
    assert block.dtype == np.float32
    np.testing.assert_array_equal(block, expected)


@pytest.mark.parametrize(
    ("start", "stop", "columns", "message"),
    [
        (0, 1001, [0], r"outside 'traces/raw' \(it has 1000 samples"),
        (10, 5, [0], "sample window 10:5"),
        (0, 10, [30], r"columns \[30\] are outside 'traces/raw' \(it has 30 columns: 0..29\)"),
        (0, 10, [-1], r"columns \[-1\]"),
    ],
)
def test_read_trace_block_refuses_out_of_range(
    root: Path,
    plane: tuple[PlaneArrays, WrittenFile],
    start: int,
    stop: int,
    columns: list[int],
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_trace_block(trace_ref(root, plane[1]), start, stop, columns)


def test_chunks_touched_by_a_window_are_bounded_and_independent_of_length(
    root: Path, rng: np.random.Generator, small_trace_chunks: tuple[int, int]
) -> None:
    chunk_samples, chunk_rois = small_trace_chunks
    columns = [33, 2, 17, 38, 5]
    touched = []
    for num_samples in (1_000, 20_000):
        values = rng.standard_normal((num_samples, 40)).astype(np.float32)
        written = write_trace_file(root, f"t_{num_samples}.h5", {"raw": values})
        ref = trace_ref(root, written)
        close_all()
        reset_io_stats()
        block = read_trace_block(ref, 300, 500, columns)
        np.testing.assert_array_equal(block, values[300:500][:, columns])
        touched.append(io_stats().chunks_touched)
    # 200 samples span at most ceil(200 / 64) + 1 chunk rows; 5 columns fall in 5 column-blocks.
    column_blocks = len({column // chunk_rois for column in columns})
    assert touched[0] == touched[1]
    assert touched[0] <= (math.ceil(200 / chunk_samples) + 1) * column_blocks


def test_one_roi_over_all_time_reads_one_chunk_column(
    root: Path, plane: tuple[PlaneArrays, WrittenFile], small_trace_chunks: tuple[int, int]
) -> None:
    arrays, written = plane
    np.testing.assert_array_equal(
        read_trace_block(trace_ref(root, written), 0, 1000, [13]), arrays.traces["raw"][:, [13]]
    )
    assert io_stats().chunks_touched == math.ceil(1000 / small_trace_chunks[0])


# --------------------------------------------------------------------------- masks


def test_pixel_masks_come_back_in_requested_order(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    masks = CsrMaskRef(array_file(root, written), "masks", 30)
    wanted = [29, 3, 3, 0, 17]
    got = masks.pixel_masks(wanted)
    assert len(got) == len(wanted)
    for index, mask in zip(wanted, got, strict=True):
        assert mask.dtype == np.float64
        np.testing.assert_array_equal(mask, arrays.masks.pixel_mask(index))
    assert got[1] is not got[2]  # a duplicate is a copy the caller may modify


def test_all_pixel_masks_are_read_in_one_slice_per_component(
    root: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    arrays, written = plane
    masks = CsrMaskRef(array_file(root, written), "background", 2)
    got = masks.pixel_masks(range(2))
    for index, mask in enumerate(got):
        np.testing.assert_array_equal(mask, arrays.background_masks.pixel_mask(index))
    assert io_stats().dataset_reads == 4  # indptr once, then row, col and weight once each
    masks.pixel_masks([1])
    assert io_stats().dataset_reads == 7  # indptr is kept on the reference


def test_image_masks_are_dense_height_width_n(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    frame = arrays.images["mean"].shape
    dense = CsrMaskRef(array_file(root, written), "masks", 30).image_masks([4, 1], frame)
    assert dense.shape == (*frame, 2)
    for position, index in enumerate([4, 1]):
        expected = np.zeros(frame)
        mask = arrays.masks.pixel_mask(index)
        expected[mask[:, 0].astype(int), mask[:, 1].astype(int)] = mask[:, 2]
        np.testing.assert_array_equal(dense[:, :, position], expected)
    with pytest.raises(InvalidInputError, match="outside the frame"):
        CsrMaskRef(array_file(root, written), "masks", 30).image_masks([4], (1, 1))


def test_mask_reference_refuses_bad_indices_and_count_mismatch(
    root: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    _, written = plane
    with pytest.raises(InvalidInputError, match=r"mask indices \[30\] are out of range .* 0..29"):
        CsrMaskRef(array_file(root, written), "masks", 30).pixel_masks([30])
    with pytest.raises(IntegrityError, match="holds 30 masks but the catalog records 31"):
        CsrMaskRef(array_file(root, written), "masks", 31).pixel_masks([0])


# --------------------------------------------------------------------------- pickling


def test_references_work_after_pickle(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    ref = trace_ref(root, written)
    masks = CsrMaskRef(ref.file, "masks", 30)
    ref[0]
    masks.pixel_masks([0])  # caches indptr and opens the file before pickling
    ref_copy, masks_copy = pickle.loads(pickle.dumps((ref, masks)))
    assert ref_copy.file == ref.file
    assert masks_copy._indptr is None and ref_copy.file._path is None
    close_all()
    np.testing.assert_array_equal(ref_copy[5:9, 2], arrays.traces["raw"][5:9, 2])
    np.testing.assert_array_equal(masks_copy.pixel_masks([7])[0], arrays.masks.pixel_mask(7))
