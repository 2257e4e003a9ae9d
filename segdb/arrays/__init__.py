"""HDF5 chunk files and lazy references to the arrays in them.

This layer knows nothing of the catalog: it writes write-once chunk files and
reads them back through lazy references built from what the catalog recorded
(relative path, size, sha256, dataset shapes).

Modules:

- ``layout``: the on-disk layout: version, identity attributes, trace and auxiliary chunk shapes, codecs,
  :class:`DatasetInfo`.
- ``paths``: relative paths of array files and their resolution under a storage root.
- ``durable``: the write-once protocol (temporary name, fsync, sha256, link into place) and :func:`sha256_file`.
- ``writer``: :class:`PlaneArrays` and writing a plane or later trace series to a new chunk file.
- ``handles``: this process's cache of open read-only handles, and the :func:`io_stats` counters.
- ``files``: :class:`ArrayFile`, one chunk file opened lazily and checked, named in every error.
- ``refs``: :class:`ArrayRef`, :class:`CsrMaskRef` and :func:`read_trace_block`.
- ``stores``: where chunk files are kept, behind one interface :class:`Store`: :class:`LocalStore`
  (a folder) and :class:`S3Store` (an S3-compatible bucket, read by ranged GETs through a block cache).

The package imports only numpy, h5py, obstore (and boto3 for AWS profiles, both
when a bucket is first used), ``segdb.errors``, ``segdb.geometry`` and its own
modules: never sqlalchemy, ``segdb.catalog``, ``segdb.archive`` or anything above them.
"""

from segdb.arrays.durable import TEMP_MARKER, ArrayFileExistsError, sha256_file
from segdb.arrays.files import ArrayFile
from segdb.arrays.handles import MAX_OPEN_FILES, IOStats, close_all, io_stats, open_file_count, reset_io_stats
from segdb.arrays.layout import (
    ARCHIVE_ID_ATTR,
    AUX_CODEC,
    IDENTITY_ATTRS,
    LAYOUT_VERSION,
    LAYOUT_VERSION_ATTR,
    PLANE_ATTR,
    RELATIVE_PATH_ATTR,
    SEGMENTATION_ID_ATTR,
    TRACE_CHUNK_ROIS,
    TRACE_CHUNK_SAMPLES,
    TRACE_CODEC,
    DatasetInfo,
    TraceCodec,
    trace_chunk_shape,
)
from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.arrays.refs import ArrayRef, CsrMaskRef, read_trace_block
from segdb.arrays.staging import StagedFolder, process_running, staged_folders, staging_folder, this_host
from segdb.arrays.stores import (
    LocalStore,
    ObjectInfo,
    S3Store,
    Store,
    StoredObject,
    check_key,
    is_bucket_url,
    open_store,
    shared_store,
)
from segdb.arrays.writer import PlaneArrays, WrittenFile, write_chunk_file, write_trace_file

__all__ = [
    "ARCHIVE_ID_ATTR",
    "AUX_CODEC",
    "IDENTITY_ATTRS",
    "LAYOUT_VERSION",
    "LAYOUT_VERSION_ATTR",
    "MAX_OPEN_FILES",
    "PLANE_ATTR",
    "RELATIVE_PATH_ATTR",
    "SEGMENTATION_ID_ATTR",
    "TEMP_MARKER",
    "TRACE_CHUNK_ROIS",
    "TRACE_CHUNK_SAMPLES",
    "TRACE_CODEC",
    "ArrayFile",
    "ArrayFileExistsError",
    "ArrayRef",
    "CsrMaskRef",
    "DatasetInfo",
    "IOStats",
    "LocalStore",
    "ObjectInfo",
    "PlaneArrays",
    "S3Store",
    "StagedFolder",
    "Store",
    "StoredObject",
    "TraceCodec",
    "WrittenFile",
    "check_key",
    "check_relative_path",
    "close_all",
    "io_stats",
    "is_bucket_url",
    "open_file_count",
    "open_store",
    "process_running",
    "read_trace_block",
    "reset_io_stats",
    "resolve_in_root",
    "sha256_file",
    "shared_store",
    "staged_folders",
    "staging_folder",
    "this_host",
    "trace_chunk_shape",
    "write_chunk_file",
    "write_trace_file",
]
