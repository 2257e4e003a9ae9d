"""Errors raised by segdb.

Every error derives from :class:`SegDBError`; where a builtin exception fits, the
error derives from it too, so ``except KeyError`` and ``except ValueError`` keep
working for code written against plain roiextractors.
"""

from __future__ import annotations


class SegDBError(Exception):
    """Base class of every error segdb raises."""


class NotFoundError(SegDBError, KeyError):
    """A subject, session, segmentation, ROI or file that was asked for does not exist."""

    def __str__(self) -> str:
        # KeyError quotes its message; a scientist should read it as written.
        return str(self.args[0]) if self.args else ""


class InvalidInputError(SegDBError, ValueError):
    """Input that segdb refuses: wrong shape, out-of-frame pixels, NaN where none may be, …"""


class ConflictError(SegDBError):
    """A write lost a race: someone else changed the same thing first."""


class SchemaVersionError(SegDBError):
    """The catalog's schema is not the one this version of segdb expects."""


class IntegrityError(SegDBError):
    """An array file is missing, damaged, or would lie outside the storage root."""


class StorageUnavailableError(SegDBError, ConnectionError):
    """The storage that holds the array files (an object store) did not answer, even after retries."""


__all__ = [
    "SegDBError",
    "NotFoundError",
    "InvalidInputError",
    "ConflictError",
    "SchemaVersionError",
    "IntegrityError",
    "StorageUnavailableError",
]
