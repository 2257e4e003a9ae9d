"""Pair the ROIs of two sessions: candidates scored by centroid distance and mask overlap, one-to-one.

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
The four numbers are one :class:`MatchParameters`.

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

:class:`Candidates`, :func:`score_candidates`, :func:`grid_masks` and
:func:`max_weight_matching` are the pieces :func:`~segdb.tracking.tracks.build_tracks`
reuses to score tracks against a session the same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks
from segdb.tracking.roi_sets import RoiSet
from segdb.tracking.transforms import Transform, warp_masks

#: Centroids further apart than this (µm, reference frame) are never paired.
DEFAULT_MAX_DISTANCE_UM = 8.0
#: Masks overlapping less than this (IoU) are never paired (when both sides have masks).
DEFAULT_MIN_IOU = 0.1
DEFAULT_DISTANCE_WEIGHT = 1.0
DEFAULT_IOU_WEIGHT = 1.0

#: Masks of many ROIs on one pixel grid, as ``(indptr, rows, cols)`` int64 arrays in CSR
#: form. Unlike :class:`~segdb.geometry.CsrMasks` the grid is unbounded: masks carried
#: from another session may reach negative rows and columns, and still count in an IoU.
GridMasks = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class MatchParameters:
    """How candidate pairs are found and scored (see the module docstring).

    Attributes
    ----------
    max_distance_um : float
        Centroids further apart are never paired.
    min_iou : float
        Masks overlapping less are never paired (ignored unless both sides have masks).
    distance_weight, iou_weight : float
        Weights of closeness and IoU in the score.
    """

    max_distance_um: float = DEFAULT_MAX_DISTANCE_UM
    min_iou: float = DEFAULT_MIN_IOU
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT
    iou_weight: float = DEFAULT_IOU_WEIGHT

    def __post_init__(self) -> None:
        for name in self.names():
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, float(value))
            except (TypeError, ValueError) as error:
                raise InvalidInputError(f"matching parameters must be numbers: {name} is {value!r}") from error
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

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameters' names, in the order of :meth:`to_dict`."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resolve(
        cls, parameters: MatchParameters | None = None, options: Mapping[str, Any] | None = None
    ) -> MatchParameters:
        """``parameters`` (the defaults when None) with the ``options`` given by name replacing some.

        This is how the functions that take ``parameters=None, **options`` read them, so
        ``match_sessions(a, b, max_distance_um=4.0)`` and
        ``match_sessions(a, b, MatchParameters(max_distance_um=4.0))`` are the same call.
        """
        if parameters is not None and not isinstance(parameters, cls):
            raise InvalidInputError(
                f"parameters must be MatchParameters, got {type(parameters).__name__}; give the numbers by name "
                f"({', '.join(cls.names())}) or as MatchParameters(...)"
            )
        options = dict(options or {})
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise InvalidInputError(
                f"unknown matching parameter(s) {unknown}; the parameters are {', '.join(cls.names())}"
            )
        base = cls() if parameters is None else parameters
        return dataclasses.replace(base, **options) if options else base

    def to_dict(self) -> dict[str, float]:
        """The parameters as a JSON-able dict, in field order."""
        return dataclasses.asdict(self)


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


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate pairs between two sets, by position; ``iou`` is NaN where a side has no masks."""

    a_index: np.ndarray
    b_index: np.ndarray
    distance: np.ndarray
    iou: np.ndarray
    score: np.ndarray

    @classmethod
    def empty(cls) -> Candidates:
        index = np.zeros(0, dtype=np.int64)
        return cls(index, index, np.zeros(0), np.zeros(0), np.zeros(0))

    @classmethod
    def concatenate(cls, parts: Sequence[Candidates]) -> Candidates:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(part, f.name) for part in parts]) for f in dataclasses.fields(cls)))

    def __len__(self) -> int:
        return int(self.a_index.size)

    def take(self, keep: np.ndarray) -> Candidates:
        return Candidates(self.a_index[keep], self.b_index[keep], self.distance[keep], self.iou[keep],
                          self.score[keep])

    def pairs(self, a_ids: np.ndarray, b_ids: np.ndarray) -> list[Pair]:
        """The candidates as :class:`Pair` values, naming ROIs by ``a_ids[a_index]`` and ``b_ids[b_index]``."""
        return [
            Pair(int(a_id), int(b_id), float(distance), None if math.isnan(iou) else float(iou), float(score))
            for a_id, b_id, distance, iou, score in zip(
                a_ids[self.a_index], b_ids[self.b_index], self.distance, self.iou, self.score, strict=True
            )
        ]


def check_roi_set(value: Any, name: str) -> RoiSet:
    """``value`` if it is a :class:`RoiSet`; an error naming the argument otherwise."""
    if not isinstance(value, RoiSet):
        raise InvalidInputError(f"{name} must be a RoiSet, got {type(value).__name__}")
    return value


def grid_masks(masks: CsrMasks, transform: Transform | None = None) -> GridMasks:
    """``masks`` on their own pixel grid, or carried through ``transform`` onto another one."""
    if transform is None:
        return masks.indptr, masks.row.astype(np.int64), masks.col.astype(np.int64)
    indptr, rows, cols, _ = warp_masks(masks, transform)
    return indptr, rows, cols


def _incidence(indptr: np.ndarray, pixel_keys: np.ndarray, n_keys: int) -> scipy.sparse.csr_matrix:
    """(masks x pixels) 0/1 matrix; a pixel listed twice in one mask still counts once."""
    n = indptr.size - 1
    owner = np.repeat(np.arange(n), np.diff(indptr))
    matrix = scipy.sparse.csr_matrix((np.ones(owner.size), (owner, pixel_keys)), shape=(n, n_keys))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def mask_iou(a: GridMasks, b: GridMasks, a_index: np.ndarray, b_index: np.ndarray) -> np.ndarray:
    """IoU of the masks of pairs ``(a_index[k], b_index[k])``, ``a`` and ``b`` being on one grid."""
    (a_indptr, a_rows, a_cols), (b_indptr, b_rows, b_cols) = a, b
    rows = np.concatenate([a_rows, b_rows])
    cols = np.concatenate([a_cols, b_cols])
    if rows.size == 0:
        return np.zeros(a_index.size)
    if a_index.size == 0:
        return np.zeros(0)
    row0, col0 = rows.min(), cols.min()
    span = int(cols.max() - col0 + 1)
    n_keys = int((rows.max() - row0 + 1) * span)
    keys = (rows - row0) * span + (cols - col0)
    a_matrix = _incidence(a_indptr, keys[: a_rows.size], n_keys)
    b_matrix = _incidence(b_indptr, keys[a_rows.size:], n_keys)
    a_sizes = np.diff(a_matrix.indptr)
    b_sizes = np.diff(b_matrix.indptr)
    a_rows_used = np.unique(a_index)
    intersections = (a_matrix[a_rows_used] @ b_matrix.T).tocsr()
    inter = np.asarray(intersections[np.searchsorted(a_rows_used, a_index), b_index]).ravel()
    union = a_sizes[a_index] + b_sizes[b_index] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def score_candidates(
    a_centroids: np.ndarray,
    b_centroids: np.ndarray,
    params: MatchParameters,
    masks: tuple[GridMasks, GridMasks] | None = None,
) -> Candidates:
    """Every pair of an ``a`` and a ``b`` ROI that may be the same cell, with its score.

    ``masks`` are both sides' masks on one grid, in centroid order; without them the
    score is closeness alone.
    """
    if len(a_centroids) == 0 or len(b_centroids) == 0:
        return Candidates.empty()
    neighbours = cKDTree(b_centroids).query_ball_point(a_centroids, r=params.max_distance_um)
    counts = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    a_index = np.repeat(np.arange(len(a_centroids), dtype=np.int64), counts)
    b_index = np.fromiter((j for n in neighbours for j in sorted(n)), dtype=np.int64, count=int(counts.sum()))
    distance = np.hypot(*(a_centroids[a_index] - b_centroids[b_index]).T)
    closeness = 1.0 - distance / params.max_distance_um
    if masks is None:
        iou = np.full(a_index.size, np.nan)
        score = closeness
        keep = score > 0
    else:
        iou = mask_iou(*masks, a_index, b_index)
        total = params.distance_weight + params.iou_weight
        score = (params.distance_weight * closeness + params.iou_weight * iou) / total
        keep = (iou >= params.min_iou) & (score > 0)
    return Candidates(a_index, b_index, distance, iou, score).take(keep)


def max_weight_matching(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
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


def match_sessions(a: RoiSet, b: RoiSet, parameters: MatchParameters | None = None, **options: float) -> list[Pair]:
    """Pair the ROIs of two sessions one-to-one.

    Parameters
    ----------
    a, b : RoiSet
        The two sessions, with centroids in the same reference frame.
    parameters : MatchParameters, optional
        How candidates are found and scored (the defaults when omitted).
    **options : float
        Any of ``max_distance_um``, ``min_iou``, ``distance_weight``, ``iou_weight`` by
        name, replacing that field of ``parameters``.

    Returns
    -------
    list[Pair]
        The pairs of a maximum-score one-to-one assignment over the candidates, in the
        order of ``a``'s ROIs.
    """
    a = check_roi_set(a, "a")
    b = check_roi_set(b, "b")
    params = MatchParameters.resolve(parameters, options)
    masks = None
    if a.masks is not None and b.masks is not None:
        assert a.pixel_to_reference is not None and b.pixel_to_reference is not None
        b_to_a = a.pixel_to_reference.inverse() @ b.pixel_to_reference
        masks = (grid_masks(a.masks), grid_masks(b.masks, b_to_a))
    candidates = score_candidates(a.centroids_um, b.centroids_um, params, masks)
    chosen = candidates.take(max_weight_matching(candidates.a_index, candidates.b_index, candidates.score))
    return chosen.take(np.argsort(chosen.a_index, kind="stable")).pairs(a.ids, b.ids)


__all__ = [
    "DEFAULT_DISTANCE_WEIGHT",
    "DEFAULT_IOU_WEIGHT",
    "DEFAULT_MAX_DISTANCE_UM",
    "DEFAULT_MIN_IOU",
    "MatchParameters",
    "Pair",
    "match_sessions",
]
