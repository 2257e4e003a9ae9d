"""Keeping an archive sound: deleting segmentations, verifying every file's sha256, and garbage collection.

Rows go first, files second: a file whose rows are gone is deleted, and one that resists
deletion is an orphan that `segdb gc` reports. Nothing is collected unless asked.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from segdb.archive.base import ProgressArg, SegmentationRef
from segdb.archive.listing import Listing
from segdb.archive.locations import STORAGE_MARKER
from segdb.archive.records import (
    FileProblem,
    GcReport,
    SegmentationRecord,
    VerifyReport,
)
from segdb.archive.values import (
    as_utc,
)
from segdb.arrays import (
    resolve_in_root,
    sha256_file,
)
from segdb.catalog import models as m
from segdb.errors import (
    ConflictError,
    IntegrityError,
)
from segdb.progress import progress_bar

# Every table whose rows reference an array file (each also names its segmentation).
FILE_REFERENCES = (m.SegmentationPlane, m.TraceSeries, m.SummaryImage, m.MaskSet)


class Upkeep(Listing):
    """Deleting segmentations, verifying files, and collecting garbage."""

    def deletion_plan(self, segmentation: SegmentationRef) -> DeletionPlan:
        """What deleting a segmentation takes with it: its ROIs, files, curation and tracks."""
        record = self.segmentation(segmentation)
        with self.catalog.reading() as db:
            return _deletion_plan(db, record)

    def delete_segmentation(self, segmentation: SegmentationRef, *, force: bool = False) -> SegmentationRecord:
        """Remove a segmentation's rows in one transaction, then its array files and emptied folders.

        Refused unless ``force`` is true when people have curated it (their decisions go with
        it) or a stored matching run uses its ROIs: runs never change on their own, so a forced
        delete records in each such run's parameters (``changed_by_deletes``) what it lost.
        :meth:`deletion_plan` says beforehand what goes with it.
        """
        record = self.segmentation(segmentation)
        seg_id = record.segmentation_id
        self.check_storage_root()

        def remove(db: Session) -> tuple[DeletionPlan, list[str]]:
            plan = _deletion_plan(db, record)
            if plan.people_curation_events and not force:
                raise ConflictError(
                    f"segmentation {seg_id} holds {plan.people_curation_events} curation decision(s) made by people; "
                    "deleting it deletes them too. Export them first (segdb curate export), then delete with "
                    "force=True (--force)"
                )
            if plan.matching_runs and not force:
                raise ConflictError(
                    f"segmentation {seg_id} is in stored matching run(s) {list(plan.matching_runs)} "
                    f"({plan.track_members} track member(s)); runs never change, so it is kept. Delete with "
                    "force=True (--force) to take its ROIs out of those runs, which are then marked as changed"
                )
            file_ids = {
                file_id
                for table in FILE_REFERENCES
                for file_id in db.scalars(select(table.array_file_id).where(table.segmentation_id == seg_id))
            }
            _mark_runs_changed(db, plan)
            db.execute(delete(m.Segmentation).where(m.Segmentation.segmentation_id == seg_id))
            db.flush()
            return plan, drop_unreferenced_files(db, file_ids)

        plan, paths = self.catalog.write_with_retry(remove)
        unlink_files(self.storage_root, paths)
        _remove_emptied_folders(self.storage_root, paths)
        return plan.segmentation

    def array_files(self) -> list[tuple[str, int, str]]:
        with self.catalog.reading() as db:
            return [
                (r.relative_path, int(r.size_bytes), r.sha256)
                for r in db.execute(select(m.ArrayFile).order_by(m.ArrayFile.relative_path)).scalars()
            ]

    def verify(self, *, progress: ProgressArg = None) -> VerifyReport:
        """Recompute the sha256 of every array file and name each missing or damaged one."""
        files = self.array_files()
        problems: list[FileProblem] = []
        checked_bytes = 0
        with progress_bar(progress, total=sum(f[1] for f in files), desc="verify", unit="B") as tick:
            for relative, size, digest in files:
                problem = self._file_problem(relative, size, digest)
                if problem:
                    problems.append(FileProblem(relative, problem))
                checked_bytes += size
                tick(size)
        return VerifyReport(files_checked=len(files), bytes_checked=checked_bytes, problems=tuple(problems))

    def _file_problem(self, relative: str, size: int, digest: str) -> str | None:
        try:
            path = resolve_in_root(self.storage_root, relative)
        except IntegrityError as exc:
            return str(exc)
        if not path.is_file():
            return "missing"
        actual_size = path.stat().st_size
        if actual_size != size:
            return f"damaged: {actual_size} bytes, the catalog recorded {size}"
        actual = sha256_file(path)
        if actual != digest:
            return f"damaged: sha256 {actual[:12]}…, the catalog recorded {digest[:12]}…"
        return None

    def gc(self, *, apply: bool = False, older_than: dt.timedelta = dt.timedelta(hours=6)) -> GcReport:
        """Find files under the storage root that no row references, and unfinished ingests.

        Nothing is deleted unless ``apply`` is true. An ingest still running (its process
        alive on this host, or younger than ``older_than`` on another host) is left alone.
        """
        with self.catalog.reading() as db:
            referenced = set(db.scalars(select(m.ArrayFile.relative_path)))
            unfinished = db.execute(select(m.Segmentation).where(m.Segmentation.status == "writing")).scalars().all()
            stale = [s.segmentation_id for s in unfinished if not _writer_alive(s, older_than)]
            live = {s.segmentation_id for s in unfinished} - set(stale)
        orphans = []
        orphan_bytes = 0
        root = self.storage_root
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
                relative = path.relative_to(root).as_posix()
                if relative in referenced or relative == STORAGE_MARKER or _segmentation_of(relative) in live:
                    continue
                orphans.append(relative)
                orphan_bytes += path.lstat().st_size
        if apply:
            self.check_storage_root()
            if stale:
                with self.catalog.writing() as db:
                    db.execute(
                        delete(m.Segmentation).where(
                            m.Segmentation.segmentation_id.in_(stale), m.Segmentation.status == "writing"
                        )
                    )
            for relative in orphans:
                (root / relative).unlink(missing_ok=True)
            _remove_empty_dirs(root)
        return GcReport(tuple(orphans), orphan_bytes, tuple(stale), apply)


def unlink_files(storage_root: Path, relative_paths: Iterable[str]) -> None:
    """Delete files whose rows are already gone; one that resists is an orphan `segdb gc` reports."""
    for relative in relative_paths:
        try:
            resolve_in_root(storage_root, relative).unlink(missing_ok=True)
        except (OSError, IntegrityError):
            continue


def drop_unreferenced_files(db: Session, file_ids: Iterable[int]) -> list[str]:
    """Delete array_files rows no longer referenced by any row; returns their paths."""
    paths = []
    for file_id in file_ids:
        used = sum(
            db.scalar(select(func.count()).select_from(table).where(table.array_file_id == file_id))
            for table in FILE_REFERENCES
        )
        if not used:
            row = db.get(m.ArrayFile, file_id)
            paths.append(row.relative_path)
            db.delete(row)
    return paths


def delete_session_if_unused(db: Session, session_row: m.ImagingSession) -> None:
    """Remove a session (and then its subject) that holds nothing, as a failed first ingest leaves it."""
    session_id, subject_id = session_row.session_id, session_row.subject_id
    in_use = db.scalar(select(func.count()).select_from(m.Segmentation).where(m.Segmentation.session_id == session_id))
    in_use += db.scalar(
        select(func.count()).select_from(m.ImagingPlane).where(m.ImagingPlane.session_id == session_id)
    )
    if in_use:
        return
    db.delete(session_row)
    db.flush()
    sessions = db.scalar(select(func.count()).select_from(m.ImagingSession).where(m.ImagingSession.subject_id == subject_id))
    fovs = db.scalar(select(func.count()).select_from(m.FieldOfView).where(m.FieldOfView.subject_id == subject_id))
    if not sessions and not fovs:
        db.execute(delete(m.Subject).where(m.Subject.subject_id == subject_id))


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting a segmentation removes (or removed) with it.

    Attributes
    ----------
    segmentation
        The segmentation itself.
    num_rois
        Its ROIs and background components.
    array_files, array_bytes
        The chunk files that go, and their size.
    people_curation_events, pipeline_curation_events
        Curation events that go: labels people gave, and the pipeline's own.
    matching_runs
        Ids of stored matching runs that use its ROIs.
    track_members
        Its ROIs' places in those runs' tracks.
    """

    segmentation: SegmentationRecord
    num_rois: int
    array_files: int
    array_bytes: int
    people_curation_events: int
    pipeline_curation_events: int
    matching_runs: tuple[int, ...]
    track_members: int


def _deletion_plan(db: Session, record: SegmentationRecord) -> DeletionPlan:
    seg_id = record.segmentation_id
    in_segmentation = select(m.Roi.roi_id).where(m.Roi.segmentation_id == seg_id)
    events = dict(
        db.execute(
            select(m.Curator.is_pipeline, func.count())
            .select_from(m.CurationEvent)
            .join(m.Curator, m.Curator.curator_id == m.CurationEvent.curator_id)
            .where(m.CurationEvent.segmentation_id == seg_id)
            .group_by(m.Curator.is_pipeline)
        ).all()
    )
    runs = set(db.scalars(select(m.TrackMember.matching_run_id).where(m.TrackMember.roi_id.in_(in_segmentation))))
    runs |= set(
        db.scalars(
            select(m.RoiMatch.matching_run_id).where(
                m.RoiMatch.roi_a_id.in_(in_segmentation) | m.RoiMatch.roi_b_id.in_(in_segmentation)
            )
        )
    )
    members = db.scalar(
        select(func.count()).select_from(m.TrackMember).where(m.TrackMember.roi_id.in_(in_segmentation))
    )
    file_ids = {
        file_id
        for table in FILE_REFERENCES
        for file_id in db.scalars(select(table.array_file_id).where(table.segmentation_id == seg_id))
    }
    sizes = db.scalars(select(m.ArrayFile.size_bytes).where(m.ArrayFile.array_file_id.in_(file_ids))).all()
    return DeletionPlan(
        segmentation=record,
        num_rois=db.scalar(select(func.count()).select_from(m.Roi).where(m.Roi.segmentation_id == seg_id)),
        array_files=len(sizes),
        array_bytes=int(sum(sizes)),
        people_curation_events=int(events.get(False, 0)),
        pipeline_curation_events=int(events.get(True, 0)),
        matching_runs=tuple(sorted(runs)),
        track_members=int(members),
    )


def _mark_runs_changed(db: Session, plan: DeletionPlan) -> None:
    """Note in each matching run's parameters which deleted segmentation took ROIs out of it."""
    record = plan.segmentation
    for run in db.scalars(select(m.MatchingRun).where(m.MatchingRun.matching_run_id.in_(plan.matching_runs))):
        removed = db.scalar(
            select(func.count())
            .select_from(m.TrackMember)
            .join(m.Roi, m.Roi.roi_id == m.TrackMember.roi_id)
            .where(
                m.TrackMember.matching_run_id == run.matching_run_id,
                m.Roi.segmentation_id == record.segmentation_id,
            )
        )
        note = {
            "segmentation_id": record.segmentation_id,
            "segmentation": f"{record.subject}/{record.session}/{record.name}",
            "track_members_removed": int(removed),
            "deleted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        parameters = dict(run.parameters or {})
        parameters["changed_by_deletes"] = [*parameters.get("changed_by_deletes", []), note]
        run.parameters = parameters


def _remove_emptied_folders(root: Path, relative_paths: Iterable[str]) -> None:
    """Remove the folders under ``root`` that deleting these files left empty (never the root itself)."""
    folders = {parent for relative in relative_paths for parent in Path(relative).parents if parent != Path(".")}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            (root / folder).rmdir()
        except OSError:
            continue


def _writer_alive(seg: m.Segmentation, older_than: dt.timedelta) -> bool:
    if seg.writer_host == socket.gethostname() and seg.writer_pid:
        try:
            os.kill(seg.writer_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    created = as_utc(seg.created_at)
    return created is not None and dt.datetime.now(dt.timezone.utc) - created < older_than


def _segmentation_of(relative_path: str) -> int | None:
    match = re.search(r"(?:^|/)seg-(\d+)/", relative_path)
    return int(match.group(1)) if match else None


def _remove_empty_dirs(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass
