"""This process's open chunk files: a bounded cache of read-only h5py handles, and I/O counters.

Handles are opened on first read and kept, least recently used closed first
beyond :data:`MAX_OPEN_FILES`. A forked child never reuses its parent's handles
(HDF5 handles are not fork-safe): it starts with an empty cache. One lock guards
the cache and every read made through it.

Every read updates the counters returned by :func:`io_stats`; tests use them to
prove that making a reference reads nothing and that a small window touches a
bounded number of chunks.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

#: Most files kept open per process; the least recently used is closed beyond it,
#: so an archive of thousands of files does not exhaust file descriptors.
MAX_OPEN_FILES = 64

# Read handles' chunk cache, per open dataset: room for a window's chunks of a few
# dozen ROIs, so consecutive windows over the same ROIs reuse checksummed chunks.
# Measured: 8 MiB / 10007 slots made random 10-ROI windows ~20% slower than this.
_CHUNK_CACHE_BYTES = 4 * 2**20
_CHUNK_CACHE_SLOTS = 1009  # a prime, as HDF5 advises


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
    store_requests : int
        Reads made to a storage backend (:mod:`segdb.arrays.stores`): ranged GETs
        on an object store, ``pread`` calls on a local folder.
    store_bytes_fetched : int
        Bytes those reads brought in, compressed and metadata included: what a
        small window costs over the network.
    """

    files_opened: int = 0
    dataset_reads: int = 0
    bytes_read: int = 0
    chunks_touched: int = 0
    store_requests: int = 0
    store_bytes_fetched: int = 0


_stats_lock = threading.Lock()
_stats = {field: 0 for field in IOStats.__dataclass_fields__}


def io_stats() -> IOStats:
    """Counters of array I/O in this process since the last :func:`reset_io_stats`."""
    with _stats_lock:
        return IOStats(**_stats)


def reset_io_stats() -> None:
    """Set every :func:`io_stats` counter back to zero."""
    with _stats_lock:
        for key in _stats:
            _stats[key] = 0


def count_io(**increments: int) -> None:
    """Add to the :func:`io_stats` counters named by the keywords."""
    with _stats_lock:
        for key, value in increments.items():
            _stats[key] += value


# --------------------------------------------------------------------------- handle cache


class OpenDataset:
    """An opened dataset with its metadata read once: h5py's properties each cost a library call."""

    __slots__ = ("dataset", "shape", "dtype", "chunks")

    def __init__(self, dataset: h5py.Dataset) -> None:
        self.dataset = dataset
        self.shape: tuple[int, ...] = tuple(dataset.shape)
        self.dtype: np.dtype = dataset.dtype
        self.chunks: tuple[int, ...] | None = dataset.chunks


class OpenFile:
    """A cached read-only handle, its size at open time, what it says it is, and its opened datasets.

    ``identity`` holds the file's identity root attributes (see
    :data:`~segdb.arrays.layout.IDENTITY_ATTRS`) as read when it was opened, so a
    reference to the same path that expects another file can be refused without
    reading them again.
    """

    __slots__ = ("handle", "size", "identity", "datasets", "reader")

    def __init__(self, handle: h5py.File, size: int, identity: dict[str, str] | None = None,
                 reader: Any = None) -> None:
        self.handle = handle
        self.size = size
        self.identity: dict[str, str] = identity or {}
        self.datasets: dict[str, OpenDataset] = {}
        self.reader = reader  # the file object HDF5 reads through, for a file in a bucket

    def close(self) -> None:
        """Close the HDF5 handle, then the reader under it."""
        self.handle.close()
        if self.reader is not None:
            self.reader.close()


# A read must not race the eviction that closes its file, and h5py serialises
# HDF5 calls under its own lock anyway: so one lock for the cache and the reads.
_lock = threading.RLock()
_handles: OrderedDict[str, OpenFile] = OrderedDict()
_owner_pid = os.getpid()
# Handles inherited across fork are kept alive but never used or closed in the
# child: closing them would call into an HDF5 library state copied mid-flight.
_inherited: list[OpenFile] = []


def _reset_after_fork() -> None:
    global _lock, _handles, _owner_pid
    _inherited.extend(_handles.values())
    _lock = threading.RLock()  # a thread of the parent may have held the old one
    _handles = OrderedDict()
    _owner_pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _close_at_exit() -> None:
    # A file HDF5 reads through a Python file object (a bucket's ranged reader) must be closed while
    # Python still runs: left to interpreter teardown, HDF5 calls back into a half-destroyed reader.
    if os.getpid() == _owner_pid:
        close_all()


atexit.register(_close_at_exit)


def _check_pid() -> None:
    # Backstop for forks that bypass os.fork's hooks (e.g. a C extension calling fork()).
    if os.getpid() != _owner_pid:
        _reset_after_fork()


def locked() -> threading.RLock:
    """This process's cache lock: hold it while looking up a handle and reading through it."""
    _check_pid()
    return _lock


def cached_file(key: str, open_file: Callable[[], OpenFile]) -> OpenFile:
    """The cached handle on the file ``key`` names, made by ``open_file`` on a miss. Hold :func:`locked`."""
    _check_pid()
    entry = _handles.get(key)
    if entry is None:
        entry = open_file()
        _handles[key] = entry
        count_io(files_opened=1)
        while len(_handles) > MAX_OPEN_FILES:
            _, evicted = _handles.popitem(last=False)
            evicted.close()
    else:
        _handles.move_to_end(key)
    return entry


def close_all() -> None:
    """Close every array file this process has open; references reopen on their next read."""
    with locked():
        while _handles:
            _, entry = _handles.popitem(last=False)
            entry.close()


def open_file_count() -> int:
    """Number of array files this process holds open in its handle cache."""
    with locked():
        return len(_handles)


def open_read_only(path: Path) -> h5py.File:
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


def open_file_object(reader: Any) -> h5py.File:
    """Open a chunk file read-only through a seekable binary file object (a bucket's ranged reader)."""
    return h5py.File(reader, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES, rdcc_nslots=_CHUNK_CACHE_SLOTS)


def _h5py_read_only(path: Path, locking: bool | None) -> h5py.File:
    return h5py.File(
        path, "r", locking=locking, rdcc_nbytes=_CHUNK_CACHE_BYTES, rdcc_nslots=_CHUNK_CACHE_SLOTS
    )


__all__ = [
    "MAX_OPEN_FILES",
    "IOStats",
    "OpenDataset",
    "OpenFile",
    "cached_file",
    "close_all",
    "count_io",
    "io_stats",
    "locked",
    "open_file_count",
    "open_file_object",
    "open_read_only",
    "reset_io_stats",
]
