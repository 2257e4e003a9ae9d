"""`TraceWindow`: a lazy (samples, rois) array of one trace series, as ``get_traces_dict`` hands out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from roiextractors import SegmentationExtractor

from segdb.extractors.arguments import is_index


class TraceWindow:
    """A lazy (num_samples, num_rois) array of one trace series of an extractor.

    Column ``k`` is the ROI (or background component) ``roi_ids[k]``. Nothing is read
    when it is made; indexing asks the extractor's ``get_traces`` for the asked ROIs
    over the smallest sample window that covers the asked samples, so it reads what
    that method reads (for the archive extractor, only the chunks holding them).
    Takes ``window[rows, cols]`` with ints, slices (any step) and integer or boolean
    arrays, and ``len``, ``shape``, ``dtype`` and ``np.asarray(window)`` (which reads
    everything).

    Parameters
    ----------
    extractor : SegmentationExtractor
        The extractor whose ``get_traces`` reads the series.
    name : str
        The trace series, e.g. ``"raw"``.
    roi_ids : sequence of int or str
        The extractor's id of each column.
    dtype : numpy.dtype
        The series' dtype, known without reading it.
    """

    ndim = 2

    def __init__(
        self, extractor: SegmentationExtractor, name: str, roi_ids: Sequence[int | str], dtype: Any
    ) -> None:
        self._extractor = extractor
        self.name = name
        self.roi_ids = list(roi_ids)
        self.dtype = np.dtype(dtype)
        self.shape = (int(extractor.get_num_samples() or 0), len(self.roi_ids))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"TraceWindow({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self[:, :]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            if not 1 <= len(key) <= 2:
                raise IndexError(f"a TraceWindow is 2-D (samples, rois); got the index {key!r}")
            rows, cols = key[0], (key[1] if len(key) == 2 else slice(None))
        else:
            rows, cols = key, slice(None)
        num_samples, num_columns = self.shape
        columns = np.arange(num_columns)[cols]
        ids = [self.roi_ids[int(c)] for c in np.atleast_1d(columns)]
        if is_index(rows):
            row = int(rows) + num_samples if rows < 0 else int(rows)
            if not 0 <= row < num_samples:
                raise IndexError(f"sample {rows} is outside 0..{num_samples - 1}")
            data = self._read(ids, row, row + 1)[0]
        else:
            wanted = np.arange(num_samples)[rows]
            if wanted.ndim != 1:
                raise IndexError(f"a TraceWindow takes a sample index, slice or 1-D array; got {rows!r}")
            if wanted.size == 0:
                data = np.empty((0, len(ids)), dtype=self.dtype)
            else:
                # One read of the covering window, then a pick: one read whatever the stride.
                first, last = int(wanted.min()), int(wanted.max()) + 1
                block = self._read(ids, first, last)
                data = block if np.array_equal(wanted, np.arange(first, last)) else block[wanted - first]
        if np.ndim(columns) == 0:
            data = data[..., 0]
        return data

    def _read(self, roi_ids: list[int | str], start: int, end: int) -> np.ndarray:
        data = self._extractor.get_traces(roi_ids=roi_ids, start_frame=start, end_frame=end, name=self.name)
        return np.asarray(data, dtype=self.dtype)
