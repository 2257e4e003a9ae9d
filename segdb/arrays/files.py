"""A chunk file as the catalog knows it: opened lazily, checked, and named in every error.

:class:`ArrayFile` holds only the storage root (a folder, or an ``s3://`` bucket
whose file is read by ranged requests through :mod:`segdb.arrays.stores`), the
relative path and the expected size, sha256 and identity. It opens nothing until a dataset is read;
then it refuses a missing or resized file, a file HDF5 cannot open, a file that
says it is another one (its identity root attributes, a cheap check on every
open where a hash would read the whole file), a newer layout version and a
dataset the file does not have, and it turns h5py's read
failures (a fletcher32 mismatch, a short read) into :class:`IntegrityError`
naming the file and ``segdb verify``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py

from segdb.arrays import handles
from segdb.arrays.handles import OpenDataset, OpenFile
from segdb.arrays.layout import (
    ARCHIVE_ID_ATTR,
    IDENTITY_ATTRS,
    LAYOUT_VERSION,
    LAYOUT_VERSION_ATTR,
    PLANE_ATTR,
    RELATIVE_PATH_ATTR,
    SEGMENTATION_ID_ATTR,
)
from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.arrays.stores import Store, check_key, is_bucket_url, shared_store
from segdb.errors import IntegrityError, InvalidInputError, NotFoundError, StorageUnavailableError


class PickledByFields:
    """Pickles a ``__slots__`` class by the fields it was made with; its caches start empty.

    A subclass names its constructor's fields in ``_fields`` and the slots that
    cache what was read or resolved in ``_caches``: those are rebuilt in the
    process that unpickles (its storage root and open files may differ), and
    pickles stay small and carry no array.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _caches: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        for name in self._caches:
            setattr(self, name, None)


class ArrayFile(PickledByFields):
    """A chunk file as the catalog knows it; opened lazily, read-only, via the cache.

    Parameters
    ----------
    root : Path or str
        Storage root: a folder, or ``"s3://bucket/prefix"`` (read with this process's
        S3 endpoint and credentials, see :class:`~segdb.arrays.stores.S3Store`).
    relative_path : str
        Path of the file under ``root`` as stored in the catalog.
    size_bytes : int, optional
        Expected size; a file of another size is refused when opened.
    sha256 : str, optional
        Expected digest; kept for ``segdb verify``, not checked on open (hashing
        a whole file on every open would defeat lazy reading).
    identity : mapping of str to str, optional
        Identity root attributes the file must not contradict besides its own
        path (always expected), e.g. ``{ARCHIVE_ID_ATTR: ..., PLANE_ATTR: ...}``.
        An attribute the file lacks is not checked, so files written before
        segdb wrote them still open.
    """

    __slots__ = ("root", "relative_path", "size_bytes", "sha256", "identity", "_path")
    _fields = ("root", "relative_path", "size_bytes", "sha256", "identity")
    _caches = ("_path",)

    def __init__(
        self,
        root: Path | str,
        relative_path: str,
        *,
        size_bytes: int | None = None,
        sha256: str | None = None,
        identity: Mapping[str, str] | None = None,
    ) -> None:
        # A string check only: a bad catalog row fails here, without touching the disk or the bucket.
        self.root: Path | str = str(root) if is_bucket_url(root) else Path(root)
        self.relative_path = check_key(relative_path) if isinstance(self.root, str) else check_relative_path(relative_path)
        self.size_bytes = None if size_bytes is None else int(size_bytes)
        self.sha256 = sha256
        self.identity = {str(key): str(value) for key, value in (identity or {}).items()}
        self._path: Path | None = None

    def __repr__(self) -> str:
        return f"ArrayFile(root={str(self.root)!r}, relative_path={self.relative_path!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArrayFile):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    def __hash__(self) -> int:
        return hash((self.root, self.relative_path))

    @property
    def in_bucket(self) -> bool:
        """Whether the file is an object in a bucket rather than a file in a folder."""
        return isinstance(self.root, str)

    @property
    def path(self) -> Path:
        """Absolute resolved path of a file in a folder; refuses paths that leave the root (reads no file)."""
        if isinstance(self.root, str):
            raise InvalidInputError(f"{self._describe()} is an object in a bucket, not a file on this machine")
        if self._path is None:
            self._path = resolve_in_root(self.root, self.relative_path)
        return self._path

    @property
    def store(self) -> Store:
        """This process's store for the file's root."""
        return shared_store(self.root)

    def _cache_key(self) -> str:
        return f"{self.root}/{self.relative_path}" if isinstance(self.root, str) else str(self.path)

    def _describe(self) -> str:
        return f"array file {self.relative_path!r} (under root {str(self.root)!r})"

    def _check_size(self, size: int) -> None:
        if self.size_bytes is not None and size != self.size_bytes:
            raise IntegrityError(
                f"{self._describe()} is {size} bytes but the catalog records "
                f"{self.size_bytes} bytes: it was truncated or replaced; run `segdb verify`"
            )

    def _check_identity(self, claimed: Mapping[str, str]) -> None:
        """Refuse a file whose identity attributes contradict what the catalog expects of it."""
        expected = {RELATIVE_PATH_ATTR: self.relative_path, **self.identity}
        if any(claimed[name] != expected[name] for name in claimed.keys() & expected.keys()):
            raise IntegrityError(
                f"{self._describe()} is another file: it says it is {_identity_text(claimed)}, but the catalog "
                f"expects {_identity_text(expected)}; it was replaced or restored to the wrong place; "
                "run `segdb verify`"
            )

    def _check_replaced(self, size: int) -> None:
        """A file of the wrong size: name the file it says it is when it is another one, else the sizes."""
        try:
            handle, reader = self._open_h5()
        except OSError:
            self._check_size(size)
            return
        try:
            claimed = _claimed_identity(handle)
        finally:
            handle.close()
            if reader is not None:
                reader.close()
        self._check_identity(claimed)
        self._check_size(size)

    def _size_or_missing(self) -> int:
        """The file's size now; a missing file is an IntegrityError naming it."""
        missing = IntegrityError(
            f"array file {self.relative_path!r} is missing (expected under root {str(self.root)!r}); run `segdb verify`"
        )
        if isinstance(self.root, str):
            try:
                return self.store.size(self.relative_path)
            except NotFoundError:
                raise missing from None
        path = self.path
        if not path.is_file():
            raise missing
        return path.stat().st_size

    def _open_h5(self) -> tuple[h5py.File, Any]:
        """Open the file read-only in HDF5: by path in a folder, through a ranged reader in a bucket."""
        if not isinstance(self.root, str):
            return handles.open_read_only(self.path), None
        reader = self.store.open_reader(self.relative_path)
        try:
            return handles.open_file_object(reader), reader
        except BaseException:
            reader.close()
            raise

    def _open_checked(self) -> OpenFile:
        size = self._size_or_missing()
        if self.size_bytes is not None and size != self.size_bytes:
            self._check_replaced(size)
        try:
            handle, reader = self._open_h5()
        except StorageUnavailableError:
            raise
        except OSError as error:
            raise IntegrityError(
                f"{self._describe()} cannot be opened by HDF5 ({error}); it is damaged or "
                "not a chunk file; run `segdb verify`"
            ) from error
        try:
            claimed = _claimed_identity(handle)
            self._check_identity(claimed)
            version = handle.attrs.get(LAYOUT_VERSION_ATTR)
            if version is not None and int(version) > LAYOUT_VERSION:
                raise IntegrityError(
                    f"{self._describe()} has layout version {int(version)}, newer than the "
                    f"{LAYOUT_VERSION} this segdb reads; upgrade segdb"
                )
        except BaseException:
            handle.close()
            if reader is not None:
                reader.close()
            raise
        return OpenFile(handle, size, claimed, reader)

    def _open_dataset(self, name: str) -> OpenDataset:
        """The opened dataset ``name`` (opening the file). Hold :func:`handles.locked` while using it."""
        entry = handles.cached_file(self._cache_key(), self._open_checked)
        # Another reference to the same path may expect another size or identity.
        self._check_size(entry.size)
        self._check_identity(entry.identity)
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
            opened = entry.datasets[name] = OpenDataset(dataset)
        return opened

    @contextmanager
    def _reading(self, name: str) -> Iterator[OpenDataset]:
        """Hold the cache lock over the opened dataset ``name``; read failures become IntegrityError."""
        with handles.locked():
            opened = self._open_dataset(name)
            try:
                yield opened
            except StorageUnavailableError:
                raise
            except OSError as error:
                # fletcher32 mismatches and short reads surface from h5py as OSError.
                raise IntegrityError(
                    f"reading dataset {name!r} of {self._describe()} failed ({error}); "
                    "the file is damaged; run `segdb verify`"
                ) from error


def _claimed_identity(handle: h5py.File) -> dict[str, str]:
    """The identity root attributes a chunk file carries (none for files written before them)."""
    claimed = {}
    for name in IDENTITY_ATTRS:
        value = handle.attrs.get(name)
        if value is not None:
            claimed[name] = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return claimed


def _identity_text(identity: Mapping[str, str]) -> str:
    """An identity as a person reads it: 'a/b.h5' (segmentation 3, plane 'plane0', archive 1f2e…)."""
    parts = []
    if SEGMENTATION_ID_ATTR in identity:
        parts.append(f"segmentation {identity[SEGMENTATION_ID_ATTR]}")
    if PLANE_ATTR in identity:
        parts.append(f"plane {identity[PLANE_ATTR]!r}")
    if ARCHIVE_ID_ATTR in identity:
        parts.append(f"archive {identity[ARCHIVE_ID_ATTR]}")
    path = repr(identity[RELATIVE_PATH_ATTR]) if RELATIVE_PATH_ATTR in identity else "a file without a recorded path"
    return f"{path} ({', '.join(parts)})" if parts else path


__all__ = ["ArrayFile", "PickledByFields"]
