"""What a subject, a session and an imaging plane are, as an NWB file for DANDI records them.

Every field is optional. A value is checked when it is set (from the command line, from
Python or from what an ingested source already knew), so that an export never finds a sex
of "female " or an age of "90 days": the error says how to write it. Setting a field to
``""`` (or an empty list of experimenters) clears it; leaving it out (None) keeps it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from segdb.archive.base import SegmentationRef
from segdb.archive.listing import Listing
from segdb.archive.records import PlaneRecord, SessionRecord, SubjectRecord
from segdb.archive.values import parse_datetime, positive_finite
from segdb.catalog import models as m
from segdb.errors import InvalidInputError, NotFoundError

# NWB and DANDI take sex as one letter.
SEXES = {"m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "unknown": "U", "o": "O", "other": "O"}
# Common names a lab types, and the Latin binomial NWB best practice (and DANDI) ask for.
SPECIES_NAMES = {
    "mouse": "Mus musculus",
    "house mouse": "Mus musculus",
    "rat": "Rattus norvegicus",
    "norway rat": "Rattus norvegicus",
    "human": "Homo sapiens",
    "rhesus macaque": "Macaca mulatta",
    "rhesus monkey": "Macaca mulatta",
    "macaque": "Macaca mulatta",
    "marmoset": "Callithrix jacchus",
    "zebrafish": "Danio rerio",
    "zebra finch": "Taeniopygia guttata",
    "fruit fly": "Drosophila melanogaster",
    "ferret": "Mustela putorius furo",
}
_BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$")
_NCBI_TAXON = re.compile(r"^https?://purl\.obolibrary\.org/obo/NCBITaxon_\d+$")
# ISO 8601 durations as NWB's Subject.age takes them (P90D, P12W, P1Y2M, PT36H), and ranges of two.
_DURATION = r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_AGE = re.compile(rf"^{_DURATION}(/{_DURATION})?$")


def _text(label: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            raise InvalidInputError(f"the {label} is {value!r}; give it as text")
        value = value.strip()
        if len(value) > 255 and label not in _LONG_TEXT:
            raise InvalidInputError(f"the {label} {value[:40]!r}… is {len(value)} characters; keep it within 255")
        return value or None

    return check


_LONG_TEXT = {"genotype", "session description", "plane description"}


def check_sex(value: Any) -> str | None:
    if isinstance(value, str) and not value.strip():
        return None
    sex = SEXES.get(str(value).strip().lower())
    if sex is None:
        raise InvalidInputError(f"sex {value!r} is not one of M, F, U (unknown) or O (other); give one of them")
    return sex


def check_species(value: Any) -> str | None:
    text = _text("species")(value)
    if text is None:
        return None
    text = SPECIES_NAMES.get(text.lower(), text)
    if _BINOMIAL.match(text) or _NCBI_TAXON.match(text):
        return text
    raise InvalidInputError(
        f"species {value!r} is neither a Latin binomial nor an NCBI taxonomy URL; write it like "
        "'Mus musculus' (DANDI and NWB ask for the Latin name)"
    )


def check_age(value: Any) -> str | None:
    text = _text("age")(value)
    if text is None:
        return None
    text = text.upper()
    if _AGE.match(text):
        return text
    raise InvalidInputError(
        f"age {value!r} is not an ISO 8601 duration; write it like P90D (90 days), P12W or P1Y2M, "
        "or a range like P90D/P120D"
    )


def check_date(label: str) -> Callable[[Any], dt.datetime | None]:
    def check(value: Any) -> dt.datetime | None:
        if isinstance(value, str) and not value.strip():
            return None
        try:
            return parse_datetime(value)
        except InvalidInputError:
            raise InvalidInputError(
                f"the {label} {value!r} is not an ISO date or time; write it like 2026-03-01 or 2026-03-01T14:30"
            ) from None

    return check


def check_experimenters(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(name, str) for name in value):
        raise InvalidInputError(f"experimenters {value!r} are not a list of names; give names like 'Doe, Jane'")
    names = [name.strip() for name in value if name.strip()]
    return names or None


def check_wavelength(label: str) -> Callable[[Any], float | None]:
    def check(value: Any) -> float | None:
        if isinstance(value, str) and not value.strip():
            return None
        number = positive_finite(f"the {label} wavelength (nm)", value)
        if not 200 <= number <= 2000:
            raise InvalidInputError(
                f"the {label} wavelength is {value!r} nm, outside 200-2000 nm; give it in nanometres (e.g. 920)"
            )
        return number

    return check


def check_pixel_size(value: Any) -> float:
    return positive_finite("the pixel size (µm per pixel)", value)


SUBJECT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "species": check_species,
    "sex": check_sex,
    "age": check_age,
    "date_of_birth": check_date("date of birth"),
    "genotype": _text("genotype"),
    "strain": _text("strain"),
}
SESSION_FIELDS: dict[str, Callable[[Any], Any]] = {
    "session_start": check_date("session start"),
    "experimenters": check_experimenters,
    "description": _text("session description"),
    "lab": _text("lab"),
    "institution": _text("institution"),
}
PLANE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "indicator": _text("indicator"),
    "location": _text("location"),
    "excitation_nm": check_wavelength("excitation"),
    "emission_nm": check_wavelength("emission"),
    "device": _text("device"),
    "description": _text("plane description"),
    "pixel_size_um": check_pixel_size,
}
# Field names whose catalog column is named otherwise.
_SESSION_COLUMNS = {"description": "session_description"}
_PLANE_COLUMNS = {"description": "plane_description"}


def checked_fields(
    what: str, fields: Mapping[str, Any], checks: Mapping[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    """The given (not None) ``fields`` checked and normalised; an unknown name is an error listing the known ones."""
    unknown = sorted(set(fields) - set(checks))
    if unknown:
        raise InvalidInputError(f"{what} has no field {unknown[0]!r}; its fields are {', '.join(checks)}")
    return {name: checks[name](value) for name, value in fields.items() if value is not None}


def checked_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """An ingest's ``metadata`` ({"subject": {...}, "session": {...}, "planes": {name: {...}}}) checked."""
    metadata = dict(metadata or {})
    unknown = sorted(set(metadata) - {"subject", "session", "planes"})
    if unknown:
        raise InvalidInputError(f"metadata has no part {unknown[0]!r}; give 'subject', 'session' and 'planes'")
    planes = metadata.get("planes") or {}
    return {
        "subject": checked_fields("a subject", metadata.get("subject") or {}, SUBJECT_FIELDS),
        "session": checked_fields("a session", metadata.get("session") or {}, SESSION_FIELDS),
        "planes": {name: checked_fields("an imaging plane", fields, PLANE_FIELDS) for name, fields in planes.items()},
    }


def usable_fields(
    fields: Mapping[str, Any], checks: Mapping[str, Callable[[Any], Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The fields a source file gave that pass their checks, and why each other one was left out.

    A source's own metadata must not stop an ingest: what cannot be used is reported instead.
    """
    usable, problems = {}, []
    for name, value in fields.items():
        if name not in checks or value is None:
            continue
        try:
            usable[name] = checks[name](value)
        except InvalidInputError as error:
            problems.append(str(error))
    return usable, problems


def usable_metadata(metadata: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An ingest's ``metadata`` as a source file gave it, without the values the archive cannot take,
    and why each was left out (see :func:`usable_fields`)."""
    problems: list[str] = []
    parts: dict[str, Any] = {}
    for part, checks in (("subject", SUBJECT_FIELDS), ("session", SESSION_FIELDS)):
        parts[part], left_out = usable_fields(metadata.get(part) or {}, checks)
        problems += left_out
    parts["planes"] = {}
    for name, fields in (metadata.get("planes") or {}).items():
        parts["planes"][name], left_out = usable_fields(fields, PLANE_FIELDS)
        problems += left_out
    return parts, problems


def _assign(row: Any, values: Mapping[str, Any], columns: Mapping[str, str], *, only_empty: bool) -> None:
    for name, value in values.items():
        column = columns.get(name, name)
        if only_empty and getattr(row, column) not in (None, [], ""):
            continue
        setattr(row, column, value)


def fill_subject(db: Session, subject_id: int, fields: Mapping[str, Any], *, only_empty: bool) -> None:
    """Set (or, with ``only_empty``, fill in) a subject's fields inside the caller's unit of work."""
    _assign(db.get(m.Subject, subject_id), checked_fields("a subject", fields, SUBJECT_FIELDS), {},
            only_empty=only_empty)


def fill_session(db: Session, session_id: int, fields: Mapping[str, Any], *, only_empty: bool) -> None:
    """Set (or fill in) a session's fields inside the caller's unit of work."""
    _assign(db.get(m.ImagingSession, session_id), checked_fields("a session", fields, SESSION_FIELDS),
            _SESSION_COLUMNS, only_empty=only_empty)


def fill_plane(db: Session, plane: m.ImagingPlane, fields: Mapping[str, Any], *, only_empty: bool) -> None:
    """Set (or fill in) an imaging plane's descriptive fields; the pixel size goes through :func:`_set_pixel_size`."""
    values = checked_fields("an imaging plane", fields, PLANE_FIELDS)
    pixel_size = values.pop("pixel_size_um", None)
    _assign(plane, values, _PLANE_COLUMNS, only_empty=only_empty)
    if pixel_size is not None and not only_empty and not math.isclose(pixel_size, plane.pixel_size_um):
        _set_pixel_size(db, plane, pixel_size)


def _set_pixel_size(db: Session, plane: m.ImagingPlane, pixel_size_um: float) -> None:
    """Change a plane's µm per pixel and move its ROIs' µm positions with it.

    A plane that has been registered into its field of view or matched across sessions keeps
    its pixel size: those results were measured in the old µm and would silently disagree.
    """
    registered = db.scalar(select(exists().where(m.PlaneRegistration.plane_id == plane.plane_id)))
    matched = db.scalar(
        select(exists().where(m.TrackMember.roi_id == m.Roi.roi_id, m.Roi.plane_id == plane.plane_id))
    )
    if registered or matched or plane.fov_transform is not None:
        raise InvalidInputError(
            f"plane {plane.plane_name!r} has been registered or matched across sessions in µm at "
            f"{plane.pixel_size_um} µm per pixel; its pixel size cannot change now. Delete and re-ingest the "
            "segmentation with --pixel-size to use another"
        )
    plane.pixel_size_um = pixel_size_um
    db.execute(
        update(m.Roi)
        .where(m.Roi.plane_id == plane.plane_id)
        .values(
            centroid_x_um=plane.origin_x_um + m.Roi.centroid_col * pixel_size_um,
            centroid_y_um=plane.origin_y_um + m.Roi.centroid_row * pixel_size_um,
            fov_x_um=plane.origin_x_um + m.Roi.centroid_col * pixel_size_um,
            fov_y_um=plane.origin_y_um + m.Roi.centroid_row * pixel_size_um,
        )
    )


class Describing(Listing):
    """Setting what a subject, a session and a plane are (NWB's and DANDI's metadata)."""

    def set_subject(self, subject: str, **fields: Any) -> SubjectRecord:
        """Describe a subject: ``species``, ``sex``, ``age``, ``date_of_birth``, ``genotype``, ``strain``.

        A field left out (None) is kept; ``""`` clears it.
        """

        def apply(db: Session) -> int:
            subject_id = self.resolve_subject(db, subject)
            fill_subject(db, subject_id, fields, only_empty=False)
            return subject_id

        subject_id = self.catalog.write_with_retry(apply)
        return next(record for record in self.subjects() if record.subject_id == subject_id)

    def set_session(self, session: str, **fields: Any) -> SessionRecord:
        """Describe a session given as 'subject/session': ``session_start``, ``experimenters``,
        ``description``, ``lab``, ``institution``."""
        subject, session_name = _session_parts(session)

        def apply(db: Session) -> int:
            session_id = self.resolve_session(db, subject, session_name)
            fill_session(db, session_id, fields, only_empty=False)
            return session_id

        session_id = self.catalog.write_with_retry(apply)
        return next(record for record in self.sessions(subject=subject) if record.session_id == session_id)

    def set_plane(self, segmentation: SegmentationRef, plane: str | None = None, **fields: Any) -> PlaneRecord:
        """Describe one imaging plane of a segmentation's session: ``indicator``, ``location``,
        ``excitation_nm``, ``emission_nm``, ``device``, ``description``, ``pixel_size_um``.

        The plane is the session's, so every segmentation of that session sees the same description.
        """

        def apply(db: Session) -> int:
            _, plane_id, _ = self.resolve_plane(db, segmentation, plane)
            fill_plane(db, db.get(m.ImagingPlane, plane_id), fields, only_empty=False)
            return plane_id

        plane_id = self.catalog.write_with_retry(apply)
        return next(record for record in self.planes(segmentation) if record.plane_id == plane_id)

    def resolve_subject(self, db: Session, subject: str) -> int:
        subject_id = db.scalar(select(m.Subject.subject_id).where(m.Subject.subject_name == subject))
        if subject_id is None:
            names = list(db.scalars(select(m.Subject.subject_name).order_by(m.Subject.subject_name).limit(20)))
            raise NotFoundError(
                f"subject {subject!r} is not in the archive at {self.location}; its subjects are {names} "
                "(`segdb ls subjects`)"
            )
        return int(subject_id)

    def resolve_session(self, db: Session, subject: str, session: str) -> int:
        subject_id = self.resolve_subject(db, subject)
        session_id = db.scalar(
            select(m.ImagingSession.session_id).where(
                m.ImagingSession.subject_id == subject_id, m.ImagingSession.session_name == session
            )
        )
        if session_id is None:
            names = list(
                db.scalars(
                    select(m.ImagingSession.session_name)
                    .where(m.ImagingSession.subject_id == subject_id)
                    .order_by(m.ImagingSession.session_name)
                    .limit(20)
                )
            )
            raise NotFoundError(
                f"session {subject}/{session} is not in the archive at {self.location}; {subject}'s sessions are "
                f"{names} (`segdb ls sessions --subject {subject}`)"
            )
        return int(session_id)


def _session_parts(session: str) -> tuple[str, str]:
    parts = session.split("/") if isinstance(session, str) else []
    if len(parts) != 2 or not all(parts):
        raise InvalidInputError(f"session {session!r} is not 'subject/session'; write it like m12/2026-03-01")
    return parts[0], parts[1]
