"""Write-once files: land a new file durably under a storage root, or leave nothing.

A file is written to a hidden temporary name in its final directory, fsynced and
hashed (at the same time), linked into place (never over an existing file), and
the directory is fsynced. The caller records the returned size and sha256 in the
catalog afterwards, so a crash leaves at worst an orphan file. This module knows
nothing of HDF5: the caller's ``write`` function fills the temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.errors import IntegrityError

#: Marker in the names of files being written; ``segdb gc`` may delete such leftovers.
TEMP_MARKER = ".tmp."

# Streamed hashing block (the catalog's sha256 is recomputed by `segdb verify`).
_HASH_BLOCK_BYTES = 8 * 2**20

T = TypeVar("T")


class ArrayFileExistsError(IntegrityError, FileExistsError):
    """A chunk file would be written where a file already exists: files are never overwritten."""


@dataclass(frozen=True)
class LandedFile:
    """A file that is in place and durable.

    Attributes
    ----------
    relative_path : str
        Normalised POSIX path relative to the storage root.
    size_bytes : int
    sha256 : str
        Hex digest of the whole file.
    """

    relative_path: str
    size_bytes: int
    sha256: str


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


def write_file_once(root: Path, relative_path: str, write: Callable[[Path], T]) -> tuple[LandedFile, T]:
    """Create a file through a temporary name; never overwrite; leave nothing on failure.

    Parameters
    ----------
    root : Path
        Storage root.
    relative_path : str
        Where the file goes under ``root``; must not exist yet.
    write : callable
        Called with the temporary path (which does not exist yet); it creates and
        closes the file there. What it returns is handed back.

    Returns
    -------
    tuple of LandedFile and what ``write`` returned

    Raises
    ------
    ArrayFileExistsError
        If a file already exists at ``relative_path``, before or at link time.
    IntegrityError
        If the path is refused by :func:`~segdb.arrays.paths.check_relative_path`
        or leads outside ``root``.
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
        result = write(temporary)
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
    return LandedFile(normal, final.stat().st_size, digest), result


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


__all__ = ["TEMP_MARKER", "ArrayFileExistsError", "LandedFile", "sha256_file", "write_file_once"]
