"""Chunk files as the catalog knows them: a missing, resized, damaged or escaping file is refused by name."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from segdb.arrays import ArrayFile, ArrayRef, PlaneArrays, WrittenFile, io_stats
from segdb.errors import IntegrityError

from .conftest import array_file, trace_ref


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
