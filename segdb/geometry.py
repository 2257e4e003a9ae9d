"""Plain geometry of ROIs, shared by every layer: sparse pixel masks, centroids, 2-D affines.

Pure numpy; imports nothing of segdb but its errors. The chunk files store
:class:`CsrMasks` as they are, the archive computes each ROI's centroid with
:func:`weighted_centroids`, and tracking matches masks and moves points with the same
functions, so the three can never disagree.

Conventions: pixel masks are ``[row, col, weight]``; points given to an affine are
``(x, y)`` with x the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segdb.errors import InvalidInputError


@dataclass(frozen=True)
class CsrMasks:
    """Sparse pixel masks of ``n`` ROIs in compressed-sparse-row form.

    ROI ``i`` owns the pixels ``indptr[i]:indptr[i + 1]`` of ``row``, ``col`` and
    ``weight``. Arrays are converted to the stored dtypes on construction.

    Attributes
    ----------
    indptr : np.ndarray
        ``(n + 1,)`` int64, starting at 0, non-decreasing.
    row, col : np.ndarray
        ``(nnz,)`` int32 pixel coordinates (row = y, col = x).
    weight : np.ndarray
        ``(nnz,)`` float32 pixel weights.
    """

    indptr: np.ndarray
    row: np.ndarray
    col: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr)
        if indptr.ndim != 1 or indptr.size == 0:
            raise InvalidInputError(
                f"CSR mask indptr must be 1-D with n_rois + 1 >= 1 entries, got shape {indptr.shape}"
            )
        if indptr.dtype.kind not in "iu":
            raise InvalidInputError(f"CSR mask indptr must be integers, got dtype {indptr.dtype}")
        indptr = indptr.astype(np.int64, copy=False)
        arrays = {}
        for name, dtype in (("row", np.int32), ("col", np.int32), ("weight", np.float32)):
            value = np.asarray(getattr(self, name))
            if value.ndim != 1:
                raise InvalidInputError(f"CSR mask {name} must be 1-D, got shape {value.shape}")
            if name != "weight" and value.size and value.dtype.kind not in "iu":
                raise InvalidInputError(
                    f"CSR mask {name} must hold integer pixel indices, got dtype {value.dtype}"
                )
            arrays[name] = value.astype(dtype, copy=False)
        nnz = arrays["row"].size
        if arrays["col"].size != nnz or arrays["weight"].size != nnz:
            raise InvalidInputError(
                "CSR mask row, col and weight must have the same length, got "
                f"{nnz}, {arrays['col'].size} and {arrays['weight'].size}"
            )
        if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) < 0):
            raise InvalidInputError(
                f"CSR mask indptr must start at 0, never decrease and end at nnz={nnz}; "
                f"got first={int(indptr[0])}, last={int(indptr[-1])}"
            )
        if nnz and (arrays["row"].min() < 0 or arrays["col"].min() < 0):
            raise InvalidInputError("CSR mask row and col must be non-negative pixel indices")
        object.__setattr__(self, "indptr", indptr)
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_pixel_masks(cls, pixel_masks: list[np.ndarray]) -> CsrMasks:
        """Build CSR masks from roiextractors-style pixel masks.

        Parameters
        ----------
        pixel_masks : list of np.ndarray
            One ``(n_i, 3)`` array per ROI with columns ``[row, col, weight]``;
            row and col may be floats holding whole numbers.

        Returns
        -------
        CsrMasks
        """
        counts = np.zeros(len(pixel_masks) + 1, dtype=np.int64)
        rows, cols, weights = [], [], []
        for index, mask in enumerate(pixel_masks):
            mask = np.asarray(mask)
            if mask.size == 0:
                mask = mask.reshape(0, 3)
            if mask.ndim != 2 or mask.shape[1] != 3:
                raise InvalidInputError(
                    f"pixel mask {index} must have shape (n_pixels, 3) [row, col, weight], got {mask.shape}"
                )
            coords = mask[:, :2]
            if not np.all(np.isfinite(mask)):
                raise InvalidInputError(f"pixel mask {index} holds NaN or infinite values")
            if np.any(coords != np.round(coords)):
                raise InvalidInputError(
                    f"pixel mask {index} has non-integer row/col values; "
                    "pixel masks are [row, col, weight] with whole-pixel coordinates"
                )
            counts[index + 1] = mask.shape[0]
            rows.append(coords[:, 0].astype(np.int64))
            cols.append(coords[:, 1].astype(np.int64))
            weights.append(mask[:, 2])
        if pixel_masks:
            row, col, weight = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
        else:
            row = col = np.zeros(0, dtype=np.int64)
            weight = np.zeros(0, dtype=np.float32)
        if row.size and max(row.max(), col.max()) > np.iinfo(np.int32).max:
            raise InvalidInputError("pixel mask coordinates exceed the int32 range")
        return cls(np.cumsum(counts), row, col, weight)

    def __len__(self) -> int:
        return self.indptr.size - 1

    def pixel_mask(self, index: int) -> np.ndarray:
        """Pixel mask of ROI ``index`` as an ``(n_i, 3)`` float64 array ``[row, col, weight]``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"ROI index {index} is out of range for {len(self)} masks")
        index %= len(self)
        start, stop = self.indptr[index], self.indptr[index + 1]
        return np.column_stack([self.row[start:stop], self.col[start:stop], self.weight[start:stop]]).astype(
            np.float64
        )

    def select(self, positions: Sequence[int] | np.ndarray) -> CsrMasks:
        """The masks at ``positions`` (0..n-1, in that order, repeats allowed) as new CsrMasks."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        outside = positions[(positions < 0) | (positions >= len(self))]
        if outside.size:
            raise IndexError(
                f"mask positions {outside[:10].tolist()} are out of range for {len(self)} masks (0..{len(self) - 1})"
            )
        starts = self.indptr[positions]
        counts = self.indptr[positions + 1] - starts
        indptr = np.zeros(positions.size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        pixels = np.repeat(starts - indptr[:-1], counts) + np.arange(int(indptr[-1]), dtype=np.int64)
        return CsrMasks(indptr, self.row[pixels], self.col[pixels], self.weight[pixels])


def weighted_centroids(masks: CsrMasks) -> np.ndarray:
    """Centroid ``(row, col)`` of every mask, weighted by its pixel weights: ``(n, 2)`` float64.

    A mask whose weights sum to zero or less, or hold a negative weight, falls back to the
    plain mean of its pixels; an empty mask gives NaN.
    """
    n = len(masks)
    counts = np.diff(masks.indptr)
    owner = np.repeat(np.arange(n), counts)
    rows = masks.row.astype(np.float64)
    cols = masks.col.astype(np.float64)
    weights = masks.weight.astype(np.float64)
    total = np.bincount(owner, weights, minlength=n)
    negative = np.bincount(owner, weights < 0, minlength=n) > 0
    weighted = (total > 0) & ~negative
    with np.errstate(invalid="ignore", divide="ignore"):
        by_weight = np.column_stack(
            [np.bincount(owner, rows * weights, minlength=n), np.bincount(owner, cols * weights, minlength=n)]
        ) / total[:, None]
        by_count = np.column_stack(
            [np.bincount(owner, rows, minlength=n), np.bincount(owner, cols, minlength=n)]
        ) / counts[:, None]
    return np.where(weighted[:, None], by_weight, by_count)


def apply_affine(matrix: Sequence[Sequence[float]] | np.ndarray | None, points: np.ndarray) -> np.ndarray:
    """Apply the 2x3 affine ``[[a, b, tx], [c, d, ty]]`` to ``(n, 2)`` points ``(x, y)``; None is the identity."""
    points = np.asarray(points, dtype=np.float64)
    if matrix is None:
        return points.copy()
    affine = np.asarray(matrix, dtype=np.float64)
    if affine.shape != (2, 3):
        raise InvalidInputError(f"an affine must be 2x3 [[a, b, tx], [c, d, ty]], got shape {affine.shape}")
    if points.shape[-1:] != (2,):
        raise InvalidInputError(f"points must be (x, y) pairs, shape (n, 2), got shape {points.shape}")
    (a, b, tx), (c, d, ty) = affine.tolist()
    x, y = points[..., 0], points[..., 1]
    # Written out rather than a matmul: an (n, 2) @ (2, 2) product goes through BLAS, whose
    # thread hand-off costs more than the arithmetic (twice the CPU time of tracking).
    return np.stack([a * x + b * y + tx, c * x + d * y + ty], axis=-1)


__all__ = ["CsrMasks", "apply_affine", "weighted_centroids"]
