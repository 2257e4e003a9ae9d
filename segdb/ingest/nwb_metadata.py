"""What an NWB file already says about its subject, session and imaging plane, for ingest to keep.

Ingest fills only the archive's empty fields with it (what a person set is never
overwritten), and a value the archive cannot take (a sex of "female?", an age that is not an
ISO 8601 duration) is left out with a warning rather than stopping the ingest.
"""

from __future__ import annotations

import math
from typing import Any

from pynwb import NWBFile
from pynwb.ophys import ImagingPlane

# NWB's grid_spacing_unit, and how many µm one of it is.
_LENGTH_UNITS_UM = {"micrometers": 1.0, "micrometer": 1.0, "um": 1.0, "µm": 1.0, "millimeters": 1e3, "mm": 1e3,
                    "meters": 1e6, "m": 1e6}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text if text and text.lower() not in ("unknown", "none", "n/a", "na") else None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def nwb_file_metadata(nwbfile: NWBFile, imaging_plane: ImagingPlane | None, plane_name: str) -> dict[str, Any]:
    """``archive.ingest``'s ``metadata`` from an open NWB file and the imaging plane of the table being ingested."""
    subject: dict[str, Any] = {}
    if nwbfile.subject is not None:
        nwb_subject = nwbfile.subject
        subject = {
            "species": _text(nwb_subject.species),
            "sex": _text(nwb_subject.sex),
            "age": _text(nwb_subject.age),
            "date_of_birth": nwb_subject.date_of_birth,
            "genotype": _text(nwb_subject.genotype),
            "strain": _text(getattr(nwb_subject, "strain", None)),
        }
    experimenters = [str(name) for name in (nwbfile.experimenter or ()) if str(name).strip()]
    description = _text(nwbfile.session_description)
    session = {
        "session_start": nwbfile.session_start_time,
        "experimenters": experimenters or None,
        "description": description if description != "no description" else None,
        "lab": _text(nwbfile.lab),
        "institution": _text(nwbfile.institution),
    }
    plane: dict[str, Any] = {}
    if imaging_plane is not None:
        channels = list(imaging_plane.optical_channel or ())
        plane = {
            "indicator": _text(imaging_plane.indicator),
            "location": _text(imaging_plane.location),
            "excitation_nm": _number(imaging_plane.excitation_lambda),
            "emission_nm": _number(channels[0].emission_lambda) if channels else None,
            "device": _text(imaging_plane.device.name) if imaging_plane.device is not None else None,
            "description": _text(imaging_plane.description),
        }
    return {
        "subject": {k: v for k, v in subject.items() if v is not None},
        "session": {k: v for k, v in session.items() if v is not None},
        "planes": {plane_name: {k: v for k, v in plane.items() if v is not None}},
    }


def nwb_pixel_size_um(imaging_plane: ImagingPlane | None) -> float | None:
    """µm per pixel from an ImagingPlane's grid spacing, when it is square and in a known unit."""
    if imaging_plane is None or imaging_plane.grid_spacing is None:
        return None
    spacing = [float(v) for v in imaging_plane.grid_spacing[:2]]
    scale = _LENGTH_UNITS_UM.get(str(imaging_plane.grid_spacing_unit or "").lower())
    if scale is None or len(spacing) != 2 or not math.isclose(spacing[0], spacing[1], rel_tol=1e-6):
        return None
    return _number(spacing[0] * scale)


__all__ = ["nwb_file_metadata", "nwb_pixel_size_um"]
