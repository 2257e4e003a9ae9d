"""Join the ROIs of many sessions into tracks of one cell each.

:func:`build_tracks` walks the sessions in order. Every ROI of the first session starts a
track. For each later session ``s``, every track still waiting for its cell (all of them,
or those seen within the last ``max_gap + 1`` sessions) is represented by its
most recent members (up to two, from whichever sessions they came); their masks are
carried into session ``s``'s pixel grid and they are scored against ``s``'s ROIs as
:func:`~segdb.tracking.pairing.match_sessions` scores two sessions. A track's score for a
ROI is the best score of any of its representatives, so one poor mask does not break a
track, and a cell missed for some sessions rejoins its track when it comes back where it
was. One maximum-weight assignment between tracks and the ROIs of ``s`` then decides:
each track takes at most one ROI of ``s``, each ROI joins at most one track, and ROIs
left over start new tracks. Conflicts (two tracks wanting one ROI, one track wanting
two) are therefore resolved by total score, never by order of arrival, and the cost per
session grows with the number of tracks, not with the number of earlier sessions.
Tracks are numbered 0, 1, ... in the order they start (session, then the ROI's position
in its :class:`~segdb.tracking.roi_sets.RoiSet`), so the same input always gives the
same tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from segdb.errors import InvalidInputError
from segdb.tracking.pairing import (
    Candidates,
    GridMasks,
    MatchParameters,
    Pair,
    check_roi_set,
    grid_masks,
    max_weight_matching,
    score_candidates,
)
from segdb.tracking.roi_sets import RoiSet

#: Name of the algorithm, to store with a matching run next to its parameters.
MATCHING_METHOD = "segdb.tracking/centroid-iou-assignment-v1"
#: A cell missed for up to this many sessions in a row rejoins its track (None: any number).
DEFAULT_MAX_GAP: int | None = None
# A track is compared with a new session through this many of its most recent members:
# enough to ride out one poor mask, few enough that the cost does not grow with a
# track's length.
_MEMBERS_COMPARED = 2

PairsSource = Mapping[tuple[int, int], Sequence[Pair]] | Callable[[int, int], Sequence[Pair]]


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


# -- parameters -------------------------------------------------------------------------------


def check_max_gap(max_gap: Any) -> int | None:
    """``max_gap`` as an int (None stays None); an error unless it is a whole number >= 0."""
    if max_gap is None:
        return None
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
        raise InvalidInputError(f"max_gap must be a whole number of sessions >= 0, got {max_gap!r}")
    return int(max_gap)


def _check_min_sessions(min_sessions: Any) -> int:
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, (int, np.integer)) or min_sessions < 1:
        raise InvalidInputError(f"min_sessions must be a whole number >= 1, got {min_sessions!r}")
    return int(min_sessions)


def tracking_parameters(
    parameters: MatchParameters | None = None, *, max_gap: int | None = DEFAULT_MAX_GAP, **options: float
) -> dict[str, float | int | None]:
    """Every parameter of :func:`build_tracks` with defaults filled in, checked, as a JSON-able dict.

    The keys are :class:`~segdb.tracking.pairing.MatchParameters`' fields and ``max_gap``.
    Store it with :data:`MATCHING_METHOD` for a matching run; ``build_tracks(sessions, **params)``
    repeats the run.
    """
    return {**MatchParameters.resolve(parameters, options).to_dict(), "max_gap": check_max_gap(max_gap)}


# -- the members that stand for each waiting track --------------------------------------------


@dataclass(frozen=True, eq=False)
class _Representatives:
    """The recent members of the tracks waiting for their cell, one row each, sorted by (session, position)."""

    track: np.ndarray
    session: np.ndarray
    position: np.ndarray
    roi_id: np.ndarray

    def __len__(self) -> int:
        return int(self.track.size)

    def sessions(self) -> np.ndarray:
        return np.unique(self.session)

    def rows_of(self, session: int) -> np.ndarray:
        return np.flatnonzero(self.session == session)


CandidateFinder = Callable[[_Representatives, int], Candidates]


def _computed_candidates(
    roi_sets: Sequence[RoiSet], params: MatchParameters, reps: _Representatives, target: int
) -> Candidates:
    """Candidates between representatives (by row) and the target session's ROIs, scored as match_sessions does.

    The representatives' masks are carried into the target's pixel grid, so IoU against
    the target's own masks resamples only their side; without masks on every side,
    centroids only.
    """
    target_set = roi_sets[target]
    sessions = reps.sessions()
    centroids = np.concatenate([roi_sets[j].centroids_um[reps.position[reps.rows_of(j)]] for j in sessions])
    masks = None
    if target_set.masks is not None and all(roi_sets[j].masks is not None for j in sessions):
        assert target_set.pixel_to_reference is not None
        to_target = target_set.pixel_to_reference.inverse()
        carried = []
        for j in sessions:
            source = roi_sets[int(j)]
            assert source.masks is not None and source.pixel_to_reference is not None
            chosen = source.masks.select(reps.position[reps.rows_of(j)])
            carried.append(grid_masks(chosen, to_target @ source.pixel_to_reference))
        masks = (_concatenate_grid_masks(carried), grid_masks(target_set.masks))
    return score_candidates(centroids, target_set.centroids_um, params, masks)


def _concatenate_grid_masks(parts: Sequence[GridMasks]) -> GridMasks:
    counts = np.concatenate([np.diff(indptr) for indptr, _, _ in parts])
    indptr = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, np.concatenate([rows for _, rows, _ in parts]), np.concatenate([cols for _, _, cols in parts])


def _given_candidates(
    roi_sets: Sequence[RoiSet], lookup: Callable[[int, int], Sequence[Pair]], reps: _Representatives, target: int
) -> Candidates:
    """The given pairs into the target session whose earlier ROI is a representative, by representative row."""
    pieces = []
    for j in reps.sessions():
        session = int(j)
        given = _pairs_to_candidates(lookup(session, target) or (), roi_sets[session], roi_sets[target],
                                     (session, target))
        rows = reps.rows_of(session)
        row_of_position = np.full(len(roi_sets[session]), -1, dtype=np.int64)
        row_of_position[reps.position[rows]] = rows
        kept = given.take(row_of_position[given.a_index] >= 0)
        pieces.append(Candidates(row_of_position[kept.a_index], kept.b_index, kept.distance, kept.iou, kept.score))
    return Candidates.concatenate(pieces)


def _pairs_to_candidates(pairs: Sequence[Pair], a: RoiSet, b: RoiSet, key: tuple[int, int]) -> Candidates:
    rows = list(pairs)
    for item in rows:
        if not isinstance(item, Pair):
            raise InvalidInputError(f"pairs for sessions {key} must be Pair values, got {type(item).__name__}")
    a_index = _positions_of(np.array([p.a_id for p in rows], dtype=np.int64), a, key[0], key)
    b_index = _positions_of(np.array([p.b_id for p in rows], dtype=np.int64), b, key[1], key)
    score = np.array([p.score for p in rows], dtype=np.float64)
    if np.any(~np.isfinite(score)) or np.any(score <= 0):
        raise InvalidInputError(
            f"pairs for sessions {key} must have finite scores > 0 (a score is how much to prefer a pair)"
        )
    return Candidates(
        a_index, b_index, np.array([p.distance_um for p in rows], dtype=np.float64),
        np.array([np.nan if p.iou is None else p.iou for p in rows], dtype=np.float64), score,
    )


def _positions_of(ids: np.ndarray, roi_set: RoiSet, session: int, key: tuple[int, int]) -> np.ndarray:
    """Positions of ``ids`` in ``roi_set``; an error naming the ids it does not hold."""
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


def _candidate_finder(
    roi_sets: Sequence[RoiSet], params: MatchParameters, pairs: PairsSource | None
) -> CandidateFinder:
    """Computed candidates, or the ones ``pairs`` gives."""
    if pairs is None:
        return partial(_computed_candidates, roi_sets, params)
    if callable(pairs) and not isinstance(pairs, Mapping):
        return partial(_given_candidates, roi_sets, pairs)
    if isinstance(pairs, Mapping):
        return partial(_given_candidates, roi_sets, lambda j, s: pairs.get((j, s), ()))
    raise InvalidInputError(
        f"pairs must be a mapping {{(j, s): [Pair, ...]}} or a function (j, s) -> [Pair, ...], "
        f"got {type(pairs).__name__}"
    )


def _best_edges(track: np.ndarray, roi: np.ndarray, score: np.ndarray, source: np.ndarray) -> np.ndarray:
    """One candidate per (track, ROI): the best-scoring representative's, the most recent one's on a tie."""
    order = np.lexsort((-source, -score, roi, track))
    first = np.ones(order.size, dtype=bool)
    first[1:] = (track[order][1:] != track[order][:-1]) | (roi[order][1:] != roi[order][:-1])
    return order[first]


# -- the tracks as they grow -------------------------------------------------------------------


class _TrackBuilder:
    """Tracks grown one session at a time: members as (session, position), and the links that joined them."""

    def __init__(self, roi_sets: Sequence[RoiSet]) -> None:
        self.roi_sets = roi_sets
        self.members: list[list[tuple[int, int]]] = []
        self.links: list[list[TrackLink]] = []
        self.last_session: list[int] = []
        self.track_of = [np.full(len(roi_set), -1, dtype=np.int64) for roi_set in roi_sets]

    def representatives(self, session: int, max_gap: int | None) -> _Representatives | None:
        """The recent members of every track still waiting for its cell in ``session``; None if nothing to match."""
        if len(self.roi_sets[session]) == 0:
            return None
        oldest = -1 if max_gap is None else session - 1 - max_gap
        chosen = sorted(
            ((j, position, t) for t in range(len(self.members)) if self.last_session[t] >= oldest
             for j, position in self.members[t][-_MEMBERS_COMPARED:]),
        )
        if not chosen:
            return None
        j, position, track = (np.array(column, dtype=np.int64) for column in zip(*chosen, strict=True))
        roi_id = np.array([self.roi_sets[s].ids[p] for s, p, _ in chosen], dtype=np.int64)
        return _Representatives(track, j, position, roi_id)

    def attach(self, session: int, reps: _Representatives, found: Candidates) -> None:
        """Give each track at most one ROI of ``session`` by one maximum-score assignment over ``found``."""
        if len(found) == 0:
            return
        track = reps.track[found.a_index]
        edges = _best_edges(track, found.b_index, found.score, reps.session[found.a_index])
        selected = edges[max_weight_matching(track[edges], found.b_index[edges], found.score[edges])]
        joined = found.take(selected[np.argsort(found.b_index[selected], kind="stable")])
        pairs = joined.pairs(reps.roi_id, self.roi_sets[session].ids)
        for row, position, pair in zip(joined.a_index, joined.b_index, pairs, strict=True):
            t = int(reps.track[row])
            self.track_of[session][position] = t
            self.members[t].append((session, int(position)))
            self.last_session[t] = session
            self.links[t].append(TrackLink(session_a=int(reps.session[row]), session_b=session, pair=pair))

    def start_tracks_for_the_rest(self, session: int) -> None:
        """A new track for every ROI of ``session`` that joined none."""
        for position in np.flatnonzero(self.track_of[session] < 0):
            self.track_of[session][position] = len(self.members)
            self.members.append([(session, int(position))])
            self.links.append([])
            self.last_session.append(session)

    def tracks(self, min_sessions: int) -> list[Track]:
        """The tracks of at least ``min_sessions`` members, numbered 0..n-1 in order of their start."""
        kept = [t for t, members in enumerate(self.members) if len(members) >= min_sessions]
        return [
            Track(
                track_id=number,
                members=tuple(TrackMember(s, int(self.roi_sets[s].ids[p])) for s, p in self.members[t]),
                links=tuple(self.links[t]),
            )
            for number, t in enumerate(kept)
        ]


def build_tracks(
    sessions: Sequence[RoiSet],
    parameters: MatchParameters | None = None,
    *,
    pairs: PairsSource | None = None,
    max_gap: int | None = DEFAULT_MAX_GAP,
    min_sessions: int = 1,
    **options: float,
) -> list[Track]:
    """Join the ROIs of many sessions into tracks of one cell each.

    Parameters
    ----------
    sessions : sequence of RoiSet
        The sessions in time order, all in one reference frame. Track members name a
        session by its position here.
    parameters : MatchParameters, optional
        How candidates are found and scored, as in
        :func:`~segdb.tracking.pairing.match_sessions` (unused when ``pairs`` is given).
    pairs : mapping or callable, optional
        Scored candidate pairs to use instead of computing them: ``pairs[(j, s)]`` or
        ``pairs(j, s)`` for ``j < s`` gives the :class:`Pair` values between sessions ``j``
        and ``s`` (a missing key means none). Any list of pairs works, e.g. earlier
        :func:`~segdb.tracking.pairing.match_sessions` results; the track assignment still
        resolves conflicts. Only pairs whose earlier ROI is one of its track's two latest
        members count, so a track can bridge a gap only if pairs across that gap are given.
    max_gap : int or None
        A cell missing from up to this many consecutive sessions rejoins its track;
        None (the default) lets a track wait for its cell any number of sessions.
    min_sessions : int
        Drop tracks with fewer members (1 keeps every ROI, unmatched ones as tracks of one);
        the remaining tracks are numbered 0..n-1 in order.
    **options : float
        Any of ``max_distance_um``, ``min_iou``, ``distance_weight``, ``iou_weight`` by
        name, replacing that field of ``parameters``.

    Returns
    -------
    list[Track]
        Ordered by the session and position of each track's first ROI; ``track_id`` is
        the position in this list.
    """
    roi_sets = [check_roi_set(value, f"sessions[{index}]") for index, value in enumerate(sessions)]
    max_gap = check_max_gap(max_gap)
    min_sessions = _check_min_sessions(min_sessions)
    find_candidates = _candidate_finder(roi_sets, MatchParameters.resolve(parameters, options), pairs)
    builder = _TrackBuilder(roi_sets)
    for session in range(len(roi_sets)):
        reps = builder.representatives(session, max_gap)
        if reps is not None:
            builder.attach(session, reps, find_candidates(reps, session))
        builder.start_tracks_for_the_rest(session)
    return builder.tracks(min_sessions)


__all__ = [
    "DEFAULT_MAX_GAP",
    "MATCHING_METHOD",
    "PairsSource",
    "Track",
    "TrackLink",
    "TrackMember",
    "build_tracks",
    "tracking_parameters",
]
