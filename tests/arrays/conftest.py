"""Fixtures shared by the arrays tests: small chunk files with every dataset kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segdb.arrays import ArrayFile, ArrayRef, PlaneArrays, WrittenFile, close_all, reset_io_stats, write_chunk_file
from segdb.geometry import CsrMasks


class RecordingArray:
    """A lazy array-like that records every slice it is asked for."""

    def __init__(self, values: Any, fail_at_call: int | None = None) -> None:
        self.values = values
        self.shape = values.shape
        self.dtype = values.dtype
        self.requests: list[Any] = []
        self.fail_at_call = fail_at_call

    def __getitem__(self, key: Any) -> np.ndarray:
        self.requests.append(key)
        if self.fail_at_call is not None and len(self.requests) == self.fail_at_call:
            raise OSError("simulated read failure of the source file")
        return self.values[key]


def all_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*"))


def random_pixel_masks(rng: np.random.Generator, count: int, frame: tuple[int, int]) -> list[np.ndarray]:
    """``count`` masks of 0..30 distinct pixels each, [row, col, weight] as roiextractors gives them."""
    masks = []
    for _ in range(count):
        size = int(rng.integers(0, 31))
        flat = rng.choice(frame[0] * frame[1], size=size, replace=False)
        rows, cols = np.divmod(flat, frame[1])
        masks.append(np.column_stack([rows, cols, rng.random(size)]).astype(np.float64))
    return masks


def make_plane_arrays(
    rng: np.random.Generator,
    *,
    num_rois: int = 12,
    num_background: int = 2,
    num_samples: int = 700,
    frame: tuple[int, int] = (24, 32),
) -> PlaneArrays:
    """A plane with every dataset kind the layout has, small enough for fast tests."""
    return PlaneArrays(
        masks=CsrMasks.from_pixel_masks(random_pixel_masks(rng, num_rois, frame)),
        background_masks=CsrMasks.from_pixel_masks(random_pixel_masks(rng, num_background, frame)),
        traces={
            "raw": rng.standard_normal((num_samples, num_rois)).astype(np.float32),
            "deconvolved": rng.random((num_samples, num_rois)),
        },
        background_traces={
            "background": rng.standard_normal((num_samples, num_background)).astype(np.float32)
        },
        images={"mean": rng.random(frame).astype(np.float32), "correlation": rng.random(frame)},
        timestamps=np.arange(num_samples) / 30.0,
        attributes={"source": "suite2p", "segdb_version": "0.1.0"},
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    storage = tmp_path / "storage"
    storage.mkdir()
    return storage


@pytest.fixture
def small_trace_chunks(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Shrink the default trace chunk so small test arrays still span many chunks."""
    import segdb.arrays.layout as layout

    monkeypatch.setattr(layout, "TRACE_CHUNK_SAMPLES", 64)
    monkeypatch.setattr(layout, "TRACE_CHUNK_ROIS", 4)
    return (64, 4)


@pytest.fixture(autouse=True)
def fresh_handles() -> Iterator[None]:
    """Each test starts with no open array files and zeroed I/O counters."""
    close_all()
    reset_io_stats()
    yield
    close_all()


def array_file(root: Path, written: WrittenFile) -> ArrayFile:
    return ArrayFile(root, written.relative_path, size_bytes=written.size_bytes, sha256=written.sha256)


def trace_ref(root: Path, written: WrittenFile, name: str = "traces/raw") -> ArrayRef:
    return ArrayRef.from_info(array_file(root, written), written.datasets[name])


@pytest.fixture
def plane(
    root: Path, rng: np.random.Generator, small_trace_chunks: tuple[int, int]
) -> tuple[PlaneArrays, WrittenFile]:
    """A 1,000-sample, 30-ROI plane written with small trace chunks, and the file it landed in."""
    arrays = make_plane_arrays(rng, num_rois=30, num_samples=1000)
    return arrays, write_chunk_file(root, "seg/plane.h5", arrays)
