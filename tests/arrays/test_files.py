"""Chunk files as the catalog knows them: a missing, resized, damaged or escaping file is refused by name."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from segdb.arrays import ArrayFile, ArrayRef, PlaneArrays, WrittenFile, io_stats, write_chunk_file, write_trace_file
from segdb.errors import IntegrityError, InvalidInputError

from .conftest import array_file, make_plane_arrays, trace_ref


def test_missing_file_names_file_root_and_verify(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    _, written = plane
    ref = trace_ref(root, written)
    (root / "seg" / "plane.h5").unlink()
    with pytest.raises(IntegrityError) as caught:
        ref[0]
    message = str(caught.value)
    assert "array file 'seg/plane.h5' is missing" in message
    assert str(root) in message and "segdb verify" in message


def test_size_mismatch_is_refused(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    _, written = plane
    file = ArrayFile(root, written.relative_path, size_bytes=written.size_bytes + 1)
    with pytest.raises(
        IntegrityError,
        match=rf"'seg/plane.h5'.*is {written.size_bytes} bytes but the catalog records "
        rf"{written.size_bytes + 1}",
    ):
        ArrayRef.from_info(file, written.datasets["traces/raw"])[0]


@pytest.mark.parametrize("with_size", [True, False])
def test_truncated_file_is_refused(
    root: Path, plane: tuple[PlaneArrays, WrittenFile], with_size: bool
) -> None:
    _, written = plane
    path = root / "seg" / "plane.h5"
    path.write_bytes(path.read_bytes()[: written.size_bytes // 2])
    file = ArrayFile(root, written.relative_path, size_bytes=written.size_bytes if with_size else None)
    with pytest.raises(IntegrityError, match="'seg/plane.h5'.*segdb verify"):
        np.asarray(ArrayRef.from_info(file, written.datasets["traces/raw"]))


def test_flipped_byte_inside_a_trace_chunk_is_detected(
    root: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    arrays, written = plane
    path = root / "seg" / "plane.h5"
    with h5py.File(path, "r") as handle:
        chunk = handle["traces/raw"].id.get_chunk_info(5)
    content = bytearray(path.read_bytes())
    content[chunk.byte_offset + chunk.size // 2] ^= 0xFF
    path.write_bytes(bytes(content))
    ref = trace_ref(root, written)
    # A chunk elsewhere still reads: damage is local, and the file size is unchanged.
    np.testing.assert_array_equal(ref[0:10, 0], arrays.traces["raw"][0:10, 0])
    with pytest.raises(IntegrityError) as caught:
        np.asarray(ref)
    assert "'traces/raw'" in str(caught.value) and "'seg/plane.h5'" in str(caught.value)
    assert "segdb verify" in str(caught.value)


def test_catalog_shape_that_disagrees_with_the_file_is_refused(
    root: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    _, written = plane
    ref = ArrayRef(array_file(root, written), "traces/raw", (1000, 31), "float32")
    with pytest.raises(IntegrityError, match=r"shape \(1000, 30\).*catalog records shape \(1000, 31\)"):
        ref[0]
    with pytest.raises(IntegrityError, match="has no dataset 'traces/dff'"):
        ArrayRef(ref.file, "traces/dff", (1000, 30), "float32")[0]


def test_symlink_escape_is_refused_on_read(
    root: Path, tmp_path: Path, plane: tuple[PlaneArrays, WrittenFile]
) -> None:
    _, written = plane
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "plane.h5").write_bytes((root / "seg" / "plane.h5").read_bytes())
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    ref = ArrayRef(ArrayFile(root, "elsewhere/plane.h5"), "traces/raw", (1000, 30), "float32")
    with pytest.raises(IntegrityError, match="outside the storage root"):
        ref[0]
    assert io_stats().files_opened == 0


def test_array_file_refuses_bad_paths_without_touching_disk(root: Path) -> None:
    with pytest.raises(IntegrityError, match="'..'"):
        ArrayFile(root, "../plane.h5")


def test_a_file_that_says_it_is_another_is_refused_on_open(root: Path, rng: np.random.Generator) -> None:
    arrays = make_plane_arrays(rng, num_samples=50)
    arrays.attributes = {**arrays.attributes, "segdb_segmentation_id": "7", "segdb_plane": "plane0"}
    written = write_chunk_file(root, "seg-7/plane0.h5", arrays)
    (root / "seg-8").mkdir()
    (root / "seg-7" / "plane0.h5").rename(root / "seg-8" / "plane0.h5")
    # The catalog expects segmentation 8's file here; this one says it is segmentation 7's.
    file = ArrayFile(root, "seg-8/plane0.h5", size_bytes=written.size_bytes,
                     identity={"segdb_segmentation_id": "8", "segdb_plane": "plane0"})
    ref = ArrayRef.from_info(file, written.datasets["traces/raw"])
    with pytest.raises(IntegrityError) as caught:
        ref[0]
    message = str(caught.value)
    assert "'seg-8/plane0.h5'" in message and "is another file" in message
    assert "it says it is 'seg-7/plane0.h5' (segmentation 7, plane 'plane0')" in message
    assert "the catalog expects 'seg-8/plane0.h5' (segmentation 8, plane 'plane0')" in message
    assert "segdb verify" in message
    # Pickled to a worker, the reference still expects the same file.
    with pytest.raises(IntegrityError, match="is another file"):
        pickle.loads(pickle.dumps(ref))[0]


def test_a_reference_expecting_another_identity_is_refused_on_a_cached_handle(
    root: Path, rng: np.random.Generator
) -> None:
    arrays = make_plane_arrays(rng, num_samples=50)
    arrays.attributes = {**arrays.attributes, "segdb_plane": "plane0"}
    written = write_chunk_file(root, "seg/plane.h5", arrays)
    trace_ref(root, written)[0]
    other = ArrayFile(root, written.relative_path, size_bytes=written.size_bytes, identity={"segdb_plane": "plane1"})
    with pytest.raises(IntegrityError, match="is another file"):
        ArrayRef.from_info(other, written.datasets["traces/raw"])[0]


def test_files_written_before_identity_attributes_still_open(root: Path, plane: tuple[PlaneArrays, WrittenFile]) -> None:
    arrays, written = plane
    path = root / "seg" / "plane.h5"
    with h5py.File(path, "r+") as handle:
        del handle.attrs["segdb_relative_path"]
    file = ArrayFile(root, written.relative_path, identity={"segdb_segmentation_id": "1", "segdb_plane": "p"})
    values = ArrayRef.from_info(file, written.datasets["traces/raw"])[0:3]
    np.testing.assert_array_equal(values, arrays.traces["raw"][0:3])


def test_every_chunk_file_records_its_own_path(root: Path, rng: np.random.Generator) -> None:
    write_chunk_file(root, "./a//plane.h5", make_plane_arrays(rng, num_samples=10))
    write_trace_file(root, "a/derived.h5", {"dff": np.zeros((10, 3), np.float32)})
    for name in ("plane.h5", "derived.h5"):
        with h5py.File(root / "a" / name, "r") as handle:
            assert handle.attrs["segdb_relative_path"] == f"a/{name}"
    with pytest.raises(InvalidInputError, match="segdb_relative_path"):
        write_trace_file(root, "a/other.h5", {"dff": np.zeros((10, 3))}, attributes={"segdb_relative_path": "x.h5"})
