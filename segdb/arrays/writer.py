"""Writing chunk files: one plane's arrays, or trace series added later, each to a new file.

The layout written is described in :mod:`segdb.arrays.layout`; every file lands
through :meth:`segdb.arrays.stores.Store.write_new` (in a folder,
:func:`segdb.arrays.durable.write_file_once`; in a bucket, written locally and then
uploaded), so it is never overwritten and a failure leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike

from segdb.arrays.layout import (
    AUX_CODEC,
    FILE_LIBVER,
    LAYOUT_VERSION,
    LAYOUT_VERSION_ATTR,
    RELATIVE_PATH_ATTR,
    TRACE_CODEC,
    DatasetInfo,
    TraceCodec,
    aux_chunk_shape,
    trace_chunk_shape,
)
from segdb.arrays.paths import check_relative_path
from segdb.arrays.stores import LocalStore, Store, StoredObject
from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks

# Copy traces in blocks of about this many bytes: large enough that each HDF5
# write covers many whole chunks, small enough that memory does not follow the
# length of the recording.
_COPY_BLOCK_BYTES = 32 * 2**20


@dataclass
class PlaneArrays:
    """Everything that goes into one chunk file (one segmentation, one plane).

    Trace values may be lazy array-likes (a numpy memmap, an h5py dataset, a
    transposed memmap); they are copied in bounded blocks of samples.

    Attributes
    ----------
    masks : CsrMasks
        Pixel masks of the ROIs, in catalog order.
    background_masks : CsrMasks or None
        Pixel masks of background components.
    traces : dict of str to array-like
        Each ``(num_samples, num_rois)``.
    background_traces : dict of str to array-like
        Each ``(num_samples, num_background)``.
    images : dict of str to np.ndarray
        Each ``(height, width)``.
    timestamps : np.ndarray or None
        ``(num_samples,)`` in seconds.
    attributes : dict of str to str
        Root attributes, e.g. ``source`` and ``segdb_version``.
    """

    masks: CsrMasks
    background_masks: CsrMasks | None = None
    traces: dict[str, ArrayLike] = field(default_factory=dict)
    background_traces: dict[str, ArrayLike] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    timestamps: np.ndarray | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def total_trace_samples(self) -> int:
        """Sum of ``num_samples`` over all trace series: the total a progress callback reaches."""
        series = list(self.traces.values()) + list(self.background_traces.values())
        return sum(_as_array_like(value).shape[0] for value in series)


@dataclass(frozen=True)
class WrittenFile(StoredObject):
    """A chunk file that landed: what the catalog records about it.

    Attributes
    ----------
    relative_path, size_bytes, sha256, server_checksum
        As in :class:`~segdb.arrays.stores.StoredObject`.
    datasets : dict of str to DatasetInfo
        Keyed by dataset path inside the file.
    """

    datasets: dict[str, DatasetInfo] = field(default_factory=dict)


# --------------------------------------------------------------------------- writing


def write_chunk_file(
    root: Path | Store,
    relative_path: str,
    arrays: PlaneArrays,
    *,
    progress: Callable[[int], None] | None = None,
) -> WrittenFile:
    """Write one plane's arrays to a new chunk file, write-once.

    Parameters
    ----------
    root, relative_path
        The storage root (a folder, or a :class:`~segdb.arrays.stores.Store`), and where the
        file goes under it (it must not exist yet).
    arrays : PlaneArrays
    progress : callable, optional
        Called with the number of trace samples written after each block, for a
        progress bar; the calls add up to ``arrays.total_trace_samples()``.

    Returns
    -------
    WrittenFile

    Raises
    ------
    InvalidInputError
        If shapes disagree (a trace's ROI count differs from the masks, series of
        different lengths, timestamps of another length, ...).
    ArrayFileExistsError
        If a file already exists at ``relative_path``.
    IntegrityError
        If the path is refused by :func:`~segdb.arrays.paths.check_relative_path`.
    """
    if not isinstance(arrays.masks, CsrMasks):
        raise InvalidInputError(
            f"PlaneArrays.masks must be CsrMasks, got {type(arrays.masks).__name__}; "
            "build it with CsrMasks.from_pixel_masks(...)"
        )
    if arrays.background_masks is not None and not isinstance(arrays.background_masks, CsrMasks):
        raise InvalidInputError(
            "PlaneArrays.background_masks must be CsrMasks or None, got "
            f"{type(arrays.background_masks).__name__}"
        )
    num_rois = len(arrays.masks)
    num_background = len(arrays.background_masks) if arrays.background_masks is not None else None
    traces = _checked_series(arrays.traces, "traces", num_rois, "ROI masks")
    if arrays.background_traces and num_background is None:
        raise InvalidInputError(
            f"background traces {sorted(arrays.background_traces)} were given without "
            "background masks; pass background_masks with one mask per component"
        )
    background_traces = _checked_series(
        arrays.background_traces, "background_traces", num_background or 0, "background masks"
    )
    num_samples = _common_num_samples(
        {**_prefixed("traces", traces), **_prefixed("background_traces", background_traces)}
    )
    timestamps = None
    if arrays.timestamps is not None:
        timestamps = np.asarray(arrays.timestamps, dtype=np.float64)
        if timestamps.ndim != 1 or (num_samples is not None and timestamps.size != num_samples):
            raise InvalidInputError(
                f"timestamps must be 1-D with one entry per sample ({num_samples}), "
                f"got shape {timestamps.shape}"
            )
    images = {}
    for name, image in arrays.images.items():
        _check_dataset_name(name, "images")
        image = np.asarray(image)
        if image.ndim != 2 or image.dtype.kind not in "fiub":
            raise InvalidInputError(
                f"image {name!r} must be a 2-D numeric (height, width) array, "
                f"got shape {image.shape} dtype {image.dtype}"
            )
        images[name] = image
    attributes = _checked_attributes(arrays.attributes)

    def fill(handle: h5py.File) -> dict[str, DatasetInfo]:
        infos: dict[str, DatasetInfo] = {}
        _write_masks(handle, "masks", arrays.masks, infos)
        if arrays.background_masks is not None:
            _write_masks(handle, "background", arrays.background_masks, infos)
        _write_series(handle, "traces", traces, progress, infos)
        _write_series(handle, "background_traces", background_traces, progress, infos)
        if images:
            group = handle.create_group("images")
            for name, image in images.items():
                _write_aux(group, name, image, infos)
        if timestamps is not None:
            _write_aux(handle, "timestamps", timestamps, infos)
        return infos

    return _write_once(root, relative_path, fill, attributes=attributes)


def write_trace_file(
    root: Path | Store,
    relative_path: str,
    traces: Mapping[str, ArrayLike],
    *,
    group: str = "traces",
    attributes: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> WrittenFile:
    """Write trace series added after ingest to a new file, write-once.

    Old chunk files are never modified: a new series lands in a file of its own.

    Parameters
    ----------
    root : Path or Store
    relative_path : str
        Must not exist yet.
    traces : mapping of str to array-like
        Each ``(num_samples, num_columns)``; all of the same length.
    group : str
        Group the datasets go into (``"traces"`` or ``"background_traces"``).
    attributes : mapping of str to str, optional
        Extra root attributes.
    progress : callable, optional
        Called with the number of samples written after each block.

    Returns
    -------
    WrittenFile
    """
    _check_dataset_name(group, "group")
    if not traces:
        raise InvalidInputError("write_trace_file needs at least one trace series, got none")
    series = _checked_series(traces, group, None, None)
    _common_num_samples(_prefixed(group, series))
    checked_attributes = _checked_attributes(attributes or {})

    def fill(handle: h5py.File) -> dict[str, DatasetInfo]:
        infos: dict[str, DatasetInfo] = {}
        _write_series(handle, group, series, progress, infos)
        return infos

    return _write_once(root, relative_path, fill, attributes=checked_attributes)


def _write_once(
    root: Path | Store,
    relative_path: str,
    fill: Callable[[h5py.File], dict[str, DatasetInfo]],
    *,
    attributes: Mapping[str, str] | None = None,
    libver: Any = None,
) -> WrittenFile:
    """Create an HDF5 file write-once: ``fill`` writes the datasets and returns what it wrote.

    Every file gets the root attributes, :data:`~segdb.arrays.layout.LAYOUT_VERSION`
    and its own relative path (:data:`~segdb.arrays.layout.RELATIVE_PATH_ATTR`) first. ``libver`` defaults to :data:`~segdb.arrays.layout.FILE_LIBVER`; the
    layout benchmark passes others.
    """

    own_path = check_relative_path(relative_path)

    def write(temporary: Path) -> dict[str, DatasetInfo]:
        # locking=False: the temp name is ours alone, and HDF5's flock fails on many
        # network filesystems where shared archives live.
        with h5py.File(temporary, "w-", locking=False, libver=libver or FILE_LIBVER) as handle:
            infos = fill(handle)
            _write_root_attributes(handle, own_path, attributes or {})
        return infos

    store = root if isinstance(root, Store) else LocalStore(root)
    landed, infos = store.write_new(relative_path, write)
    return WrittenFile(landed.relative_path, landed.size_bytes, landed.sha256, landed.server_checksum, infos)


def _write_root_attributes(handle: h5py.File, relative_path: str, attributes: Mapping[str, str]) -> None:
    handle.attrs[LAYOUT_VERSION_ATTR] = LAYOUT_VERSION
    handle.attrs[RELATIVE_PATH_ATTR] = relative_path
    for key, value in attributes.items():
        handle.attrs[key] = value


def _write_series(
    handle: h5py.File,
    group_name: str,
    series: Mapping[str, Any],
    progress: Callable[[int], None] | None,
    infos: dict,
) -> None:
    if series:
        group = handle.create_group(group_name)
        for name, source in series.items():
            _write_trace(group, name, source, progress, infos)


def _write_masks(handle: h5py.File, group_name: str, masks: CsrMasks, infos: dict) -> None:
    group = handle.create_group(group_name)
    for name in ("indptr", "row", "col", "weight"):
        _write_aux(group, name, getattr(masks, name), infos)


def _write_aux(group: h5py.Group, name: str, data: np.ndarray, infos: dict) -> None:
    """Write a small in-memory array (mask, image, timestamps), checksummed when chunked."""
    data = np.ascontiguousarray(data)
    data = data.astype(data.dtype.newbyteorder("="), copy=False)
    if data.size == 0:
        # HDF5 cannot chunk an empty fixed-size dataset; there is nothing to checksum.
        dataset = group.create_dataset(name, data=data)
    else:
        chunks = aux_chunk_shape(data.shape)
        dataset = group.create_dataset(
            name, data=data, chunks=chunks, fletcher32=True, **AUX_CODEC.h5py_kwargs()
        )
    _record(dataset, infos)


def _write_trace(
    group: h5py.Group,
    name: str,
    source: Any,
    progress: Callable[[int], None] | None,
    infos: dict,
    *,
    chunks: tuple[int, int] | None = None,
    codec: TraceCodec | None = None,
    fletcher32: bool = True,
) -> None:
    """Copy one trace series into a chunked, checksummed dataset, a block of samples at a time.

    ``chunks``, ``codec`` and ``fletcher32`` default to the layout chosen by
    ``benchmarks/bench_trace_layout.py``, which passes others to compare them.
    """
    num_samples, num_columns = source.shape
    dtype = np.dtype(source.dtype).newbyteorder("=")
    if num_samples == 0 or num_columns == 0:
        dataset = group.create_dataset(name, shape=(num_samples, num_columns), dtype=dtype)
        dataset.attrs["chunk_shape"] = np.zeros(0, dtype=np.int64)
        dataset.attrs["codec"] = "none"
        _record(dataset, infos)
        return
    chunks = chunks or trace_chunk_shape(num_samples, num_columns)
    codec = codec or TRACE_CODEC
    dataset = group.create_dataset(
        name,
        shape=(num_samples, num_columns),
        dtype=dtype,
        chunks=chunks,
        fletcher32=fletcher32,
        **codec.h5py_kwargs(),
    )
    # Recorded so a reader (or a person with h5dump) sees how the file was laid out.
    dataset.attrs["chunk_shape"] = np.asarray(chunks, dtype=np.int64)
    dataset.attrs["codec"] = codec.name
    dataset.attrs["fletcher32"] = fletcher32
    # Whole chunk rows per block, so each chunk is compressed and written exactly once.
    row_bytes = num_columns * dtype.itemsize
    block = max(chunks[0], (_COPY_BLOCK_BYTES // max(row_bytes, 1)) // chunks[0] * chunks[0])
    for start in range(0, num_samples, block):
        stop = min(num_samples, start + block)
        values = np.ascontiguousarray(source[start:stop], dtype=dtype)
        if values.shape != (stop - start, num_columns):
            raise InvalidInputError(
                f"trace {group.name}/{name} returned a block of shape {values.shape} for "
                f"samples {start}:{stop}; expected {(stop - start, num_columns)}"
            )
        dataset.write_direct(values, dest_sel=np.s_[start:stop])
        if progress is not None:
            progress(stop - start)
    _record(dataset, infos)


def _record(dataset: h5py.Dataset, infos: dict[str, DatasetInfo]) -> None:
    name = dataset.name.lstrip("/")
    infos[name] = DatasetInfo(
        name=name,
        shape=tuple(int(extent) for extent in dataset.shape),
        dtype=dataset.dtype.name,
        chunks=tuple(int(extent) for extent in dataset.chunks) if dataset.chunks else None,
    )


# --------------------------------------------------------------------------- validation


def _as_array_like(value: Any) -> Any:
    """Keep lazy array-likes lazy (they have shape and dtype); turn anything else into numpy."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__"):
        return value
    return np.asarray(value)


def _check_dataset_name(name: str, group: str) -> None:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise InvalidInputError(
            f"{group} name {name!r} is not a valid dataset name; use a non-empty name without '/', e.g. 'dff'"
        )


def _checked_series(
    series: Mapping[str, ArrayLike], group: str, num_columns: int | None, columns_of: str | None
) -> dict[str, Any]:
    checked = {}
    for name, value in series.items():
        _check_dataset_name(name, group)
        value = _as_array_like(value)
        shape = tuple(value.shape)
        if len(shape) != 2:
            raise InvalidInputError(f"{group}/{name} must be 2-D (num_samples, num_rois), got shape {shape}")
        if num_columns is not None and shape[1] != num_columns:
            raise InvalidInputError(
                f"{group}/{name} has {shape[1]} columns but there are {num_columns} "
                f"{columns_of}; traces are (num_samples, num_rois) with one column per mask"
            )
        if np.dtype(value.dtype).kind not in "fiu":
            raise InvalidInputError(f"{group}/{name} has dtype {value.dtype}; traces must be real numbers")
        checked[name] = value
    return checked


def _prefixed(group: str, series: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{group}/{name}": value for name, value in series.items()}


def _common_num_samples(series: Mapping[str, Any]) -> int | None:
    lengths = {name: int(value.shape[0]) for name, value in series.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(
            f"trace series of one plane must have the same number of samples, got {lengths}"
        )
    return next(iter(lengths.values())) if lengths else None


def _checked_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    checked = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key or key in (LAYOUT_VERSION_ATTR, RELATIVE_PATH_ATTR):
            raise InvalidInputError(
                f"attribute name {key!r} is not allowed; use a non-empty str other than "
                f"{LAYOUT_VERSION_ATTR!r} and {RELATIVE_PATH_ATTR!r} (segdb sets those)"
            )
        if not isinstance(value, str):
            raise InvalidInputError(
                f"attribute {key!r} has a {type(value).__name__} value {value!r}; "
                "chunk file attributes are strings"
            )
        checked[key] = value
    return checked


__all__ = ["PlaneArrays", "WrittenFile", "write_chunk_file", "write_trace_file"]
