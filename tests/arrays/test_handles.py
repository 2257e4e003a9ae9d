"""The per-process handle cache: bounded, never shared across fork, tolerant of other openers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import h5py
import numpy as np
import pytest

import segdb.arrays.handles as handles
from segdb.arrays import (
    ArrayRef,
    PlaneArrays,
    WrittenFile,
    io_stats,
    open_file_count,
    read_trace_block,
    reset_io_stats,
    write_trace_file,
)

from .conftest import trace_ref


def _read_in_child(ref: ArrayRef) -> tuple[np.ndarray, int]:
    reset_io_stats()
    values = read_trace_block(ref, 100, 200, [3, 1])
    return values, io_stats().files_opened


def test_references_reopen_in_a_forked_child(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    ref = trace_ref(root, written)
    ref[0]  # the parent holds an open handle when it forks
    assert open_file_count() == 1
    with multiprocessing.get_context("fork").Pool(1) as pool:
        values, files_opened = pool.apply(_read_in_child, (ref,))
    np.testing.assert_array_equal(values, arrays.traces["raw"][100:200][:, [3, 1]])
    assert files_opened == 1  # the child opened its own handle instead of reusing the parent's
    np.testing.assert_array_equal(ref[1], arrays.traces["raw"][1])  # the parent's still works


def test_handle_cache_closes_least_recently_used_files(
    root: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handles, "MAX_OPEN_FILES", 2)
    values = rng.standard_normal((20, 3)).astype(np.float32)
    written = [write_trace_file(root, f"t{index}.h5", {"raw": values * index}) for index in range(3)]
    trace_refs = [trace_ref(root, item) for item in written]
    for index, ref in enumerate(trace_refs):
        np.testing.assert_array_equal(ref[...], values * index)
    assert open_file_count() == 2
    np.testing.assert_array_equal(trace_refs[0][...], values * 0)
    assert io_stats().files_opened == 4


def test_reads_work_while_other_code_holds_the_file_open_without_locking(
    root: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    # HDF5 refuses a second open of one file with other locking flags; segdb must adapt.
    arrays, written = plane
    with h5py.File(root / "seg" / "plane.h5", "r", locking=False):
        np.testing.assert_array_equal(trace_ref(root, written)[3], arrays.traces["raw"][3])
