"""The archive layer: the only place where catalog rows and array files meet."""

from segdb.archive.archive import Archive, reopen
from segdb.archive.base import ProgressArg, SegmentationRef
from segdb.archive.locations import resolve_target
from segdb.archive.records import (
    FileProblem,
    GcReport,
    PlaneRecord,
    Record,
    RoiRecord,
    SegmentationRecord,
    SessionRecord,
    SubjectRecord,
    VerifyReport,
)

__all__ = [
    "Archive",
    "reopen",
    "resolve_target",
    "FileProblem",
    "GcReport",
    "PlaneRecord",
    "ProgressArg",
    "Record",
    "SegmentationRef",
    "RoiRecord",
    "SegmentationRecord",
    "SessionRecord",
    "SubjectRecord",
    "VerifyReport",
]
