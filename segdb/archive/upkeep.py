"""Keeping an archive sound: deleting segmentations, verifying every file's sha256, and garbage collection.

Rows go first, files second: a file whose rows are gone is deleted, and one that resists
deletion is an orphan that `segdb gc` reports. Nothing is collected unless asked, and gc
decides about each file at the moment it deletes it, so it can run beside writers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from segdb.archive.base import ProgressArg, SegmentationRef
from segdb.archive.leases import file_is_claimed, folder_is_leased, hold_off_new_leases, leased_name, writer_alive
from segdb.archive.listing import Listing
from segdb.archive.locations import STORAGE_MARKER
from segdb.archive.records import (
    FileProblem,
    GcReport,
    SegmentationRecord,
    VerifyReport,
)
from segdb.arrays import (
    StagedFolder,
    Store,
    resolve_in_root,
    staged_folders,
)
from segdb.catalog import models as m
from segdb.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from segdb.progress import progress_bar

# How young a file or folder gc --apply leaves alone by default: a writer may be about to fill it.
GC_GRACE = dt.timedelta(minutes=10)

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
        unlink_files(self.store, paths)
        if self.in_folder:
            _remove_emptied_folders(self.storage_root, paths)
        return plan.segmentation

    def array_files(self) -> list[tuple[str, int, str]]:
        """(relative path, size, sha256) of every chunk file the catalog records, by path."""
        return [(relative, size, digest) for relative, size, digest, _ in self._recorded_files()]

    def _recorded_files(self) -> list[tuple[str, int, str, str | None]]:
        with self.catalog.reading() as db:
            return [
                (r.relative_path, int(r.size_bytes), r.sha256, r.server_checksum)
                for r in db.execute(select(m.ArrayFile).order_by(m.ArrayFile.relative_path)).scalars()
            ]

    def verify(self, *, fast: bool = False, progress: ProgressArg = None) -> VerifyReport:
        """Recompute the sha256 of every array file and name each missing or damaged one.

        A file whose rows a `segdb delete` removed while verify ran is reported as deleted
        meanwhile, not as missing. With ``fast``, a file in a bucket whose upload recorded the
        server's checksum (its ETag) is checked by comparing that checksum and its size, one
        request each, instead of streaming it; the report counts those files apart
        (``files_checked_by_server``), and every other file is hashed as usual.
        """
        files = self._recorded_files()
        problems: list[FileProblem] = []
        deleted: list[str] = []
        checked_bytes = by_server = 0
        with progress_bar(progress, total=sum(f[1] for f in files), desc="verify", unit="B") as tick:
            for relative, size, digest, server_checksum in files:
                trusted = server_checksum if fast and not self.in_folder else None
                problem = self._file_problem(relative, size, digest, trusted)
                by_server += trusted is not None
                if problem == "missing" and not self._still_recorded(relative):
                    deleted.append(relative)
                elif problem:
                    problems.append(FileProblem(relative, problem))
                checked_bytes += size
                tick(size)
        return VerifyReport(files_checked=len(files), bytes_checked=checked_bytes, problems=tuple(problems),
                            deleted_meanwhile=tuple(deleted), files_checked_by_server=by_server)

    def _file_problem(self, relative: str, size: int, digest: str, server_checksum: str | None = None) -> str | None:
        """What is wrong with one recorded file: None, "missing", or "damaged: …" saying how."""
        store = self.store
        try:
            if self.in_folder:
                resolve_in_root(self.storage_root, relative)  # a symlink out of the root is refused
            actual_size = store.size(relative)  # one request on a bucket; NotFoundError when it is missing
            if actual_size != size:
                return f"damaged: {actual_size} bytes, the catalog recorded {size}"
            if server_checksum is not None:
                actual = store.server_checksum(relative)
                if actual != server_checksum:
                    return f"damaged: the server's checksum is {actual}, the upload recorded {server_checksum}"
                return None
            actual = store.sha256(relative)
        except IntegrityError as exc:
            return str(exc)
        except (FileNotFoundError, NotFoundError):
            return "missing"
        if actual != digest:
            return f"damaged: sha256 {actual[:12]}…, the catalog recorded {digest[:12]}…"
        return None

    def _still_recorded(self, relative: str) -> bool:
        with self.catalog.reading() as db:
            return db.scalar(select(m.ArrayFile.array_file_id).where(m.ArrayFile.relative_path == relative)) is not None

    def gc(self, *, apply: bool = False, older_than: dt.timedelta = dt.timedelta(hours=6),
           grace: dt.timedelta = GC_GRACE) -> GcReport:
        """Find files under the storage root that no row references, and unfinished ingests.

        For an archive in a bucket, also the staging folders that a stopped ingest or copy left on this
        machine (in ``$SEGDB_STAGING_DIR`` or the temporary folder: their process is gone, or, made
        on another host sharing the folder, unchanged for ``older_than``).

        Nothing is deleted unless ``apply`` is true. A writer still running (its process alive on
        this host, or younger than ``older_than`` on another host) keeps its reservation and the
        files it has leased. With ``apply``, each file is deleted only if, at that moment, no row
        records it and no live lease covers it, so gc can run beside ingests; files and folders
        younger than ``grace`` are left for a later run. ``apply`` needs this archive's storage
        root (its marker names this archive) and a database role that may write the catalog.
        """
        if grace < dt.timedelta(0):
            raise InvalidInputError(f"the grace period is {grace}; give zero or more minutes (--grace-minutes)")
        if apply:
            self._check_may_collect()
            stale = self.catalog.write_with_retry(lambda db: _collect_dead_writers(db, older_than, remove=True))
        else:
            with self.catalog.reading() as db:
                stale = _collect_dead_writers(db, older_than, remove=False)
        with self.catalog.reading() as db:
            referenced = set(db.scalars(select(m.ArrayFile.relative_path)))
            leases = db.execute(select(m.FileLease)).scalars().all()
            leased = {lease.relative_path for lease in leases
                      if writer_alive(lease.writer_host, lease.writer_pid, lease.created_at, older_than)}
        cutoff = time.time() - grace.total_seconds()
        orphans: list[str] = []
        orphan_bytes = 0
        young = 0
        files, folder_ages = self._stored_files()
        for relative, size, modified in files:
            if relative in referenced or leased_name(relative) in leased or relative.startswith(STORAGE_MARKER):
                continue
            if modified > cutoff:
                young += 1
                continue
            if apply and not self._unlink_unless_claimed(relative):
                continue
            orphans.append(relative)
            orphan_bytes += size
        if apply and folder_ages:
            self._remove_empty_folders(folder_ages, cutoff)
        leftovers = [] if self.in_folder else _staging_leftovers(older_than, cutoff, apply)
        return GcReport(tuple(orphans), orphan_bytes, tuple(stale), apply, young,
                        tuple(str(staged.path) for staged in leftovers), sum(staged.size_bytes for staged in leftovers))

    def _stored_files(self) -> tuple[list[tuple[str, int, float]], dict[Path, float]]:
        """(relative path, size, last modified) of every file under the storage root, by path, and, in a
        folder, when each folder under it last changed (a bucket has no folders)."""
        if not self.in_folder:
            if not self.store.root_exists():
                return [], {}
            return [(o.key, o.size_bytes, o.modified) for o in self.store.iter_objects()], {}
        root = self.storage_root
        if not root.is_dir():
            return [], {}
        paths, folder_ages = _scan(root)
        files = []
        for path in paths:
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            files.append((path.relative_to(root).as_posix(), info.st_size, info.st_mtime))
        return files, folder_ages

    def _check_may_collect(self) -> None:
        """Refuse gc --apply unless the storage root is this archive's and the database role may write."""
        self.check_storage_root(deleting=True)
        missing = self.catalog.missing_privileges("DELETE", ("array_files", "file_leases", "segmentations"))
        if missing:
            raise ConflictError(
                f"segdb gc --apply deletes files and catalog rows, but database role {self.catalog.role_name()} "
                f"may not delete from {', '.join(missing)}; run it as a role that may write the catalog "
                "(the archive's owner)"
            )

    def _unlink_unless_claimed(self, relative: str) -> bool:
        """Delete one file unless, now, a row records it or a live writer's lease covers it."""

        def unlink(db: Session) -> bool:
            hold_off_new_leases(db)
            if file_is_claimed(db, relative):
                return False
            if self.in_folder:
                # The link itself, for a symlink: gc never follows one out of the root.
                (self.storage_root / relative).unlink(missing_ok=True)
            else:
                self.store.discard(relative)
            return True

        return self.catalog.write_with_retry(unlink)

    def _remove_empty_folders(self, folder_ages: dict[Path, float], cutoff: float) -> None:
        """Remove empty folders last changed before ``cutoff`` (as gc's scan found them, before it deleted
        anything in them) that no writer has leased a file under; never the root.

        A writer takes its lease before it makes its folders, and leases wait while a folder is
        checked and removed, so a folder a writer is about to fill is never taken from under it.
        """
        root = self.storage_root
        for folder in sorted(folder_ages, key=lambda p: len(p.parts), reverse=True):
            try:
                if folder_ages[folder] > cutoff or any(folder.iterdir()):
                    continue
            except OSError:
                continue
            relative = folder.relative_to(root).as_posix()

            def rmdir(db: Session, folder: Path = folder, relative: str = relative) -> None:
                hold_off_new_leases(db)
                if not folder_is_leased(db, relative):
                    with contextlib.suppress(OSError):
                        folder.rmdir()

            self.catalog.write_with_retry(rmdir)


def unlink_files(store: Store, relative_paths: Iterable[str]) -> None:
    """Delete files whose rows are already gone (or never came); one that resists is an orphan `segdb gc` reports."""
    for relative in relative_paths:
        try:
            store.discard(relative)
        except (OSError, IntegrityError, NotFoundError):
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


def _scan(root: Path) -> tuple[list[Path], dict[Path, float]]:
    """The files (and symlinks) under ``root``, sorted, and when each folder under it last changed."""
    files, folder_ages = [], {}
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() or path.is_symlink():
                files.append(path)
            elif path.is_dir():
                folder_ages[path] = path.stat().st_mtime
    return sorted(files), folder_ages


def _collect_dead_writers(db: Session, older_than: dt.timedelta, *, remove: bool) -> list[int]:
    """The unfinished ingests and the leases whose writers are gone; with ``remove``, delete them.

    A removed reservation takes the session and subject its killed first ingest created, when
    nothing else uses them.
    """
    unfinished = db.execute(select(m.Segmentation).where(m.Segmentation.status == "writing")).scalars().all()
    stale = [s for s in unfinished if not writer_alive(s.writer_host, s.writer_pid, s.created_at, older_than)]
    leases = db.execute(select(m.FileLease)).scalars().all()
    dead = [lease for lease in leases
            if not writer_alive(lease.writer_host, lease.writer_pid, lease.created_at, older_than)]
    if remove:
        for lease in dead:
            db.delete(lease)
        for seg in stale:
            session_row = db.get(m.ImagingSession, seg.session_id)
            db.delete(seg)
            db.flush()
            try:
                with db.begin_nested():
                    delete_session_if_unused(db, session_row)
            except sa_exc.IntegrityError:
                # A new ingest reserved in that session meanwhile: it is in use after all.
                pass
    return [s.segmentation_id for s in stale]


def _staging_leftovers(older_than: dt.timedelta, cutoff: float, apply: bool) -> list[StagedFolder]:
    """The staging folders whose process has stopped and that have not changed since ``cutoff``; with
    ``apply``, those removed."""
    left = []
    for staged in staged_folders():
        changed = dt.datetime.fromtimestamp(staged.modified, dt.timezone.utc)
        if staged.modified > cutoff or writer_alive(staged.host, staged.pid, changed, older_than):
            continue
        if apply:
            shutil.rmtree(staged.path, ignore_errors=True)
            if staged.path.exists():  # another user's, in a shared temporary folder: not ours to remove
                continue
        left.append(staged)
    return left
