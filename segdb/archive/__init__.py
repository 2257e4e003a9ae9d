"""The archive layer: the only place where catalog rows and array files meet.

:class:`Archive` is the sum of small parts, each a module:

* ``locations`` — where an archive lives (folder, or database URL + storage root);
* ``base`` — shared state; resolving segmentations, planes and files;
* ``listing`` — subjects, sessions, segmentations, planes, ROIs as frozen ``records``;
* ``ingesting`` — writing segmentations (validated by ``payload``) and new trace series;
* ``upkeep`` — delete, verify, garbage collection;
* ``moving`` — copying the files to another storage root and pointing the catalog at it;
* ``leases`` — the files writers are creating, which garbage collection leaves alone;
* ``metadata`` — what subjects, sessions and planes are (NWB's and DANDI's fields), checked when set;
* ``rois`` — what the layers above ask of ROIs: cross-session ``query``, ``filters``
  (the ``where`` language), ``properties``, curation labels (``consensus``);
* ``reader`` — lazy plane handles (rows joined to array references);
* ``values`` — names, dates, ROI keys and JSON checked alike by every layer;
* ``archive`` — opening and creating one, and reopening it in another process.

May import: :mod:`segdb.catalog`, :mod:`segdb.arrays`, :mod:`segdb.geometry`,
:mod:`segdb.conventions`, errors, progress and version; roiextractors only where an
ingest reads an extractor. Never anything above (extractors, curation, tracking, ingest,
the facade): those build on the names exported here.
"""

from segdb.archive.archive import Archive, reopen
from segdb.archive.base import ProgressArg, SegmentationRef
from segdb.archive.locations import resolve_target
from segdb.archive.metadata import usable_metadata
from segdb.archive.moving import StorageCopyReport
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
    "usable_metadata",
    "FileProblem",
    "GcReport",
    "PlaneRecord",
    "ProgressArg",
    "Record",
    "SegmentationRef",
    "RoiRecord",
    "SegmentationRecord",
    "SessionRecord",
    "StorageCopyReport",
    "SubjectRecord",
    "VerifyReport",
]
