"""A segmentation as an NWB file that DANDI, pynwb, roiextractors and NeuroConv read.

One file per session holds every plane of one segmentation: an ``ImagingPlane`` and a
``PlaneSegmentation`` per plane (with a background table where the pipeline found
background components), its traces as ``RoiResponseSeries`` in ``Fluorescence`` and
``DfOverF``, its summary images, the subject and what the archive knows of the session.

Conventions, as the NWB schema states them:

- ``pixel_mask`` rows are ``(x, y, weight)`` with x the **column** and y the **row**;
  segdb's masks are ``[row, col, weight]`` and are swapped here.
- ``image_mask`` is ``(n_rois, x, y)`` and images are ``(x, y)``: each ``(height, width)``
  array is written transposed, as roiextractors' NWB reader and NeuroConv expect.
- ROI ids: every ROI's key is kept as text in ``roi_name``; the table ids are the keys
  when they are distinct integers, else 0..n-1.

Nothing is held whole: masks and traces are written ROI by ROI and block by block from the
chunk files, into a temporary file that is renamed into place only when it is complete.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.common import VectorData, VectorIndex
from hdmf.data_utils import DataChunkIterator, GenericDataChunkIterator
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import Images
from pynwb.file import Subject
from pynwb.image import GrayscaleImage
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, PlaneSegmentation

from segdb.archive import Archive, PlaneRecord, SegmentationRecord, SegmentationRef, SessionRecord, SubjectRecord
from segdb.archive.reader import PlaneHandle
from segdb.arrays import ArrayRef
from segdb.conventions import ACCEPTANCE_PROPERTIES, NWB_DFOVERF_SERIES, NWB_FLUORESCENCE_SERIES, REJECTION_PROPERTIES
from segdb.curation import curation_status
from segdb.errors import ConflictError, InvalidInputError
from segdb.progress import progress_bar
from segdb.version import __version__

# Samples per block when traces are copied into the file; a block of 4,096 samples x 1,000 ROIs
# of float32 is 16 MB.
BLOCK_SAMPLES = 4096
# Columns the export writes itself; a property of the same name is not written twice.
CURATION_COLUMNS = ("accepted", "curation_label", "num_curators")
_PIXEL_DTYPE = np.dtype([("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])


@dataclass(frozen=True)
class ExportedFile:
    """One NWB file written: where, and what it holds."""

    path: Path
    segmentation_id: int
    subject: str
    session: str
    num_rois: int
    planes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "segmentation_id": self.segmentation_id, "subject": self.subject,
                "session": self.session, "num_rois": self.num_rois, "planes": list(self.planes)}


def dandi_id(text: str) -> str:
    """A subject or session name as a DANDI file-name entity: letters, digits and hyphens only."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def nwb_file_name(record: SegmentationRecord, *, dandi: bool) -> Path:
    """Where, inside the export folder, the file of a segmentation goes.

    DANDI's layout is ``sub-<subject>/sub-<subject>_ses-<session>_ophys.nwb``; otherwise
    ``<subject>_<session>_<segmentation>.nwb``.
    """
    if dandi:
        subject, session = dandi_id(record.subject), dandi_id(record.session)
        return Path(f"sub-{subject}") / f"sub-{subject}_ses-{session}_ophys.nwb"
    parts = (record.subject, record.session, record.name)
    return Path("_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", part).strip("-.") or "x" for part in parts) + ".nwb")


def missing_metadata(subject: SubjectRecord, session: SessionRecord, *, dandi: bool) -> list[str]:
    """What an export needs that the archive does not know yet, each with the command that sets it:
    the session's start always, and with ``dandi`` what DANDI requires of the subject."""
    missing = []
    if dandi:
        for field, option in (("species", "--species 'Mus musculus'"), ("sex", "--sex F")):
            if getattr(subject, field) is None:
                missing.append(f"the subject's {field} (`segdb subject set {subject.name} {option}`)")
        if subject.age is None and subject.date_of_birth is None:
            missing.append(f"the subject's age or date of birth (`segdb subject set {subject.name} --age P90D`)")
    if session.session_start is None:
        missing.append(
            f"the session's start (`segdb session set {session.subject}/{session.name} --start 2026-03-01T10:00`)"
        )
    return missing


def export_nwb(
    archive: Archive,
    segmentation: SegmentationRef,
    path: str | os.PathLike,
    *,
    accepted_only: bool = False,
    policy: str = "latest",
    image_masks: bool = False,
    dandi: bool = False,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] | None = None,
    block_samples: int = BLOCK_SAMPLES,
) -> ExportedFile:
    """Write one segmentation (every plane) to the NWB file ``path``.

    Parameters
    ----------
    archive : Archive
        The archive holding it.
    segmentation : int, str or SegmentationRecord
        Its id, record, or 'subject/session/name'.
    path : str or Path
        The file to write; an existing one is refused unless ``overwrite``.
    accepted_only : bool
        Export only the ROIs accepted under ``policy``.
    policy : str
        The curation policy whose state is written (``accepted``, ``curation_label``,
        ``num_curators`` columns): latest, majority, unanimous or curator:NAME.
    image_masks : bool
        Also write ``image_mask`` (roiextractors 0.10's NWB reader reads only these).
    dandi : bool
        Refuse, naming what to set, when DANDI's required metadata is missing.
    progress : bool or callable, optional
        A progress bar over samples written (None: only on a terminal).
    block_samples : int
        Samples per block copied from the chunk files.

    Returns
    -------
    ExportedFile
    """
    path = Path(path)
    if path.suffix != ".nwb":
        raise InvalidInputError(f"the NWB file {str(path)!r} does not end in .nwb; name it like session.nwb")
    if path.exists() and not overwrite:
        raise ConflictError(f"{path} already exists; choose another path or pass --overwrite (overwrite=True)")
    record = archive.segmentation(segmentation)
    subject = next(s for s in archive.subjects() if s.name == record.subject)
    session = next(s for s in archive.sessions(subject=record.subject) if s.name == record.session)
    missing = missing_metadata(subject, session, dandi=dandi)
    if missing:
        raise InvalidInputError(
            f"cannot export {record.subject}/{record.session}/{record.name} to NWB"
            f"{' for DANDI' if dandi else ''}: the archive does not know {'; '.join(missing)}"
        )
    statuses = curation_status(archive, record.segmentation_id, policy=policy)
    descriptions = archive.property_descriptions(record.segmentation_id)
    planes = archive.planes(record.segmentation_id)
    handles = archive.plane_handles(record.segmentation_id)
    nwbfile = _nwbfile(record, subject, session, policy, statuses)
    single = len(handles) == 1
    ophys = nwbfile.create_processing_module(name="ophys", description="optical physiology processed by segdb")
    segmentation_container = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation_container)
    fluorescence = Fluorescence(name="Fluorescence")
    dff = DfOverF(name="DfOverF")
    total_rois = 0
    writers: list[Callable[[Callable[[int], None]], None]] = []
    by_plane: dict[str, list] = {}
    for status in statuses:
        by_plane.setdefault(status.plane, []).append(status)
    added_containers: set[str] = set()
    for plane, handle in zip(planes, handles, strict=True):
        suffix = "" if single else plane_suffix(plane.name)
        imaging_plane = _imaging_plane(nwbfile, plane, handle, suffix)
        plane_statuses = by_plane.get(plane.name, [])
        keep = [
            index for index, status in enumerate(plane_statuses)
            if not accepted_only or status.label in (None, "accepted")
        ]
        properties = archive.plane_properties(record.segmentation_id, plane.name)
        table = _roi_table(
            f"PlaneSegmentation{suffix}", handle, imaging_plane, keep, [plane_statuses[i] for i in keep],
            properties, descriptions, policy, image_masks=image_masks,
        )
        segmentation_container.add_plane_segmentation(table)
        total_rois += len(keep)
        # (kind, table, trace columns to copy, whether that is every column, series)
        series = [("cell", table, keep, len(keep) == len(handle.roi_keys), handle.traces)]
        first_series = None
        if handle.background_keys:
            background = _background_table(f"BackgroundPlaneSegmentation{suffix}", handle, imaging_plane,
                                           image_masks=image_masks)
            segmentation_container.add_plane_segmentation(background)
            series.append(("background", background, list(range(len(handle.background_keys))), True,
                           handle.background_traces))
        for kind, rois_table, columns, every_column, traces in series:
            if not columns:
                continue
            region = rois_table.create_roi_table_region(
                region=list(range(len(columns))), description=f"every ROI of {rois_table.name}"
            )
            for trace_name, ref in traces.items():
                container, series_name = _series_name(trace_name, kind)
                target = dff if container == "DfOverF" else fluorescence
                if target.name not in added_containers:
                    # A container joins the module before its series exist, so a series' region and
                    # the table it points at share the module as ancestor (hdmf checks this).
                    ophys.add(target)
                    added_containers.add(target.name)
                blocks = TraceBlocks(ref, None if every_column else columns, block_samples=block_samples)
                # The plane's first series holds its timestamps; the others link to them.
                timing = _timing(handle) if first_series is None or handle.timestamps is None else {
                    "timestamps": first_series}
                created = target.create_roi_response_series(
                    name=f"{series_name}{suffix}", data=blocks, rois=region, unit="n.a.",
                    description=f"{trace_name} traces of {kind} ROIs ({record.source_format}, archived by segdb)",
                    **timing,
                )
                first_series = first_series or created
                writers.append(blocks)
        images = [
            GrayscaleImage(name=name, data=np.asarray(ref[:]).T, description=f"{name} image of {plane.name}")
            for name, ref in handle.images.items()
        ]
        if images:
            ophys.add(Images(name=f"SegmentationImages{suffix}", images=images,
                             description=f"summary images of {plane.name}"))
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give the NWB file's path (e.g. {path / 'session.nwb'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot create the folder {path.parent} for the NWB file ({exc.strerror}); give a folder you can write to"
        ) from exc
    partial = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial.nwb")
    total_samples = sum(blocks.total_samples for blocks in writers)
    try:
        with progress_bar(progress, total=total_samples, desc=f"export {path.name}", unit="samples") as tick:
            for blocks in writers:
                blocks.on_block = tick
            with NWBHDF5IO(str(partial), "w") as io:
                io.write(nwbfile)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportedFile(path, record.segmentation_id, record.subject, record.session, total_rois,
                        tuple(p.name for p in planes))


def export_nwb_files(
    archive: Archive,
    folder: str | os.PathLike,
    *,
    segmentation: SegmentationRef | None = None,
    subject: str | None = None,
    session: str | None = None,
    name: str | None = None,
    dandi: bool = False,
    **options: Any,
) -> list[ExportedFile]:
    """Export one segmentation, or every segmentation of a subject (or session), into ``folder``.

    With ``dandi`` the files take DANDI's layout (one per session, so a session with several
    segmentations needs ``name``), and each must carry DANDI's required metadata.
    Other options are :func:`export_nwb`'s.
    """
    if segmentation is not None:
        records = [archive.segmentation(segmentation)]
    elif subject is not None:
        if subject not in {s.name for s in archive.subjects()}:
            raise InvalidInputError(
                f"subject {subject!r} is not in the archive at {archive.location}; `segdb ls subjects` lists them"
            )
        records = [r for r in archive.segmentations(subject=subject, session=session) if name in (None, r.name)]
        if not records:
            raise InvalidInputError(
                f"subject {subject!r} has no segmentation{f' named {name!r}' if name else ''}"
                f"{f' in session {session!r}' if session else ''}; `segdb ls segmentations --subject {subject}` "
                "lists them"
            )
    else:
        raise InvalidInputError("say what to export: a segmentation (id or subject/session/name) or --subject NAME")
    if dandi:
        per_session: dict[tuple[str, str], list[str]] = {}
        for record in records:
            per_session.setdefault((record.subject, record.session), []).append(record.name)
        crowded = {key: names for key, names in per_session.items() if len(names) > 1}
        if crowded:
            (subject_name, session_name), names = next(iter(crowded.items()))
            raise InvalidInputError(
                f"DANDI's layout holds one file per session, and {subject_name}/{session_name} has segmentations "
                f"{names}; choose one with --name"
            )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"{folder} is a file, not a folder; give the folder to write the NWB files into")
    targets = [(record, folder / nwb_file_name(record, dandi=dandi)) for record in records]
    if not options.get("overwrite"):
        existing = [str(path) for _, path in targets if path.exists()]
        if existing:
            raise ConflictError(f"{existing[0]} already exists; export into another folder or pass --overwrite")
    return [
        export_nwb(archive, record.segmentation_id, path, dandi=dandi, **options) for record, path in targets
    ]


def plane_suffix(plane_name: str) -> str:
    """What a multi-plane file appends to each plane's object names, as NeuroConv does (plane0 -> Plane0)."""
    return plane_name[:1].upper() + plane_name[1:]


class TraceBlocks(GenericDataChunkIterator):
    """A trace series copied block by block from its chunk file (only ``columns``, when given)."""

    def __init__(self, ref: ArrayRef, columns: Sequence[int] | None, *, block_samples: int = BLOCK_SAMPLES):
        self._ref = ref
        self._columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        num_samples, num_columns = ref.shape[0], len(self._columns) if columns is not None else ref.shape[1]
        self.total_samples = int(num_samples)
        self.on_block: Callable[[int], None] | None = None
        chunk = (max(1, min(num_samples, 1024, int(block_samples))), max(1, min(num_columns, 64)))
        # A whole number of chunks per block, and never more than the series holds.
        block = min(max(chunk[0], int(block_samples) // chunk[0] * chunk[0]), max(num_samples, 1))
        super().__init__(buffer_shape=(block, max(num_columns, 1)), chunk_shape=chunk, display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        rows, columns = selection
        start, stop = rows.start or 0, rows.stop
        if self._columns is None:
            data = np.asarray(self._ref[start:stop])[:, columns]
        else:
            data = self._ref.read_columns(start, stop, self._columns[columns].tolist())
        if self.on_block is not None and (columns.start or 0) == 0:
            self.on_block(stop - start)
        return data

    def _get_maxshape(self) -> tuple[int, int]:
        width = self._ref.shape[1] if self._columns is None else len(self._columns)
        return (int(self._ref.shape[0]), int(width))

    def _get_dtype(self) -> np.dtype:
        return np.dtype(self._ref.dtype)


def _nwbfile(record: SegmentationRecord, subject: SubjectRecord, session: SessionRecord, policy: str,
             statuses: Sequence[Any]) -> NWBFile:
    curators = sorted({name for status in statuses for name in status.by_curator if not name.startswith("pipeline:")})
    now = dt.datetime.now(dt.timezone.utc)
    notes = (
        f"Exported by segdb {__version__} at {now.isoformat(timespec='seconds')} from segmentation "
        f"{record.subject}/{record.session}/{record.name} (id {record.segmentation_id}, "
        f"source {record.source_format}). "
        f"Curation columns (accepted, curation_label, num_curators) follow the policy '{policy}' over the labels of "
        f"{len(curators)} curator(s){': ' + ', '.join(curators) if curators else ''} and the pipeline's own decisions."
    )
    age = subject.age
    return NWBFile(
        session_description=session.description
        or f"Calcium imaging session {record.session} of {record.subject}, segmented by {record.source_format}",
        identifier=str(uuid.uuid4()),
        session_start_time=session.session_start,
        session_id=record.session,
        experimenter=list(session.experimenters) or None,
        lab=session.lab,
        institution=session.institution,
        notes=notes,
        was_generated_by=[["segdb", __version__]],
        keywords=["calcium imaging", "ROI segmentation", record.source_format],
        subject=Subject(
            subject_id=record.subject,
            description=f"subject {record.subject}",
            species=subject.species,
            sex=subject.sex or "U",
            age=age,
            date_of_birth=subject.date_of_birth,
            genotype=subject.genotype,
            strain=subject.strain,
        ),
    )


def ccf_location(location: str | None) -> str:
    """A plane's location as the Allen Mouse Brain CCF names it, which DANDI's inspector asks for.

    Labs write an area and a layer ("VISp L2/3", "VISp layer 5"); the CCF's acronym for that
    layer is the two run together ("VISp2/3", "VISp5"). Anything else is written as given.
    """
    if not location:
        return "unknown"
    matched = _AREA_LAYER.match(location.strip())
    return f"{matched['area']}{matched['layer']}" if matched else location


_AREA_LAYER = re.compile(r"^(?P<area>[A-Za-z][A-Za-z-]*?)[ ,]+(?:L|layer ?)(?P<layer>\d(?:/\d)?[ab]?)$", re.IGNORECASE)


def _imaging_plane(nwbfile: NWBFile, plane: PlaneRecord, handle: PlaneHandle, suffix: str):
    device_name = plane.device or "Microscope"
    device = nwbfile.devices.get(device_name) or nwbfile.create_device(
        name=device_name, description=f"the microscope that imaged {plane.name}"
    )
    channels = [
        OpticalChannel(
            name=name, description=f"channel {name}",
            emission_lambda=plane.emission_nm if plane.emission_nm is not None else float("nan"),
        )
        for name in (handle.channel_names or ("OpticalChannel",))
    ]
    return nwbfile.create_imaging_plane(
        name=f"ImagingPlane{suffix}",
        optical_channel=channels,
        description=(plane.description or f"plane {plane.name}, {plane.height} x {plane.width} pixels")
        + (f"; location as the lab wrote it: {plane.location}" if plane.location and ccf_location(plane.location)
           != plane.location else ""),
        device=device,
        excitation_lambda=plane.excitation_nm if plane.excitation_nm is not None else float("nan"),
        indicator=plane.indicator or "unknown",
        location=ccf_location(plane.location),
        imaging_rate=handle.sampling_frequency,
        grid_spacing=[plane.pixel_size_um, plane.pixel_size_um],
        grid_spacing_unit="micrometers",
        origin_coords=list(plane.origin_um),
        origin_coords_unit="micrometers",
    )


def _mask_columns(masks: Any, indices: Sequence[int], frame_shape: tuple[int, int], *,
                  image_masks: bool) -> list[VectorData | VectorIndex]:
    pixel_masks = masks.pixel_masks(list(indices)) if indices else []
    ends = np.cumsum([len(mask) for mask in pixel_masks], dtype=np.int64)
    pixels = np.zeros(int(ends[-1]) if len(ends) else 0, dtype=_PIXEL_DTYPE)
    if len(pixels):
        stacked = np.concatenate(pixel_masks)
        # segdb's [row, col, weight] is NWB's (x=col, y=row, weight).
        pixels["x"], pixels["y"], pixels["weight"] = stacked[:, 1], stacked[:, 0], stacked[:, 2]
    pixel_column = VectorData(name="pixel_mask", description="(x = column, y = row, weight) of each pixel",
                              data=pixels)
    columns: list[VectorData | VectorIndex] = [
        pixel_column, VectorIndex(name="pixel_mask_index", data=ends, target=pixel_column)
    ]
    if image_masks:
        height, width = frame_shape

        def transposed() -> Iterator[np.ndarray]:
            for mask in pixel_masks:
                image = np.zeros((width, height), dtype=np.float32)
                image[mask[:, 1].astype(np.int64), mask[:, 0].astype(np.int64)] = mask[:, 2]
                yield image

        columns.append(
            VectorData(
                name="image_mask", description="each ROI's weights as an (x, y) image",
                data=DataChunkIterator(data=transposed(), maxshape=(len(pixel_masks), width, height),
                                       dtype=np.dtype(np.float32), buffer_size=64),
            )
        )
    return columns


def _table_ids(keys: Sequence[Any]) -> list[int]:
    integers = all(isinstance(key, (int, np.integer)) and not isinstance(key, bool) for key in keys)
    if integers and len(set(keys)) == len(keys) and all(int(key) >= 0 for key in keys):
        return [int(key) for key in keys]
    return list(range(len(keys)))


def _roi_table(name: str, handle: PlaneHandle, imaging_plane: Any, keep: list[int], statuses: list[Any],
               properties: dict[str, np.ndarray], descriptions: dict[str, str], policy: str, *,
               image_masks: bool) -> PlaneSegmentation:
    keys = [handle.roi_keys[i] for i in keep]
    columns = _mask_columns(handle.masks, keep, handle.frame_shape, image_masks=image_masks)
    columns.append(VectorData(name="roi_name", description="the ROI's id in the source pipeline",
                              data=[str(key) for key in keys]))
    accepted = [status.label in (None, "accepted") for status in statuses]
    columns += [
        VectorData(name="accepted", description=f"accepted under segdb's curation policy '{policy}'",
                   data=np.asarray(accepted, dtype=bool)),
        VectorData(name="curation_label",
                   description=f"label under segdb's curation policy '{policy}' ('' where nobody labelled the ROI)",
                   data=[status.label or "" for status in statuses]),
        VectorData(name="num_curators", description="how many people have a current label on the ROI",
                   data=np.asarray([sum(not n.startswith("pipeline:") for n in s.by_curator) for s in statuses],
                                   dtype=np.int32)),
    ]
    skipped = set(CURATION_COLUMNS) | set(ACCEPTANCE_PROPERTIES) | set(REJECTION_PROPERTIES)
    for prop, values in sorted(properties.items()):
        if prop in skipped:
            continue
        values = values[keep]
        if values.dtype.kind == "O":
            values = np.asarray([str(v) for v in values])
        columns.append(VectorData(name=prop, description=descriptions.get(prop) or prop, data=values))
    return PlaneSegmentation(
        name=name, description=f"ROIs of {handle.plane_name}", imaging_plane=imaging_plane,
        id=_table_ids(keys), columns=columns,
    )


def _background_table(name: str, handle: PlaneHandle, imaging_plane: Any, *, image_masks: bool) -> PlaneSegmentation:
    keys = list(handle.background_keys)
    columns = _mask_columns(handle.background_masks, list(range(len(keys))), handle.frame_shape,
                            image_masks=image_masks)
    columns.append(VectorData(name="roi_name", description="the component's id in the source pipeline",
                              data=[str(key) for key in keys]))
    return PlaneSegmentation(
        name=name, description=f"background components of {handle.plane_name}", imaging_plane=imaging_plane,
        id=_table_ids(keys), columns=columns,
    )


def _series_name(trace_name: str, kind: str) -> tuple[str, str]:
    """The container and series name of a trace, as roiextractors' NWB reader and NeuroConv name them."""
    if kind == "background":
        # 'background' is roiextractors' background trace (NWB: Background); any other name x is Background<X>.
        if trace_name == "background":
            return "Fluorescence", "Background"
        return "Fluorescence", f"Background{trace_name[:1].upper()}{trace_name[1:]}"
    if trace_name in NWB_DFOVERF_SERIES.values():
        return "DfOverF", next(k for k, v in NWB_DFOVERF_SERIES.items() if v == trace_name)
    for series_name, known in NWB_FLUORESCENCE_SERIES.items():
        if known == trace_name:
            return "Fluorescence", series_name
    return "Fluorescence", trace_name


def _timing(handle: PlaneHandle) -> dict[str, Any]:
    if handle.timestamps is not None:
        return {"timestamps": np.asarray(handle.timestamps[:], dtype=np.float64)}
    if not handle.sampling_frequency:
        raise InvalidInputError(
            f"plane {handle.plane_name!r} of segmentation {handle.segmentation_id} has neither timestamps nor a "
            "sampling rate; NWB needs one of them"
        )
    return {"rate": float(handle.sampling_frequency), "starting_time": 0.0}


__all__ = [
    "ExportedFile",
    "TraceBlocks",
    "ccf_location",
    "dandi_id",
    "export_nwb",
    "export_nwb_files",
    "missing_metadata",
    "nwb_file_name",
]
