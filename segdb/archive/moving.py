"""Moving an archive's files to another storage root: copy, verify, then point the catalog at it.

Files are copied one by one from the current root to the new one (a folder or a bucket, either
way), each checked by its sha256 against the catalog before and after it lands, and never over
an object that differs. A run that stops part way is resumed by running it again: files already
in place with the recorded size and sha256 are kept. Only when every recorded file is verified at
the new root does one catalog transaction record that root (and the server checksums of its
objects), so a reader never sees a catalog naming files its root lacks. The old root is left as it
was: readers that opened the archive before the switch keep reading it, and its files are the
user's to delete once no one needs them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from segdb.archive.base import ProgressArg
from segdb.archive.leases import hold_off_new_leases, writer_alive
from segdb.archive.locations import (
    ARRAYS_DIRNAME,
    STORAGE_MARKER,
    STORAGE_MOVES_SETTING,
    STORAGE_ROOT_SETTING,
    StorageRoot,
    recorded_storage_root,
    storage_marker_id,
    storage_moves,
    storage_root_value,
    write_storage_marker,
)
from segdb.archive.records import FileProblem, Record
from segdb.archive.upkeep import Upkeep
from segdb.arrays import LocalStore, Store, is_bucket_url, shared_store, staging_folder
from segdb.arrays.durable import ArrayFileExistsError
from segdb.catalog import models as m
from segdb.errors import ConflictError, IntegrityError, InvalidInputError, NotFoundError
from segdb.progress import progress_bar

# How long a writer on another machine counts as still writing (as `segdb gc` judges it by default).
_WRITER_AGE_LIMIT = dt.timedelta(hours=6)
# Rounds of copying the files ingested while the previous round copied, before giving up.
_ROUNDS = 3
_STREAM_BYTES = 8 * 2**20


@dataclass(frozen=True)
class StorageCopyReport(Record):
    """What ``copy_storage`` found and did.

    Attributes
    ----------
    source, destination : str
        The storage root the files were read from, and the one they were copied to.
    files, total_bytes : int
        The array files the catalog records, and their size.
    already_there : int
        Files the destination already held with the recorded size and sha256 (kept, not copied).
    copied, copied_bytes : int
        Files copied (or, in a dry run, that would be copied), and their size.
    problems : tuple of FileProblem
        Files that stop the switch: a destination object that differs from the catalog's file
        (never overwritten), or a source file that is missing or damaged.
    applied : bool
        Whether files were copied (``apply``); a dry run reads and writes nothing but the listing.
    switched : bool
        Whether the catalog now records ``destination`` as the storage root.
    catalog_root : str
        The storage root the catalog recorded (or its default) before the copy.
    overridden : bool
        Whether this archive was opened with a storage root that overrides the catalog's
        (``--storage-root`` or ``$SEGDB_STORAGE_ROOT``); opens given it keep using it after a switch.
    """

    source: str
    destination: str
    files: int
    total_bytes: int
    already_there: int
    copied: int
    copied_bytes: int
    problems: tuple[FileProblem, ...]
    applied: bool
    switched: bool
    catalog_root: str
    overridden: bool

    @property
    def ok(self) -> bool:
        return not self.problems


class Moving(Upkeep):
    """Copying the archive's files to another storage root and switching the catalog to it."""

    def copy_storage(self, destination: str | os.PathLike, *, source: str | os.PathLike | None = None,
                     apply: bool = False, progress: ProgressArg = None) -> StorageCopyReport:
        """Copy every array file to ``destination`` (a folder or ``s3://bucket/prefix``), then make it the root.

        Without ``apply`` nothing is written: the report says how many files (and bytes) would be
        copied and which destination objects differ. With ``apply`` each missing file is copied,
        its sha256 recomputed at the destination and compared with the catalog's; a destination
        object that differs is never overwritten but reported, and the root is not switched. When
        every file is verified, one transaction records ``destination`` as the storage root and
        the server checksums of its objects; this archive then reads and writes there, and so does
        every later open that does not override the root. The files at the old root are left in
        place. Run it again after an interruption: files already copied are verified and kept.

        Parameters
        ----------
        destination
            The new storage root.
        source
            When given, it must be this archive's current storage root (a check on what the user
            believes they are moving).
        apply
            Copy and switch; otherwise only report.
        progress
            True, False, None (a bar on a terminal) or a callable receiving bytes handled.

        Raises
        ------
        InvalidInputError
            If ``source`` is not the current root, or ``destination`` is it or lies inside it (or around it).
        IntegrityError
            If ``destination`` holds another archive's marker, or is in a bucket that does not exist.
        ConflictError
            If an ingest is writing while the catalog would be switched (copied files are kept; run it again).
        """
        current = _normal_root(self.storage_root)
        if source is not None and _normal_root(storage_root_value(source)) != current:
            raise InvalidInputError(
                f"{os.fspath(source)} is not the storage root of the archive at {self.location}: its files are in "
                f"{current}; give that as SRC (or open the archive with --storage-root naming it)"
            )
        target_root = storage_root_value(destination)
        target = _normal_root(target_root)
        _check_apart(current, target)
        catalog_root = self._catalog_root()
        target_store = shared_store(target_root)
        self._check_destination(target_store)
        if apply:
            self.check_storage_root()  # the source is this archive's, and the catalog has an id for the marker
            write_storage_marker(target_store, self.archive_id)

        files = self._recorded_files()
        plan = _CopyPlan(self.store, target_store, apply)
        with progress_bar(progress, total=sum(f[1] for f in files), desc="copy", unit="B") as tick:
            plan.run(files, tick)
            switched = False
            if apply and not plan.problems:
                for _ in range(_ROUNDS):
                    added = self.catalog.write_with_retry(
                        lambda db: self._switch(db, target_root, plan.verified)
                    )
                    if not added:
                        switched = True
                        break
                    plan.run(added, tick)  # ingested while the files were copied
                    if plan.problems:
                        break
                else:
                    raise ConflictError(
                        f"files kept being added to the archive at {self.location} while they were copied to "
                        f"{target}; run `segdb storage copy` again when ingests pause (copied files are kept)"
                    )
        if switched:
            self.storage_root = target_root
            self.store = target_store
            with self.catalog.reading() as db:
                self.storage_moves_seen = storage_moves(db)
        every = {relative: size for relative, size, _, _ in files} | {
            relative: size for relative, (size, _, _) in plan.verified.items()
        }
        return StorageCopyReport(
            source=current, destination=target, files=len(every), total_bytes=sum(every.values()),
            already_there=plan.already_there, copied=plan.copied, copied_bytes=plan.copied_bytes,
            problems=tuple(plan.problems), applied=apply, switched=switched,
            catalog_root=_normal_root(catalog_root), overridden=_normal_root(catalog_root) != current,
        )

    def _catalog_root(self) -> StorageRoot:
        """The storage root a new open finds without an override: the recorded one, else arrays/ beside SQLite."""
        recorded = recorded_storage_root(self.catalog, self.location, required=False)
        if recorded is not None:
            return storage_root_value(recorded)
        beside = self._arrays_beside_catalog()
        return beside if beside is not None else self.storage_root

    def _arrays_beside_catalog(self) -> Path | None:
        database = self.catalog.engine.url.database if self.catalog.dialect == "sqlite" else None
        return Path(database).resolve().parent / ARRAYS_DIRNAME if database else None

    def _check_destination(self, store: Store) -> None:
        if is_bucket_url(store.url) and not store.root_exists():
            raise IntegrityError(
                f"the destination {store.describe_root()} is in a bucket that does not exist; create the bucket "
                "(e.g. `aws s3 mb`), or check AWS_ENDPOINT_URL and the bucket's name"
            )
        found = storage_marker_id(store)
        if found is not None and found != self.archive_id:
            raise IntegrityError(
                f"the destination {store.url} is the storage root of another archive (its {STORAGE_MARKER} marker "
                f"holds id {found}, the archive at {self.location} is {self.archive_id or 'without an id'}); "
                "choose an empty folder or bucket prefix"
            )

    def _switch(self, db: Session, target_root: StorageRoot,
                verified: dict[str, tuple[int, str, str | None]]) -> list[tuple[str, int, str, str | None]]:
        """In one unit of work: record ``target_root`` and its server checksums, unless files are not there yet.

        Returns the recorded files not verified at the target (added meanwhile), changing nothing then.
        """
        hold_off_new_leases(db)
        self._refuse_while_writing(db)
        rows = db.execute(select(m.ArrayFile)).scalars().all()
        added = [
            (row.relative_path, int(row.size_bytes), row.sha256, row.server_checksum)
            for row in rows
            if verified.get(row.relative_path, (None, None))[:2] != (int(row.size_bytes), row.sha256)
        ]
        if added:
            return added
        for row in rows:
            row.server_checksum = verified[row.relative_path][2]
        setting = db.get(m.ArchiveSetting, STORAGE_ROOT_SETTING)
        if target_root == self._arrays_beside_catalog():
            # Back beside its SQLite catalog: the layout says so, and the folder stays movable as a whole.
            if setting is not None:
                db.delete(setting)
        elif setting is None:
            db.add(m.ArchiveSetting(setting_name=STORAGE_ROOT_SETTING, setting_value=str(target_root)))
        else:
            setting.setting_value = str(target_root)
        moves = storage_moves(db) + 1
        counter = db.get(m.ArchiveSetting, STORAGE_MOVES_SETTING)
        if counter is None:
            db.add(m.ArchiveSetting(setting_name=STORAGE_MOVES_SETTING, setting_value=str(moves)))
        else:
            counter.setting_value = str(moves)
        return []

    def _refuse_while_writing(self, db: Session) -> None:
        """Refuse to switch while an ingest is writing: it writes into the old root.

        A writer that starts after the switch in a process that opened the archive before it is
        refused when it records its file (:meth:`check_files_not_moved`).
        """
        age = _WRITER_AGE_LIMIT
        leases = [lease.relative_path for lease in db.execute(select(m.FileLease)).scalars()
                  if writer_alive(lease.writer_host, lease.writer_pid, lease.created_at, age)]
        writing = [seg.segmentation_id
                   for seg in db.execute(select(m.Segmentation).where(m.Segmentation.status == "writing")).scalars()
                   if writer_alive(seg.writer_host, seg.writer_pid, seg.created_at, age)]
        if leases or writing:
            what = f"segmentation(s) {writing}" if writing else f"file(s) {leases[:3]}"
            raise ConflictError(
                f"an ingest is writing {what} into {self.storage_root}, so the archive at {self.location} is not "
                "switched to its new root yet (the copied files are kept); let it finish, then run `segdb storage "
                "copy` again to copy what it added and switch"
            )


class _CopyPlan:
    """Copies (or, in a dry run, inspects) files one by one and remembers what the destination holds."""

    def __init__(self, source: Store, target: Store, apply: bool) -> None:
        self.source, self.target, self.apply = source, target, apply
        self.verified: dict[str, tuple[int, str, str | None]] = {}
        self.problems: list[FileProblem] = []
        self.already_there = self.copied = self.copied_bytes = 0

    def run(self, files: list[tuple[str, int, str, str | None]], tick: Callable[[int], None]) -> None:
        for relative, size, digest, _ in files:
            problem = self._one(relative, size, digest)
            if problem is not None:
                self.problems.append(FileProblem(relative, problem))
            tick(size)

    def _one(self, relative: str, size: int, digest: str) -> str | None:
        """Copy or check one file; a problem that stops the switch, or None."""
        target = self.target
        try:
            found: int | None = target.size(relative)
        except NotFoundError:
            found = None
        if found is not None:
            if found != size:
                return f"the destination holds a different object ({found} bytes, the catalog records {size}); " \
                       "it is not overwritten: move it away, then run again"
            actual = target.sha256(relative)
            if actual != digest:
                return f"the destination holds a different object (sha256 {actual[:12]}…, the catalog records " \
                       f"{digest[:12]}…); it is not overwritten: move it away, then run again"
            self.already_there += 1
            self.verified[relative] = (size, digest, target.server_checksum(relative))
            return None
        if not self.source.exists(relative):
            return f"missing at the source {self.source.url}; `segdb verify` lists missing files"
        self.copied += 1
        self.copied_bytes += size
        if not self.apply:
            return None
        try:
            with _local_copy(self.source, relative) as (path, source_digest):
                if source_digest != digest:
                    return f"damaged at the source (sha256 {source_digest[:12]}…, the catalog records " \
                           f"{digest[:12]}…); not copied: restore it from a backup"
                try:
                    stored = target.put_new(relative, path)
                except ArrayFileExistsError:
                    return "the destination gained an object of this name while it was copied; it is not " \
                           "overwritten: run again to check it"
        except (NotFoundError, FileNotFoundError):
            return f"missing at the source {self.source.url}; `segdb verify` lists missing files"
        landed = target.sha256(relative)
        if landed != digest or stored.size_bytes != size:
            return f"copied, but the destination's object reads back as sha256 {landed[:12]}… " \
                   f"({stored.size_bytes} bytes), the catalog records {digest[:12]}… ({size} bytes); " \
                   "delete it there and run again"
        self.verified[relative] = (size, digest, stored.server_checksum)
        return None


@contextlib.contextmanager
def _local_copy(store: Store, relative: str) -> Iterator[tuple[Path, str]]:
    """A local file holding the object (the file itself in a folder) and the sha256 of its bytes."""
    if isinstance(store, LocalStore):
        path = store.path(relative)
        yield path, store.sha256(relative)
        return
    with staging_folder("copy") as folder:
        path = folder / "object"
        digest = hashlib.sha256()
        with store.open_reader(relative) as reader, open(path, "wb") as out:
            while block := reader.read(_STREAM_BYTES):
                digest.update(block)
                out.write(block)
        yield path, digest.hexdigest()


def _normal_root(root: StorageRoot) -> str:
    """A root as one string to compare: a resolved folder, or ``s3://bucket/prefix`` without a trailing slash."""
    return str(root).rstrip("/") if is_bucket_url(root) else str(Path(root).resolve())


def _check_apart(source: str, target: str) -> None:
    """Refuse a destination that is the source or lies inside it or around it (gc of one would take the other's)."""
    if source == target:
        raise InvalidInputError(
            f"the destination {target} is already the archive's storage root; give another folder or bucket prefix"
        )
    for inner, outer in ((target, source), (source, target)):
        if inner.startswith(outer.rstrip("/") + "/"):
            raise InvalidInputError(
                f"the destination {target} and the storage root {source} lie one inside the other, so each would "
                "hold the other's files as strays; give a folder or bucket prefix apart from it"
            )


__all__ = ["Moving", "StorageCopyReport"]
