"""Tracks scored against a simulated field of view's truth, in memory or as a run stored in an archive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roiextractors import NumpySegmentationExtractor

from segdb.errors import InvalidInputError
from segdb.synthetic.fov import SimulatedFov, session_segmentation_dict
from segdb.tracking import Track


@dataclass(frozen=True)
class PairAccuracy:
    """Pairwise accuracy of tracks against the truth (see :func:`evaluate`).

    Attributes
    ----------
    precision : float
        True positives / predicted pairs (1.0 when nothing is predicted).
    recall : float
        True positives / true pairs (1.0 when there is nothing to find).
    true_positives, predicted_pairs, true_pairs : int
        The counts behind them.
    """

    precision: float
    recall: float
    true_positives: int
    predicted_pairs: int
    true_pairs: int

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def evaluate(tracks: Sequence[Track], truth: SimulatedFov | Mapping[tuple[int, int], int]) -> PairAccuracy:
    """Score tracks by the same-cell pairs they imply.

    Every two members of one track (two ROIs of different sessions) are a *predicted
    pair*; a *true pair* is any two ROIs of different sessions whose true identity is the
    same cell, whatever the sessions between them. A predicted pair is a true positive
    when it is a true pair. Precision = true positives / predicted pairs, recall = true
    positives / true pairs. Counting all pairs rather than consecutive links charges a
    wrong merge of two long tracks in proportion to the damage it does to queries such as
    "this cell in every session".

    Parameters
    ----------
    tracks : sequence of Track
        From :func:`~segdb.tracking.tracks.build_tracks` (member session indices must
        be the truth's).
    truth : SimulatedFov or mapping
        A simulation, or ``{(session_index, roi_id): cell_id}`` covering every ROI.

    Returns
    -------
    PairAccuracy
    """
    identities = truth.identities() if isinstance(truth, SimulatedFov) else dict(truth)
    seen: set[tuple[int, int]] = set()
    true_positives = 0
    predicted = 0
    for track in tracks:
        cells: dict[int, int] = {}
        for member in track.members:
            key = (member.session_index, member.roi_id)
            if key not in identities:
                raise InvalidInputError(
                    f"track {track.track_id} holds ROI {member.roi_id} of session {member.session_index}, "
                    "which the truth does not know; evaluate tracks built from the same sessions as the truth"
                )
            if key in seen:
                raise InvalidInputError(
                    f"ROI {member.roi_id} of session {member.session_index} is in more than one track"
                )
            seen.add(key)
            cell = identities[key]
            cells[cell] = cells.get(cell, 0) + 1
        size = len(track.members)
        predicted += size * (size - 1) // 2
        true_positives += sum(count * (count - 1) // 2 for count in cells.values())
    per_cell: dict[int, int] = {}
    for cell in identities.values():
        per_cell[cell] = per_cell.get(cell, 0) + 1
    true_pairs = sum(count * (count - 1) // 2 for count in per_cell.values())
    precision = 1.0 if predicted == 0 else true_positives / predicted
    recall = 1.0 if true_pairs == 0 else true_positives / true_pairs
    return PairAccuracy(precision=precision, recall=recall, true_positives=true_positives,
                        predicted_pairs=predicted, true_pairs=true_pairs)


def ingest_simulated_fov(
    archive: Any, fov: SimulatedFov, *, subject: str, field_of_view: str, first_day: dt.date, n_frames: int = 100
) -> dict[str, dict[int, int]]:
    """Ingest each simulated session as a segmentation; returns {session: {roi key: true cell}}."""
    truth = {}
    for session in fov.sessions:
        day = first_day + dt.timedelta(days=7 * session.index)
        extractor = NumpySegmentationExtractor(**session_segmentation_dict(session, n_frames=n_frames))
        archive.ingest(
            extractor, subject=subject, session=day.isoformat(), session_start=day, plane="plane0",
            field_of_view=field_of_view, pixel_size_um=fov.pixel_size_um, name="simulated", progress=False,
        )
        truth[day.isoformat()] = {int(r): int(c) for r, c in zip(session.roi_ids, session.cell_ids)}
    return truth


def score_run(archive: Any, matching_run_id: int, truth: dict[str, dict[int, int]]) -> PairAccuracy:
    """Precision and recall of a stored run's same-cell pairs (as :func:`segdb.synthetic.evaluate` counts them)."""
    predicted = true_positives = 0
    for track_id in archive.tracks(matching_run_id):
        members = archive.track(track_id).members
        cells = [truth[m.session][m.roi] for m in members]
        for i in range(len(cells)):
            for j in range(i + 1, len(cells)):
                predicted += 1
                true_positives += cells[i] == cells[j]
    true_pairs = 0
    by_cell: dict[int, int] = {}
    for rois in truth.values():
        for cell in rois.values():
            by_cell[cell] = by_cell.get(cell, 0) + 1
    true_pairs = sum(n * (n - 1) // 2 for n in by_cell.values())
    return PairAccuracy(
        precision=true_positives / predicted if predicted else 1.0,
        recall=true_positives / true_pairs if true_pairs else 1.0,
        true_positives=true_positives,
        predicted_pairs=predicted,
        true_pairs=true_pairs,
    )
