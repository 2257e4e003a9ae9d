"""Lazy references to the arrays in chunk files: traces, images, timestamps and pixel masks.

A reference holds only what the catalog knows (the file, dataset name, shape,
dtype). Nothing is opened when a reference is made; the first read opens the
file, in the process that reads, through this process's handle cache
(:mod:`segdb.arrays.handles`). References pickle without handles, so they can be
shipped to worker processes as they are.

:class:`ArrayRef` takes the selections segdb makes: an integer or a slice with
step 1 per axis, and ``...``. ROI columns in any order are read with
:func:`read_trace_block`, which reads only the chunks holding them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from segdb.arrays import handles
from segdb.arrays.files import ArrayFile, PickledByFields
from segdb.arrays.handles import OpenDataset
from segdb.arrays.layout import DatasetInfo
from segdb.errors import IntegrityError, InvalidInputError

# Mask reads: neighbouring ROIs whose pixels are at most this many elements apart
# are read in one slice; skipping the gap would cost a read call, reading it costs
# at most about one extra mask chunk.
_MASK_MERGE_GAP = 16384


class ArrayRef(PickledByFields):
    """A lazy n-dimensional array inside a chunk file.

    Slicing reads only the selection. Each axis takes an integer or a slice
    with step 1, and ``...`` stands for the axes not named; any other index
    (arrays, booleans, other steps, ``None``) is refused with
    :class:`InvalidInputError`. Read ROI columns in any order with
    :func:`read_trace_block`.

    Parameters
    ----------
    file : ArrayFile
    dataset : str
        Path of the dataset inside the file, e.g. ``"traces/dff"``.
    shape : tuple of int
        Shape recorded in the catalog; checked against the file on first read.
    dtype : str
        numpy dtype recorded in the catalog.
    """

    __slots__ = ("file", "dataset", "shape", "dtype")
    _fields = __slots__

    def __init__(self, file: ArrayFile, dataset: str, shape: Sequence[int], dtype: str) -> None:
        self.file = file
        self.dataset = dataset
        self.shape = tuple(int(extent) for extent in shape)
        self.dtype = np.dtype(dtype)

    @classmethod
    def from_info(cls, file: ArrayFile, info: DatasetInfo) -> ArrayRef:
        """Reference a dataset described by a :class:`~segdb.arrays.layout.DatasetInfo`."""
        return cls(file, info.name, info.shape, info.dtype)

    def __repr__(self) -> str:
        return (
            f"ArrayRef({self.file.relative_path!r}, {self.dataset!r}, "
            f"shape={self.shape}, dtype={self.dtype.name})"
        )

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array reference")
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        box, dropped = _box_of(self, key)
        if all(stop > start for start, stop in box):
            values = _read_box(self, box)
        else:
            values = np.zeros([stop - start for start, stop in box], dtype=self.dtype)
        if dropped:
            values = values.reshape([n for axis, n in enumerate(values.shape) if axis not in dropped])
        return values

    def read_columns(self, start: int, stop: int, columns: Sequence[int]) -> np.ndarray:
        """Samples ``start:stop`` of the given columns (any order, repeats allowed) of a 2-D trace.

        Only the chunks holding them are read; see :func:`read_trace_block`.
        """
        return read_trace_block(self, start, stop, columns)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        values = self[...]
        return values if dtype is None else values.astype(dtype, copy=False)

    @contextmanager
    def _reading(self) -> Iterator[OpenDataset]:
        """The opened dataset, checked against the catalog's shape and dtype, under the cache lock."""
        with self.file._reading(self.dataset) as opened:
            if opened.shape != self.shape or opened.dtype != self.dtype:
                raise IntegrityError(
                    f"dataset {self.dataset!r} of {self.file._describe()} has shape "
                    f"{opened.shape} dtype {opened.dtype}, but the catalog records shape "
                    f"{self.shape} dtype {self.dtype}; run `segdb verify`"
                )
            yield opened


def read_trace_block(ref: ArrayRef, start: int, stop: int, columns: Sequence[int]) -> np.ndarray:
    """Read samples ``start:stop`` of the given columns of a (num_samples, num_columns) trace.

    Only the chunks holding those samples and columns are read: the columns are
    grouped by chunk column-block, each group is read as one contiguous slice,
    and the result is put in the requested order.

    Parameters
    ----------
    ref : ArrayRef
        A 2-D trace reference.
    start, stop : int
        Sample window, ``0 <= start <= stop <= num_samples``.
    columns : sequence of int
        Column (ROI) positions in any order; duplicates allowed.

    Returns
    -------
    np.ndarray
        ``(stop - start, len(columns))`` in the reference's dtype.
    """
    if ref.ndim != 2:
        raise InvalidInputError(f"read_trace_block needs a 2-D (num_samples, num_rois) trace, got {ref!r}")
    num_samples, num_columns = ref.shape
    start, stop = int(start), int(stop)
    if not 0 <= start <= stop <= num_samples:
        raise InvalidInputError(
            f"sample window {start}:{stop} is outside {ref.dataset!r} "
            f"(it has {num_samples} samples: 0..{num_samples - 1})"
        )
    positions = np.asarray(columns, dtype=np.int64).reshape(-1)
    bad = _out_of_range(positions, num_columns)
    if bad:
        raise InvalidInputError(
            f"columns {bad} are outside {ref.dataset!r} "
            f"(it has {num_columns} columns: 0..{num_columns - 1})"
        )
    return _read_columns(ref, start, stop, positions)


class CsrMaskRef(PickledByFields):
    """Lazy CSR pixel masks (``<group>/indptr|row|col|weight``) in a chunk file.

    Parameters
    ----------
    file : ArrayFile
    group : str
        ``"masks"`` for ROIs, ``"background"`` for background components.
    num_masks : int, optional
        Number of masks recorded in the catalog; checked against ``indptr`` on
        first read. Without it, ``len()`` reads ``indptr``.
    """

    __slots__ = ("file", "group", "num_masks", "_indptr")
    _fields = ("file", "group", "num_masks")
    # indptr is re-read by whoever unpickles.
    _caches = ("_indptr",)

    def __init__(self, file: ArrayFile, group: str = "masks", num_masks: int | None = None) -> None:
        self.file = file
        self.group = group
        self.num_masks = None if num_masks is None else int(num_masks)
        self._indptr: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"CsrMaskRef({self.file.relative_path!r}, {self.group!r}, num_masks={self.num_masks})"

    def __len__(self) -> int:
        if self.num_masks is not None:
            return self.num_masks
        return self.indptr().size - 1

    def _component(self, name: str) -> ArrayRef:
        # Shape and dtype come from the file itself: the catalog records only num_masks.
        with handles.locked():
            opened = self.file._open_dataset(f"{self.group}/{name}")
            return ArrayRef(self.file, f"{self.group}/{name}", opened.shape, opened.dtype.str)

    def indptr(self) -> np.ndarray:
        """The ``(n + 1,)`` int64 CSR pointers, read once and kept on the reference."""
        if self._indptr is None:
            indptr = np.asarray(self._component("indptr")[...], dtype=np.int64)
            if self.num_masks is not None and indptr.size != self.num_masks + 1:
                raise IntegrityError(
                    f"{self.group}/indptr of {self.file._describe()} holds "
                    f"{indptr.size - 1} masks but the catalog records {self.num_masks}; "
                    "run `segdb verify`"
                )
            self._indptr = indptr
        return self._indptr

    def pixel_masks(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Pixel masks of the given ROIs, in the requested order.

        Parameters
        ----------
        indices : sequence of int
            Mask positions in any order; duplicates allowed.

        Returns
        -------
        list of np.ndarray
            One ``(n_i, 3)`` float64 array ``[row, col, weight]`` per index.
        """
        indptr = self.indptr()
        count = indptr.size - 1
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = _out_of_range(wanted, count)
        if bad:
            raise InvalidInputError(
                f"mask indices {bad} are out of range for {self.group!r} of "
                f"{self.file.relative_path!r} (it has {count} masks: 0..{count - 1})"
            )
        if wanted.size == 0:
            return []
        starts, stops = indptr[wanted], indptr[wanted + 1]
        components = [self._component(name) for name in ("row", "col", "weight")]
        by_index: dict[int, np.ndarray] = {}
        for lo, hi, members in _merge_spans(starts, stops, wanted, _MASK_MERGE_GAP):
            if hi > lo:
                row, col, weight = (_read_box(component, [(lo, hi)]) for component in components)
            for index in members:
                a, b = int(indptr[index]) - lo, int(indptr[index + 1]) - lo
                mask = np.empty((b - a, 3), dtype=np.float64)
                if b > a:
                    mask[:, 0], mask[:, 1], mask[:, 2] = row[a:b], col[a:b], weight[a:b]
                by_index[int(index)] = mask
        # Duplicated indices get their own copies: callers may modify what they get.
        seen: set[int] = set()
        result = []
        for index in wanted.tolist():
            mask = by_index[index]
            result.append(mask.copy() if index in seen else mask)
            seen.add(index)
        return result

    def image_masks(self, indices: Sequence[int], frame_shape: tuple[int, int]) -> np.ndarray:
        """Dense masks of the given ROIs as an ``(height, width, n)`` float64 array.

        Parameters
        ----------
        indices : sequence of int
        frame_shape : tuple of int
            ``(height, width)`` of the imaging plane.

        Returns
        -------
        np.ndarray
        """
        height, width = (int(extent) for extent in frame_shape)
        masks = self.pixel_masks(indices)
        dense = np.zeros((height, width, len(masks)), dtype=np.float64)
        for position, mask in enumerate(masks):
            if mask.shape[0] == 0:
                continue
            rows, cols = mask[:, 0].astype(np.intp), mask[:, 1].astype(np.intp)
            if rows.max() >= height or cols.max() >= width:
                raise InvalidInputError(
                    f"mask {int(np.asarray(indices).reshape(-1)[position])} of "
                    f"{self.file.relative_path!r} reaches pixel (row {rows.max()}, col "
                    f"{cols.max()}), outside the frame {(height, width)}; pass the plane's "
                    "(height, width)"
                )
            dense[rows, cols, position] = mask[:, 2]
        return dense


# --------------------------------------------------------------------------- reading


def _box_of(ref: ArrayRef, key: Any) -> tuple[list[tuple[int, int]], list[int]]:
    """The ``(start, stop)`` that ``key`` selects on each axis of ``ref``, and the axes its integers drop."""
    items = key if isinstance(key, tuple) else (key,)
    for item in items:
        if not (item is Ellipsis or isinstance(item, slice) or _is_integer(item)):
            raise _unsupported_key(ref, key)
    ellipses = [position for position, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        at = ellipses[0]
        items = items[:at] + (slice(None),) * max(ref.ndim - len(items) + 1, 0) + items[at + 1 :]
    if len(items) > ref.ndim:
        raise IndexError(f"too many indices: {len(items)} for an array of shape {ref.shape}")
    items = items + (slice(None),) * (ref.ndim - len(items))
    box: list[tuple[int, int]] = []
    dropped: list[int] = []
    for axis, (item, extent) in enumerate(zip(items, ref.shape, strict=True)):
        if isinstance(item, slice):
            start, stop, step = item.indices(extent)
            if step != 1:
                raise _unsupported_key(ref, key)
            box.append((start, max(start, stop)))
        else:
            index = int(item)
            if not -extent <= index < extent:
                raise IndexError(f"index {index} is out of bounds for axis {axis} with size {extent}")
            box.append((index % extent, index % extent + 1))
            dropped.append(axis)
    return box, dropped


def _out_of_range(positions: np.ndarray, count: int) -> list[int]:
    """The first ten of ``positions`` outside ``0..count - 1``, for an error message."""
    return positions[(positions < 0) | (positions >= count)][:10].tolist()


def _is_integer(item: Any) -> bool:
    # bool is an int to Python, but a boolean index to numpy.
    return isinstance(item, (int, np.integer)) and not isinstance(item, bool)


def _unsupported_key(ref: ArrayRef, key: Any) -> InvalidInputError:
    return InvalidInputError(
        f"{ref!r} cannot be indexed with {key!r:.80}: array references take an integer or a "
        "slice with step 1 on each axis, and '...' (e.g. ref[a:b], ref[a:b, 3], ref[...]); "
        "read ROI columns in any order with read_trace_block(ref, start, stop, columns), "
        "or read a range and index the result in numpy"
    )


def _read_columns(ref: ArrayRef, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
    """Samples ``start:stop`` of the given columns of a 2-D dataset, in the given order.

    Each run of consecutive column indices is one plain h5py slice: a regular
    hyperslab, which h5py serves through its compiled fast reader and HDF5
    through its fast path. One read of the union of the columns (what h5py's
    fancy indexing does) measured several times slower on chunked data, and a
    bounding box would checksum chunks holding no wanted column. Columns that
    share a chunk verify it once: the handle's chunk cache keeps it.
    """
    rows = stop - start
    if rows == 0 or positions.size == 0:
        return np.zeros((rows, positions.size), dtype=ref.dtype)
    # Plain Python on the (usually few) column indices: numpy's per-call overhead
    # would cost more than the set arithmetic itself.
    requested = positions.tolist()
    unique = sorted(set(requested))
    runs: list[list[int]] = []  # [first position in unique, column, width]
    for position, column in enumerate(unique):
        if runs and column == runs[-1][1] + runs[-1][2]:
            runs[-1][2] += 1
        else:
            runs.append([position, column, 1])
    gathered = np.empty((rows, len(unique)), dtype=ref.dtype)
    with ref._reading() as opened:
        dataset = opened.dataset
        for first, column, width in runs:
            # h5py's plain slicing goes through its compiled fast reader.
            gathered[:, first : first + width] = dataset[start:stop, column : column + width]
    chunks = opened.chunks
    if chunks is None:
        touched = len(runs)
    else:
        sample_chunks = (stop - 1) // chunks[0] - start // chunks[0] + 1
        touched = sample_chunks * len({column // chunks[1] for column in unique})
    handles.count_io(dataset_reads=len(runs), bytes_read=gathered.nbytes, chunks_touched=touched)
    if requested == unique:
        return gathered
    where = {column: position for position, column in enumerate(unique)}
    return np.take(gathered, [where[column] for column in requested], axis=1)


def _merge_spans(
    starts: np.ndarray, stops: np.ndarray, indices: np.ndarray, gap: int
) -> list[tuple[int, int, list[int]]]:
    """Merge element spans that lie within ``gap`` of each other into single reads."""
    unique, first = np.unique(indices, return_index=True)
    order = np.argsort(starts[first], kind="stable")
    merged: list[tuple[int, int, list[int]]] = []
    for position in order:
        index = int(unique[position])
        lo, hi = int(starts[first[position]]), int(stops[first[position]])
        if merged and lo - merged[-1][1] <= gap:
            previous_lo, previous_hi, members = merged[-1]
            members.append(index)
            merged[-1] = (previous_lo, max(previous_hi, hi), members)
        else:
            merged.append((lo, hi, [index]))
    return merged


def _chunks_touched(box: list[tuple[int, int]], chunks: tuple[int, ...] | None) -> int:
    if chunks is None:
        return 1
    total = 1
    for (start, stop), extent in zip(box, chunks, strict=True):
        if stop <= start:
            return 0
        total *= (stop - 1) // extent - start // extent + 1
    return total


def _read_box(ref: ArrayRef, box: list[tuple[int, int]]) -> np.ndarray:
    """One h5py read of the ``(start, stop)`` box, counted in :func:`~segdb.arrays.handles.io_stats`."""
    with ref._reading() as opened:
        values = opened.dataset[tuple(slice(start, stop) for start, stop in box)]
    handles.count_io(dataset_reads=1, bytes_read=values.nbytes, chunks_touched=_chunks_touched(box, opened.chunks))
    return values


__all__ = ["ArrayRef", "CsrMaskRef", "read_trace_block"]
