"""What the benchmarks share: an in-memory source extractor and a throwaway PostgreSQL schema."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from roiextractors.segmentationextractor import SegmentationExtractor, _ROIMasks, _RoiResponse
from sqlalchemy import create_engine, text

import segdb


class MemorySegmentation(SegmentationExtractor):
    """Traces already in memory as (samples, rois) and pixel masks given: the cheapest possible
    source, so what a benchmark times is segdb."""

    def __init__(
        self,
        traces: Mapping[str, np.ndarray],
        pixel_masks: Sequence[np.ndarray],
        frame_shape: tuple[int, int],
        *,
        properties: Mapping[str, np.ndarray] | None = None,
        sampling_frequency: float = 30.0,
    ):
        super().__init__()
        ids = list(range(len(pixel_masks)))
        self._roi_ids = ids
        self._sampling_frequency = sampling_frequency
        self._frame_shape = tuple(frame_shape)
        for name, data in traces.items():
            self._roi_responses.append(_RoiResponse(name, data, ids))
        self._roi_masks = _ROIMasks(list(pixel_masks), "nwb-pixel_mask", self._frame_shape, {i: i for i in ids})
        self._num_samples = int(next(iter(traces.values())).shape[0])
        for name, values in (properties or {}).items():
            self.set_property(name, values, ids)

    def get_frame_shape(self):
        return self._frame_shape

    def get_num_samples(self):
        return self._num_samples

    def get_native_timestamps(self, start_sample=None, end_sample=None):
        return None


def square_masks(rng: np.random.Generator, n: int, frame_shape: tuple[int, int], side: int) -> list[np.ndarray]:
    """n square masks of side x side pixels at random places, [row, col, weight]."""
    masks = []
    for _ in range(n):
        r = rng.integers(0, frame_shape[0] - side)
        c = rng.integers(0, frame_shape[1] - side)
        rows, cols = np.mgrid[r : r + side, c : c + side]
        masks.append(np.column_stack([rows.ravel(), cols.ravel(), rng.uniform(0.1, 1, side * side)]))
    return masks


@contextlib.contextmanager
def postgres_archive(url: str, storage_root: Path, schema: str | None = None, *,
                     fresh: bool = True) -> Iterator[segdb.Archive]:
    """An archive in a new schema of the PostgreSQL server at ``url``, dropped afterwards; or, with
    ``schema``, in that schema, kept for the next run (made anew when ``fresh``)."""
    keep = schema is not None
    schema = schema or f"segdb_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        if keep and fresh:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    separator = "&" if "?" in url else "?"
    archive = segdb.open(f"{url}{separator}options=-csearch_path%3D{schema}", storage_root=storage_root / schema)
    try:
        yield archive
    finally:
        archive.close()
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
