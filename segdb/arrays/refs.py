"""Lazy references to arrays in chunk files.

A reference holds only what the catalog knows (root, relative path, size, dataset
name, shape, dtype). Nothing is opened when a reference is made; the first slice
opens the file, in the process that slices, through a per-process cache of
read-only h5py handles. References pickle without handles, and a forked child
never reuses its parent's handles (HDF5 handles are not fork-safe), so
references can be shipped to worker processes as they are.

Every read goes through :func:`_read_box` or :func:`_read_columns`, which update
the counters returned by :func:`io_stats`; tests use them to prove that making a
reference reads nothing and that a small window touches a bounded number of
chunks.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from segdb.arrays.layout import LAYOUT_VERSION, LAYOUT_VERSION_ATTR, DatasetInfo
from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.errors import IntegrityError, InvalidInputError

#: Most files kept open per process; the least recently used is closed beyond it,
#: so an archive of thousands of files does not exhaust file descriptors.
MAX_OPEN_FILES = 64

# Read handles' chunk cache, per open dataset: room for a window's chunks of a few
# dozen ROIs, so consecutive windows over the same ROIs reuse checksummed chunks.
# Measured: 8 MiB / 10007 slots made random 10-ROI windows ~20% slower than this.
_CHUNK_CACHE_BYTES = 4 * 2**20
_CHUNK_CACHE_SLOTS = 1009  # a prime, as HDF5 advises

# Mask reads: neighbouring ROIs whose pixels are at most this many elements apart
# are read in one slice; skipping the gap would cost a read call, reading it costs
# at most about one extra mask chunk.
_MASK_MERGE_GAP = 16384

# Adjacent chunk column-blocks are read in one slice only while the slice stays
# within this many times the columns asked for (plus one block), so that memory
# follows the request rather than the width of the array.
_RUN_SPAN_FACTOR = 4


# --------------------------------------------------------------------------- I/O accounting


@dataclass(frozen=True)
class IOStats:
    """Snapshot of this process's array I/O since the last :func:`reset_io_stats`.

    Attributes
    ----------
    files_opened : int
        HDF5 files opened (cache misses).
    dataset_reads : int
        Read calls made to h5py.
    bytes_read : int
        Bytes of array data returned by those reads.
    chunks_touched : int
        HDF5 chunks overlapped by the selections read (a contiguous dataset
        counts as one chunk per read).
    """

    files_opened: int = 0
    dataset_reads: int = 0
    bytes_read: int = 0
    chunks_touched: int = 0


_stats_lock = threading.Lock()
_stats = {"files_opened": 0, "dataset_reads": 0, "bytes_read": 0, "chunks_touched": 0}


def io_stats() -> IOStats:
    """Counters of array I/O in this process since the last :func:`reset_io_stats`."""
    with _stats_lock:
        return IOStats(**_stats)


def reset_io_stats() -> None:
    """Set every :func:`io_stats` counter back to zero."""
    with _stats_lock:
        for key in _stats:
            _stats[key] = 0


def _count(**increments: int) -> None:
    with _stats_lock:
        for key, value in increments.items():
            _stats[key] += value


# --------------------------------------------------------------------------- handle cache


class _OpenDataset:
    """An opened dataset with its metadata read once: h5py's properties each cost a library call."""

    __slots__ = ("dataset", "shape", "dtype", "chunks")

    def __init__(self, dataset: h5py.Dataset) -> None:
        self.dataset = dataset
        self.shape: tuple[int, ...] = tuple(dataset.shape)
        self.dtype: np.dtype = dataset.dtype
        self.chunks: tuple[int, ...] | None = dataset.chunks


class _OpenFile:
    """A cached read-only handle, its size at open time, and its opened datasets."""

    __slots__ = ("handle", "size", "datasets")

    def __init__(self, handle: h5py.File, size: int) -> None:
        self.handle = handle
        self.size = size
        self.datasets: dict[str, _OpenDataset] = {}


# One lock guards the cache and every read: a read must not race the eviction that
# closes its file, and h5py serialises HDF5 calls under its own lock anyway.
_lock = threading.RLock()
_handles: OrderedDict[str, _OpenFile] = OrderedDict()
_owner_pid = os.getpid()
# Handles inherited across fork are kept alive but never used or closed in the
# child: closing them would call into an HDF5 library state copied mid-flight.
_inherited: list[_OpenFile] = []


def _reset_after_fork() -> None:
    global _lock, _handles, _owner_pid
    _inherited.extend(_handles.values())
    _lock = threading.RLock()  # a thread of the parent may have held the old one
    _handles = OrderedDict()
    _owner_pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _check_pid() -> None:
    # Backstop for forks that bypass os.fork's hooks (e.g. a C extension calling fork()).
    if os.getpid() != _owner_pid:
        _reset_after_fork()


def close_all() -> None:
    """Close every array file this process has open; references reopen on their next read."""
    _check_pid()
    with _lock:
        while _handles:
            _, entry = _handles.popitem(last=False)
            entry.handle.close()


def open_file_count() -> int:
    """Number of array files this process holds open in its handle cache."""
    _check_pid()
    with _lock:
        return len(_handles)


# --------------------------------------------------------------------------- references


class ArrayFile:
    """A chunk file as the catalog knows it; opened lazily, read-only, via the cache.

    Parameters
    ----------
    root : Path
        Storage root.
    relative_path : str
        Path of the file under ``root`` as stored in the catalog.
    size_bytes : int, optional
        Expected size; a file of another size is refused when opened.
    sha256 : str, optional
        Expected digest; kept for ``segdb verify``, not checked on open (hashing
        a whole file on every open would defeat lazy reading).
    """

    __slots__ = ("root", "relative_path", "size_bytes", "sha256", "_path")

    def __init__(
        self,
        root: Path,
        relative_path: str,
        *,
        size_bytes: int | None = None,
        sha256: str | None = None,
    ) -> None:
        # A string check only: a bad catalog row fails here, without touching the disk.
        self.root = Path(root)
        self.relative_path = check_relative_path(relative_path)
        self.size_bytes = None if size_bytes is None else int(size_bytes)
        self.sha256 = sha256
        self._path: Path | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The resolved path is recomputed in the receiving process: its root may differ.
        return {
            "root": self.root,
            "relative_path": self.relative_path,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        self._path = None

    def __repr__(self) -> str:
        return f"ArrayFile(root={str(self.root)!r}, relative_path={self.relative_path!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArrayFile):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    def __hash__(self) -> int:
        return hash((self.root, self.relative_path))

    @property
    def path(self) -> Path:
        """Absolute resolved path; refuses paths that leave the root (reads no file)."""
        if self._path is None:
            self._path = resolve_in_root(self.root, self.relative_path)
        return self._path

    def _describe(self) -> str:
        return f"array file {self.relative_path!r} (under root {str(self.root)!r})"

    def _entry(self) -> _OpenFile:
        """The cached open handle, opening and checking the file on a miss. Hold ``_lock``."""
        _check_pid()
        key = str(self.path)
        entry = _handles.get(key)
        if entry is None:
            entry = self._open_checked(self.path)
            _handles[key] = entry
            _count(files_opened=1)
            while len(_handles) > MAX_OPEN_FILES:
                _, evicted = _handles.popitem(last=False)
                evicted.handle.close()
        else:
            _handles.move_to_end(key)
        if self.size_bytes is not None and entry.size != self.size_bytes:
            raise IntegrityError(
                f"{self._describe()} is {entry.size} bytes but the catalog records "
                f"{self.size_bytes} bytes: it was truncated or replaced; run `segdb verify`"
            )
        return entry

    def _open_checked(self, path: Path) -> _OpenFile:
        if not path.is_file():
            raise IntegrityError(
                f"array file {self.relative_path!r} is missing (expected under root "
                f"{str(self.root)!r}); run `segdb verify`"
            )
        size = path.stat().st_size
        if self.size_bytes is not None and size != self.size_bytes:
            raise IntegrityError(
                f"{self._describe()} is {size} bytes but the catalog records "
                f"{self.size_bytes} bytes: it was truncated or replaced; run `segdb verify`"
            )
        try:
            handle = _open_read_only(path)
        except OSError as error:
            raise IntegrityError(
                f"{self._describe()} cannot be opened by HDF5 ({error}); it is damaged or "
                "not a chunk file; run `segdb verify`"
            ) from error
        version = handle.attrs.get(LAYOUT_VERSION_ATTR)
        if version is not None and int(version) > LAYOUT_VERSION:
            handle.close()
            raise IntegrityError(
                f"{self._describe()} has layout version {int(version)}, newer than the "
                f"{LAYOUT_VERSION} this segdb reads; upgrade segdb"
            )
        return _OpenFile(handle, size)

    def _open_dataset(self, name: str) -> _OpenDataset:
        """The opened dataset ``name`` (opening the file). Hold ``_lock`` while using it."""
        entry = self._entry()
        opened = entry.datasets.get(name)
        if opened is None:
            try:
                dataset = entry.handle[name]
            except KeyError:
                raise IntegrityError(
                    f"{self._describe()} has no dataset {name!r}; the catalog and the file "
                    "disagree; run `segdb verify`"
                ) from None
            if not isinstance(dataset, h5py.Dataset):
                raise IntegrityError(f"{self._describe()}: {name!r} is a group, not a dataset")
            opened = entry.datasets[name] = _OpenDataset(dataset)
        return opened


def _open_read_only(path: Path) -> h5py.File:
    """Open a chunk file read-only, tolerating both kinds of HDF5 file-locking trouble.

    HDF5's default locking is tried first, because HDF5 refuses to open a file
    twice in one process with different locking settings ("file locking flag
    values don't match") and other code (a user's h5py session) uses the
    default. On filesystems where flock fails (many NFS mounts) locking is
    turned off: chunk files are immutable once in place, so no lock guards
    anything there.
    """
    try:
        return _h5py_read_only(path, locking=None)
    except OSError as error:
        if "lock" not in str(error).lower():
            raise
    return _h5py_read_only(path, locking=False)


def _h5py_read_only(path: Path, locking: bool | None) -> h5py.File:
    return h5py.File(
        path, "r", locking=locking, rdcc_nbytes=_CHUNK_CACHE_BYTES, rdcc_nslots=_CHUNK_CACHE_SLOTS
    )


class ArrayRef:
    """A lazy n-dimensional array inside a chunk file.

    Slicing reads only the selection. Integer, slice (any step), boolean and
    integer-array indices are supported; at most one axis may take an array,
    which may be in any order and hold duplicates.

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

    def __init__(self, file: ArrayFile, dataset: str, shape: Sequence[int], dtype: str) -> None:
        self.file = file
        self.dataset = dataset
        self.shape = tuple(int(extent) for extent in shape)
        self.dtype = np.dtype(dtype)

    @classmethod
    def from_info(cls, file: ArrayFile, info: DatasetInfo) -> ArrayRef:
        """Reference a dataset described by a :class:`~segdb.arrays.layout.DatasetInfo`."""
        return cls(file, info.name, info.shape, info.dtype)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

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
        axes = _normalise_key(key, self.shape)
        return _read_orthogonal(self, axes)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        values = self[...]
        return values if dtype is None else values.astype(dtype, copy=False)

    def _open(self) -> _OpenDataset:
        """The opened dataset, checked against the catalog's shape and dtype. Hold ``_lock``."""
        opened = self.file._open_dataset(self.dataset)
        if opened.shape != self.shape or opened.dtype != self.dtype:
            raise IntegrityError(
                f"dataset {self.dataset!r} of {self.file._describe()} has shape "
                f"{opened.shape} dtype {opened.dtype}, but the catalog records shape "
                f"{self.shape} dtype {self.dtype}; run `segdb verify`"
            )
        return opened


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
    if positions.size and (positions.min() < 0 or positions.max() >= num_columns):
        bad = positions[(positions < 0) | (positions >= num_columns)]
        raise InvalidInputError(
            f"columns {bad[:10].tolist()} are outside {ref.dataset!r} "
            f"(it has {num_columns} columns: 0..{num_columns - 1})"
        )
    return _read_columns(ref, start, stop, positions)


class CsrMaskRef:
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

    def __init__(self, file: ArrayFile, group: str = "masks", num_masks: int | None = None) -> None:
        self.file = file
        self.group = group
        self.num_masks = None if num_masks is None else int(num_masks)
        self._indptr: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        # indptr is re-read by whoever unpickles: pickles stay small and carry no array.
        return {"file": self.file, "group": self.group, "num_masks": self.num_masks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        self._indptr = None

    def __repr__(self) -> str:
        return f"CsrMaskRef({self.file.relative_path!r}, {self.group!r}, num_masks={self.num_masks})"

    def __len__(self) -> int:
        if self.num_masks is not None:
            return self.num_masks
        return self.indptr().size - 1

    def _component(self, name: str) -> ArrayRef:
        # Shape and dtype come from the file itself: the catalog records only num_masks.
        with _lock:
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
        if wanted.size and (wanted.min() < 0 or wanted.max() >= count):
            bad = wanted[(wanted < 0) | (wanted >= count)]
            raise InvalidInputError(
                f"mask indices {bad[:10].tolist()} are out of range for {self.group!r} of "
                f"{self.file.relative_path!r} (it has {count} masks: 0..{count - 1})"
            )
        if wanted.size == 0:
            return []
        starts, stops = indptr[wanted], indptr[wanted + 1]
        components = [self._component(name) for name in ("row", "col", "weight")]
        by_index: dict[int, np.ndarray] = {}
        for lo, hi, members in _merge_spans(starts, stops, wanted, _MASK_MERGE_GAP):
            if hi > lo:
                row, col, weight = (
                    _read_orthogonal(component, [("slice", lo, hi, 1)]) for component in components
                )
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


def _normalise_key(key: Any, shape: tuple[int, ...]) -> list[tuple]:
    """Turn a numpy-style key into one selector per axis.

    Selectors: ``("int", i)``, ``("slice", start, stop, step)`` and
    ``("array", indices)`` with non-negative int64 indices.
    """
    if not isinstance(key, tuple):
        key = (key,)
    ellipses = sum(1 for item in key if item is Ellipsis)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        at = next(i for i, item in enumerate(key) if item is Ellipsis)
        fill = len(shape) - (len(key) - 1)
        key = key[:at] + (slice(None),) * max(fill, 0) + key[at + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices: {len(key)} for an array of shape {shape}")
    key = key + (slice(None),) * (len(shape) - len(key))
    axes: list[tuple] = []
    for axis, (item, extent) in enumerate(zip(key, shape, strict=True)):
        if item is None:
            raise InvalidInputError(
                "np.newaxis is not supported on array references; add the axis to the result"
            )
        if isinstance(item, slice):
            start, stop, step = item.indices(extent)
            axes.append(("slice", start, stop, step))
        elif isinstance(item, (int, np.integer)):
            index = int(item)
            if not -extent <= index < extent:
                raise IndexError(f"index {index} is out of bounds for axis {axis} with size {extent}")
            axes.append(("int", index % extent))
        else:
            array = np.asarray(item)
            if array.dtype == bool:
                if array.shape != (extent,):
                    raise IndexError(
                        f"boolean index of shape {array.shape} does not match axis {axis} of size {extent}"
                    )
                array = np.flatnonzero(array)
            if array.dtype.kind not in "iu" and array.size:
                raise IndexError(f"arrays used as indices must be integers, got {array.dtype}")
            array = array.astype(np.int64).reshape(-1) if array.ndim <= 1 else None
            if array is None:
                raise InvalidInputError("array indices on references must be 1-D")
            if array.size and (array.min() < -extent or array.max() >= extent):
                raise IndexError(f"index array is out of bounds for axis {axis} with size {extent}")
            axes.append(("array", array % extent if extent else array))
    if sum(1 for selector in axes if selector[0] == "array") > 1:
        raise InvalidInputError(
            "only one axis of an array reference may be indexed with an array; "
            "index one axis with the array and slice the result in numpy for the other"
        )
    return axes


def _read_orthogonal(ref: ArrayRef, axes: list[tuple]) -> np.ndarray:
    """Read a selection made of ints, slices and at most one index array."""
    if len(axes) == 2 and axes[0][0] == "slice" and axes[0][3] == 1 and axes[1][0] == "array":
        # (samples window, ROI columns): the trace access pattern, served by the fast path.
        return _read_columns(ref, axes[0][1], max(axes[0][1], axes[0][2]), axes[1][1])
    box: list[tuple[int, int, int]] = []  # (lo, hi, step) of the positive-step box per axis
    flips: list[int] = []
    drops: list[int] = []
    array_axis = None
    for axis, selector in enumerate(axes):
        if selector[0] == "int":
            box.append((selector[1], selector[1] + 1, 1))
            drops.append(axis)
        elif selector[0] == "slice":
            _, start, stop, step = selector
            count = len(range(start, stop, step))
            if step > 0:
                box.append((start, start + (count - 1) * step + 1 if count else start, step))
            else:
                # Read the same elements in increasing order and flip afterwards.
                low = start + (count - 1) * step if count else start
                box.append((low, low + (count - 1) * -step + 1 if count else low, -step))
                flips.append(axis)
        else:
            array_axis = axis
            box.append((0, 0, 1))  # replaced per run below

    out_shape = [len(range(lo, hi, step)) for lo, hi, step in box]
    if array_axis is None:
        values = _read_box(ref, box) if all(out_shape) else np.zeros(out_shape, ref.dtype)
    else:
        wanted = axes[array_axis][1]
        out_shape[array_axis] = wanted.size
        if wanted.size == 0 or not all(extent for axis, extent in enumerate(out_shape) if axis != array_axis):
            values = np.zeros(out_shape, ref.dtype)
        else:
            unique, inverse = np.unique(wanted, return_inverse=True)
            with _lock:
                chunks = ref._open().chunks
            extent = chunks[array_axis] if chunks else 1
            runs = _column_runs(unique, extent)
            if len(runs) == 1 and runs[0][1] - runs[0][0] == unique.size:
                # One contiguous slice covers exactly the columns: no regathering.
                lo, hi, _ = runs[0]
                box[array_axis] = (lo, hi, 1)
                gathered = _read_box(ref, box)
            else:
                parts = []
                for lo, hi, members in runs:
                    box[array_axis] = (lo, hi, 1)
                    part = _read_box(ref, box)
                    parts.append(np.take(part, members - lo, axis=array_axis))
                gathered = np.concatenate(parts, axis=array_axis)
            if unique.size == wanted.size and np.array_equal(unique, wanted):
                values = gathered
            else:
                values = np.take(gathered, inverse.reshape(-1), axis=array_axis)
    for axis in flips:
        values = np.flip(values, axis=axis)
    if drops:
        values = values.reshape([n for axis, n in enumerate(values.shape) if axis not in drops])
    return np.ascontiguousarray(values)


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
    with _lock:
        opened = ref._open()
        dataset = opened.dataset
        try:
            for first, column, width in runs:
                # h5py's plain slicing goes through its compiled fast reader.
                gathered[:, first : first + width] = dataset[start:stop, column : column + width]
        except OSError as error:
            raise _damaged(ref, error) from error
        chunks = opened.chunks
    if chunks is None:
        touched = len(runs)
    else:
        sample_chunks = (stop - 1) // chunks[0] - start // chunks[0] + 1
        touched = sample_chunks * len({column // chunks[1] for column in unique})
    _count(dataset_reads=len(runs), bytes_read=gathered.nbytes, chunks_touched=touched)
    if requested == unique:
        return gathered
    where = {column: position for position, column in enumerate(unique)}
    return np.take(gathered, [where[column] for column in requested], axis=1)


def _damaged(ref: ArrayRef, error: OSError) -> IntegrityError:
    # fletcher32 mismatches and short reads surface from h5py as OSError.
    return IntegrityError(
        f"reading dataset {ref.dataset!r} of {ref.file._describe()} failed ({error}); "
        "the file is damaged; run `segdb verify`"
    )


def _column_runs(unique: np.ndarray, extent: int) -> list[tuple[int, int, np.ndarray]]:
    """Group sorted unique indices into contiguous slices, one per run of chunk blocks.

    Indices in the same or adjacent chunk blocks share a slice (it touches no
    chunk without a wanted index), unless the slice would grow beyond
    ``_RUN_SPAN_FACTOR`` times the indices it serves plus one block.
    """
    blocks = unique // extent
    runs: list[tuple[int, int, np.ndarray]] = []
    begin = 0
    for position in range(1, unique.size + 1):
        if position < unique.size:
            adjacent = blocks[position] - blocks[position - 1] <= 1
            span = unique[position] - unique[begin] + 1
            small = span <= _RUN_SPAN_FACTOR * (position - begin + 1) + extent
            if adjacent and small:
                continue
        members = unique[begin:position]
        runs.append((int(members[0]), int(members[-1]) + 1, members))
        begin = position
    return runs


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


def _chunks_touched(box: list[tuple[int, int, int]], chunks: tuple[int, ...] | None) -> int:
    if chunks is None:
        return 1
    total = 1
    for (lo, hi, step), extent in zip(box, chunks, strict=True):
        if hi <= lo:
            return 0
        if step == 1 or step < extent:
            # Every chunk between the first and last element holds at least one.
            total *= (hi - 1) // extent - lo // extent + 1
        else:
            total *= np.unique(np.arange(lo, hi, step) // extent).size
    return total


def _read_box(ref: ArrayRef, box: list[tuple[int, int, int]]) -> np.ndarray:
    """One h5py read of a rectangular (possibly strided) selection, counted in io_stats."""
    selection = tuple(slice(lo, hi, step) for lo, hi, step in box)
    with _lock:
        opened = ref._open()
        try:
            values = opened.dataset[selection]
        except OSError as error:
            raise _damaged(ref, error) from error
        _count(
            dataset_reads=1,
            bytes_read=values.nbytes,
            chunks_touched=_chunks_touched(box, opened.chunks),
        )
    return values


__all__ = [
    "ArrayFile",
    "ArrayRef",
    "CsrMaskRef",
    "IOStats",
    "MAX_OPEN_FILES",
    "close_all",
    "io_stats",
    "open_file_count",
    "read_trace_block",
    "reset_io_stats",
]
