"""What the pages show, as plain values: read through the public Archive, the same one the CLI uses."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from segdb.curation import curation_version
from segdb.errors import InvalidInputError, NotFoundError
from segdb.figures.drawing import PREFERRED_IMAGES
from segdb.figures.outlines import contrast, outlines

PIPELINE_PREFIX = "pipeline:"


@dataclass(frozen=True)
class Progress:
    """How far people have curated a segmentation."""

    num_rois: int
    labelled_by_people: int
    curators: dict[str, int]
    disagreements: int


def curation_progress(statuses: list[Any]) -> Progress:
    """People's labels over a segmentation's ROI statuses: how many ROIs, by whom, and where they differ."""
    curators: Counter[str] = Counter()
    labelled = disagreements = 0
    for status in statuses:
        people = {name: label for name, label in status.by_curator.items() if not name.startswith(PIPELINE_PREFIX)}
        curators.update(people)
        labelled += bool(people)
        disagreements += len(set(people.values())) > 1
    return Progress(len(statuses), labelled, dict(sorted(curators.items())), disagreements)


def archive_overview(archive: Any) -> list[dict[str, Any]]:
    """Subjects, each with its sessions, each with its segmentations and their curation progress."""
    by_session: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in archive.segmentations():
        progress = curation_progress(archive.curation_status(record.segmentation_id))
        by_session.setdefault((record.subject, record.session), []).append({"record": record, "progress": progress})
    subjects = []
    for subject in archive.subjects():
        sessions = [
            {"record": session, "segmentations": by_session.get((subject.name, session.name), [])}
            for session in archive.sessions(subject.name)
        ]
        subjects.append({"record": subject, "sessions": sessions})
    return subjects


def plane_view(archive: Any, segmentation: int, plane: str | None, policy: str) -> dict[str, Any]:
    """One plane of a segmentation as the page draws it: its ROIs (key, outline, box, centre, label,
    revision, properties), its images and its traces."""
    extractor = archive.extractor(segmentation, plane=plane, curation=policy)
    record = archive.segmentation(extractor.segmentation_id)
    # Read before the labels: a label added in between makes the page's first poll read them again.
    version = curation_version(archive, record.segmentation_id)
    keys = list(extractor.get_roi_ids())
    height, width = extractor.get_image_size()
    edges = outlines(extractor.get_roi_pixel_masks(), (height, width))
    statuses = {s.roi: s for s in archive.curation_status(record.segmentation_id, policy=policy,
                                                          plane=extractor.plane_name)}
    properties = {}
    for name in extractor.get_property_keys():
        values = np.asarray(extractor.get_property(name, keys))
        if values.ndim == 1 and values.dtype.kind in "biuf":
            properties[name] = [_number(v) for v in values]
    rois = []
    for index, (key, edge) in enumerate(zip(keys, edges)):
        status = statuses.get(key)
        rows, cols = edge.rows.tolist(), edge.cols.tolist()
        rois.append({
            "index": index, "key": key, "label": status.label if status else None,
            "revision": status.revision if status else 0,
            "outline": [value for pair in zip(rows, cols) for value in pair],
            "box": [min(rows), min(cols), max(rows), max(cols)] if rows else None,
            "centre": [sum(rows) / len(rows), sum(cols) / len(cols)] if rows else None,
        })
    return {
        "segmentation": record.to_dict(), "plane": extractor.plane_name, "version": version, "planes": list(record.planes),
        "policy": policy, "height": height, "width": width,
        "images": sorted((name for name, image in extractor.get_images_dict().items() if image is not None),
                         key=lambda name: (PREFERRED_IMAGES.index(name) if name in PREFERRED_IMAGES else 99, name)),
        "traces": sorted(extractor.get_traces_dict()), "rois": rois, "properties": properties,
    }


def plane_state(archive: Any, segmentation: int, plane: str, policy: str, seen: str | None = None) -> dict[str, Any]:
    """What an open page polls for: the curation's version and, when it differs from the ``seen`` one,
    each ROI's label and revision under ``policy`` (``rois`` is None when nothing changed)."""
    archive.check_curation_policy(policy)
    version = curation_version(archive, segmentation)
    if seen is not None and seen == version:
        with archive.catalog.reading() as db:
            archive.resolve_plane(db, segmentation, plane)
        return {"version": version, "rois": None}
    rois = [{"key": s.roi, "label": s.label, "revision": s.revision}
            for s in archive.curation_status(segmentation, policy=policy, plane=plane)]
    return {"version": version, "rois": rois}


def matching_indices(archive: Any, segmentation: int, plane: str, where: str, policy: str) -> list[int]:
    """Positions in the plane's ROI list of the ROIs a ``where`` filter selects (the CLI's language)."""
    selected = set(archive.extractor(segmentation, plane=plane, where=where, curation=policy).get_roi_ids())
    return [index for index, key in enumerate(archive.plane_handle(segmentation, plane).roi_keys) if key in selected]


def image_pixels(archive: Any, segmentation: int, plane: str, name: str, low: float, high: float) -> np.ndarray:
    """A summary image scaled to 0-1 between two percentiles, as the page shows it."""
    extractor = archive.extractor(segmentation, plane=plane)
    images = extractor.get_images_dict()
    if images.get(name) is None:
        raise NotFoundError(f"plane {plane!r} of segmentation {segmentation} has no {name!r} image; it has "
                            f"{', '.join(k for k, v in images.items() if v is not None) or 'none'}")
    return contrast(np.asarray(images[name], dtype=float), low, high)


def roi_trace(archive: Any, segmentation: int, plane: str, key: Any, name: str, *, start: int | None,
              stop: int | None, width: int) -> dict[str, Any]:
    """One ROI's trace between two samples, decimated to at most ``width`` columns of (min, max)."""
    extractor = archive.extractor(segmentation, plane=plane)
    if name not in extractor.get_traces_dict():
        raise NotFoundError(f"segmentation {segmentation} has no {name!r} traces; it has "
                            f"{', '.join(sorted(extractor.get_traces_dict()))}")
    total = extractor.get_num_samples()
    first = 0 if start is None else max(0, min(int(start), total))
    last = total if stop is None else max(first, min(int(stop), total))
    if not 16 <= width <= 10_000:
        raise InvalidInputError(f"width {width} is not between 16 and 10000 columns")
    values = np.asarray(extractor.get_traces(roi_ids=[key], start_frame=first, end_frame=last, name=name),
                        dtype=float)[:, 0]
    low, high = decimate(values, width)
    rate = extractor.get_sampling_frequency()
    return {"name": name, "start": first, "stop": last, "num_samples": total, "rate": rate,
            "min": [_number(v) for v in low], "max": [_number(v) for v in high]}


def decimate(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of ``values`` in ``width`` equal bins (the samples themselves when there are fewer),
    so that a plot of a long trace loses no peak."""
    if values.size <= width:
        return values, values
    edges = np.linspace(0, values.size, width + 1).astype(np.int64)[:-1]
    finite = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(invalid="ignore"):
        low = np.fmin.reduceat(finite, edges)
        high = np.fmax.reduceat(finite, edges)
    return low, high


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
