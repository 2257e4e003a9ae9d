"""Frozen records handed out by the archive: plain values, never live ORM rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


class Record:
    """Base of every frozen record the archive and the layers above hand out (subclass it as a frozen dataclass)."""

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-friendly dict (datetimes as ISO strings)."""
        out = asdict(self)  # type: ignore[call-overload]
        for key, value in out.items():
            if isinstance(value, dt.datetime):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out


@dataclass(frozen=True)
class SubjectRecord(Record):
    subject_id: int
    name: str
    species: str | None
    num_sessions: int
    sex: str | None = None
    age: str | None = None
    date_of_birth: dt.datetime | None = None
    genotype: str | None = None
    strain: str | None = None


@dataclass(frozen=True)
class SessionRecord(Record):
    session_id: int
    subject: str
    name: str
    session_start: dt.datetime | None
    num_segmentations: int
    experimenters: tuple[str, ...] = ()
    description: str | None = None
    lab: str | None = None
    institution: str | None = None


@dataclass(frozen=True)
class PlaneRecord(Record):
    plane_id: int
    session_id: int
    name: str
    height: int
    width: int
    pixel_size_um: float
    origin_um: tuple[float, float, float]
    sampling_frequency: float | None
    field_of_view: str | None
    indicator: str | None = None
    location: str | None = None
    excitation_nm: float | None = None
    emission_nm: float | None = None
    device: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class SegmentationRecord(Record):
    segmentation_id: int
    subject: str
    session: str
    name: str
    source_format: str
    source_path: str | None
    status: str
    created_at: dt.datetime
    created_by: str
    planes: tuple[str, ...]
    num_rois: int
    num_background: int
    num_samples: int
    sampling_frequency: float | None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoiRecord(Record):
    roi_id: int
    segmentation_id: int
    plane: str
    key: int | str
    kind: str
    mask_index: int
    centroid_px: tuple[float, float]
    centroid_um: tuple[float, float]
    bbox: tuple[int, int, int, int]
    pixel_count: int
    source_accepted: bool | None


@dataclass(frozen=True)
class FileProblem(Record):
    relative_path: str
    problem: str


@dataclass(frozen=True)
class VerifyReport(Record):
    files_checked: int
    bytes_checked: int
    problems: tuple[FileProblem, ...]
    # Files whose rows were deleted (a `segdb delete`) while verify ran: gone as they should be.
    deleted_meanwhile: tuple[str, ...] = ()
    # Files `verify --fast` checked by the server's checksum and size instead of their sha256.
    files_checked_by_server: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class GcReport(Record):
    orphan_files: tuple[str, ...]
    orphan_bytes: int
    stale_segmentations: tuple[int, ...]
    applied: bool
    # Unreferenced files younger than the grace period, left for a later run.
    young_files: int = 0
    # Staging folders on this machine that a stopped ingest or `storage copy` to or from a bucket left behind.
    staging_folders: tuple[str, ...] = ()
    staging_bytes: int = 0
