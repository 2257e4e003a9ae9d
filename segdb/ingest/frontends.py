"""From a path on disk to archived segmentations: what `segdb ingest FORMAT PATH` runs."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segdb.archive import Archive, SegmentationRecord
from segdb.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from roiextractors import SegmentationExtractor

FORMATS = ("suite2p", "caiman", "nwb", "cnmfe", "extract", "minian", "inscopix", "sima", "numpy")

#: The formats read by one roiextractors reader each (:func:`open_reader`), one plane per input.
READER_FORMATS = ("cnmfe", "extract", "minian", "inscopix", "sima", "numpy")


def ingest_path(
    archive: Archive,
    fmt: str,
    path: str | os.PathLike,
    *,
    subject: str,
    session: str,
    name: str | None = None,
    plane: str | None = None,
    frame_shape: Sequence[int] | None = None,
    sampling_frequency: float | None = None,
    plane_segmentation: str | None = None,
    pixel_mask_order: str | None = None,
    require: Collection[str] = (),
    **ingest_options: Any,
) -> list[SegmentationRecord]:
    """Ingest a pipeline's output folder or file; returns one record per segmentation made.

    A suite2p folder gives one segmentation per channel holding every plane
    (named ``suite2p`` and ``suite2p-chan2`` unless ``name`` is given); CaImAn and
    NWB files give one single-plane segmentation. ``plane_segmentation`` and
    ``pixel_mask_order`` are the NWB reader's choices (see :func:`segdb.ingest.nwb_extractor`);
    ``require`` (``"raw"``, ``"iscell"``) makes a suite2p plane without ``F.npy`` or
    ``iscell.npy`` an error rather than a warning.

    The pipeline's settings are kept in the segmentation's ``parameters``: suite2p's
    ``ops.npy`` settings under ``suite2p_ops`` (per plane), CaImAn's ``params`` under
    ``caiman_params``; what was missing from a suite2p plane under ``ingest_warnings``.
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{fmt} input {str(path)!r} does not exist; check the path")
    if fmt in READER_FORMATS:
        return ingest_reader(
            archive, fmt, path, subject=subject, session=session, name=name, plane=plane,
            sampling_frequency=sampling_frequency, **ingest_options,
        )
    if require and fmt != "suite2p":
        raise InvalidInputError(f"--require applies to suite2p folders only; leave it out for {fmt}")
    if fmt == "suite2p":
        from segdb.ingest.suite2p import find_suite2p_planes, suite2p_extractor

        by_channel: dict[str, dict[str, Any]] = {}
        for found in find_suite2p_planes(path):
            extractor = suite2p_extractor(
                found,
                frame_shape=None if frame_shape is None else (int(frame_shape[0]), int(frame_shape[1])),
                sampling_frequency=sampling_frequency,
                require=require,
            )
            by_channel.setdefault(found.channel_name, {})[found.plane_name] = extractor
        records = []
        for channel, planes in by_channel.items():
            base = name or "suite2p"
            seg_name = base if channel == "chan1" else f"{base}-{channel}"
            records.append(
                archive.ingest(
                    planes, subject=subject, session=session, name=seg_name, source_format="suite2p",
                    source_path=str(path.resolve()), **_with_suite2p_provenance(planes, ingest_options),
                )
            )
        return records
    if fmt == "caiman":
        from segdb.ingest.caiman import caiman_extractor, caiman_settings

        extractor = caiman_extractor(path)
        ingest_options = _with_parameters(ingest_options, {"caiman_params": caiman_settings(path)})
    elif fmt == "nwb":
        from segdb.ingest.nwb import nwb_extractor

        extractor = nwb_extractor(
            path,
            plane_segmentation_name=plane_segmentation,
            frame_shape=None if frame_shape is None else (int(frame_shape[0]), int(frame_shape[1])),
            pixel_mask_order=pixel_mask_order,
        )
        ingest_options = _with_nwb_metadata(extractor, plane or "plane0", ingest_options)
    else:
        raise InvalidInputError(f"unknown input format {fmt!r}; segdb ingests {', '.join(FORMATS)}")
    return [
        archive.ingest(
            extractor, subject=subject, session=session, plane=plane, name=name, source_format=fmt,
            source_path=str(path.resolve()), **ingest_options,
        )
    ]


def _with_parameters(ingest_options: dict[str, Any], provenance: Mapping[str, Any]) -> dict[str, Any]:
    """``ingest_options`` whose ``parameters`` also hold ``provenance`` (what the caller passed wins)."""
    options = dict(ingest_options)
    options["parameters"] = {**provenance, **dict(options.get("parameters") or {})}
    return options


def _with_suite2p_provenance(planes: Mapping[str, Any], ingest_options: dict[str, Any]) -> dict[str, Any]:
    """``ingest_options`` with each plane's ops.npy settings and what its folder was missing."""
    from segdb.ingest.suite2p import suite2p_settings

    provenance: dict[str, Any] = {}
    settings = {
        plane_name: suite2p_settings(extractor.plane_files.options)
        for plane_name, extractor in planes.items()
        if extractor.plane_files.options is not None
    }
    if settings:
        provenance["suite2p_ops"] = settings
    notes = [note for extractor in planes.values() for note in extractor.plane_files.warnings]
    if notes:
        provenance["ingest_warnings"] = notes
    return _with_parameters(ingest_options, provenance)


def _with_nwb_metadata(extractor: Any, plane_name: str, ingest_options: dict[str, Any]) -> dict[str, Any]:
    """``ingest_options`` with what the NWB file says of its subject, session and plane (and its pixel size,
    unless one was given); values the archive cannot take are left out with a warning."""
    import warnings

    from segdb.archive import usable_metadata
    from segdb.ingest.nwb_metadata import nwb_file_metadata, nwb_pixel_size_um

    table = getattr(extractor, "plane_segmentation", None)
    if table is None:
        table = extractor.nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
    imaging_plane = table.imaging_plane
    metadata, problems = usable_metadata(nwb_file_metadata(extractor.nwbfile, imaging_plane, plane_name))
    for problem in problems:
        warnings.warn(f"the NWB file's metadata is not kept where {problem}", UserWarning, stacklevel=3)
    options = dict(ingest_options)
    given = options.get("metadata") or {}
    metadata = {part: {**metadata.get(part, {}), **(given.get(part) or {})} for part in ("subject", "session")} | {
        "planes": {**metadata["planes"], **(given.get("planes") or {})}
    }
    options["metadata"] = metadata
    if options.get("pixel_size_um") is None:
        pixel_size = nwb_pixel_size_um(imaging_plane)
        if pixel_size is not None:
            options["pixel_size_um"] = pixel_size
    return _with_parameters(options, {"nwb_provenance": _nwb_provenance(extractor.nwbfile, table)})


def _nwb_provenance(nwbfile: Any, table: Any) -> dict[str, Any]:
    """Who made an NWB file's segmentation and how, as the file says: kept with the segmentation."""
    module = table.parent.parent if table.parent is not None else None
    generated_by = [[str(part) for part in entry] for entry in (getattr(nwbfile, "was_generated_by", None) or ())]
    found = {
        "processing_module": getattr(module, "name", None),
        "processing_description": getattr(module, "description", None),
        "plane_segmentation": table.name,
        "plane_segmentation_description": getattr(table, "description", None),
        "source_script": nwbfile.source_script,
        "was_generated_by": generated_by or None,
        "nwb_identifier": nwbfile.identifier,
    }
    return {key: value for key, value in found.items() if value not in (None, "")}


def open_reader(
    fmt: str,
    path: str | os.PathLike,
    *,
    sampling_frequency: float | None = None,
    **reader_options: Any,
) -> SegmentationExtractor:
    """The extractor of one of :data:`READER_FORMATS` for ``path``, its reader's quirks corrected.

    Parameters
    ----------
    fmt : str
        ``cnmfe``, ``extract``, ``minian``, ``inscopix``, ``sima`` or ``numpy``.
    path : str or PathLike
        The file or folder the pipeline wrote.
    sampling_frequency : float, optional
        The frame rate in Hz, for formats that do not record it (EXTRACT, SIMA, a .npy
        folder, Minian without timestamps) or to replace the one they derive.
    **reader_options
        ``output_struct_name`` (extract), ``timestamps_path`` (minian),
        ``segmentation_label`` (sima).
    """
    path = Path(path)
    if sampling_frequency is not None:
        rate = float(sampling_frequency)
        if not math.isfinite(rate) or rate <= 0:
            raise InvalidInputError(f"the frame rate {sampling_frequency!r} is not a positive number of Hz; fix --rate")
        sampling_frequency = rate
    if fmt == "cnmfe":
        from segdb.ingest.cnmfe import cnmfe_extractor

        return cnmfe_extractor(path, sampling_frequency=sampling_frequency, **reader_options)
    if fmt == "extract":
        from segdb.ingest.extract import extract_extractor

        return extract_extractor(path, sampling_frequency=sampling_frequency, **reader_options)
    if fmt == "minian":
        from segdb.ingest.minian import minian_extractor

        return minian_extractor(path, sampling_frequency=sampling_frequency, **reader_options)
    if fmt == "inscopix":
        from segdb.ingest.inscopix import inscopix_extractor

        if sampling_frequency is not None:
            raise InvalidInputError("an Inscopix cell set records its own sample period; leave out --rate")
        return inscopix_extractor(path, **reader_options)
    if fmt == "sima":
        from segdb.ingest.sima import sima_extractor

        return sima_extractor(path, sampling_frequency=sampling_frequency, **reader_options)
    if fmt == "numpy":
        from segdb.ingest.npy_folder import numpy_folder_extractor

        return numpy_folder_extractor(path, sampling_frequency=sampling_frequency, **reader_options)
    raise InvalidInputError(f"unknown reader format {fmt!r}; the readers are {', '.join(READER_FORMATS)}")


def ingest_reader(
    archive: Archive,
    fmt: str,
    path: str | os.PathLike,
    *,
    subject: str,
    session: str,
    name: str | None = None,
    plane: str | None = None,
    sampling_frequency: float | None = None,
    reader_options: Mapping[str, Any] | None = None,
    **ingest_options: Any,
) -> list[SegmentationRecord]:
    """Ingest the output of one of :data:`READER_FORMATS` as one single-plane segmentation.

    ``reader_options`` go to :func:`open_reader`, ``ingest_options`` to ``Archive.ingest``.
    """
    path = Path(path)
    extractor = open_reader(fmt, path, sampling_frequency=sampling_frequency, **dict(reader_options or {}))
    return [
        archive.ingest(
            extractor, subject=subject, session=session, plane=plane, name=name, source_format=fmt,
            source_path=str(path.resolve()), **ingest_options,
        )
    ]
