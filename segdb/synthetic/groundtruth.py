"""Simulated fields of view ingested into an archive, and stored tracks scored against the truth."""

from __future__ import annotations

import datetime as dt
from typing import Any

from roiextractors import NumpySegmentationExtractor

from segdb.synthetic.fov import PairAccuracy, SimulatedFov, session_segmentation_dict


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
