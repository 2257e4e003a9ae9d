"""Writing chunk files: layout round trip, refusal of inconsistent arrays, blockwise copying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import segdb.arrays.writer as writer
from segdb.arrays import (
    LAYOUT_VERSION,
    TRACE_CODEC,
    ArrayFileExistsError,
    PlaneArrays,
    trace_chunk_shape,
    write_chunk_file,
    write_trace_file,
)
from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks

from .conftest import RecordingArray, all_files, make_plane_arrays


def test_trace_chunk_shape_is_clamped_to_small_arrays() -> None:
    full = trace_chunk_shape(10**6, 10**5)
    assert trace_chunk_shape(3, 2) == (3, 2)
    assert trace_chunk_shape(full[0] + 1, 1) == (full[0], 1)
    with pytest.raises(InvalidInputError, match="empty"):
        trace_chunk_shape(0, 5)


def test_every_dataset_kind_round_trips(root: Path, rng: np.random.Generator) -> None:
    arrays = make_plane_arrays(rng)
    written = write_chunk_file(root, "seg_1/plane_0.h5", arrays)
    with h5py.File(root / "seg_1" / "plane_0.h5", "r") as handle:
        for group, masks in (("masks", arrays.masks), ("background", arrays.background_masks)):
            for name in ("indptr", "row", "col", "weight"):
                np.testing.assert_array_equal(handle[f"{group}/{name}"][...], getattr(masks, name))
        for name, values in arrays.traces.items():
            np.testing.assert_array_equal(handle[f"traces/{name}"][...], values)
            assert handle[f"traces/{name}"].dtype == values.dtype
        np.testing.assert_array_equal(
            handle["background_traces/background"][...], arrays.background_traces["background"]
        )
        for name, image in arrays.images.items():
            np.testing.assert_array_equal(handle[f"images/{name}"][...], image)
        np.testing.assert_array_equal(handle["timestamps"][...], arrays.timestamps)
        assert handle.attrs["segdb_layout_version"] == LAYOUT_VERSION
        assert handle.attrs["source"] == "suite2p"
        assert handle.attrs["segdb_version"] == "0.1.0"
        # The catalog records shapes from WrittenFile.datasets: they must match the file.
        assert set(written.datasets) == {
            name for name, item in _walk(handle) if isinstance(item, h5py.Dataset)
        }
        for name, info in written.datasets.items():
            assert info.name == name
            assert info.shape == handle[name].shape
            assert info.dtype == handle[name].dtype.name
            assert info.chunks == handle[name].chunks


def _walk(handle: h5py.File) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    handle.visititems(lambda name, item: items.append((name, item)))
    return items


def test_every_chunked_dataset_is_checksummed_and_traces_record_layout(
    root: Path, rng: np.random.Generator
) -> None:
    write_chunk_file(root, "plane.h5", make_plane_arrays(rng))
    with h5py.File(root / "plane.h5", "r") as handle:
        chunked = [item for _, item in _walk(handle) if isinstance(item, h5py.Dataset) and item.chunks]
        assert len(chunked) == 14  # 8 mask arrays, 3 trace series, 2 images, timestamps
        assert all(item.fletcher32 for item in chunked)
        for name in ("traces/raw", "traces/deconvolved", "background_traces/background"):
            dataset = handle[name]
            assert tuple(dataset.attrs["chunk_shape"]) == dataset.chunks
            assert dataset.chunks == trace_chunk_shape(*dataset.shape)
            assert dataset.attrs["codec"] == TRACE_CODEC.name


def test_plane_without_rois_round_trips(root: Path) -> None:
    arrays = PlaneArrays(
        masks=CsrMasks.from_pixel_masks([]),
        traces={"raw": np.zeros((50, 0), dtype=np.float32)},
        timestamps=np.arange(50, dtype=np.float64),
    )
    written = write_chunk_file(root, "empty.h5", arrays)
    assert written.datasets["traces/raw"].shape == (50, 0)
    assert written.datasets["traces/raw"].chunks is None
    with h5py.File(root / "empty.h5", "r") as handle:
        assert handle["masks/indptr"][...].tolist() == [0]
        assert handle["traces/raw"].shape == (50, 0)


def test_relative_path_is_normalised_in_written_file(root: Path, rng: np.random.Generator) -> None:
    written = write_chunk_file(root, "./seg//plane.h5", make_plane_arrays(rng))
    assert written.relative_path == "seg/plane.h5"


# --------------------------------------------------------------------------- validation


def test_wrong_roi_count_is_refused_and_leaves_nothing(root: Path, rng: np.random.Generator) -> None:
    arrays = make_plane_arrays(rng, num_rois=12)
    arrays.traces["dff"] = np.zeros((700, 11), dtype=np.float32)
    with pytest.raises(InvalidInputError, match="traces/dff has 11 columns but there are 12 ROI masks"):
        write_chunk_file(root, "seg/deeper/plane.h5", arrays)
    assert all_files(root) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.traces.update(dff=np.zeros((699, 12), np.float32)), "same number of samples"),
        (lambda a: setattr(a, "timestamps", np.arange(5.0)), "one entry per sample"),
        (lambda a: a.traces.update(dff=np.zeros(12, np.float32)), "must be 2-D"),
        (lambda a: a.traces.update({"a/b": np.zeros((700, 12))}), "valid dataset name"),
        (lambda a: a.traces.update(dff=np.zeros((700, 12), dtype=bool)), "real numbers"),
        (lambda a: a.images.update(mean=np.zeros(5)), "2-D numeric"),
        (lambda a: a.attributes.update(segdb_layout_version="9"), "segdb sets th"),
        (lambda a: a.attributes.update(frame_rate=30.0), "attributes are strings"),
        (lambda a: setattr(a, "background_masks", None), "without background masks"),
    ],
)
def test_inconsistent_plane_arrays_are_refused(
    root: Path, rng: np.random.Generator, change: Any, message: str
) -> None:
    arrays = make_plane_arrays(rng)
    change(arrays)
    with pytest.raises(InvalidInputError, match=message):
        write_chunk_file(root, "plane.h5", arrays)
    assert all_files(root) == []


# --------------------------------------------------------------------------- blockwise copy


@pytest.mark.usefixtures("small_trace_chunks")
def test_memmap_traces_are_copied_in_bounded_blocks(
    tmp_path: Path, root: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "_COPY_BLOCK_BYTES", 8 * 1024)
    num_samples, num_rois = 3000, 12
    memmap = np.memmap(tmp_path / "F.bin", dtype=np.float32, mode="w+", shape=(num_samples, num_rois))
    memmap[:] = rng.standard_normal((num_samples, num_rois))
    memmap.flush()
    source = RecordingArray(
        np.memmap(tmp_path / "F.bin", dtype=np.float32, mode="r", shape=(num_samples, num_rois))
    )
    arrays = make_plane_arrays(rng, num_rois=num_rois, num_samples=num_samples)
    arrays.traces = {"raw": source}
    progress: list[int] = []
    write_chunk_file(root, "plane.h5", arrays, progress=progress.append)
    block_rows = trace_chunk_shape(num_samples, num_rois)[0]
    block_rows = max(block_rows, 8 * 1024 // (num_rois * 4) // block_rows * block_rows)
    # Every request is a slice of whole rows no longer than one block.
    assert len(source.requests) > 1
    assert all(isinstance(key, slice) and key.stop - key.start <= block_rows for key in source.requests)
    assert sum(progress) == arrays.total_trace_samples()
    with h5py.File(root / "plane.h5", "r") as handle:
        np.testing.assert_array_equal(handle["traces/raw"][...], np.asarray(source.values))


@pytest.mark.usefixtures("small_trace_chunks")
def test_transposed_memmap_traces_are_copied_in_blocks(
    tmp_path: Path, root: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # suite2p's F.npy is (num_rois, num_samples): it arrives as a transposed memmap view.
    monkeypatch.setattr(writer, "_COPY_BLOCK_BYTES", 8 * 1024)
    num_samples, num_rois = 2500, 12
    np.save(tmp_path / "F.npy", rng.standard_normal((num_rois, num_samples)).astype(np.float32))
    by_roi = np.load(tmp_path / "F.npy", mmap_mode="r")
    source = RecordingArray(by_roi.T)
    arrays = make_plane_arrays(rng, num_rois=num_rois, num_samples=num_samples)
    arrays.traces = {"raw": source}
    write_chunk_file(root, "plane.h5", arrays)
    assert len(source.requests) > 1
    with h5py.File(root / "plane.h5", "r") as handle:
        np.testing.assert_array_equal(handle["traces/raw"][...], by_roi.T)


def test_h5py_dataset_traces_are_copied(tmp_path: Path, root: Path, rng: np.random.Generator) -> None:
    values = rng.standard_normal((900, 12)).astype(np.float32)
    with h5py.File(tmp_path / "source.h5", "w") as source:
        source["F"] = values
    arrays = make_plane_arrays(rng, num_rois=12, num_samples=900)
    with h5py.File(tmp_path / "source.h5", "r") as source:
        arrays.traces = {"raw": source["F"]}
        write_chunk_file(root, "plane.h5", arrays)
    with h5py.File(root / "plane.h5", "r") as handle:
        np.testing.assert_array_equal(handle["traces/raw"][...], values)


# --------------------------------------------------------------------------- trace files


def test_write_trace_file_writes_a_new_file_with_the_given_group(
    root: Path, rng: np.random.Generator
) -> None:
    dff = rng.standard_normal((400, 7)).astype(np.float32)
    progress: list[int] = []
    written = write_trace_file(
        root, "seg/dff_v2.h5", {"dff": dff}, attributes={"source": "recomputed"}, progress=progress.append
    )
    assert set(written.datasets) == {"traces/dff"}
    assert sum(progress) == 400
    with h5py.File(root / "seg" / "dff_v2.h5", "r") as handle:
        np.testing.assert_array_equal(handle["traces/dff"][...], dff)
        assert handle.attrs["source"] == "recomputed"
        assert handle.attrs["segdb_layout_version"] == LAYOUT_VERSION
    background = write_trace_file(root, "seg/bg_v2.h5", {"background": dff[:, :2]}, group="background_traces")
    assert set(background.datasets) == {"background_traces/background"}
    with pytest.raises(ArrayFileExistsError):
        write_trace_file(root, "seg/dff_v2.h5", {"dff": dff})


def test_write_trace_file_refuses_series_of_different_lengths(root: Path) -> None:
    with pytest.raises(InvalidInputError, match="same number of samples"):
        write_trace_file(root, "t.h5", {"a": np.zeros((5, 2)), "b": np.zeros((6, 2))})
    with pytest.raises(InvalidInputError, match="at least one"):
        write_trace_file(root, "t.h5", {})
    assert all_files(root) == []
