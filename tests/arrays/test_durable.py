"""Write-once files: never overwritten, durable, hashed, and nothing left behind on failure."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import segdb.arrays.durable as durable
import segdb.arrays.writer as writer
from segdb.arrays import TEMP_MARKER, ArrayFileExistsError, sha256_file, write_chunk_file
from segdb.errors import IntegrityError

from .conftest import RecordingArray, all_files, make_plane_arrays

# --------------------------------------------------------------------------- hashing


def test_written_file_reports_size_and_sha256_of_the_file(root: Path, rng: np.random.Generator) -> None:
    written = write_chunk_file(root, "seg/plane.h5", make_plane_arrays(rng))
    content = (root / "seg" / "plane.h5").read_bytes()
    assert written.relative_path == "seg/plane.h5"
    assert written.size_bytes == len(content)
    assert written.sha256 == hashlib.sha256(content).hexdigest()
    assert sha256_file(root / "seg" / "plane.h5") == written.sha256


def test_sha256_file_streams_files_larger_than_one_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "_HASH_BLOCK_BYTES", 1000)
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(4567))
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- write-once


def test_existing_file_is_never_overwritten(root: Path, rng: np.random.Generator) -> None:
    first = write_chunk_file(root, "seg/plane.h5", make_plane_arrays(rng))
    with pytest.raises(ArrayFileExistsError, match="never overwritten") as caught:
        write_chunk_file(root, "seg/plane.h5", make_plane_arrays(rng))
    assert isinstance(caught.value, IntegrityError) and isinstance(caught.value, FileExistsError)
    assert "'seg/plane.h5'" in str(caught.value)
    assert sha256_file(root / "seg" / "plane.h5") == first.sha256
    assert [path.name for path in all_files(root)] == ["seg", "plane.h5"]


def test_link_into_place_refuses_a_file_that_appeared_during_the_write(
    root: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer lands the same path while this one is still copying traces.
    original_write_trace = writer._write_trace

    def write_trace_then_race(*args: Any, **kwargs: Any) -> None:
        original_write_trace(*args, **kwargs)
        if not (root / "plane.h5").exists():
            (root / "plane.h5").write_bytes(b"the other writer's file")

    monkeypatch.setattr(writer, "_write_trace", write_trace_then_race)
    with pytest.raises(ArrayFileExistsError):
        write_chunk_file(root, "plane.h5", make_plane_arrays(rng))
    assert (root / "plane.h5").read_bytes() == b"the other writer's file"
    assert [path.name for path in all_files(root)] == ["plane.h5"]


@pytest.mark.usefixtures("small_trace_chunks")
def test_failure_mid_copy_removes_temp_file_and_created_directories(
    root: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "_COPY_BLOCK_BYTES", 1024)
    arrays = make_plane_arrays(rng, num_rois=4, num_samples=2000)
    (root / "seg").mkdir()
    failing = RecordingArray(arrays.traces["raw"], fail_at_call=3)
    arrays.traces["raw"] = failing
    with pytest.raises(OSError, match="simulated read failure"):
        write_chunk_file(root, "seg/new_dir/plane.h5", arrays)
    assert len(failing.requests) == 3  # the failure came mid-copy, after blocks were written
    # The pre-existing directory stays, the one made for this file is gone, no temp file is left.
    assert all_files(root) == [root / "seg"]


def test_temporary_name_is_hidden_and_marked(
    root: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original_fill_file = h5py.File

    def recording_file(name: Any, *args: Any, **kwargs: Any) -> h5py.File:
        seen.append(Path(name).name)
        return original_fill_file(name, *args, **kwargs)

    monkeypatch.setattr(writer.h5py, "File", recording_file)
    write_chunk_file(root, "plane.h5", make_plane_arrays(rng))
    assert len(seen) == 1
    assert seen[0].startswith(".plane.h5" + TEMP_MARKER)
    assert [path.name for path in all_files(root)] == ["plane.h5"]


@pytest.mark.parametrize("bad_path", ["/abs/plane.h5", "../plane.h5", "seg\\plane.h5"])
def test_write_refuses_paths_that_leave_the_root(root: Path, rng: np.random.Generator, bad_path: str) -> None:
    with pytest.raises(IntegrityError, match="refused"):
        write_chunk_file(root, bad_path, make_plane_arrays(rng))
    assert all_files(root) == []


def test_write_refuses_symlink_escape(root: Path, tmp_path: Path, rng: np.random.Generator) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IntegrityError, match="outside the storage root"):
        write_chunk_file(root, "link/plane.h5", make_plane_arrays(rng))
    assert list(outside.iterdir()) == []
