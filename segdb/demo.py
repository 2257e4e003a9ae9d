"""`segdb demo`: a small synthetic lab archive built through the normal ingest path."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TextIO

import segdb
from segdb.errors import ConflictError
from segdb.ingest.frontends import ingest_path
from segdb.synthetic import write_suite2p_folder

SUBJECTS = ("m12", "m15", "m21")
SESSIONS_PER_SUBJECT = 3
PLANES = 2
ROIS_PER_PLANE = 60
FRAMES = 2000
FRAME_SHAPE = (256, 256)
RATE_HZ = 15.0
PIXEL_SIZE_UM = 1.2


def build_demo_archive(folder: Path, *, seed: int = 0, out: TextIO) -> segdb.Archive:
    """Write suite2p folders for a few mice and sessions, ingest them, and print what the archive holds."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ConflictError(
            f"{folder} is not empty; the demo builds a new archive, so give it a new folder (or remove this one)"
        )
    started = time.perf_counter()
    sources = folder / "pipeline-output"
    archive = segdb.open(folder)
    print(f"building a demo archive in {folder.resolve()}", file=out)
    first_day = dt.date(2026, 3, 1)
    for subject_index, subject in enumerate(SUBJECTS):
        for session_index in range(SESSIONS_PER_SUBJECT):
            day = first_day + dt.timedelta(days=7 * session_index + subject_index)
            session = day.isoformat()
            suite2p = write_suite2p_folder(
                sources / subject / session / "suite2p",
                n_planes=PLANES,
                n_rois=ROIS_PER_PLANE,
                n_frames=FRAMES,
                frame_shape=FRAME_SHAPE,
                sampling_frequency=RATE_HZ,
                seed=seed * 1000 + subject_index * 10 + session_index,
            )
            [record] = ingest_path(
                archive, "suite2p", suite2p, subject=subject, session=session, session_start=session,
                field_of_view=f"{subject}-fov1", pixel_size_um=PIXEL_SIZE_UM, progress=False,
            )
            print(
                f"  ingested {subject}/{session}: {record.num_rois} ROIs on {len(record.planes)} planes, "
                f"{record.num_samples} frames",
                file=out,
            )
    _summarise(archive, out)
    _tracking_demo(archive, seed=seed, out=out)
    print(f"done in {time.perf_counter() - started:.1f} s; try `segdb ls segmentations --archive {folder}`", file=out)
    return archive


def _tracking_demo(archive: segdb.Archive, *, seed: int, out: TextIO) -> None:
    """A simulated field of view over six weeks with known identities: register, match, score."""
    from segdb.synthetic import simulate_fov
    from segdb.synthetic.groundtruth import ingest_simulated_fov, score_run

    print("\nfollowing cells across sessions (simulated, with known identities):", file=out)
    fov = simulate_fov(n_sessions=6, n_cells=150, frame_shape=(256, 256), drift_px=10, rotation_deg=3, seed=seed)
    truth = ingest_simulated_fov(archive, fov, subject="m40", field_of_view="v1-site1",
                                 first_day=dt.date(2026, 4, 6), n_frames=200)
    registrations = archive.register_field_of_view("m40", "v1-site1")
    worst = min((r.score for r in registrations[1:] if r.score is not None), default=1.0)
    print(f"  registered {len(registrations)} sessions of m40/v1-site1 (lowest score {worst:.2f})", file=out)
    run = archive.match_field_of_view("m40", "v1-site1")
    accuracy = score_run(archive, run.matching_run_id, truth)
    print(f"  matching run {run.matching_run_id}: {run.num_tracks} tracks; against the truth: precision "
          f"{accuracy.precision:.3f}, recall {accuracy.recall:.3f}", file=out)
    full = archive.tracks(run.matching_run_id, min_sessions=len(fov.sessions))
    if full:
        track = archive.track(full[0])
        print(f"  track {track.track_id} follows one cell through all {len(track.members)} sessions: "
              + ", ".join(f"{m.session}#{m.roi}" for m in track.members), file=out)
        print(f"  try `segdb track show {track.track_id} --archive {archive.location}`", file=out)


def _summarise(archive: segdb.Archive, out: TextIO) -> None:
    subjects = archive.subjects()
    segmentations = archive.segmentations()
    print(f"\nthe archive at {archive.location} holds:", file=out)
    print(f"  {len(subjects)} subjects, {sum(s.num_sessions for s in subjects)} sessions, "
          f"{len(segmentations)} segmentations", file=out)
    print("  id  subject  session     planes  ROIs  accepted by the pipeline", file=out)
    for record in segmentations:
        rois = archive.rois(record)
        accepted = sum(1 for r in rois if r.source_accepted)
        print(f"  {record.segmentation_id:<3} {record.subject:<8} {record.session:<11} {len(record.planes):<7} "
              f"{len(rois):<5} {accepted}", file=out)
    report = archive.verify(progress=False)
    print(f"  {report.files_checked} array files, {report.bytes_checked / 1e6:.1f} MB, "
          f"{'all intact' if report.ok else 'PROBLEMS: run segdb verify'}", file=out)
