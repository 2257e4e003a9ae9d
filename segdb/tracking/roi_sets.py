"""The ROIs of one session as matching sees them: ids, centroids in a shared µm frame, masks.

A :class:`RoiSet` is a plain value built from what the archive stores (catalog ROI ids,
pixel centroids, :class:`~segdb.geometry.CsrMasks`) and one
:class:`~segdb.tracking.transforms.Transform` from the session's pixels to the field of
view's reference frame; :func:`~segdb.tracking.pairing.match_sessions` and
:func:`~segdb.tracking.tracks.build_tracks` compare sets in that frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks, weighted_centroids
from segdb.tracking.transforms import Transform


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _check_transform(value: Any) -> Transform:
    if not isinstance(value, Transform):
        raise InvalidInputError(f"pixel_to_reference must be a Transform, got {type(value).__name__}")
    return value


def _to_reference(centroids_rowcol: np.ndarray, pixel_to_reference: Transform) -> np.ndarray:
    """Pixel centroids (row, col) as (x_um, y_um) points of the reference frame."""
    return _check_transform(pixel_to_reference).apply(centroids_rowcol[:, ::-1])


@dataclass(frozen=True, eq=False)
class RoiSet:
    """The ROIs of one session (one plane) as matching sees them.

    Attributes
    ----------
    ids : (n,) int64 array
        ROI ids (catalog ``roi_id``), unique within the set.
    centroids_um : (n, 2) float64 array
        Centroids as (x_um, y_um) in the field of view's reference frame; every
        :class:`RoiSet` compared must use the same reference frame.
    masks : CsrMasks, optional
        The ROIs' pixel masks in this session's own pixel frame, in ``ids`` order.
    pixel_to_reference : Transform, optional
        This session's pixel (x=col, y=row) frame -> the reference µm frame; required
        with ``masks``. Typically ``pixel_frame(ref_pixel_size, ref_origin) @
        registration.transform`` (see :func:`~segdb.tracking.transforms.pixel_frame`).
    """

    ids: np.ndarray
    centroids_um: np.ndarray
    masks: CsrMasks | None = None
    pixel_to_reference: Transform | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        if ids.ndim != 1:
            raise InvalidInputError(f"ids must be 1-D (one id per ROI), got shape {ids.shape}")
        whole_floats = ids.dtype.kind == "f" and bool(np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)))
        if ids.size and ids.dtype.kind not in "iu" and not whole_floats:
            raise InvalidInputError(f"ids must be integers (catalog roi ids), got {ids[:5]!r}")
        ids = ids.astype(np.int64)
        unique, counts = np.unique(ids, return_counts=True)
        if np.any(counts > 1):
            raise InvalidInputError(
                f"ids must be unique within a RoiSet; repeated: {unique[counts > 1][:10].tolist()}"
            )
        centroids = np.asarray(self.centroids_um, dtype=np.float64)
        if centroids.shape != (ids.size, 2):
            raise InvalidInputError(
                f"centroids_um must be ({ids.size}, 2) (x_um, y_um) for {ids.size} ids, got shape {centroids.shape}"
            )
        if not np.all(np.isfinite(centroids)):
            bad = ids[~np.all(np.isfinite(centroids), axis=1)]
            raise InvalidInputError(f"centroids_um of ROIs {bad[:10].tolist()} are NaN or infinite; drop those ROIs")
        if self.masks is not None:
            if not isinstance(self.masks, CsrMasks):
                raise InvalidInputError(
                    f"masks must be CsrMasks (use CsrMasks.from_pixel_masks), got {type(self.masks).__name__}"
                )
            if len(self.masks) != ids.size:
                raise InvalidInputError(f"masks holds {len(self.masks)} masks for {ids.size} ids; give one per ROI")
            if self.pixel_to_reference is None:
                raise InvalidInputError(
                    "masks need pixel_to_reference (this session's pixels -> the reference µm frame) so that "
                    "they can be compared with other sessions' masks"
                )
        if self.pixel_to_reference is not None:
            _check_transform(self.pixel_to_reference)
        object.__setattr__(self, "ids", _readonly(ids))
        object.__setattr__(self, "centroids_um", _readonly(centroids))

    @classmethod
    def from_pixel_masks(
        cls,
        ids: Sequence[int] | np.ndarray,
        masks: CsrMasks | Sequence[np.ndarray],
        pixel_to_reference: Transform,
        *,
        centroids_rowcol: np.ndarray | None = None,
    ) -> RoiSet:
        """Build a set from masks in the session's pixel frame.

        Parameters
        ----------
        ids : (n,) ints
            ROI ids.
        masks : CsrMasks or sequence of (k, 3) ``[row, col, weight]`` arrays
            The masks, in ``ids`` order.
        pixel_to_reference : Transform
            Session pixel (x, y) -> reference µm (x, y).
        centroids_rowcol : (n, 2) array, optional
            Pixel centroids (row, col), e.g. the catalog's ``centroid_row/col``; computed
            from the masks as the catalog computes them (weighted) when omitted.
        """
        csr = masks if isinstance(masks, CsrMasks) else CsrMasks.from_pixel_masks(list(masks))
        rowcol = weighted_centroids(csr) if centroids_rowcol is None else np.asarray(centroids_rowcol, np.float64)
        if rowcol.shape != (len(csr), 2):
            raise InvalidInputError(f"centroids_rowcol must be ({len(csr)}, 2), got shape {rowcol.shape}")
        if not np.all(np.isfinite(rowcol)):
            empty = np.flatnonzero(~np.all(np.isfinite(rowcol), axis=1))
            raise InvalidInputError(
                f"ROIs at positions {empty[:10].tolist()} have empty masks and no centroid; drop them"
            )
        return cls(ids=np.asarray(ids), centroids_um=_to_reference(rowcol, pixel_to_reference), masks=csr,
                   pixel_to_reference=pixel_to_reference)

    @classmethod
    def from_centroids(
        cls, ids: Sequence[int] | np.ndarray, centroids_rowcol: np.ndarray, pixel_to_reference: Transform
    ) -> RoiSet:
        """Build a mask-less set from pixel centroids (row, col) and the session's transform."""
        rowcol = np.asarray(centroids_rowcol, dtype=np.float64).reshape(-1, 2)
        return cls(ids=np.asarray(ids), centroids_um=_to_reference(rowcol, pixel_to_reference),
                   pixel_to_reference=pixel_to_reference)

    def without_masks(self) -> RoiSet:
        """The same ROIs with centroids only (matching then ignores IoU)."""
        return RoiSet(ids=self.ids, centroids_um=self.centroids_um, pixel_to_reference=self.pixel_to_reference)

    def __len__(self) -> int:
        return int(self.ids.size)


__all__ = ["RoiSet"]
