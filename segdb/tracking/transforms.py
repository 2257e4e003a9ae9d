"""2-D affine transforms between imaging frames, and resampling of images and masks.

One convention everywhere in :mod:`segdb.tracking`
-------------------------------------------------
A :class:`Transform` maps points written as **(x, y)**:

* in a pixel frame, ``x`` is the column and ``y`` the row (so a ROI centroid stored as
  ``(centroid_row, centroid_col)`` is the point ``(centroid_col, centroid_row)``);
* in a µm frame, ``(x_um, y_um)`` as the catalog stores them, with
  ``x_um = col * pixel_size_um + origin_x_um`` and ``y_um = row * pixel_size_um + origin_y_um``
  (:func:`pixel_frame` is exactly that map).

The matrix is the 2x3 affine ``[[a, b, tx], [c, d, ty]]``::

    x' = a * x + b * y + tx
    y' = c * x + d * y + ty

so it is the same kind of value as the catalog's ``imaging_planes.fov_transform`` column
(``to_list()`` writes it, ``from_list()`` reads it, ``None`` reading as the identity).

Angles follow the same axes: a positive angle turns +x towards +y. Image rows grow
downwards, so on a picture shown with row 0 at the top a positive angle looks clockwise.

Pixel masks stay ``[row, col, weight]`` (roiextractors' and the chunk files' order):
:func:`warp_mask` takes one such array, :func:`warp_masks` many as
:class:`~segdb.geometry.CsrMasks`, and both do the (x, y) swap themselves. Points are
moved by :func:`segdb.geometry.apply_affine`, as the archive moves ROI centroids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.ndimage

from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks, apply_affine

# Below this |determinant| a transform squeezes the plane to (nearly) a line, which no
# registration of two images of the same field of view can mean.
_MIN_ABS_DETERMINANT = 1e-9

_FORMAT_HINT = "give [[a, b, tx], [c, d, ty]] mapping (x, y) = (col, row) points, or None for the identity"

Matrix2x3 = tuple[tuple[float, float, float], tuple[float, float, float]]


def _as_points(points: Any, name: str) -> tuple[np.ndarray, bool]:
    array = np.asarray(points, dtype=np.float64)
    single = array.ndim == 1
    if single:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[1] != 2:
        raise InvalidInputError(
            f"{name} must be one (x, y) point or an (n, 2) array of them, got shape {np.shape(points)}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} holds NaN or infinite coordinates; drop or fix those points first")
    return array, single


def _pair(value: Any, name: str) -> tuple[float, float]:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (2,) or not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} must be two finite numbers (x, y), got {value!r}")
    return float(array[0]), float(array[1])


@dataclass(frozen=True)
class Transform:
    """A 2-D affine map of (x, y) points; see the module docstring for the convention.

    Build one with :meth:`identity`, :meth:`translation`, :meth:`rigid`,
    :meth:`from_matrix` or :meth:`from_list`; the constructor takes the 2x3 matrix as
    nested tuples and checks it.

    Attributes
    ----------
    matrix : tuple of two (a, b, tx) / (c, d, ty) rows
        The affine as written in the module docstring.

    Examples
    --------
    >>> t = Transform.rigid(math.radians(90), shift=(10.0, 0.0))
    >>> t.apply((1.0, 0.0)).round(6).tolist()
    [10.0, 1.0]
    >>> Transform.from_list(t.to_list()) == t
    True
    """

    matrix: Matrix2x3

    def __post_init__(self) -> None:
        array = np.asarray(self.matrix, dtype=np.float64)
        if array.shape != (2, 3):
            raise InvalidInputError(f"Transform matrix must be 2x3, got shape {array.shape}; {_FORMAT_HINT}")
        if not np.all(np.isfinite(array)):
            raise InvalidInputError(f"Transform matrix {array.tolist()} holds NaN or infinity; {_FORMAT_HINT}")
        determinant = float(np.linalg.det(array[:, :2]))
        if abs(determinant) < _MIN_ABS_DETERMINANT:
            raise InvalidInputError(
                f"Transform matrix {array.tolist()} is not invertible (determinant {determinant:.3g}); "
                "a transform between two frames of the same field of view must keep areas non-zero"
            )
        # Normalise to plain floats so that equality, hashing and JSON do not depend on
        # whether the caller passed numpy scalars.
        object.__setattr__(self, "matrix", tuple(tuple(float(v) for v in row) for row in array))

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def identity(cls) -> Transform:
        """The transform that leaves every point where it is."""
        return cls(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)))

    @classmethod
    def translation(cls, shift: Sequence[float]) -> Transform:
        """Move every point by ``shift`` = (dx, dy)."""
        dx, dy = _pair(shift, "shift")
        return cls(((1.0, 0.0, dx), (0.0, 1.0, dy)))

    @classmethod
    def rigid(
        cls,
        angle_rad: float,
        shift: Sequence[float] = (0.0, 0.0),
        *,
        center: Sequence[float] | None = None,
    ) -> Transform:
        """Rotate by ``angle_rad`` about ``center`` (default the origin), then move by ``shift``.

        Parameters
        ----------
        angle_rad : float
            Rotation in radians; positive turns +x towards +y (clockwise on an image
            shown with row 0 at the top).
        shift : (dx, dy)
            Translation applied after the rotation.
        center : (x, y), optional
            Fixed point of the rotation, e.g. the image centre ``((W - 1) / 2, (H - 1) / 2)``.
        """
        angle = float(angle_rad)
        if not math.isfinite(angle):
            raise InvalidInputError(f"angle_rad must be a finite number of radians, got {angle_rad!r}")
        dx, dy = _pair(shift, "shift")
        cx, cy = (0.0, 0.0) if center is None else _pair(center, "center")
        cos, sin = math.cos(angle), math.sin(angle)
        # p' = R (p - c) + c + shift
        tx = cx - (cos * cx - sin * cy) + dx
        ty = cy - (sin * cx + cos * cy) + dy
        return cls(((cos, -sin, tx), (sin, cos, ty)))

    @classmethod
    def from_matrix(cls, matrix: Any) -> Transform:
        """From a 2x3 array, or a 3x3 homogeneous one whose last row is [0, 0, 1]."""
        array = np.asarray(matrix, dtype=np.float64)
        if array.shape == (3, 3):
            if not np.allclose(array[2], (0.0, 0.0, 1.0)):
                raise InvalidInputError(
                    f"a 3x3 transform matrix must end with the row [0, 0, 1] (an affine), got {array[2].tolist()}"
                )
            array = array[:2]
        if array.shape != (2, 3):
            raise InvalidInputError(f"Transform matrix must be 2x3 or 3x3, got shape {array.shape}; {_FORMAT_HINT}")
        return cls(tuple(tuple(row) for row in array.tolist()))  # type: ignore[arg-type]

    @classmethod
    def from_list(cls, value: Any) -> Transform:
        """Read what :meth:`to_list` wrote (a JSON value); ``None`` is the identity."""
        if value is None:
            return cls.identity()
        try:
            return cls.from_matrix(value)
        except (TypeError, ValueError) as error:
            if isinstance(error, InvalidInputError):
                raise
            raise InvalidInputError(f"cannot read a transform from {value!r}: {error}; {_FORMAT_HINT}") from error

    # -- views ----------------------------------------------------------------------------

    def to_list(self) -> list[list[float]]:
        """The 2x3 matrix as nested lists of floats, ready for a JSON column."""
        return [list(row) for row in self.matrix]

    def as_array(self) -> np.ndarray:
        """The 3x3 homogeneous matrix (a new array)."""
        return np.vstack([np.asarray(self.matrix, dtype=np.float64), (0.0, 0.0, 1.0)])

    @property
    def linear(self) -> np.ndarray:
        """The 2x2 part ``[[a, b], [c, d]]``."""
        return np.asarray(self.matrix, dtype=np.float64)[:, :2]

    @property
    def shift(self) -> tuple[float, float]:
        """The translation ``(tx, ty)`` (where the origin goes)."""
        return self.matrix[0][2], self.matrix[1][2]

    @property
    def angle_rad(self) -> float:
        """The rotation angle of the linear part (exact for rigid and similarity transforms)."""
        (a, b, _), (c, d, _) = self.matrix
        # The rotation closest to the linear part (polar decomposition) has this angle.
        return math.atan2(c - b, a + d)

    @property
    def scale(self) -> float:
        """Square root of the area ratio (1 for a rigid transform)."""
        return math.sqrt(abs(float(np.linalg.det(self.linear))))

    def is_rigid(self, tolerance: float = 1e-6) -> bool:
        """Whether the linear part is a rotation (within ``tolerance``)."""
        linear = self.linear
        return bool(np.allclose(linear.T @ linear, np.eye(2), atol=tolerance) and np.linalg.det(linear) > 0)

    def allclose(self, other: Transform, *, atol: float = 1e-9) -> bool:
        """Whether two transforms have the same matrix up to ``atol``."""
        return bool(np.allclose(np.asarray(self.matrix), np.asarray(other.matrix), rtol=0.0, atol=atol))

    # -- algebra ---------------------------------------------------------------------------

    def apply(self, points: Any) -> np.ndarray:
        """Map (x, y) points: one ``(2,)`` point or an ``(n, 2)`` array; returns the same shape."""
        array, single = _as_points(points, "points")
        out = apply_affine(self.matrix, array)
        return out[0] if single else out

    def apply_rowcol(self, points: Any) -> np.ndarray:
        """Map (row, col) points (as the catalog stores pixel centroids); returns (row, col)."""
        array, single = _as_points(points, "points")
        out = self.apply(array[:, ::-1])[:, ::-1]
        return out[0] if single else out

    def compose(self, other: Transform) -> Transform:
        """``self ∘ other``: the transform that applies ``other`` first, then ``self``.

        ``a.compose(b).apply(p) == a.apply(b.apply(p))``; ``a @ b`` is the same.
        """
        if not isinstance(other, Transform):
            raise InvalidInputError(f"can only compose with another Transform, got {type(other).__name__}")
        return Transform.from_matrix(self.as_array() @ other.as_array())

    def __matmul__(self, other: Transform) -> Transform:
        return self.compose(other)

    def inverse(self) -> Transform:
        """The transform that undoes this one."""
        return Transform.from_matrix(np.linalg.inv(self.as_array()))

    def rowcol_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """The same map written for (row, col) points: ``(linear 2x2, offset 2)``.

        This is what :func:`scipy.ndimage.affine_transform` works in.
        """
        matrix = np.asarray(self.matrix, dtype=np.float64)
        swap = np.array([[0.0, 1.0], [1.0, 0.0]])
        return swap @ matrix[:, :2] @ swap, matrix[::-1, 2].copy()


def pixel_frame(pixel_size_um: float, origin_um: Sequence[float] = (0.0, 0.0)) -> Transform:
    """The map from a plane's pixel (x=col, y=row) frame to its µm (x_um, y_um) frame.

    ``x_um = col * pixel_size_um + origin_x_um``, ``y_um = row * pixel_size_um + origin_y_um``,
    as the catalog computes ROI centroids in µm. Compose it with a registration to place
    ROIs of one session in another session's µm frame::

        # moving pixels -> reference pixels -> reference µm
        pixel_to_reference = pixel_frame(ref_pixel_size, ref_origin) @ registration.transform
        # a plane's µm frame -> reference µm (the catalog's fov_transform)
        fov_transform = pixel_to_reference @ pixel_frame(plane_pixel_size, plane_origin).inverse()
    """
    size = float(pixel_size_um)
    if not math.isfinite(size) or size <= 0:
        raise InvalidInputError(f"pixel_size_um must be a positive number of µm, got {pixel_size_um!r}")
    ox, oy = _pair(origin_um, "origin_um")
    return Transform(((size, 0.0, ox), (0.0, size, oy)))


def warp_image(
    image: np.ndarray,
    transform: Transform,
    output_shape: Sequence[int] | None = None,
    *,
    order: int = 1,
    cval: float = np.nan,
) -> np.ndarray:
    """Resample ``image`` into the frame that ``transform`` maps its pixels to.

    Parameters
    ----------
    image : (H, W) array
        The image in its own (source) pixel frame.
    transform : Transform
        Source pixel (x, y) -> destination pixel (x, y), e.g. a registration's transform
        to show a moving session's mean image in the reference frame.
    output_shape : (height, width), optional
        Destination size (default: the image's).
    order : int
        Spline order (0 nearest, 1 linear, 3 cubic).
    cval : float
        Value for destination pixels that fall outside the image (NaN by default, so
        that callers see what is not covered).

    Returns
    -------
    numpy.ndarray
        float64 image of ``output_shape``.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise InvalidInputError(f"image must be 2-D (height, width), got shape {array.shape}")
    shape = array.shape if output_shape is None else tuple(int(v) for v in output_shape)
    linear, offset = transform.inverse().rowcol_matrix()
    return scipy.ndimage.affine_transform(
        array.astype(np.float64, copy=False), linear, offset=offset, output_shape=shape, order=order, cval=cval
    )


def warp_masks(
    masks: CsrMasks,
    transform: Transform,
    output_shape: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carry many sparse pixel masks into another pixel frame.

    A destination pixel belongs to a mask when the source pixel nearest to its
    pre-image does (nearest-neighbour resampling), and keeps that pixel's weight. Going
    backwards from destination pixels, rather than moving each source pixel forwards,
    leaves no holes and no doubled pixels under rotation.

    Parameters
    ----------
    masks : CsrMasks
        The masks in their source pixel frame.
    transform : Transform
        Source pixel (x, y) -> destination pixel (x, y).
    output_shape : (height, width), optional
        Drop destination pixels outside this frame; ``None`` keeps them all.

    Returns
    -------
    indptr, rows, cols, weights
        The warped masks in CSR form, pixels of each mask in row-major order: int64
        ``indptr``, ``rows`` and ``cols``, float32 ``weights``. Plain arrays rather than
        :class:`~segdb.geometry.CsrMasks`, because without ``output_shape`` a pixel may
        land at a negative row or column, which a frame's masks cannot hold but an
        overlap measured on an unbounded grid must count.
    """
    if not isinstance(masks, CsrMasks):
        raise InvalidInputError(
            f"masks must be CsrMasks (build them with CsrMasks.from_pixel_masks), got {type(masks).__name__}"
        )
    indptr, weights = masks.indptr, masks.weight
    # Destination pixels may fall at negative indices, so the arithmetic is in int64.
    rows, cols = masks.row.astype(np.int64), masks.col.astype(np.int64)
    n_masks = indptr.size - 1
    counts = np.diff(indptr)
    owner = np.repeat(np.arange(n_masks), counts)

    linear = transform.linear
    dx, dy = transform.shift
    integer_shift = np.allclose(linear, np.eye(2), atol=1e-12) and float(dx).is_integer() and float(dy).is_integer()
    if integer_shift:
        # A whole-pixel translation (or the identity) moves pixels exactly; no resampling.
        out_rows, out_cols, out_weights, out_owner = rows + int(dy), cols + int(dx), weights, owner
    else:
        out_owner, out_rows, out_cols, out_weights = _warp_by_inverse_mapping(
            owner, rows, cols, weights, counts, transform
        )
    if output_shape is not None:
        height, width = (int(v) for v in output_shape)
        keep = (out_rows >= 0) & (out_rows < height) & (out_cols >= 0) & (out_cols < width)
        out_owner, out_rows, out_cols, out_weights = out_owner[keep], out_rows[keep], out_cols[keep], out_weights[keep]
    # Owners come out grouped already; a stable sort makes that explicit and cheap.
    order = np.lexsort((out_cols, out_rows, out_owner))
    out_indptr = np.zeros(n_masks + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_owner, minlength=n_masks), out=out_indptr[1:])
    return out_indptr, out_rows[order], out_cols[order], out_weights[order]


def _warp_by_inverse_mapping(
    owner: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    counts: np.ndarray,
    transform: Transform,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_masks = counts.size
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, weights[:0]
    present = counts > 0
    big = np.iinfo(np.int64).max
    r0 = np.full(n_masks, big, dtype=np.int64)
    c0 = np.full(n_masks, big, dtype=np.int64)
    r1 = np.full(n_masks, -big, dtype=np.int64)
    c1 = np.full(n_masks, -big, dtype=np.int64)
    np.minimum.at(r0, owner, rows)
    np.minimum.at(c0, owner, cols)
    np.maximum.at(r1, owner, rows)
    np.maximum.at(c1, owner, cols)

    # Destination bounding box of each mask: the image of its source box, one pixel wider
    # so that nearest-neighbour rounding at the edge is not cut off.
    corners_x = np.stack([c0, c1, c0, c1], axis=1)[present].astype(np.float64)
    corners_y = np.stack([r0, r0, r1, r1], axis=1)[present].astype(np.float64)
    points = np.stack([corners_x.ravel(), corners_y.ravel()], axis=1)
    mapped = transform.apply(points).reshape(-1, 4, 2)
    dest_c0 = np.floor(mapped[:, :, 0].min(axis=1)).astype(np.int64) - 1
    dest_c1 = np.ceil(mapped[:, :, 0].max(axis=1)).astype(np.int64) + 1
    dest_r0 = np.floor(mapped[:, :, 1].min(axis=1)).astype(np.int64) - 1
    dest_r1 = np.ceil(mapped[:, :, 1].max(axis=1)).astype(np.int64) + 1
    box_w = dest_c1 - dest_c0 + 1
    box_h = dest_r1 - dest_r0 + 1
    areas = box_w * box_h

    # Every destination pixel of every box, enumerated without a Python loop.
    masks_present = np.flatnonzero(present)
    cand_owner_local = np.repeat(np.arange(masks_present.size), areas)
    starts = np.cumsum(areas) - areas
    local = np.arange(int(areas.sum()), dtype=np.int64) - np.repeat(starts, areas)
    cand_rows = dest_r0[cand_owner_local] + local // box_w[cand_owner_local]
    cand_cols = dest_c0[cand_owner_local] + local % box_w[cand_owner_local]
    back = transform.inverse().apply(np.stack([cand_cols, cand_rows], axis=1).astype(np.float64))
    # Nearest source pixel (round half up, the same way for every mask).
    src_cols = np.floor(back[:, 0] + 0.5).astype(np.int64)
    src_rows = np.floor(back[:, 1] + 0.5).astype(np.int64)
    cand_owner = masks_present[cand_owner_local]

    # Membership of (mask, source pixel) by a sorted integer key per mask's source box.
    in_box = (src_rows >= r0[cand_owner]) & (src_rows <= r1[cand_owner]) & (
        src_cols >= c0[cand_owner]) & (src_cols <= c1[cand_owner])
    src_w = (c1 - c0 + 1)
    src_area = src_w * (r1 - r0 + 1)
    src_area[~present] = 0
    key_base = np.cumsum(src_area) - src_area
    source_keys = key_base[owner] + (rows - r0[owner]) * src_w[owner] + (cols - c0[owner])
    key_order = np.argsort(source_keys, kind="stable")
    sorted_keys = source_keys[key_order]
    cand_keys = key_base[cand_owner] + (src_rows - r0[cand_owner]) * src_w[cand_owner] + (src_cols - c0[cand_owner])
    cand_keys[~in_box] = -1
    position = np.searchsorted(sorted_keys, cand_keys)
    position_clipped = np.minimum(position, sorted_keys.size - 1)
    hit = in_box & (sorted_keys[position_clipped] == cand_keys)
    source_index = key_order[position_clipped[hit]]
    return cand_owner[hit], cand_rows[hit], cand_cols[hit], weights[source_index]


def warp_mask(
    pixel_mask: np.ndarray,
    transform: Transform,
    output_shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Carry one ``[row, col, weight]`` pixel mask into another pixel frame.

    Parameters
    ----------
    pixel_mask : (k, 3) array
        ``[row, col, weight]`` rows, roiextractors' order.
    transform : Transform
        Source pixel (x, y) -> destination pixel (x, y).
    output_shape : (height, width), optional
        Drop pixels that land outside this frame.

    Returns
    -------
    numpy.ndarray
        (k', 3) float64 ``[row, col, weight]``; see :func:`warp_masks` for the resampling.
    """
    _, rows, cols, weights = warp_masks(CsrMasks.from_pixel_masks([pixel_mask]), transform, output_shape)
    return np.stack([rows, cols, weights], axis=1).astype(np.float64)


__all__ = [
    "Transform",
    "pixel_frame",
    "warp_image",
    "warp_mask",
    "warp_masks",
]
