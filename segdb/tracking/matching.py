"""Pair the ROIs of two sessions, and join pairs over many sessions into tracks.

Inputs are plain values: a :class:`RoiSet` per session (ROI ids, centroids in the field
of view's reference µm frame, optionally the pixel masks with the map from the session's
pixels to that frame). Nothing here reads or writes the archive; the archive stores what
:func:`match_sessions` and :func:`build_tracks` return.

Scoring a candidate pair
------------------------
Two ROIs are *candidates* when their centroids are at most ``max_distance_um`` apart in
the reference frame and, when both sessions have masks, their masks overlap with an
intersection over union of at least ``min_iou``. IoU is computed on the first session's
pixel grid: the second session's masks are carried there through both sessions'
transforms (nearest-neighbour, see :func:`~segdb.tracking.transforms.warp_masks`), so
only one side is resampled. A candidate's score, in (0, 1], is::

    score = (distance_weight * (1 - distance / max_distance_um) + iou_weight * iou)
            / (distance_weight + iou_weight)

or ``1 - distance / max_distance_um`` when a side has no masks (its ``iou`` is None).

Assignment
----------
Pairs are chosen by a maximum-weight one-to-one assignment over the candidates
(:func:`scipy.optimize.linear_sum_assignment`). The candidate graph is first split into
connected components (:func:`scipy.sparse.csgraph.connected_components`); a component with
one candidate is taken as it is and every other is solved on its own small dense matrix,
where non-candidates cost 0 and candidates ``-score`` (so a non-candidate is never
preferred to leaving a ROI unmatched, and no ROI is forced into a bad pair). This is
exact, and since cells have few neighbours within ``max_distance_um`` the components stay
small: the assignment costs little next to the IoU even for 3,000 ROIs a session.

Tracks
------
:func:`build_tracks` walks the sessions in order. Every ROI of the first session starts a
track. For each later session ``s``, every track still waiting for its cell (all of them,
or those seen within the last ``max_gap + 1`` sessions) is represented by its
most recent members (up to two, from whichever sessions they came); their masks are
carried into session ``s``'s pixel grid and they are scored against ``s``'s ROIs as
above. A track's score for a ROI is the best score of any of its representatives, so one
poor mask does not break a track, and a cell missed for some sessions rejoins its track
when it comes back where it was. One maximum-weight assignment between tracks and the
ROIs of ``s`` then decides: each track takes at most one ROI of ``s``, each ROI joins at
most one track, and ROIs left over start new tracks. Conflicts (two tracks wanting one
ROI, one track wanting two) are therefore resolved by total score, never by order of
arrival, and the cost per session grows with the number of tracks, not with the number
of earlier sessions. Tracks are numbered 0, 1, ... in the order they start (session,
then the ROI's position in its :class:`RoiSet`), so the same input always gives the same
tracks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from segdb.errors import InvalidInputError
from segdb.tracking.transforms import Transform, warp_masks

#: Name of the algorithm, to store with a matching run next to its parameters.
MATCHING_METHOD = "segdb.tracking/centroid-iou-assignment-v1"

#: Centroids further apart than this (µm, reference frame) are never paired.
DEFAULT_MAX_DISTANCE_UM = 8.0
#: Masks overlapping less than this (IoU) are never paired (when both sides have masks).
DEFAULT_MIN_IOU = 0.1
DEFAULT_DISTANCE_WEIGHT = 1.0
DEFAULT_IOU_WEIGHT = 1.0
#: A cell missed for up to this many sessions in a row rejoins its track (None: any number).
DEFAULT_MAX_GAP: int | None = None
# A track is compared with a new session through this many of its most recent members:
# enough to ride out one poor mask, few enough that the cost does not grow with a
# track's length.
_MEMBERS_COMPARED = 2


# -- values ------------------------------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class SparseMasks:
    """Pixel masks of many ROIs in one pixel frame, as CSR (the chunk files' layout).

    Mask ``i`` is ``rows/cols/weights[indptr[i]:indptr[i + 1]]``; a pixel belongs to the
    mask whatever its weight (IoU counts pixels).

    Attributes
    ----------
    indptr : (n + 1,) int64
    rows, cols : (m,) int64
        Pixel row and column.
    weights : (m,) float64
    """

    indptr: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr)
        rows, cols = np.asarray(self.rows), np.asarray(self.cols)
        for name, values in (("indptr", indptr), ("rows", rows), ("cols", cols)):
            if values.size and not np.all(np.asarray(values) == np.round(values)):
                raise InvalidInputError(f"mask {name} must hold whole numbers (pixel indices), got {values[:5]!r}")
        indptr = indptr.astype(np.int64)
        rows, cols = rows.astype(np.int64), cols.astype(np.int64)
        weights = np.asarray(self.weights, dtype=np.float64)
        if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise InvalidInputError(
                "mask indptr must be 1-D, start at 0 and never decrease (CSR: one entry per ROI plus one)"
            )
        if not (rows.shape == cols.shape == weights.shape == (int(indptr[-1]),)):
            raise InvalidInputError(
                f"mask rows, cols and weights must each hold indptr[-1] = {int(indptr[-1])} values, "
                f"got {rows.shape}, {cols.shape} and {weights.shape}"
            )
        for name, value in (("indptr", indptr), ("rows", rows), ("cols", cols), ("weights", weights)):
            object.__setattr__(self, name, _readonly(value))

    @classmethod
    def from_pixel_masks(cls, pixel_masks: Sequence[np.ndarray]) -> SparseMasks:
        """From one ``[row, col, weight]`` (k, 3) array per ROI (roiextractors' pixel masks)."""
        arrays = []
        for index, mask in enumerate(pixel_masks):
            array = np.asarray(mask, dtype=np.float64)
            if array.ndim != 2 or array.shape[1] != 3:
                raise InvalidInputError(
                    f"pixel mask {index} must be (k, 3) [row, col, weight] rows, got shape {array.shape}"
                )
            arrays.append(array)
        counts = np.array([a.shape[0] for a in arrays], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        stacked = np.concatenate(arrays) if arrays else np.zeros((0, 3))
        return cls(indptr=indptr, rows=stacked[:, 0], cols=stacked[:, 1], weights=stacked[:, 2])

    def __len__(self) -> int:
        return int(self.indptr.size - 1)

    def pixel_mask(self, index: int) -> np.ndarray:
        """Mask ``index`` as a (k, 3) ``[row, col, weight]`` array."""
        start, stop = int(self.indptr[index]), int(self.indptr[index + 1])
        return np.stack([self.rows[start:stop], self.cols[start:stop], self.weights[start:stop]], axis=1).astype(
            np.float64
        )

    def subset(self, positions: np.ndarray) -> SparseMasks:
        """The masks at ``positions`` (in that order) as a new SparseMasks."""
        positions = np.asarray(positions, dtype=np.int64)
        starts = self.indptr[positions]
        counts = self.indptr[positions + 1] - starts
        total = int(counts.sum())
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.repeat(starts, counts) + offsets
        return SparseMasks(
            indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            rows=self.rows[index], cols=self.cols[index], weights=self.weights[index],
        )

    def centroids_rowcol(self) -> np.ndarray:
        """Weighted centroid (row, col) of every mask, as the catalog computes it.

        Masks whose weights sum to zero or less fall back to the plain mean of their
        pixels; an empty mask gives NaN.
        """
        n = len(self)
        owner = np.repeat(np.arange(n), np.diff(self.indptr))
        total = np.bincount(owner, weights=self.weights, minlength=n)
        count = np.bincount(owner, minlength=n).astype(np.float64)
        weighted = total > 0
        weights = np.where(weighted[owner], self.weights, 1.0)
        norm = np.where(weighted, total, count)
        with np.errstate(invalid="ignore", divide="ignore"):
            row = np.bincount(owner, weights=self.rows * weights, minlength=n) / norm
            col = np.bincount(owner, weights=self.cols * weights, minlength=n) / norm
        return np.stack([row, col], axis=1)


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
    masks : SparseMasks, optional
        The ROIs' pixel masks in this session's own pixel frame, in ``ids`` order.
    pixel_to_reference : Transform, optional
        This session's pixel (x=col, y=row) frame -> the reference µm frame; required
        with ``masks``. Typically ``pixel_frame(ref_pixel_size, ref_origin) @
        registration.transform`` (see :func:`~segdb.tracking.transforms.pixel_frame`).
    """

    ids: np.ndarray
    centroids_um: np.ndarray
    masks: SparseMasks | None = None
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
            if not isinstance(self.masks, SparseMasks):
                raise InvalidInputError(
                    f"masks must be SparseMasks (use SparseMasks.from_pixel_masks), got {type(self.masks).__name__}"
                )
            if len(self.masks) != ids.size:
                raise InvalidInputError(f"masks holds {len(self.masks)} masks for {ids.size} ids; give one per ROI")
            if self.pixel_to_reference is None:
                raise InvalidInputError(
                    "masks need pixel_to_reference (this session's pixels -> the reference µm frame) so that "
                    "they can be compared with other sessions' masks"
                )
        if self.pixel_to_reference is not None and not isinstance(self.pixel_to_reference, Transform):
            raise InvalidInputError(
                f"pixel_to_reference must be a Transform, got {type(self.pixel_to_reference).__name__}"
            )
        object.__setattr__(self, "ids", _readonly(ids))
        object.__setattr__(self, "centroids_um", _readonly(centroids))

    @classmethod
    def from_pixel_masks(
        cls,
        ids: Sequence[int] | np.ndarray,
        masks: SparseMasks | Sequence[np.ndarray],
        pixel_to_reference: Transform,
        *,
        centroids_rowcol: np.ndarray | None = None,
    ) -> RoiSet:
        """Build a set from masks in the session's pixel frame.

        Parameters
        ----------
        ids : (n,) ints
            ROI ids.
        masks : SparseMasks or sequence of (k, 3) ``[row, col, weight]`` arrays
            The masks, in ``ids`` order.
        pixel_to_reference : Transform
            Session pixel (x, y) -> reference µm (x, y).
        centroids_rowcol : (n, 2) array, optional
            Pixel centroids (row, col), e.g. the catalog's ``centroid_row/col``; computed
            from the masks (weighted) when omitted.
        """
        sparse = masks if isinstance(masks, SparseMasks) else SparseMasks.from_pixel_masks(masks)
        if not isinstance(pixel_to_reference, Transform):
            raise InvalidInputError(f"pixel_to_reference must be a Transform, got {type(pixel_to_reference).__name__}")
        rowcol = sparse.centroids_rowcol() if centroids_rowcol is None else np.asarray(centroids_rowcol, np.float64)
        if rowcol.shape != (len(sparse), 2):
            raise InvalidInputError(f"centroids_rowcol must be ({len(sparse)}, 2), got shape {rowcol.shape}")
        if not np.all(np.isfinite(rowcol)):
            empty = np.flatnonzero(~np.all(np.isfinite(rowcol), axis=1))
            raise InvalidInputError(
                f"ROIs at positions {empty[:10].tolist()} have empty masks and no centroid; drop them"
            )
        centroids = pixel_to_reference.apply(rowcol[:, ::-1]) if len(rowcol) else np.zeros((0, 2))
        return cls(ids=np.asarray(ids), centroids_um=centroids, masks=sparse, pixel_to_reference=pixel_to_reference)

    @classmethod
    def from_centroids(
        cls, ids: Sequence[int] | np.ndarray, centroids_rowcol: np.ndarray, pixel_to_reference: Transform
    ) -> RoiSet:
        """Build a mask-less set from pixel centroids (row, col) and the session's transform."""
        rowcol = np.asarray(centroids_rowcol, dtype=np.float64).reshape(-1, 2)
        centroids = pixel_to_reference.apply(rowcol[:, ::-1]) if len(rowcol) else np.zeros((0, 2))
        return cls(ids=np.asarray(ids), centroids_um=centroids, pixel_to_reference=pixel_to_reference)

    def without_masks(self) -> RoiSet:
        """The same ROIs with centroids only (matching then ignores IoU)."""
        return RoiSet(ids=self.ids, centroids_um=self.centroids_um, pixel_to_reference=self.pixel_to_reference)

    def __len__(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True)
class Pair:
    """Two ROIs of two sessions judged to be the same cell, and why.

    Attributes
    ----------
    a_id, b_id : int
        ROI ids in the first and second session.
    distance_um : float
        Centroid distance in the reference frame.
    iou : float or None
        Mask intersection over union after registration; None when a side has no masks
        (NULL in a catalog column, unlike NaN, which JSON cannot hold and which never
        equals itself).
    score : float
        Combined score in (0, 1] (see the module docstring).
    """

    a_id: int
    b_id: int
    distance_um: float
    iou: float | None
    score: float


@dataclass(frozen=True)
class TrackMember:
    """One ROI of a track: the session's position in the list given to :func:`build_tracks`, and the ROI id."""

    session_index: int
    roi_id: int


@dataclass(frozen=True)
class TrackLink:
    """Why a member joined its track: the earlier member it matched (``session_a``) and the pair's scores."""

    session_a: int
    session_b: int
    pair: Pair


@dataclass(frozen=True)
class Track:
    """One cell followed over sessions.

    Attributes
    ----------
    track_id : int
        0..n-1 within one :func:`build_tracks` result (the archive assigns permanent ids).
    members : tuple[TrackMember, ...]
        At most one ROI per session, in session order.
    links : tuple[TrackLink, ...]
        One per member after the first: the pair that attached it.
    """

    track_id: int
    members: tuple[TrackMember, ...]
    links: tuple[TrackLink, ...]

    def __len__(self) -> int:
        return len(self.members)

    @property
    def session_indices(self) -> tuple[int, ...]:
        """Sessions in which the track has a ROI."""
        return tuple(member.session_index for member in self.members)

    def roi_id(self, session_index: int) -> int | None:
        """The track's ROI in a session, or None when the cell was not found there."""
        for member in self.members:
            if member.session_index == session_index:
                return member.roi_id
        return None


# -- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parameters:
    max_distance_um: float
    min_iou: float
    distance_weight: float
    iou_weight: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_distance_um) and self.max_distance_um > 0):
            raise InvalidInputError(f"max_distance_um must be a positive number of µm, got {self.max_distance_um!r}")
        if not (math.isfinite(self.min_iou) and 0.0 <= self.min_iou <= 1.0):
            raise InvalidInputError(f"min_iou must be between 0 and 1, got {self.min_iou!r}")
        for name in ("distance_weight", "iou_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"{name} must be a non-negative number, got {value!r}")
        if self.distance_weight + self.iou_weight <= 0:
            raise InvalidInputError("distance_weight and iou_weight cannot both be 0; the score would be undefined")


def _parameters(max_distance_um: float, min_iou: float, distance_weight: float, iou_weight: float) -> _Parameters:
    try:
        return _Parameters(float(max_distance_um), float(min_iou), float(distance_weight), float(iou_weight))
    except (TypeError, ValueError) as error:
        if isinstance(error, InvalidInputError):
            raise
        raise InvalidInputError(f"matching parameters must be numbers: {error}") from error


def tracking_parameters(
    *,
    max_distance_um: float = DEFAULT_MAX_DISTANCE_UM,
    min_iou: float = DEFAULT_MIN_IOU,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
    iou_weight: float = DEFAULT_IOU_WEIGHT,
    max_gap: int | None = DEFAULT_MAX_GAP,
) -> dict[str, float | int | None]:
    """Every parameter of :func:`build_tracks` with defaults filled in, checked, as a JSON-able dict.

    Store it with :data:`MATCHING_METHOD` for a matching run; ``build_tracks(sessions, **params)``
    repeats the run.
    """
    checked = _parameters(max_distance_um, min_iou, distance_weight, iou_weight)
    return {
        "max_distance_um": checked.max_distance_um,
        "min_iou": checked.min_iou,
        "distance_weight": checked.distance_weight,
        "iou_weight": checked.iou_weight,
        "max_gap": None if max_gap is None else _check_gap(max_gap),
    }


def _check_gap(max_gap: Any) -> int:
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
        raise InvalidInputError(f"max_gap must be a whole number of sessions >= 0, got {max_gap!r}")
    return int(max_gap)


# -- candidates ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Candidates:
    """Candidate pairs between two sets, by position: a_index, b_index, distance, iou, score."""

    a_index: np.ndarray
    b_index: np.ndarray
    distance: np.ndarray
    iou: np.ndarray
    score: np.ndarray

    def take(self, keep: np.ndarray) -> _Candidates:
        return _Candidates(self.a_index[keep], self.b_index[keep], self.distance[keep], self.iou[keep],
                           self.score[keep])


def _mask_iou(a: RoiSet, b: RoiSet, a_index: np.ndarray, b_index: np.ndarray) -> np.ndarray:
    """IoU of the masks of pairs (a_index[k], b_index[k]), on a's pixel grid."""
    assert a.masks is not None and b.masks is not None
    assert a.pixel_to_reference is not None and b.pixel_to_reference is not None
    b_to_a = a.pixel_to_reference.inverse() @ b.pixel_to_reference
    b_indptr, b_rows, b_cols, _ = warp_masks(b.masks.indptr, b.masks.rows, b.masks.cols, b.masks.weights, b_to_a)
    a_owner = np.repeat(np.arange(len(a)), np.diff(a.masks.indptr))
    b_owner = np.repeat(np.arange(len(b)), np.diff(b_indptr))
    rows = np.concatenate([a.masks.rows, b_rows])
    cols = np.concatenate([a.masks.cols, b_cols])
    if rows.size == 0:
        return np.zeros(a_index.size)
    row0, col0 = rows.min(), cols.min()
    span = int(cols.max() - col0 + 1)
    n_keys = int((rows.max() - row0 + 1) * span)
    keys = (rows - row0) * span + (cols - col0)
    a_keys, b_keys = keys[: a.masks.rows.size], keys[a.masks.rows.size:]

    def incidence(owner: np.ndarray, pixel_keys: np.ndarray, n: int) -> scipy.sparse.csr_matrix:
        matrix = scipy.sparse.csr_matrix((np.ones(owner.size), (owner, pixel_keys)), shape=(n, n_keys))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0  # a pixel listed twice in a mask still counts once
        return matrix

    a_matrix = incidence(a_owner, a_keys, len(a))
    b_matrix = incidence(b_owner, b_keys, len(b))
    a_sizes = np.diff(a_matrix.indptr)
    b_sizes = np.diff(b_matrix.indptr)
    intersections = (a_matrix[np.unique(a_index)] @ b_matrix.T).tocsr() if a_index.size else None
    if intersections is None:
        return np.zeros(0)
    row_of = np.searchsorted(np.unique(a_index), a_index)
    inter = np.asarray(intersections[row_of, b_index]).ravel()
    union = a_sizes[a_index] + b_sizes[b_index] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _candidates(a: RoiSet, b: RoiSet, params: _Parameters) -> _Candidates:
    empty = np.zeros(0, dtype=np.int64)
    if len(a) == 0 or len(b) == 0:
        return _Candidates(empty, empty, np.zeros(0), np.zeros(0), np.zeros(0))
    tree_b = cKDTree(b.centroids_um)
    neighbours = tree_b.query_ball_point(a.centroids_um, r=params.max_distance_um)
    counts = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    a_index = np.repeat(np.arange(len(a), dtype=np.int64), counts)
    b_index = np.fromiter((j for n in neighbours for j in sorted(n)), dtype=np.int64, count=int(counts.sum()))
    distance = np.hypot(*(a.centroids_um[a_index] - b.centroids_um[b_index]).T)
    closeness = 1.0 - distance / params.max_distance_um
    if a.masks is not None and b.masks is not None:
        iou = _mask_iou(a, b, a_index, b_index)
        total = params.distance_weight + params.iou_weight
        score = (params.distance_weight * closeness + params.iou_weight * iou) / total
        keep = (iou >= params.min_iou) & (score > 0)
    else:
        iou = np.full(a_index.size, np.nan)
        score = closeness
        keep = score > 0
    return _Candidates(a_index, b_index, distance, iou, score).take(keep)


def _max_weight_matching(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Boolean mask of the edges in a maximum-weight one-to-one matching (all weights > 0)."""
    selected = np.zeros(rows.size, dtype=bool)
    if rows.size == 0:
        return selected
    # Renumber the nodes that have edges so the graph is only as large as the candidates.
    row_nodes, row_local = np.unique(rows, return_inverse=True)
    col_nodes, col_local = np.unique(cols, return_inverse=True)
    n_rows, n_cols = row_nodes.size, col_nodes.size
    graph = scipy.sparse.coo_matrix(
        (np.ones(rows.size), (row_local, n_rows + col_local)), shape=(n_rows + n_cols, n_rows + n_cols)
    )
    _, labels = connected_components(graph, directed=False)
    component = labels[row_local]
    edges_in_component = np.bincount(component)
    lone = edges_in_component[component] == 1
    selected[lone] = True
    shared = np.flatnonzero(~lone)
    if shared.size == 0:
        return selected
    shared = shared[np.argsort(component[shared], kind="stable")]
    boundaries = np.flatnonzero(np.diff(component[shared])) + 1
    for group in np.split(shared, boundaries):
        group_rows, r_index = np.unique(row_local[group], return_inverse=True)
        group_cols, c_index = np.unique(col_local[group], return_inverse=True)
        cost = np.zeros((group_rows.size, group_cols.size))
        edge = np.full(cost.shape, -1, dtype=np.int64)
        cost[r_index, c_index] = -weights[group]
        edge[r_index, c_index] = group
        chosen_r, chosen_c = linear_sum_assignment(cost)
        chosen = edge[chosen_r, chosen_c]
        selected[chosen[chosen >= 0]] = True
    return selected


def _iou_value(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# -- public functions ------------------------------------------------------------------------


def _check_roi_set(value: Any, name: str) -> RoiSet:
    if not isinstance(value, RoiSet):
        raise InvalidInputError(f"{name} must be a RoiSet, got {type(value).__name__}")
    return value


def match_sessions(
    a: RoiSet,
    b: RoiSet,
    *,
    max_distance_um: float = DEFAULT_MAX_DISTANCE_UM,
    min_iou: float = DEFAULT_MIN_IOU,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
    iou_weight: float = DEFAULT_IOU_WEIGHT,
) -> list[Pair]:
    """Pair the ROIs of two sessions one-to-one.

    Parameters
    ----------
    a, b : RoiSet
        The two sessions, with centroids in the same reference frame.
    max_distance_um : float
        Centroids further apart are never paired.
    min_iou : float
        Masks overlapping less are never paired (ignored unless both sets have masks).
    distance_weight, iou_weight : float
        Weights of closeness and IoU in the score (see the module docstring).

    Returns
    -------
    list[Pair]
        The pairs of a maximum-score one-to-one assignment over the candidates, in the
        order of ``a``'s ROIs.
    """
    a = _check_roi_set(a, "a")
    b = _check_roi_set(b, "b")
    params = _parameters(max_distance_um, min_iou, distance_weight, iou_weight)
    candidates = _candidates(a, b, params)
    chosen = candidates.take(_max_weight_matching(candidates.a_index, candidates.b_index, candidates.score))
    order = np.argsort(chosen.a_index, kind="stable")
    return [
        Pair(int(a.ids[i]), int(b.ids[j]), float(d), _iou_value(u), float(s))
        for i, j, d, u, s in zip(chosen.a_index[order], chosen.b_index[order], chosen.distance[order],
                                 chosen.iou[order], chosen.score[order], strict=True)
    ]


PairsSource = Mapping[tuple[int, int], Sequence[Pair]] | Callable[[int, int], Sequence[Pair]]


def _pairs_to_candidates(
    pairs: Sequence[Pair], a: RoiSet, b: RoiSet, key: tuple[int, int]
) -> _Candidates:
    rows = list(pairs)
    for item in rows:
        if not isinstance(item, Pair):
            raise InvalidInputError(f"pairs for sessions {key} must be Pair values, got {type(item).__name__}")
    a_ids = np.array([p.a_id for p in rows], dtype=np.int64)
    b_ids = np.array([p.b_id for p in rows], dtype=np.int64)

    def positions(ids: np.ndarray, roi_set: RoiSet, session: int) -> np.ndarray:
        order = np.argsort(roi_set.ids)
        found = np.searchsorted(roi_set.ids, ids, sorter=order)
        found = np.minimum(found, max(len(roi_set) - 1, 0))
        index = order[found] if len(roi_set) else found
        missing = ids[(roi_set.ids[index] != ids)] if len(roi_set) else ids
        if missing.size:
            raise InvalidInputError(
                f"pairs for sessions {key} name ROI ids {missing[:10].tolist()} that session {session}'s RoiSet "
                "does not hold; give pairs between the RoiSets passed as sessions"
            )
        return index

    a_index = positions(a_ids, a, key[0])
    b_index = positions(b_ids, b, key[1])
    score = np.array([p.score for p in rows], dtype=np.float64)
    if np.any(~np.isfinite(score)) or np.any(score <= 0):
        raise InvalidInputError(
            f"pairs for sessions {key} must have finite scores > 0 (a score is how much to prefer a pair)"
        )
    return _Candidates(
        a_index, b_index, np.array([p.distance_um for p in rows], dtype=np.float64),
        np.array([np.nan if p.iou is None else p.iou for p in rows], dtype=np.float64), score,
    )


def _members_in_frame(roi_sets: Sequence[RoiSet], member_session: np.ndarray, member_position: np.ndarray,
                      target: RoiSet) -> RoiSet:
    """Track members from many sessions gathered into one RoiSet in ``target``'s pixel frame.

    Members are grouped by session (``member_session`` must be sorted). Their masks are
    carried into the target session's pixel grid, so IoU against the target's own masks
    resamples only the members' side; without masks on every side, centroids only.
    """
    centroids = np.concatenate(
        [roi_sets[j].centroids_um[member_position[member_session == j]] for j in np.unique(member_session)]
    ) if member_session.size else np.zeros((0, 2))
    ids = np.arange(member_session.size)
    sessions_used = np.unique(member_session)
    if target.masks is None or any(roi_sets[j].masks is None for j in sessions_used):
        return RoiSet(ids=ids, centroids_um=centroids)
    assert target.pixel_to_reference is not None
    to_target = target.pixel_to_reference.inverse()
    parts = []
    for j in sessions_used:
        source = roi_sets[int(j)]
        assert source.masks is not None and source.pixel_to_reference is not None
        subset = source.masks.subset(member_position[member_session == j])
        parts.append(warp_masks(subset.indptr, subset.rows, subset.cols, subset.weights,
                                to_target @ source.pixel_to_reference))
    counts = np.concatenate([np.diff(part[0]) for part in parts])
    masks = SparseMasks(
        indptr=np.concatenate([[0], np.cumsum(counts)]),
        rows=np.concatenate([part[1] for part in parts]),
        cols=np.concatenate([part[2] for part in parts]),
        weights=np.concatenate([part[3] for part in parts]),
    )
    return RoiSet(ids=ids, centroids_um=centroids, masks=masks, pixel_to_reference=target.pixel_to_reference)


def build_tracks(
    sessions: Sequence[RoiSet],
    *,
    pairs: PairsSource | None = None,
    max_gap: int | None = DEFAULT_MAX_GAP,
    min_sessions: int = 1,
    max_distance_um: float = DEFAULT_MAX_DISTANCE_UM,
    min_iou: float = DEFAULT_MIN_IOU,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
    iou_weight: float = DEFAULT_IOU_WEIGHT,
) -> list[Track]:
    """Join the ROIs of many sessions into tracks of one cell each.

    Parameters
    ----------
    sessions : sequence of RoiSet
        The sessions in time order, all in one reference frame. Track members name a
        session by its position here.
    pairs : mapping or callable, optional
        Scored candidate pairs to use instead of computing them: ``pairs[(j, s)]`` or
        ``pairs(j, s)`` for ``j < s`` gives the :class:`Pair` values between sessions ``j``
        and ``s`` (a missing key means none). Any list of pairs works, e.g. earlier
        :func:`match_sessions` results; the track assignment still resolves conflicts.
        Only pairs whose earlier ROI is one of its track's two latest members count, so
        a track can bridge a gap only if pairs across that gap are given.
    max_gap : int or None
        A cell missing from up to this many consecutive sessions rejoins its track;
        None (the default) lets a track wait for its cell any number of sessions.
    min_sessions : int
        Drop tracks with fewer members (1 keeps every ROI, unmatched ones as tracks of one);
        the remaining tracks are numbered 0..n-1 in order.
    max_distance_um, min_iou, distance_weight, iou_weight : float
        As in :func:`match_sessions` (unused when ``pairs`` is given).

    Returns
    -------
    list[Track]
        Ordered by the session and position of each track's first ROI; ``track_id`` is
        the position in this list.
    """
    roi_sets = [_check_roi_set(value, f"sessions[{index}]") for index, value in enumerate(sessions)]
    max_gap = None if max_gap is None else _check_gap(max_gap)
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, (int, np.integer)) or min_sessions < 1:
        raise InvalidInputError(f"min_sessions must be a whole number >= 1, got {min_sessions!r}")
    params = _parameters(max_distance_um, min_iou, distance_weight, iou_weight)
    if pairs is not None and not (callable(pairs) or isinstance(pairs, Mapping)):
        raise InvalidInputError(
            f"pairs must be a mapping {{(j, s): [Pair, ...]}} or a function (j, s) -> [Pair, ...], "
            f"got {type(pairs).__name__}"
        )

    def given_pairs(j: int, s: int) -> _Candidates:
        assert pairs is not None
        found = pairs(j, s) if callable(pairs) and not isinstance(pairs, Mapping) else pairs.get((j, s), ())
        return _pairs_to_candidates(found or (), roi_sets[j], roi_sets[s], (j, s))

    members: list[list[tuple[int, int]]] = []  # per track: (session, position in that RoiSet)
    links: list[list[TrackLink]] = []
    last_session: list[int] = []
    track_of: list[np.ndarray] = []

    def start_tracks(session: int, positions: np.ndarray) -> None:
        for position in positions:
            track_of[session][position] = len(members)
            members.append([(session, int(position))])
            links.append([])
            last_session.append(session)

    for s, roi_set in enumerate(roi_sets):
        track_of.append(np.full(len(roi_set), -1, dtype=np.int64))
        if s == 0 or len(roi_set) == 0:
            start_tracks(s, np.arange(len(roi_set)))
            continue
        # Each waiting track is represented by its most recent members.
        oldest = -1 if max_gap is None else s - 1 - max_gap
        chosen = [
            (t, j, position)
            for t in range(len(members)) if last_session[t] >= oldest
            for j, position in members[t][-_MEMBERS_COMPARED:]
        ]
        if not chosen:
            start_tracks(s, np.arange(len(roi_set)))
            continue
        chosen.sort(key=lambda item: (item[1], item[2]))
        rep_track = np.array([c[0] for c in chosen], dtype=np.int64)
        rep_session = np.array([c[1] for c in chosen], dtype=np.int64)
        rep_position = np.array([c[2] for c in chosen], dtype=np.int64)
        if pairs is None:
            found = _candidates(_members_in_frame(roi_sets, rep_session, rep_position, roi_set), roi_set, params)
            rep_index = found.a_index
        else:
            pieces, indices = [], []
            for j in np.unique(rep_session):
                wanted = np.flatnonzero(rep_session == j)
                given = given_pairs(int(j), s)
                # Keep pairs whose earlier ROI is a representative; map it to its row.
                lookup = np.full(len(roi_sets[int(j)]), -1, dtype=np.int64)
                lookup[rep_position[wanted]] = wanted
                rows = lookup[given.a_index]
                keep = rows >= 0
                pieces.append(given.take(keep))
                indices.append(rows[keep])
            found = _Candidates(*(np.concatenate([getattr(p, f) for p in pieces]) if pieces else np.zeros(0)
                                  for f in ("a_index", "b_index", "distance", "iou", "score")))
            rep_index = np.concatenate(indices).astype(np.int64) if indices else np.zeros(0, dtype=np.int64)
        if rep_index.size:
            track = rep_track[rep_index]
            b_index = found.b_index.astype(np.int64)
            score = found.score
            source = rep_session[rep_index]
            # One edge per (track, ROI): the best-scoring member, the most recent on a tie.
            order = np.lexsort((-source, -score, b_index, track))
            first = np.ones(order.size, dtype=bool)
            first[1:] = (track[order][1:] != track[order][:-1]) | (b_index[order][1:] != b_index[order][:-1])
            edges = order[first]
            selected = edges[_max_weight_matching(track[edges], b_index[edges], score[edges])]
            for edge in selected[np.argsort(b_index[selected], kind="stable")]:
                t, position = int(track[edge]), int(b_index[edge])
                j, earlier = int(rep_session[rep_index[edge]]), int(rep_position[rep_index[edge]])
                track_of[s][position] = t
                members[t].append((s, position))
                last_session[t] = s
                links[t].append(TrackLink(
                    session_a=j, session_b=s,
                    pair=Pair(int(roi_sets[j].ids[earlier]), int(roi_set.ids[position]), float(found.distance[edge]),
                              _iou_value(found.iou[edge]), float(found.score[edge])),
                ))
        start_tracks(s, np.flatnonzero(track_of[s] < 0))

    out = []
    for t, track_members in enumerate(members):
        if len(track_members) < min_sessions:
            continue
        out.append(Track(
            track_id=len(out),
            members=tuple(
                TrackMember(session, int(roi_sets[session].ids[position])) for session, position in track_members
            ),
            links=tuple(links[t]),
        ))
    return out


__all__ = [
    "DEFAULT_DISTANCE_WEIGHT",
    "DEFAULT_IOU_WEIGHT",
    "DEFAULT_MAX_DISTANCE_UM",
    "DEFAULT_MAX_GAP",
    "DEFAULT_MIN_IOU",
    "MATCHING_METHOD",
    "Pair",
    "PairsSource",
    "RoiSet",
    "SparseMasks",
    "Track",
    "TrackLink",
    "TrackMember",
    "build_tracks",
    "match_sessions",
    "tracking_parameters",
]
