"""HDF5 chunk files and lazy references to the arrays in them.

This layer knows nothing of the catalog: it writes write-once chunk files and
reads them back through lazy references built from what the catalog recorded
(relative path, size, sha256, dataset shapes).
"""

from segdb.arrays.durable import TEMP_MARKER, ArrayFileExistsError, sha256_file
from segdb.arrays.layout import (
    AUX_CODEC,
    LAYOUT_VERSION,
    LAYOUT_VERSION_ATTR,
    TRACE_CHUNK_ROIS,
    TRACE_CHUNK_SAMPLES,
    TRACE_CODEC,
    DatasetInfo,
    TraceCodec,
    trace_chunk_shape,
)
from segdb.arrays.paths import check_relative_path, resolve_in_root
from segdb.arrays.refs import (
    MAX_OPEN_FILES,
    ArrayFile,
    ArrayRef,
    CsrMaskRef,
    IOStats,
    close_all,
    io_stats,
    open_file_count,
    read_trace_block,
    reset_io_stats,
)
from segdb.arrays.writer import PlaneArrays, WrittenFile, write_chunk_file, write_trace_file

__all__ = [
    "AUX_CODEC",
    "LAYOUT_VERSION",
    "LAYOUT_VERSION_ATTR",
    "MAX_OPEN_FILES",
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
    "PlaneArrays",
    "TraceCodec",
    "WrittenFile",
    "check_relative_path",
    "close_all",
    "io_stats",
    "open_file_count",
    "read_trace_block",
    "reset_io_stats",
    "resolve_in_root",
    "sha256_file",
    "trace_chunk_shape",
    "write_chunk_file",
    "write_trace_file",
]
