"""Leases on files being written: how a writer tells `segdb gc` that a file not yet in the catalog is its own.

A writer commits a lease on the exact path of each file before it creates the file or its
folders, and removes it in the transaction that inserts the file's ``array_files`` row (or
after a failed write). So at every moment a file being written is covered by its lease or by
its row, and gc, which checks both at the moment it deletes, never takes it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence

from sqlalchemy import delete, exists, select, text
from sqlalchemy.orm import Session

from segdb.archive.values import as_utc
from segdb.arrays import TEMP_MARKER, process_running, this_host
from segdb.catalog import models as m
from segdb.catalog.engine import Catalog
from segdb.errors import ConflictError, SegDBError


def add_leases(db: Session, relative_paths: Sequence[str]) -> None:
    """Lease these paths for this process, in the caller's unit of work (which must commit before any file is made)."""
    host, pid = this_host(), os.getpid()
    db.add_all(m.FileLease(relative_path=path, writer_host=host, writer_pid=pid) for path in relative_paths)
    db.flush()


def take_leases(catalog: Catalog, relative_paths: Sequence[str]) -> None:
    """Commit leases on these paths before creating them."""
    catalog.write_with_retry(lambda db: add_leases(db, relative_paths))


def release_leases(db: Session, relative_paths: Sequence[str]) -> None:
    """In the unit of work that records these files: remove their leases.

    A lease that is no longer there was collected by `segdb gc --apply`, which then takes the
    file too; recording it would leave a row without its file, so that is a ConflictError.
    """
    removed = db.execute(delete(m.FileLease).where(m.FileLease.relative_path.in_(relative_paths))).rowcount
    if removed != len(set(relative_paths)):
        raise ConflictError(
            f"the lease on {', '.join(relative_paths)} was collected by `segdb gc --apply` while the file was "
            "being written (was the writer paused for longer than gc's --older-than-hours?); write it again"
        )


def drop_leases(catalog: Catalog, relative_paths: Sequence[str]) -> None:
    """After a failed write (its files already removed): remove its leases.

    When the catalog cannot be reached either, the leases stay; `segdb gc --apply` collects them
    once this process has exited.
    """
    if not relative_paths:
        return
    try:
        with catalog.writing() as db:
            db.execute(delete(m.FileLease).where(m.FileLease.relative_path.in_(relative_paths)))
    except SegDBError:
        pass


def writer_alive(host: str | None, pid: int | None, created_at: dt.datetime | None, older_than: dt.timedelta) -> bool:
    """Whether a writer may still be running: its process exists on this host, or, on another host, it
    started less than ``older_than`` ago."""
    if host == this_host() and pid:
        return process_running(pid)
    created = as_utc(created_at)
    return created is not None and dt.datetime.now(dt.timezone.utc) - created < older_than


def leased_name(relative_path: str) -> str:
    """The path whose lease covers ``relative_path``: itself, or for a temporary name the file it becomes."""
    folder, _, name = relative_path.rpartition("/")
    if name.startswith(".") and TEMP_MARKER in name:
        final = name[1:].split(TEMP_MARKER, 1)[0]
        return f"{folder}/{final}" if folder else final
    return relative_path


def hold_off_new_leases(db: Session) -> None:
    """Make writers wait to take or release a lease until the caller's unit of work ends.

    SQLite's write transactions already exclude each other; PostgreSQL needs a table lock that
    conflicts with the row changes a writer makes to ``file_leases``.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("LOCK TABLE file_leases IN SHARE MODE"))


def file_is_claimed(db: Session, relative_path: str) -> bool:
    """Whether a row records this file or a lease covers it (or, for a temporary name, the file it becomes)."""
    covering = {relative_path, leased_name(relative_path)}
    return bool(db.scalar(select(
        exists().where(m.ArrayFile.relative_path == relative_path)
        | exists().where(m.FileLease.relative_path.in_(covering))
    )))


def folder_is_leased(db: Session, relative_folder: str) -> bool:
    """Whether a lease names a file anywhere under this folder."""
    prefix = relative_folder.rstrip("/") + "/"
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return bool(db.scalar(select(exists().where(m.FileLease.relative_path.like(f"{escaped}%", escape="\\")))))
