"""Where chunk files are kept: a local folder or an S3-compatible bucket, behind one small interface.

A :class:`Store` holds write-once objects under keys relative to its root (the
catalog's relative paths). Both backends refuse a key that could leave the root,
never overwrite an object, hand back size and sha256 computed while the bytes
stream, and open a seekable binary reader that ``h5py.File(reader, "r")``
accepts. Every read is counted in :func:`segdb.arrays.handles.io_stats`
(``store_requests``, ``store_bytes_fetched``), so a benchmark can say how many
bytes a small window cost.

The object store client is obstore (Rust's ``object_store``), chosen by
measurement against a local SeaweedFS 4.48 (loopback, 100 MB object)::

                                          obstore 0.12   s3fs 2026.9
    200 random 64 KiB ranged GETs           0.85 ms/GET    1.74 ms/GET
    stream + sha256 of 100 MB               163 ms         206 ms
    upload 100 MB (multipart)               1.38-1.77 s    1.41 s

Both fetch exactly the bytes asked for. The hot path of reading an archive is
many small ranged GETs (HDF5 metadata, then the chunks of a window), where
obstore costs half as much per request; uploads happen once per file. obstore is
one wheel with no Python dependencies and a synchronous API (no event loop
thread), where s3fs brings aiobotocore, botocore and aiohttp. Its one gap is
that a conditional put (``If-None-Match: *``) is single-part only, so files
above :data:`SINGLE_PUT_MAX_BYTES` go up as a multipart upload to a temporary
key and are then copied into place by a CopyObject with ``If-None-Match: *``
(server-side; 0.5-0.8 s per 100 MB on SeaweedFS). Two writers racing for one
new key, 100 races each on SeaweedFS 4.48: a conditional PutObject and a
conditional CopyObject let exactly one win every time, while a conditional
CompleteMultipartUpload (obstore's ``copy_if_not_exists="multipart"``) let both
"win" 6 times in 100, the second overwriting the first; so the copy is a
CopyObject, which AWS S3 limits to 5 GiB. Not every S3-compatible server honours
that header on CopyObject (moto 5.2 ignores it and overwrites), so before its
first multipart upload a store checks, with two empty temporary objects, that
the server refuses a conditional copy onto an existing key, and refuses to
upload a large file to a server that does not. AWS profiles need boto3 (obstore
reads only environment variables, web identity and instance roles).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import mmap
import os
import re
import shutil
import threading
import urllib.parse
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from segdb.arrays.durable import TEMP_MARKER, ArrayFileExistsError, LandedFile, write_file_once
from segdb.arrays.handles import count_io
from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.arrays.staging import staging_folder
from segdb.errors import IntegrityError, InvalidInputError, NotFoundError, StorageUnavailableError

#: Bytes fetched per ranged GET on a cache miss (consecutive missing blocks go in one GET).
#: Measured on a 123 MB chunk file (1,000 ROIs x 30,000 float32 samples, chunks 2048 x 4)
#: on loopback SeaweedFS, opening it and reading a 10-ROI x 1,000-sample window:
#: 64 KiB 6.6 GETs / 0.47 MiB, 256 KiB 4.8 GETs / 1.30 MiB, 1 MiB 4.4 GETs / 4.6 MiB,
#: 4 MiB 4.4 GETs / 17.6 MiB. Larger blocks save few requests and multiply the bytes.
#: On a 403 MB file (1,000 x 100,000) a cold window overlaps 10 chunks of 32 KiB (328 kB stored);
#: blocks of 64 KiB fetched 1.63 MB in 19 GETs, 16 KiB 0.63 MB in 19 GETs (all masks: 27 GETs, was 23),
#: 8 KiB 0.50 MB in 20 GETs (benchmarks/bench_storage.py).
DEFAULT_BLOCK_BYTES = 16 * 2**10
#: Blocks kept per open reader (least recently used dropped first): 32 MiB at the default block size.
DEFAULT_CACHE_BLOCKS = 2048
#: Files up to this size (AWS S3's limit for one PUT) are uploaded in one conditional PUT, sent
#: from a read-only memory map of the staged file (obstore reads the mapped pages as it sends: no
#: copy is held in memory; 1 GB sent left the process's anonymous memory unchanged); larger ones
#: go multipart to a temporary key and are copied into place conditionally. Measured on a 403 MB
#: chunk file (benchmarks/bench_storage.py, loopback SeaweedFS): ingest took 4.1 s through
#: multipart + CopyObject (the copy alone 0.9-1.1 s; 0.52x a plain upload) and 2.7 s in one PUT
#: (0.78x).
SINGLE_PUT_MAX_BYTES = 5 * 2**30
_PART_BYTES = 16 * 2**20  # measured fastest of 8/16/32 MiB parts at 4 uploads in flight
_PART_CONCURRENCY = 4
_STREAM_BYTES = 8 * 2**20

# A key must not name another bucket or service ("s3://other/x", "https:..."): check_relative_path
# accepts "s3:" as an ordinary first component.
_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

T = TypeVar("T")

@dataclass(frozen=True)
class StoredObject(LandedFile):
    """An object that is in place, with what the catalog records of it.

    Attributes
    ----------
    server_checksum : str or None
        The server's fingerprint of the object (its S3 ETag) when it has one;
        ``verify`` can compare it with :meth:`Store.server_checksum` as a fast mode.
    """

    server_checksum: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing finds it.

    Attributes
    ----------
    key : str
        Path relative to the store's root.
    size_bytes : int
    modified : float
        When it was last written, in seconds since the epoch.
    """

    key: str
    size_bytes: int
    modified: float


def check_key(key: str) -> str:
    """Validate a key (a path relative to a store's root) and return its normal form.

    The rules of :func:`~segdb.arrays.paths.check_relative_path` (no ``..``, not
    absolute, no backslash, not the root itself), and no URL scheme, so a key can
    never name another bucket.

    Raises
    ------
    IntegrityError
    """
    normal = check_relative_path(key)
    if _SCHEME_PREFIX.match(normal):
        raise IntegrityError(
            f"array file path {key!r} is refused: it starts with a URL scheme and could name another "
            "bucket; array files are stored as POSIX paths relative to the storage root, e.g. 'seg_000012/plane_0.h5'"
        )
    return normal


class Store(ABC):
    """Write-once objects under a storage root, named by keys relative to it.

    Subclasses implement the byte operations; key checks are done here.
    """

    @property
    @abstractmethod
    def url(self) -> str:
        """The root as a user writes it: a folder path or ``s3://bucket/prefix``."""

    def describe(self, key: str) -> str:
        """How errors name an object: its key and where it lives."""
        return f"array file {key!r} (under root {self.url!r})"

    def describe_root(self) -> str:
        """How errors name the root: the folder, or the bucket and its endpoint."""
        return self.url

    def open_reader(self, key: str) -> BinaryIO:
        """A seekable, read-only binary file object on ``key`` that ``h5py.File(reader, 'r')`` opens.

        Raises
        ------
        NotFoundError
            If there is no such object.
        """
        return self._open_reader(check_key(key))

    def put_new(self, key: str, source: Path | str) -> StoredObject:
        """Store the local file ``source`` at ``key``, which must not exist yet.

        The object appears whole or not at all; size and sha256 are computed from
        the bytes as they are sent.

        Raises
        ------
        ArrayFileExistsError
            If ``key`` exists, before the upload or when it would land: nothing is overwritten.
        """
        return self._put_new(check_key(key), Path(source))

    def write_new(self, key: str, write: Callable[[Path], T]) -> tuple[StoredObject, T]:
        """Create the object ``key`` (which must not exist yet) from a local file ``write`` fills.

        ``write`` is called with a path that does not exist yet; it creates and closes the file
        there and what it returns is handed back. A folder writes that file in place (a temporary
        name, linked into place); a bucket writes it to a local staging folder
        (``$SEGDB_STAGING_DIR``, else the system's temporary folder) and uploads it. Either way
        the object appears whole or not at all, and a failure leaves nothing under the root.

        Raises
        ------
        ArrayFileExistsError
            If ``key`` exists: nothing is overwritten.
        """
        return self._write_new(check_key(key), write)

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        return self._size_or_none(check_key(key)) is not None

    def size(self, key: str) -> int:
        """Size of the object at ``key`` in bytes.

        Raises
        ------
        NotFoundError
        """
        normal = check_key(key)
        size = self._size_or_none(normal)
        if size is None:
            raise self._not_found(normal)
        return size

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under the folder ``prefix`` ("" for the whole root), temporary leftovers included, sorted."""
        return (info.key for info in self.iter_objects(prefix))

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under the folder ``prefix`` ("" for the whole root) with its size and age, sorted by key."""
        return self._iter_objects(check_key(prefix) if prefix else "")

    def root_exists(self) -> bool:
        """Whether the root is there to read: the folder exists, or the bucket answers."""
        return self._root_exists()

    def discard(self, key: str) -> None:
        """Delete the object at ``key`` if there is one."""
        normal = check_key(key)
        if self.exists(normal):
            self._delete(normal)

    def read_text(self, key: str) -> str | None:
        """The text of a small object (a marker), or None when there is none."""
        normal = check_key(key)
        if not self.exists(normal):
            return None
        return b"".join(self._stream(normal)).decode("utf-8")

    def write_text_new(self, key: str, text: str) -> bool:
        """Create a small object holding ``text`` unless one exists; whether it was created."""
        def write(path: Path) -> None:
            path.write_text(text, encoding="utf-8")

        try:
            self.write_new(key, write)
        except ArrayFileExistsError:
            return False
        return True

    def delete(self, key: str) -> None:
        """Delete the object at ``key``.

        Raises
        ------
        NotFoundError
        """
        normal = check_key(key)
        if not self.exists(normal):
            raise self._not_found(normal)
        self._delete(normal)

    def sha256(self, key: str) -> str:
        """Hex sha256 of the object at ``key``, streamed so memory stays flat."""
        digest = hashlib.sha256()
        for block in self._stream(check_key(key)):
            digest.update(block)
        return digest.hexdigest()

    def server_checksum(self, key: str) -> str | None:
        """The server's fingerprint of ``key`` (S3 ETag), or None where the backend keeps none."""
        check_key(key)
        return None

    def _not_found(self, key: str) -> NotFoundError:
        return NotFoundError(f"{self.describe(key)} does not exist; run `segdb verify` to list missing files")

    def _exists_error(self, key: str) -> ArrayFileExistsError:
        return ArrayFileExistsError(
            f"{self.describe(key)} already exists; chunk files are never overwritten: write the new arrays "
            "to a new path (or run `segdb gc` if it is an orphan)"
        )

    @abstractmethod
    def _open_reader(self, key: str) -> BinaryIO: ...

    @abstractmethod
    def _put_new(self, key: str, source: Path) -> StoredObject: ...

    @abstractmethod
    def _size_or_none(self, key: str) -> int | None: ...

    @abstractmethod
    def _write_new(self, key: str, write: Callable[[Path], T]) -> tuple[StoredObject, T]: ...

    @abstractmethod
    def _iter_objects(self, prefix: str) -> Iterator[ObjectInfo]: ...

    @abstractmethod
    def _root_exists(self) -> bool: ...

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    @abstractmethod
    def _stream(self, key: str) -> Iterator[bytes]: ...


# --------------------------------------------------------------------------- local folder


class LocalStore(Store):
    """Objects as files under a folder, written through :func:`~segdb.arrays.durable.write_file_once`.

    Parameters
    ----------
    root : Path
        The storage root folder.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalStore) and other.root == self.root

    def __hash__(self) -> int:
        return hash(("LocalStore", self.root))

    @property
    def url(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        """The resolved path of ``key`` (symlinks that leave the root are refused)."""
        return resolve_in_root(self.root, check_key(key))

    def _open_reader(self, key: str) -> BinaryIO:
        path = resolve_in_root(self.root, key)
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise self._not_found(key) from None
        return _PreadFile(descriptor, os.fstat(descriptor).st_size)

    def _put_new(self, key: str, source: Path) -> StoredObject:
        stored, _ = self._write_new(key, lambda temporary: shutil.copyfile(source, temporary))
        return stored

    def _write_new(self, key: str, write: Callable[[Path], T]) -> tuple[StoredObject, T]:
        landed, result = write_file_once(self.root, key, write)
        return StoredObject(landed.relative_path, landed.size_bytes, landed.sha256), result

    def _size_or_none(self, key: str) -> int | None:
        path = resolve_in_root(self.root, key)
        return path.stat().st_size if path.is_file() else None

    def _iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        resolved_root = self.root.resolve()
        top = resolve_in_root(self.root, prefix) if prefix else resolved_root
        found = []
        for directory, _, names in os.walk(top):
            for name in names:
                path = Path(directory) / name
                with contextlib.suppress(FileNotFoundError):
                    info = path.lstat()
                    found.append(ObjectInfo(path.relative_to(resolved_root).as_posix(), info.st_size, info.st_mtime))
        yield from sorted(found, key=lambda info: info.key)

    def _root_exists(self) -> bool:
        return self.root.is_dir()

    def _delete(self, key: str) -> None:
        resolve_in_root(self.root, key).unlink()

    def _stream(self, key: str) -> Iterator[bytes]:
        with self._open_reader(key) as reader:
            while block := reader.read(_STREAM_BYTES):
                yield block


class _SeekableReader(io.RawIOBase):
    """A read-only, seekable binary file of ``_size`` bytes at ``_position``: what h5py needs of a file object."""

    _size: int
    _position: int

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = _seek_target(self._position, self._size, offset, whence)
        return self._position


class _PreadFile(_SeekableReader):
    """A read-only file on a descriptor whose reads are counted as store requests."""

    def __init__(self, descriptor: int, size: int) -> None:
        self._descriptor = descriptor
        self._size = size
        self._position = 0

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = os.preadv(self._descriptor, [view], self._position)
        count_io(store_requests=1, store_bytes_fetched=count)
        self._position += count
        return count

    def close(self) -> None:
        if not self.closed:
            os.close(self._descriptor)
        super().close()


# --------------------------------------------------------------------------- block cache


class BlockCachedReader(_SeekableReader):
    """A seekable reader that fetches aligned blocks by ranged requests and keeps the recent ones.

    A read fetches only the blocks it overlaps that are not cached; consecutive
    missing blocks are fetched in one request.

    Parameters
    ----------
    fetch : callable
        ``fetch(start, length) -> bytes``, one ranged request.
    size : int
        Size of the object.
    block_size, max_blocks : int
        Bytes per block, and blocks kept (least recently used dropped first).
    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size: int,
        *,
        block_size: int = DEFAULT_BLOCK_BYTES,
        max_blocks: int = DEFAULT_CACHE_BLOCKS,
    ) -> None:
        self._fetch = fetch
        self._size = size
        self._block_size = block_size
        self._max_blocks = max_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0
        self._lock = threading.Lock()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        stop = min(start + len(view), self._size)
        if stop <= start:
            return 0
        with self._lock:
            blocks = self._blocks_for(start // self._block_size, (stop - 1) // self._block_size)
        written = 0
        for index, block in blocks:
            block_start = index * self._block_size
            low = max(start, block_start) - block_start
            high = min(stop, block_start + len(block)) - block_start
            view[written : written + high - low] = block[low:high]
            written += high - low
        self._position = start + written
        return written

    def _blocks_for(self, first: int, last: int) -> list[tuple[int, bytes]]:
        """Blocks ``first..last``, fetching each run of missing ones in one request."""
        run_start = None
        for index in range(first, last + 2):
            missing = index <= last and index not in self._blocks
            if missing and run_start is None:
                run_start = index
            elif not missing and run_start is not None:
                self._fetch_run(run_start, index - 1)
                run_start = None
        found = []
        for index in range(first, last + 1):
            self._blocks.move_to_end(index)
            found.append((index, self._blocks[index]))
        while len(self._blocks) > max(self._max_blocks, last - first + 1):
            self._blocks.popitem(last=False)
        return found

    def _fetch_run(self, first: int, last: int) -> None:
        start = first * self._block_size
        length = min((last + 1) * self._block_size, self._size) - start
        data = self._fetch(start, length)
        if len(data) != length:
            raise OSError(f"short read: asked for {length} bytes at {start}, got {len(data)}")
        for index in range(first, last + 1):
            offset = (index - first) * self._block_size
            self._blocks[index] = data[offset : offset + self._block_size]


def _seek_target(position: int, size: int, offset: int, whence: int) -> int:
    if whence == io.SEEK_SET:
        target = offset
    elif whence == io.SEEK_CUR:
        target = position + offset
    elif whence == io.SEEK_END:
        target = size + offset
    else:
        raise ValueError(f"whence must be 0, 1 or 2, not {whence!r}")
    if target < 0:
        raise ValueError(f"cannot seek to {target}: before the start of the object")
    return target


# --------------------------------------------------------------------------- S3-compatible bucket


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix`` split into its parts."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Split an ``s3://bucket[/prefix]`` URL; the prefix follows the key rules."""
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?", url)
        if match is None:
            raise InvalidInputError(
                f"storage root {url!r} is not an S3 URL; write it as s3://bucket/prefix "
                "(bucket names are 3-63 lower-case letters, digits, dots and hyphens)"
            )
        prefix = (match.group(2) or "").strip("/")
        return cls(match.group(1), check_key(prefix) if prefix else "")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class S3Store(Store):
    """Objects in an S3-compatible bucket under a prefix, read by ranged GETs through a block cache.

    Credentials, endpoint and region come from the standard places, as the AWS
    tools read them: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
    ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL_S3`` then ``AWS_ENDPOINT_URL``,
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_PROFILE`` (through boto3: its
    credentials, region and ``endpoint_url``, in the profile or its ``services``
    section, as the AWS CLI reads them), web identity and instance roles. Secrets are never part of the store's repr, its
    pickle or its errors: a store unpickled in another process takes that
    process's credentials.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix``.
    endpoint : str, optional
        ``http(s)://host:port`` of an S3-compatible server; overrides the environment.
    region, profile : str, optional
        Override ``AWS_REGION`` and ``AWS_PROFILE``.
    access_key_id, secret_access_key : str, optional
        Explicit credentials (kept out of pickles).
    block_size, cache_blocks : int
        Ranged-read block and the blocks each reader keeps.
    max_retries : int
        Retries of a failed request, with exponential backoff from 100 ms up to 5 s.
    timeout : float
        Seconds a request may take (connecting: at most 10 s).
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        block_size: int = DEFAULT_BLOCK_BYTES,
        cache_blocks: int = DEFAULT_CACHE_BLOCKS,
        max_retries: int = 5,
        timeout: float = 60.0,
    ) -> None:
        self.location = S3Location.parse(url)
        self.endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.profile = profile or os.environ.get("AWS_PROFILE")
        if not self.endpoint and self.profile:
            self.endpoint = _profile_endpoint(self.profile)
        self.block_size = int(block_size)
        self.cache_blocks = int(cache_blocks)
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self._secret = (access_key_id, secret_access_key) if access_key_id and secret_access_key else None
        self._conditional_copy_checked = False
        self._client: Any = None
        self._client_pid = 0
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self._endpoint_text()!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_secret=None, _client=None, _client_lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.location.url

    def describe(self, key: str) -> str:
        return f"object {key!r} in {self.url} at {self._endpoint_text()}"

    def describe_root(self) -> str:
        return f"{self.url} at {self._endpoint_text()}"

    def server_checksum(self, key: str) -> str | None:
        """The object's ETag without quotes: MD5 of a single-part upload, ``md5-of-parts-N`` of a multipart one."""
        head = self._call(check_key(key), "HEAD", lambda obstore, client: obstore.head(client, key))
        return _etag(head)

    # ----------------------------------------------------------------------- backend operations

    def _open_reader(self, key: str) -> BinaryIO:
        size = self.size(key)

        def fetch(start: int, length: int) -> bytes:
            data = self._call(
                key, "GET", lambda obstore, client: obstore.get_range(client, key, start=start, length=length)
            )
            count_io(store_requests=1, store_bytes_fetched=len(data))
            return bytes(data)

        return BlockCachedReader(fetch, size, block_size=self.block_size, max_blocks=self.cache_blocks)

    def _put_new(self, key: str, source: Path) -> StoredObject:
        if self._size_or_none(key) is not None:
            raise self._exists_error(key)  # before sending gigabytes; the put itself is conditional too
        digest = hashlib.sha256()
        size = source.stat().st_size
        if size <= SINGLE_PUT_MAX_BYTES:
            with _mapped(source, size) as data:
                # Hash while the bytes are sent: hashlib and obstore both release the GIL.
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segdb-sha256") as pool:
                    hashed = pool.submit(digest.update, data)
                    try:
                        self._put_conditional(key, data)
                    finally:
                        hashed.result()
        else:
            self._put_multipart_conditional(key, source, digest)
        head = self._call(key, "HEAD", lambda obstore, client: obstore.head(client, key))
        return StoredObject(key, int(head["size"]), digest.hexdigest(), _etag(head))

    def _write_new(self, key: str, write: Callable[[Path], T]) -> tuple[StoredObject, T]:
        if self._size_or_none(key) is not None:
            raise self._exists_error(key)  # before writing the file at all
        with staging_folder("upload") as folder:
            staged = folder / "object"
            result = write(staged)
            return self._put_new(key, staged), result

    def _put_conditional(self, key: str, data: bytes) -> None:
        _, exceptions = _obstore()
        try:
            self._call(key, "PUT", lambda obstore, client: obstore.put(client, key, data, mode="create"))
        except (exceptions.AlreadyExistsError, FileExistsError):
            raise self._exists_error(key) from None

    def _put_multipart_conditional(self, key: str, source: Path, digest: Any) -> None:
        """Multipart upload to a temporary key, then a conditional CopyObject into place (see the module docstring)."""
        obstore, exceptions = _obstore()
        self._check_conditional_copy(key)
        temporary = _temporary_key(key)

        def blocks() -> Iterator[bytes]:
            with open(source, "rb") as handle:
                while block := handle.read(_PART_BYTES):
                    digest.update(block)
                    yield block

        try:
            self._call(
                key,  # errors name the object being stored; the temporary key is an implementation detail
                "PUT",
                lambda obstore, client: obstore.put(
                    client, temporary, blocks(), chunk_size=_PART_BYTES, max_concurrency=_PART_CONCURRENCY
                ),
            )
            try:
                self._call(key, "COPY", lambda obstore, client: obstore.copy(client, temporary, key, overwrite=False))
            except exceptions.AlreadyExistsError:
                raise self._exists_error(key) from None
        finally:
            # A temporary object left behind (server gone) is an orphan that `segdb gc` lists.
            with contextlib.suppress(Exception):
                obstore.delete(self._store(), temporary)

    def _check_conditional_copy(self, key: str) -> None:
        """Refuse to go on unless the server refuses a CopyObject with ``If-None-Match: *`` onto an existing key.

        Checked once per store, on two empty temporary objects named for ``key``
        (so a lease on ``key`` covers them and ``segdb gc`` lists any left behind).

        Raises
        ------
        StorageUnavailableError
            If the copy overwrote its target: a racing writer's file could be overwritten the same way.
        """
        if self._conditional_copy_checked:
            return
        obstore, exceptions = _obstore()
        source, target = _temporary_key(key), _temporary_key(key)
        try:
            for probe in (source, target):
                self._call(key, "PUT", lambda obstore, client, probe=probe: obstore.put(client, probe, b""))
            try:
                self._call(key, "COPY", lambda obstore, client: obstore.copy(client, source, target, overwrite=False))
            except exceptions.AlreadyExistsError:
                self._conditional_copy_checked = True
                return
        finally:
            for probe in (source, target):
                with contextlib.suppress(Exception):
                    obstore.delete(self._store(), probe)
        raise StorageUnavailableError(
            f"{self.describe(key)} is not stored: it is larger than {_binary_size(SINGLE_PUT_MAX_BYTES)}, so it "
            "would be copied into place by a CopyObject with If-None-Match: *, and this server ignores that "
            "condition (a test copy onto an existing object overwrote it), so a racing writer's file could be "
            "overwritten; use a server that honours conditional CopyObject (AWS S3, SeaweedFS 4.48)"
        )

    def _size_or_none(self, key: str) -> int | None:
        _, exceptions = _obstore()
        try:
            head = self._call(key, "HEAD", lambda obstore, client: obstore.head(client, key), missing_ok=True)
        except (exceptions.NotFoundError, FileNotFoundError):
            return None
        return int(head["size"])

    def _iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        batches = self._call(
            prefix or "(root)", "LIST", lambda obstore, client: list(obstore.list(client, prefix or None))
        )
        found = [
            ObjectInfo(entry["path"], int(entry["size"]), entry["last_modified"].timestamp())
            for batch in batches for entry in batch
        ]
        yield from sorted(found, key=lambda info: info.key)

    def _root_exists(self) -> bool:
        try:
            self._call("(root)", "LIST", lambda obstore, client: next(iter(obstore.list(client, chunk_size=1)), None))
        except NotFoundError:
            return False
        except StorageUnavailableError as error:
            if "NoSuchBucket" in str(error):
                return False
            raise
        return True

    def _delete(self, key: str) -> None:
        self._call(key, "DELETE", lambda obstore, client: obstore.delete(client, key))

    def _stream(self, key: str) -> Iterator[bytes]:
        result = self._call(key, "GET", lambda obstore, client: obstore.get(client, key))
        count_io(store_requests=1)
        try:
            for block in result.stream(min_chunk_size=_STREAM_BYTES):
                count_io(store_bytes_fetched=len(block))
                yield bytes(block)
        except Exception as error:  # noqa: BLE001 - obstore raises its own errors mid-stream
            raise self._unavailable(key, "GET", error) from None

    # ----------------------------------------------------------------------- client and errors

    def _call(self, key: str, operation: str, call: Callable[[Any, Any], Any], *, missing_ok: bool = False) -> Any:
        """Run one obstore call; a missing object becomes NotFoundError, a failure StorageUnavailableError."""
        obstore, exceptions = _obstore()
        try:
            return call(obstore, self._store())
        except (exceptions.NotFoundError, FileNotFoundError):
            # obstore raises FileNotFoundError for a missing object on HEAD and GET
            if missing_ok:
                raise
            raise self._not_found(key) from None
        except (exceptions.AlreadyExistsError, FileExistsError):
            raise
        except (exceptions.PermissionDeniedError, exceptions.UnauthenticatedError, PermissionError) as error:
            raise self._refused(key, operation, error) from None
        except Exception as error:  # noqa: BLE001 - obstore's generic errors carry the HTTP failure
            raise self._unavailable(key, operation, error) from None

    def _unavailable(self, key: str, operation: str, error: BaseException) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"{operation} of {self.describe(key)} failed after {self.max_retries} retries ({self._scrubbed(error)}); "
            "check that the endpoint is reachable and the credentials are allowed, then retry"
        )

    def _refused(self, key: str, operation: str, error: BaseException) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"{operation} of {self.describe(key)} was refused ({self._scrubbed(error)}); the credentials are "
            "missing, wrong or not allowed on this bucket: check AWS_ACCESS_KEY_ID / AWS_PROFILE and the bucket policy"
        )

    def _scrubbed(self, error: BaseException) -> str:
        """The first line of an obstore error, with any secret this store holds masked."""
        cause = _one_line(str(error) or type(error).__name__)
        for secret in self._secret or ():
            cause = cause.replace(secret, "***")
        return cause

    def _endpoint_text(self) -> str:
        return self.endpoint or "AWS S3 (no endpoint set)"

    def _store(self) -> Any:
        """This process's obstore client, made on first use (a forked child makes its own)."""
        with self._client_lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = self._new_client()
                self._client_pid = os.getpid()
            return self._client

    def _new_client(self) -> Any:
        from obstore.store import S3Store as ObstoreS3

        options: dict[str, Any] = {}
        if self.endpoint:
            options["endpoint"] = self.endpoint
        if self.region:
            options["region"] = self.region
        credential_provider = None
        if self._secret is not None:
            options["access_key_id"], options["secret_access_key"] = self._secret
        elif self.profile and not os.environ.get("AWS_ACCESS_KEY_ID"):
            credential_provider, profile_region = _profile_credentials(self.profile)
            if profile_region and "region" not in options:
                options["region"] = profile_region
        options.setdefault("region", "us-east-1")
        return ObstoreS3(
            self.location.bucket,
            prefix=self.location.prefix or None,
            credential_provider=credential_provider,
            copy_if_not_exists="header:If-None-Match:*",
            client_options={
                "allow_http": bool(self.endpoint and self.endpoint.startswith("http://")),
                "connect_timeout": timedelta(seconds=min(10.0, self.timeout)),
                "timeout": timedelta(seconds=self.timeout),
            },
            retry_config={
                "max_retries": self.max_retries,
                "retry_timeout": timedelta(seconds=self.timeout * (self.max_retries + 1)),
                "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5), "base": 2},
            },
            **options,
        )


def _profile_session(profile: str) -> Any:
    """A boto3 session of the AWS profile named ``profile``, refused in one line when it cannot be read."""
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise InvalidInputError(
            f"AWS_PROFILE is {profile!r}, and reading AWS profiles needs boto3: `pip install 'segdb[s3-profiles]'`, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
        ) from None
    try:
        return boto3.Session(profile_name=profile)
    except botocore.exceptions.ProfileNotFound:
        raise InvalidInputError(
            f"AWS_PROFILE is {profile!r}, which the AWS config ({os.environ.get('AWS_CONFIG_FILE', '~/.aws/config')}) "
            "does not define; name one of its profiles, or unset AWS_PROFILE"
        ) from None


def _profile_endpoint(profile: str) -> str | None:
    """The S3 endpoint that an AWS profile configures (``endpoint_url`` in the profile or its ``services``
    section), or None where it leaves AWS S3's own; None too without boto3 (the credentials say why)."""
    if importlib.util.find_spec("boto3") is None:
        return None
    resolved = _profile_session(profile).client("s3").meta.endpoint_url
    host = urllib.parse.urlsplit(resolved).hostname or ""
    return None if host == "amazonaws.com" or host.endswith(".amazonaws.com") else resolved


def _profile_credentials(profile: str) -> tuple[Callable[[], dict[str, Any]], str | None]:
    """A credential provider reading an AWS profile (config, SSO, assume-role) through boto3."""
    session = _profile_session(profile)

    def credentials() -> dict[str, Any]:
        found = session.get_credentials()
        if found is None:
            raise InvalidInputError(f"AWS profile {profile!r} has no credentials; check ~/.aws/config")
        frozen = found.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": datetime.now(timezone.utc) + timedelta(minutes=5),
        }

    return credentials, session.region_name


def _binary_size(size: int) -> str:
    """``size`` bytes in GiB from 1 GiB up, else in MiB."""
    return f"{size / 2**30:g} GiB" if size >= 2**30 else f"{size / 2**20:g} MiB"


@contextlib.contextmanager
def _mapped(path: Path, size: int) -> Iterator[Any]:
    """The bytes of the file at ``path`` (``size`` of them) as a read-only view of a memory map."""
    if size == 0:
        yield b""
        return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            yield view
        finally:
            view.release()


def _obstore() -> tuple[Any, Any]:
    import obstore
    import obstore.exceptions

    return obstore, obstore.exceptions


def _temporary_key(key: str) -> str:
    """A new temporary name beside ``key`` that becomes ``key`` (``segdb gc`` and leases read it so)."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/" * bool(folder) + f".{name}{TEMP_MARKER}{uuid.uuid4().hex}"


def _etag(head: dict[str, Any]) -> str | None:
    tag = head.get("e_tag")
    return tag.strip('"') if tag else None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def is_bucket_url(root: str | Path) -> bool:
    """Whether a storage root names a bucket (``s3://…``) rather than a folder."""
    return isinstance(root, str) and root.startswith("s3://")


def open_store(root: str | Path, **options: Any) -> Store:
    """The store for a storage root: :class:`S3Store` for ``s3://…``, :class:`LocalStore` for a folder."""
    if is_bucket_url(root):
        return S3Store(str(root), **options)
    return LocalStore(Path(root))


_shared_stores: dict[str, Store] = {}
_shared_lock = threading.Lock()


def shared_store(root: str | Path) -> Store:
    """This process's one store for a storage root, so every reference to its files shares one client.

    Its endpoint and credentials are read from this process's environment when it is first used.
    """
    name = str(root)
    with _shared_lock:
        store = _shared_stores.get(name)
        if store is None:
            store = _shared_stores[name] = open_store(root)
        return store


__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "DEFAULT_CACHE_BLOCKS",
    "SINGLE_PUT_MAX_BYTES",
    "BlockCachedReader",
    "LocalStore",
    "ObjectInfo",
    "S3Location",
    "S3Store",
    "Store",
    "StoredObject",
    "check_key",
    "is_bucket_url",
    "open_store",
    "shared_store",
]
