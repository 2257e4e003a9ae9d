"""The archive layer: the only place where catalog rows and array files meet."""

from segdb.archive.core import Archive, ProgressArg, SegmentationRef, reopen, resolve_target
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
