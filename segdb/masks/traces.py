"""Mean fluorescence traces of ROI and neuropil masks over a movie.

Results equal AllenSDK's ``calculate_traces``: the trace of a mask is the unweighted
mean of its pixels in each frame, and a mask that is empty or overlaps the motion
border gives a row of NaN and an exclusion record. The work is organised for speed:

* every mask becomes one row of a sparse (n_masks x H*W) membership matrix, so a frame
  costs one sparse matrix-vector product instead of one slice per mask;
* rows are ordered by position in the image, so consecutive masks read pixels that
  are already in the CPU cache;
* pixels that belong to exactly the same masks (neighbouring neuropil masks share
  most of theirs) are summed once per frame, then combined per mask;
* the movie is read in blocks of frames (about 128 MB each), the next block being
  read in a background thread while the current one is reduced, and the frames of a
  block are split between worker threads (scipy's sparse products release the GIL),
  so memory stays bounded and reading and arithmetic overlap;
* sums are exact for integer movies (int32 when no sum can overflow it, float64
  otherwise), so dividing by the pixel count gives the same float64 as AllenSDK.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import numpy as np
import scipy.sparse
from tqdm.auto import tqdm

from segdb.errors import InvalidInputError
from segdb.masks.movie import open_movie
from segdb.masks.roi_masks import (
    Border,
    Exclusion,
    Mask,
    RoiMask,
    _require_initialised,
    create_neuropil_mask,
    validate_mask,
)

logger = logging.getLogger(__name__)

#: Bytes of movie read per block when ``block_size`` is not given. Two blocks are in
#: memory at once (one being reduced, the next being read).
DEFAULT_BLOCK_BYTES = 128 * 2**20

_INT32_MAX = int(np.iinfo(np.int32).max)

# Default cap on worker threads (see _worker_count).
_MAX_DEFAULT_WORKERS = 8


def _movie_shape(stack: Any) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in stack.shape)
    if len(shape) != 3:
        raise InvalidInputError(
            f"the movie has shape {shape}; pass a (frames, height, width) stack, e.g. an "
            "h5py dataset, a numpy array or a memmap. A single frame needs frame[None]."
        )
    frames, rows, cols = shape
    return frames, rows, cols


def _check_mask_fits(mask: Any, index: int, rows: int, cols: int) -> Mask:
    mask = _require_initialised(mask, f"mask_list[{index}]")
    if (mask.img_rows, mask.img_cols) != (rows, cols):
        raise InvalidInputError(
            f"mask_list[{index}] ({mask._what()}) was made for a {mask.img_rows} x "
            f"{mask.img_cols} image but the movie's frames are {rows} x {cols} (rows x "
            "columns); build masks with image_w and image_h of this movie."
        )
    box = np.shape(mask._box_mask())
    inside = (
        0 <= mask.x and mask.x + mask.width <= cols and 0 <= mask.y and mask.y + mask.height <= rows
    )
    if box != (mask.height, mask.width) or not inside:
        raise InvalidInputError(
            f"mask_list[{index}] ({mask._what()}) has a mask of shape {box} for a box of "
            f"{mask.height} x {mask.width} at (x={mask.x}, y={mask.y}) in a {rows} x {cols} "
            "image; do not edit mask.mask or the box by hand, re-create the mask with "
            "create_roi_mask or init_by_mask."
        )
    return mask


def _accumulator_dtype(movie_dtype: np.dtype, largest_mask: int) -> type:
    """The narrowest dtype in which every per-frame mask sum is exact."""
    if movie_dtype.kind == "b":
        peak = 1
    elif movie_dtype.kind in "ui" and movie_dtype.itemsize <= 2:
        info = np.iinfo(movie_dtype)
        peak = max(-int(info.min), int(info.max))
    else:
        return np.float64
    # int32 halves the memory traffic of float64; it is exact while no sum can overflow.
    return np.int32 if peak * largest_mask <= _INT32_MAX else np.float64


def _default_block_size(stack: Any, frame_bytes: int) -> int:
    frames = max(1, DEFAULT_BLOCK_BYTES // max(frame_bytes, 1))
    chunks = getattr(stack, "chunks", None)
    if chunks and chunks[0] and chunks[0] > 0:
        # Whole HDF5 chunks per read: a chunk split between two reads is decoded twice.
        per_chunk = int(chunks[0])
        frames = max(per_chunk, (frames // per_chunk) * per_chunk)
    return frames


def _read(stack: Any, start: int, stop: int, buffer: np.ndarray | None) -> np.ndarray:
    if buffer is None:
        return np.asarray(stack[start:stop])
    # h5py reads straight into a buffer that is reused, instead of a fresh 128 MB array
    # per block whose pages the kernel must first map and zero.
    out = buffer[: stop - start]
    stack.read_direct(out, np.s_[start:stop])
    return out


def _blocks(stack: Any, n_frames: int, block_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first frame, frames) blocks, reading the next one while the caller works.

    A block read into a reused buffer is valid until the caller asks for the next block.
    """
    starts = range(0, n_frames, block_size)
    if isinstance(stack, np.ndarray):
        # Slicing an array (or memmap) costs nothing; the pages are read as they are used.
        for start in starts:
            yield start, stack[start : start + block_size]
        return
    direct = callable(getattr(stack, "read_direct", None))
    shape = (min(block_size, n_frames), *stack.shape[1:])
    n_buffers = 2 if n_frames > block_size else 1
    buffers = [np.empty(shape, dtype=stack.dtype) if direct else None for _ in range(n_buffers)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segdb-movie-reader") as reader:
        pending = reader.submit(_read, stack, 0, min(block_size, n_frames), buffers[0])
        for number, start in enumerate(starts):
            block = pending.result()
            following = start + block_size
            if following < n_frames:
                # The other buffer held the block before this one, which the caller is done with.
                stop = min(following + block_size, n_frames)
                pending = reader.submit(
                    _read, stack, following, stop, buffers[(number + 1) % n_buffers]
                )
            yield start, block


def _membership_matrix(
    masks: Sequence[Mask], cols: int, n_pixels: int, dtype: type
) -> scipy.sparse.csr_array:
    """(len(masks), n_pixels) matrix with a 1 for every pixel of every mask, rows in order."""
    indptr = np.zeros(len(masks) + 1, dtype=np.int64)
    pieces = []
    for i, mask in enumerate(masks):
        rr, cc = np.nonzero(mask._box_mask())
        pieces.append((rr + mask.y) * cols + (cc + mask.x))
        indptr[i + 1] = indptr[i] + rr.size
    indices = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    data = np.ones(indices.size, dtype=dtype)
    return scipy.sparse.csr_array((data, indices, indptr), shape=(len(masks), n_pixels))


#: Factor the membership matrix only when that removes at least this share of the
#: per-frame work (neuropil masks of neighbouring ROIs overlap, so it usually halves it).
_MIN_SAVING = 0.25


def _mask_keys(n_masks: int) -> np.ndarray:
    """Fixed pseudo-random 64-bit keys, one per mask (fixed so that runs repeat exactly)."""
    return np.random.default_rng(20240515).integers(0, 2**63, n_masks, dtype=np.uint64)


def _factor_shared_pixels(
    membership: scipy.sparse.csr_array,
) -> tuple[scipy.sparse.csr_array, scipy.sparse.csr_array] | None:
    """Split ``membership`` into ``combine @ groups``, summing shared pixels once.

    A group is the set of pixels that belong to exactly the same masks. Each frame
    then costs one pass over the covered pixels (``groups @ frame``) and a small
    product per block (``combine @ group_sums``) instead of one pass per mask over
    every pixel it shares with its neighbours. The sums are the same integers (or the
    same reals, added in another order). Returns None when there is little to share.
    """
    n_masks, n_pixels = membership.shape
    by_pixel = membership.T.tocsr()
    masks_per_pixel = np.diff(by_pixel.indptr)
    covered = np.flatnonzero(masks_per_pixel)
    if covered.size == 0:
        return None
    # A pixel's key is the wrapping sum of its masks' keys, so pixels with the same masks
    # get the same key. Two different sets colliding is astronomically unlikely, and the
    # exact check below catches it anyway.
    pixel_keys = np.add.reduceat(_mask_keys(n_masks)[by_pixel.indices], by_pixel.indptr[covered])
    _, first, group_of = np.unique(pixel_keys, return_index=True, return_inverse=True)
    # Number groups in image order, so that consecutive groups read neighbouring pixels.
    by_position = np.argsort(first, kind="stable")
    rank = np.empty_like(by_position)
    rank[by_position] = np.arange(by_position.size)
    group_of = rank[group_of.ravel()]
    dtype = membership.dtype
    groups = scipy.sparse.csr_array(
        (np.ones(covered.size, dtype=dtype), (group_of, covered)),
        shape=(by_position.size, n_pixels),
    )
    combine = by_pixel[covered[first[by_position]]].T.tocsr()
    if groups.nnz + combine.nnz > (1 - _MIN_SAVING) * membership.nnz:
        return None
    if (combine @ groups != membership).nnz:
        return None
    return groups, combine


def _worker_count(workers: Any) -> int:
    if workers is None:
        try:
            available = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS and Windows have no affinity call
            available = os.cpu_count() or 1
        # Past a few threads the products wait on memory, not on cores.
        return max(1, min(available, _MAX_DEFAULT_WORKERS))
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidInputError(
            f"workers must be a positive number of threads; got {workers!r}. Leave it as None "
            f"to use the available CPUs (at most {_MAX_DEFAULT_WORKERS})."
        )
    return int(workers)


def _reduce_frames(
    flat: np.ndarray,
    first: int,
    stop: int,
    per_frame: scipy.sparse.csr_array,
    frame: np.ndarray,
    partial: np.ndarray,
) -> None:
    """partial[f] = per_frame @ flat[f] for frames first..stop-1, one frame at a time."""
    for f in range(first, stop):
        # The converted copy of one frame stays in cache for the product that reads it.
        np.copyto(frame, flat[f], casting="unsafe")
        partial[f] = per_frame @ frame


def calculate_traces(
    stack: Any,
    mask_list: Sequence[Mask],
    block_size: int | None = None,
    *,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, list[Exclusion]]:
    """Mean of each mask's pixels in every frame of a movie.

    Parameters
    ----------
    stack
        ``(frames, height, width)`` movie: an h5py dataset, a numpy array, a memmap, or
        anything with ``shape``, ``dtype`` and slicing along the first axis. Only
        ``block_size`` frames (two blocks while reading ahead) are in memory at once.
    mask_list
        ROI and/or neuropil masks made for ``height x width`` images.
    block_size
        Frames read per block; by default as many as fit in about 128 MB (rounded to
        whole HDF5 chunks).
    workers
        Threads that reduce frames; by default the available CPUs, at most 8. One more
        thread reads ahead when the movie is not an in-memory array.
    progress
        Show a progress bar (tqdm) on a terminal; never shown when output is not a terminal.

    Returns
    -------
    traces : numpy.ndarray
        ``(len(mask_list), frames)`` float64, in the order of ``mask_list``. A row is NaN
        when its mask is empty or overlaps the motion border.
    exclusions : list of dict
        The records of :func:`validate_mask` for those masks, in the order of ``mask_list``.

    Raises
    ------
    InvalidInputError
        If the movie is not 3-D or not real-valued, a mask was made for another image
        size, an item is not an initialised mask, or ``block_size`` or ``workers`` is not
        a positive integer.

    Notes
    -----
    Integer movies give exactly AllenSDK's values; float movies are summed in float64
    (AllenSDK sums float32 movies in float32), so they agree to about 1e-6 relative.
    """
    if not hasattr(stack, "shape") or not hasattr(stack, "dtype"):
        stack = np.asarray(stack)
    n_frames, rows, cols = _movie_shape(stack)
    movie_dtype = np.dtype(stack.dtype)
    if movie_dtype.kind not in "biuf":
        raise InvalidInputError(
            f"the movie has dtype {movie_dtype}; pass real-valued frames (integer or float)."
        )
    if block_size is not None and (
        isinstance(block_size, bool)
        or not isinstance(block_size, (int, np.integer))
        or block_size < 1
    ):
        raise InvalidInputError(
            f"block_size must be a positive number of frames; got {block_size!r}. "
            "Leave it as None to read about 128 MB per block."
        )

    n_workers = _worker_count(workers)
    masks = [_check_mask_fits(mask, i, rows, cols) for i, mask in enumerate(mask_list)]
    traces = np.full((len(masks), n_frames), np.nan, dtype=np.float64)
    exclusions: list[Exclusion] = []
    usable: list[int] = []
    for i, mask in enumerate(masks):
        reasons = validate_mask(mask)
        if reasons:
            exclusions.extend(reasons)
        else:
            usable.append(i)
    if exclusions:
        logger.warning(
            "%d of %d masks give NaN traces: %s",
            len(masks) - len(usable),
            len(masks),
            ", ".join(f"{e['roi_id']!r} ({e['exclusion_label_name']})" for e in exclusions[:10])
            + (", ..." if len(exclusions) > 10 else ""),
        )
    if not usable or n_frames == 0:
        return traces, exclusions

    # Neighbouring rows touch neighbouring pixels: order masks by their box's corner.
    order = sorted(usable, key=lambda i: (masks[i].y, masks[i].x))
    ordered = [masks[i] for i in order]
    counts = np.array([np.count_nonzero(m._box_mask()) for m in ordered], dtype=np.float64)
    work_dtype = _accumulator_dtype(movie_dtype, int(counts.max()))
    membership = _membership_matrix(ordered, cols, rows * cols, work_dtype)
    rows_out = np.asarray(order)

    if block_size is None:
        block_size = _default_block_size(stack, rows * cols * movie_dtype.itemsize)
    block_size = int(block_size)
    factored = _factor_shared_pixels(membership)
    per_frame, combine = factored if factored is not None else (membership, None)
    frame_buffers = [np.empty(rows * cols, dtype=work_dtype) for _ in range(n_workers)]
    with ExitStack() as context:
        pool = (
            context.enter_context(ThreadPoolExecutor(n_workers, thread_name_prefix="segdb-traces"))
            if n_workers > 1
            else None
        )
        bar = context.enter_context(
            tqdm(
                total=n_frames, unit="frame", desc="mask traces", disable=None if progress else True
            )
        )
        for start, block in _blocks(stack, n_frames, block_size):
            n = block.shape[0]
            flat = block.reshape(n, rows * cols)
            partial = np.empty((n, per_frame.shape[0]), dtype=work_dtype)
            if pool is None or n < 2 * n_workers:
                _reduce_frames(flat, 0, n, per_frame, frame_buffers[0], partial)
            else:
                edges = np.linspace(0, n, n_workers + 1).astype(int)
                jobs = [
                    pool.submit(_reduce_frames, flat, lo, hi, per_frame, frame_buffers[w], partial)
                    for w, (lo, hi) in enumerate(itertools.pairwise(edges))
                ]
                for job in jobs:
                    job.result()
            sums = partial.T if combine is None else combine @ np.ascontiguousarray(partial.T)
            traces[rows_out, start : start + n] = sums / counts[:, None]
            bar.update(n)
    return traces, exclusions


def _neuropil_label(roi: Mask, index: int) -> str:
    # AllenSDK's label ("neuropil for " + label) fails for int labels; this keeps its text.
    return f"neuropil for {roi.label}" if roi.label is not None else f"neuropil for ROI #{index}"


def calculate_roi_and_neuropil_traces(
    movie_h5: str | os.PathLike | Any,
    roi_mask_list: Sequence[RoiMask],
    motion_border: Border,
    *,
    dataset: str = "data",
    block_size: int | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[Exclusion]]:
    """Make each ROI's neuropil mask and compute ROI and neuropil traces in one pass.

    Parameters
    ----------
    movie_h5
        Path of an HDF5 movie whose ``dataset`` is (frames, height, width), or the movie
        itself (h5py dataset, numpy array, memmap).
    roi_mask_list
        The ROIs of the plane, in the order the outputs should follow.
    motion_border
        ``[right_shift, left_shift, down_shift, up_shift]``; neuropil masks are cropped
        to its usable area.
    dataset
        Name of the movie dataset in the file (AllenSDK's is ``"data"``).
    block_size, workers, progress
        As in :func:`calculate_traces`.

    Returns
    -------
    roi_traces : numpy.ndarray
        ``(len(roi_mask_list), frames)`` float64.
    neuropil_traces : numpy.ndarray
        ``(len(roi_mask_list), frames)`` float64, row i for ROI i; its neuropil mask is
        labelled ``"neuropil for <label>"``.
    exclusions : list of dict
        Exclusion records of all ROI masks, then all neuropil masks.
    """
    rois = [_require_initialised(roi, f"roi_mask_list[{i}]") for i, roi in enumerate(roi_mask_list)]
    for i, roi in enumerate(rois):
        if not isinstance(roi, RoiMask):
            raise InvalidInputError(
                f"roi_mask_list[{i}] is a {type(roi).__name__}; neuropil is made around ROIs, "
                "so pass RoiMask objects (create_roi_mask)."
            )
    neuropils: list[Mask] = []
    if rois:
        rows, cols = rois[0].img_rows, rois[0].img_cols
        union = np.zeros((rows, cols), dtype=bool)
        for i, roi in enumerate(rois):
            if (roi.img_rows, roi.img_cols) != (rows, cols):
                raise InvalidInputError(
                    f"roi_mask_list[{i}] ({roi._what()}) is on a {roi.img_rows} x {roi.img_cols} "
                    f"image but roi_mask_list[0] is on {rows} x {cols} (rows x columns); all ROIs "
                    "must come from the same imaging plane."
                )
            union[roi.y : roi.y + roi.height, roi.x : roi.x + roi.width] |= roi._box_mask()
        neuropils = [
            create_neuropil_mask(roi, motion_border, union, _neuropil_label(roi, i))
            for i, roi in enumerate(rois)
        ]
    with open_movie(movie_h5, dataset=dataset) as stack:
        traces, exclusions = calculate_traces(
            stack, [*rois, *neuropils], block_size, workers=workers, progress=progress
        )
    return traces[: len(rois)], traces[len(rois) :], exclusions
