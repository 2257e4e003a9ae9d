"""The on-disk layout of chunk files: version, dataset kinds, chunk shapes and codecs.

Layout version 1 (see DESIGN.md, "Chunk file layout")::

    /                         attrs: segdb_layout_version=1, segdb_relative_path, segdb_archive_id,
                              segdb_segmentation_id, segdb_plane, source, segdb_version, ...
    /masks/indptr             (n_rois + 1,) int64   CSR pointers, ROIs in catalog order
    /masks/row, /masks/col    (nnz,) int32
    /masks/weight             (nnz,) float32
    /background/...           the same for background components, when present
    /traces/<name>            (num_samples, num_rois), chunked, attrs chunk_shape, codec
    /background_traces/<name> (num_samples, num_background)
    /images/<name>            (height, width)
    /timestamps               (num_samples,) float64

Every chunked dataset is checksummed with fletcher32, so a damaged chunk is
detected when it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segdb.errors import InvalidInputError

#: Version of the on-disk layout described in this module's docstring.
LAYOUT_VERSION = 1

#: Root attribute holding :data:`LAYOUT_VERSION`.
LAYOUT_VERSION_ATTR = "segdb_layout_version"

#: Root attribute holding the file's own path under the storage root. Paths embed a unique id,
#: so a file put in another's place (same size or not) says so when it is opened.
RELATIVE_PATH_ATTR = "segdb_relative_path"

#: Root attributes saying whose file it is; the archive layer writes them and expects them back.
ARCHIVE_ID_ATTR = "segdb_archive_id"
SEGMENTATION_ID_ATTR = "segdb_segmentation_id"
PLANE_ATTR = "segdb_plane"

#: The root attributes that say which file a chunk file is, checked against the catalog on every
#: open. Files written before they existed carry none of them and open as before.
IDENTITY_ATTRS = (RELATIVE_PATH_ATTR, ARCHIVE_ID_ATTR, SEGMENTATION_ID_ATTR, PLANE_ATTR)

# 1-D mask, timestamp and image chunks: 64 KiB of int32 reads one small chunk per
# ROI mask, while keeping the chunk index of a 10^6-pixel mask table short.
_AUX_CHUNK_ELEMENTS = 16384

# Image chunks: square-ish tiles of ~256 Ki elements, clamped to the image.
_IMAGE_CHUNK_SIDE = 512


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


def aux_chunk_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunk shape of a non-empty mask, timestamp (1-D) or image (2-D) dataset."""
    if len(shape) == 1:
        return (min(shape[0], _AUX_CHUNK_ELEMENTS),)
    return tuple(min(extent, _IMAGE_CHUNK_SIDE) for extent in shape)


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


__all__ = [
    "ARCHIVE_ID_ATTR",
    "AUX_CODEC",
    "DatasetInfo",
    "FILE_LIBVER",
    "IDENTITY_ATTRS",
    "LAYOUT_VERSION",
    "LAYOUT_VERSION_ATTR",
    "PLANE_ATTR",
    "RELATIVE_PATH_ATTR",
    "SEGMENTATION_ID_ATTR",
    "TRACE_CHUNK_ROIS",
    "TRACE_CHUNK_SAMPLES",
    "TRACE_CODEC",
    "TraceCodec",
    "aux_chunk_shape",
    "trace_chunk_shape",
]
