"""Write-once HDF5 chunk files: one per segmentation and imaging plane.

Layout version 1 (see DESIGN.md, "Chunk file layout")::

    /                         attrs: segdb_layout_version=1, source, segdb_version, ...
    /masks/indptr             (n_rois + 1,) int64   CSR pointers, ROIs in catalog order
    /masks/row, /masks/col    (nnz,) int32
    /masks/weight             (nnz,) float32
    /background/...           the same for background components, when present
    /traces/<name>            (num_samples, num_rois), chunked, attrs chunk_shape, codec
    /background_traces/<name> (num_samples, num_background)
    /images/<name>            (height, width)
    /timestamps               (num_samples,) float64

A file is written to a temporary name in its final directory, fsynced and hashed
(at the same time), linked into place (never over an existing file), and the
directory is fsynced. The caller records the returned :class:`WrittenFile` in
the catalog afterwards, so a crash leaves at worst an orphan file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike

from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.errors import IntegrityError, InvalidInputError
from segdb.geometry import CsrMasks

#: Version of the on-disk layout described in this module's docstring.
LAYOUT_VERSION = 1

#: Root attribute holding :data:`LAYOUT_VERSION`.
LAYOUT_VERSION_ATTR = "segdb_layout_version"

#: Marker in the names of files being written; ``segdb gc`` may delete such leftovers.
TEMP_MARKER = ".tmp."

# Copy traces in blocks of about this many bytes: large enough that each HDF5
# write covers many whole chunks, small enough that memory does not follow the
# length of the recording.
_COPY_BLOCK_BYTES = 32 * 2**20

# Streamed hashing block (the catalog's sha256 is recomputed by `segdb verify`).
_HASH_BLOCK_BYTES = 8 * 2**20

# 1-D mask, timestamp and image chunks: 64 KiB of int32 reads one small chunk per
# ROI mask, while keeping the chunk index of a 10^6-pixel mask table short.
_AUX_CHUNK_ELEMENTS = 16384


@dataclass(frozen=True)
class TraceCodec:
    """An HDF5 filter pipeline for trace datasets.

    Attributes
    ----------
    name : str
        Name recorded in the dataset's ``codec`` attribute, e.g. ``"shuffle+lzf"``.
    compression : str or None
        h5py ``compression`` argument (``None``, ``"lzf"``, ``"gzip"``).
    compression_opts : int or None
        h5py ``compression_opts`` (the gzip level).
    shuffle : bool
        Whether the byte-shuffle filter runs before compression.
    """

    name: str
    compression: str | None = None
    compression_opts: int | None = None
    shuffle: bool = False

    def h5py_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``h5py.Group.create_dataset``."""
        kwargs: dict[str, Any] = {"shuffle": self.shuffle}
        if self.compression is not None:
            kwargs["compression"] = self.compression
            if self.compression_opts is not None:
                kwargs["compression_opts"] = self.compression_opts
        return kwargs


# Trace layout, chosen by `python benchmarks/bench_trace_layout.py` (1,000 ROIs x
# 100,000 float32 samples = 400 MB of realistic traces; h5py 3.16, HDF5 2.0, 2 cores
# shared with other work, so each figure is a best of 3). Reference, plain contiguous
# h5py: write 0.121 s, its fsync 0.136 s, a sha256 of it 0.253 s; best read of 10
# random ROIs x 1,000 samples 0.397 ms warm, 10.0 ms cold; one ROI over all samples 30 ms.
#
#   chunks    codec        size   write path*  10x1000 window   cold    one ROI, all samples
#   (2048,4)  none         402 MB  404 MB/s    0.40 ms (1.01x)  3.2 ms  1.6 ms, 49 chunks  <- default
#   (2048,8)  none         402 MB  486 MB/s    0.58 ms (1.46x)  3.6 ms  2.2 ms, 49 chunks
#   (2048,8)  none, no f32 402 MB  525 MB/s    0.23 ms (0.58x)  2.8 ms  0.8 ms
#   (2048,8)  lzf          400 MB  132 MB/s    0.69 ms (1.75x)  7.1 ms  2.8 ms
#   (2048,8)  shuffle+lzf  315 MB  153 MB/s    1.57 ms (3.94x)  4.9 ms  5.4 ms
#   (2048,8)  shuffle+gz1  299 MB   65 MB/s    1.89 ms (4.76x)  5.5 ms  6.6 ms
#   (2048,8)  gzip-1       350 MB   37 MB/s    4.69 ms (11.8x)  7.9 ms  16 ms
#   (1024,4)  none         403 MB  418 MB/s    0.27 ms (0.68x)  3.3 ms  1.4 ms, 98 chunks
#   (4096,4)  none         410 MB  406 MB/s    0.57 ms (1.42x)  5.1 ms  1.5 ms, 25 chunks
#   (4096,8)  none         410 MB  362 MB/s    0.84 ms (2.13x)  7.4 ms  2.1 ms, 25 chunks
#   (4096,16) none         413 MB  539 MB/s    0.95 ms (2.40x)  11 ms   2.3 ms, 25 chunks
#   (1024,64) none         411 MB  632 MB/s    1.96 ms (4.94x)  11 ms   12 ms, 98 chunks
#   full col. none         400 MB  269 MB/s    1.67 ms (4.21x)  14 ms   0.2 ms, 1 chunk
#   * temp file, blockwise copy, fletcher32, fsync overlapped with sha256, link, dir fsync
#
# Realistic traces barely compress (1.27x at best, with shuffle) because the noise
# fills the float32 mantissas, so every codec costs 3-13x in write speed and 1.2-8x in
# window reads for at most a quarter of the disk: no codec. Narrow ROI blocks keep a
# random 10-ROI window cheap, since only the wanted columns' chunks are read and
# checksummed; 2,048-sample rows keep one ROI's full trace at ~50 chunks per 100,000
# samples. A focused rerun of the close candidates (`--only 1024x4,2048x4,2048x8,4096x4
# --repeats 5`, plain best 0.27 ms) agreed: (2048,4) wrote 463-482 MB/s and read
# windows in 0.29 ms, (2048,8) 457-520 MB/s and 0.40 ms, (1024,4) 344-374 MB/s and
# 0.26 ms. (2048,4) writes as fast as (2048,8) within the noise and reads windows
# ~1.4x faster. fletcher32 costs ~8-13% of write speed and is kept: it is what
# detects a damaged chunk on read. HDF5's newer format (libver="latest") measured no
# better, so files keep the most widely readable one.
#
# Ingest target (>= 0.5x of a plain h5py write, hashing included): no layout reaches
# it, because hashing 400 MB alone (0.25 s) takes twice as long as the plain write
# (0.12 s) takes to land in the page cache. The default write path is 0.12x of a bare
# plain write, 0.26x of a plain write + fsync, and 0.52x of a plain write + fsync +
# sha256 done one after the other.

#: Codec of trace datasets (see the benchmark figures above).
TRACE_CODEC = TraceCodec("none")

#: Codec of mask, image and timestamp datasets. They are a few MB per plane against
#: hundreds of MB of traces, so compressing them would save little; uncompressed,
#: every HDF5 tool (not only h5py, which alone ships lzf) can read them.
AUX_CODEC = TraceCodec("none")

#: HDF5 file format bounds (h5py ``libver``) of new chunk files: HDF5's default,
#: readable by every HDF5 1.8+ tool.
FILE_LIBVER: Any = None

#: Default trace chunk shape (samples, rois) before clamping to the array.
TRACE_CHUNK_SAMPLES = 2048
TRACE_CHUNK_ROIS = 4


def trace_chunk_shape(num_samples: int, num_rois: int) -> tuple[int, int]:
    """Chunk shape ``(samples, rois)`` of a trace dataset of the given size.

    Parameters
    ----------
    num_samples, num_rois : int
        Shape of the trace array; both must be at least 1 (empty arrays are
        stored unchunked).

    Returns
    -------
    tuple of int
        The default chunk shape clamped to the array.
    """
    if num_samples < 1 or num_rois < 1:
        raise InvalidInputError(
            f"a trace array of shape ({num_samples}, {num_rois}) has no chunk shape; "
            "empty arrays are stored unchunked"
        )
    return (min(TRACE_CHUNK_SAMPLES, num_samples), min(TRACE_CHUNK_ROIS, num_rois))


# --------------------------------------------------------------------------- values


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
class DatasetInfo:
    """Shape of one dataset in a chunk file, so the catalog need not open the file.

    Attributes
    ----------
    name : str
        Path of the dataset inside the file, e.g. ``"traces/dff"``.
    shape : tuple of int
    dtype : str
        numpy dtype name, e.g. ``"float32"``.
    chunks : tuple of int or None
        HDF5 chunk shape, or None for a contiguous (empty) dataset.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...] | None


@dataclass(frozen=True)
class WrittenFile:
    """A chunk file that landed: what the catalog records about it.

    Attributes
    ----------
    relative_path : str
        Normalised POSIX path relative to the storage root.
    size_bytes : int
    sha256 : str
        Hex digest of the whole file.
    datasets : dict of str to DatasetInfo
        Keyed by dataset path inside the file.
    """

    relative_path: str
    size_bytes: int
    sha256: str
    datasets: dict[str, DatasetInfo]


class ArrayFileExistsError(IntegrityError, FileExistsError):
    """A chunk file would be written where a file already exists: files are never overwritten."""


# --------------------------------------------------------------------------- hashing


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks so memory stays flat.

    Parameters
    ----------
    path : Path or str

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    buffer = bytearray(_HASH_BLOCK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


# --------------------------------------------------------------------------- writing


def write_chunk_file(
    root: Path,
    relative_path: str,
    arrays: PlaneArrays,
    *,
    progress: Callable[[int], None] | None = None,
) -> WrittenFile:
    """Write one plane's arrays to a new chunk file, write-once.

    Parameters
    ----------
    root : Path
        Storage root.
    relative_path : str
        Where the file goes under ``root``; must not exist yet.
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
        for group_name, series in (("traces", traces), ("background_traces", background_traces)):
            if series:
                group = handle.create_group(group_name)
                for name, source in series.items():
                    _write_trace(group, name, source, progress, infos)
        if images:
            group = handle.create_group("images")
            for name, image in images.items():
                _write_aux(group, name, image, infos)
        if timestamps is not None:
            _write_aux(handle, "timestamps", timestamps, infos)
        _write_root_attributes(handle, attributes)
        return infos

    return _write_once(root, relative_path, fill)


def write_trace_file(
    root: Path,
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
    root : Path
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
        target = handle.create_group(group)
        for name, source in series.items():
            _write_trace(target, name, source, progress, infos)
        _write_root_attributes(handle, checked_attributes)
        return infos

    return _write_once(root, relative_path, fill)


def _write_once(
    root: Path,
    relative_path: str,
    fill: Callable[[h5py.File], dict[str, DatasetInfo]],
    *,
    libver: Any = None,
) -> WrittenFile:
    """Create a file through a temporary name; never overwrite; leave nothing on failure.

    ``libver`` defaults to :data:`FILE_LIBVER`; the layout benchmark passes others.
    """
    normal = check_relative_path(relative_path)
    final = resolve_in_root(Path(root), normal)
    if os.path.lexists(final):
        # Checked before writing (fail before copying gigabytes) and again at link time.
        raise _exists_error(final, normal)
    created_dirs = _missing_ancestors(final.parent)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".{final.name}{TEMP_MARKER}{uuid.uuid4().hex}"
    try:
        # locking=False: the temp name is ours alone, and HDF5's flock fails on many
        # network filesystems where shared archives live.
        with h5py.File(temporary, "w-", locking=False, libver=libver or FILE_LIBVER) as handle:
            infos = fill(handle)
        digest = _hash_while_syncing(temporary)
        _link_into_place(temporary, final, normal)
    except BaseException:
        temporary.unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            try:
                directory.rmdir()
            except OSError:
                break  # another writer put something there: not ours to remove
        raise
    _fsync_directory(final.parent)
    return WrittenFile(normal, final.stat().st_size, digest, infos)


def _hash_while_syncing(path: Path) -> str:
    """fsync a closed file and sha256 it at the same time.

    fsync waits on the disk and hashing on the CPU; both release the GIL, so
    overlapping them takes the shorter one off the ingest time. The bytes hashed
    are the final file's: the temp file is closed, and linking it into place
    gives the same inode a second name.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segdb-fsync") as pool:
        synced = pool.submit(_fsync_path, path)
        digest = sha256_file(path)
        synced.result()
    return digest


def _link_into_place(temporary: Path, final: Path, normal: str) -> None:
    """Give the finished temp file its final name, refusing an existing one atomically."""
    try:
        # link() fails if the target exists, where rename() would silently replace it.
        os.link(temporary, final)
    except FileExistsError:
        raise _exists_error(final, normal) from None
    except OSError:
        # Filesystems without hard links (some SMB/FAT mounts): check, then rename.
        if os.path.lexists(final):
            raise _exists_error(final, normal) from None
        os.rename(temporary, final)
        return
    temporary.unlink()


def _exists_error(final: Path, normal: str) -> ArrayFileExistsError:
    return ArrayFileExistsError(
        f"array file {normal!r} already exists at {str(final)!r}; chunk files are never "
        "overwritten: write the new arrays to a new path (or run `segdb gc` if it is an orphan)"
    )


def _missing_ancestors(directory: Path) -> list[Path]:
    """Directories that mkdir(parents=True) would create, outermost first."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    return list(reversed(missing))


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable: the new directory entry is only safe once the directory is synced."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        descriptor = os.open(directory, flags)
    except OSError:
        return  # platforms that cannot open directories (Windows) persist renames themselves
    # Some filesystems refuse fsync on directories; the data file itself is synced either way.
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_root_attributes(handle: h5py.File, attributes: Mapping[str, str]) -> None:
    handle.attrs[LAYOUT_VERSION_ATTR] = LAYOUT_VERSION
    for key, value in attributes.items():
        handle.attrs[key] = value


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
        chunks = _aux_chunks(data.shape)
        dataset = group.create_dataset(
            name, data=data, chunks=chunks, fletcher32=True, **AUX_CODEC.h5py_kwargs()
        )
    _record(dataset, infos)


def _aux_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) == 1:
        return (min(shape[0], _AUX_CHUNK_ELEMENTS),)
    # Images: square-ish tiles of ~256 Ki elements, clamped to the image.
    side = 512
    return tuple(min(extent, side) for extent in shape)


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
        if not isinstance(key, str) or not key or key == LAYOUT_VERSION_ATTR:
            raise InvalidInputError(
                f"attribute name {key!r} is not allowed; use a non-empty str other than "
                f"{LAYOUT_VERSION_ATTR!r} (segdb sets that one)"
            )
        if not isinstance(value, str):
            raise InvalidInputError(
                f"attribute {key!r} has a {type(value).__name__} value {value!r}; "
                "chunk file attributes are strings"
            )
        checked[key] = value
    return checked


__all__ = [
    "AUX_CODEC",
    "ArrayFileExistsError",
    "DatasetInfo",
    "LAYOUT_VERSION",
    "LAYOUT_VERSION_ATTR",
    "PlaneArrays",
    "TEMP_MARKER",
    "TRACE_CODEC",
    "TRACE_CHUNK_ROIS",
    "TRACE_CHUNK_SAMPLES",
    "TraceCodec",
    "WrittenFile",
    "sha256_file",
    "trace_chunk_shape",
    "write_chunk_file",
    "write_trace_file",
]
