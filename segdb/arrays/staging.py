"""Local folders that files pass through on their way to or from a bucket, and the process that made each.

A folder is named ``segdb-<purpose>-<pid>@<host>-<random>`` in :func:`staging_root`, so that
``segdb gc`` can tell one whose process has stopped (a killed ingest's) from one still being filled.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_STAGING_NAME = re.compile(r"^segdb-(?P<purpose>upload|copy)-(?P<pid>\d+)@(?P<host>[A-Za-z0-9._-]*)-[a-z0-9_]+$")


def staging_root() -> Path:
    """Where files are staged on their way to or from a bucket: ``$SEGDB_STAGING_DIR``, else the
    system's temporary folder."""
    return Path(os.environ.get("SEGDB_STAGING_DIR") or tempfile.gettempdir())


def this_host() -> str:
    """This machine's name as staging folders and file leases record it (characters other than letters,
    digits, ``.``, ``_`` and ``-`` as ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())


@contextlib.contextmanager
def staging_folder(purpose: str) -> Iterator[Path]:
    """A new folder in :func:`staging_root` named for ``purpose``, this process and this host; removed
    after the block. One left by a process that was killed is listed by :func:`staged_folders`."""
    prefix = f"segdb-{purpose}-{os.getpid()}@{this_host()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=staging_root()) as folder:
        yield Path(folder)


@dataclass(frozen=True)
class StagedFolder:
    """A staging folder as :func:`staged_folders` finds it: who made it, how big it is, when it last changed."""

    path: Path
    pid: int
    host: str
    size_bytes: int
    modified: float


def staged_folders() -> list[StagedFolder]:
    """Every segdb staging folder in :func:`staging_root`, of any process on any host sharing the folder."""
    root = staging_root()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        match = _STAGING_NAME.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        size, modified = 0, entry.stat(follow_symlinks=False).st_mtime
        for folder, _, names in os.walk(entry.path):
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    info = os.lstat(os.path.join(folder, name))
                    size += info.st_size
                    modified = max(modified, info.st_mtime)
        found.append(StagedFolder(Path(entry.path), int(match["pid"]), match["host"], size, modified))
    return sorted(found, key=lambda staged: staged.path.name)


def process_running(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
