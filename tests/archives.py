"""Test archives in every place one can be: the catalog on SQLite or PostgreSQL, the files in a folder or a bucket."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from object_store import new_bucket_prefix

if TYPE_CHECKING:
    from segdb.archive import Archive

#: Every place a test archive can be: its catalog on SQLite or PostgreSQL, its files in a folder or a bucket.
ARCHIVE_PLACES = ["sqlite", "postgresql", "sqlite+bucket", "postgresql+bucket"]


@contextlib.contextmanager
def archive_in(place: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[Archive]:
    """A new, empty archive in one of :data:`ARCHIVE_PLACES`; a bucket is a new prefix on this process's
    SeaweedFS, and ``AWS_*`` point at it while the archive is open (as a lab's environment would)."""
    catalog, _, storage = place.partition("+")
    with pytest.MonkeyPatch.context() as monkeypatch:
        bucket_url = new_bucket_prefix(request.getfixturevalue("seaweedfs"), monkeypatch) if storage else None
        with request.getfixturevalue("archive_maker").new(catalog, folder, bucket_url) as opened:
            yield opened
