"""What the pages show, as plain values: read through the public Archive, the same one the CLI uses."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from segdb.curation import curation_version
from segdb.errors import InvalidInputError, NotFoundError
from segdb.extractors import CURATION_PROPERTY
from segdb.figures.drawing import CROP_RADIUS, PREFERRED_IMAGES
from segdb.figures.outlines import contrast, crop_box, outlines

PIPELINE_PREFIX = "pipeline:"
#: The colour of a tracked ROI's outline in its crops (RGB, 0-1).
TRACK_OUTLINE = (0.0, 0.9, 1.0)


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
        subjects.append({"record": subject, "sessions": sessions, "runs": archive.matching_runs(subject.name)})
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
                                                          plane=extractor.plane_name, with_tags=True)}
    properties = {}
    for name in extractor.get_property_keys():
        if name == CURATION_PROPERTY:
            continue  # the label column shows it, and keeps up with others' labels
        values = np.asarray(extractor.get_property(name, keys))
        if values.ndim == 1 and values.dtype.kind in "biuf":
            properties[name] = [_number(v) for v in values]
    track_run, tracks = archive.tracks_of_plane(record.segmentation_id, extractor.plane_name)
    rois = []
    for index, (key, edge) in enumerate(zip(keys, edges)):
        status = statuses.get(key)
        rows, cols = edge.rows.tolist(), edge.cols.tolist()
        rois.append({
            "index": index, "key": key, "label": status.label if status else None,
            "revision": status.revision if status else 0, "track": tracks.get(key), "tags": list(status.tags) if status else [],
            "outline": [value for pair in zip(rows, cols) for value in pair],
            "box": [min(rows), min(cols), max(rows), max(cols)] if rows else None,
            "centre": [sum(rows) / len(rows), sum(cols) / len(cols)] if rows else None,
        })
    return {
        "segmentation": record.to_dict(), "plane": extractor.plane_name, "version": version, "planes": list(record.planes),
        "policy": policy, "height": height, "width": width, "matching_run": track_run,
        "images": _image_order(name for name, image in extractor.get_images_dict().items() if image is not None),
        "traces": sorted(extractor.get_traces_dict()), "rois": rois, "properties": properties,
        "known_tags": sorted({tag for status in statuses.values() for tag in status.tags}),
    }


def plane_state(archive: Any, segmentation: int, plane: str, policy: str, seen: str | None = None) -> dict[str, Any]:
    """What an open page polls for: the curation's version and what changed since the ``seen`` one.

    Events are only appended, so a page that saw version "count-last" needs only the ROIs labelled
    after event ``last``: ``changed`` lists those (key, label, revision). ``rois`` (every ROI) is
    sent when the page saw no version, or one the archive cannot have followed from; nothing but
    the version when nothing changed.
    """
    archive.check_curation_policy(policy)
    version = curation_version(archive, segmentation)
    if seen is not None and seen == version:
        with archive.catalog.reading() as db:
            archive.resolve_plane(db, segmentation, plane)
        return {"version": version, "rois": None}
    since = _last_event(seen, version)
    statuses = archive.curation_status(segmentation, policy=policy, plane=plane, since_event=since, with_tags=True)
    rows = [{"key": s.roi, "label": s.label, "revision": s.revision, "tags": list(s.tags)} for s in statuses]
    return {"version": version, "rois": rows} if since is None else {"version": version, "rois": None,
                                                                     "changed": rows}


def _last_event(seen: str | None, version: str) -> int | None:
    """The last event a page saw, when its version ("count-last") can have led to ``version``: both
    only grow while labels are appended."""
    try:
        seen_count, seen_last = (int(part) for part in (seen or "").split("-"))
        count, last = (int(part) for part in version.split("-"))
    except ValueError:
        return None
    return seen_last if 0 <= seen_count <= count and 0 <= seen_last <= last else None


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


# -- one tracked cell across sessions -----------------------------------------------------------------


def track_view(archive: Any, track_id: int, policy: str) -> dict[str, Any]:
    """A tracked cell as its page shows it: for each session it was found in, the ROI (segmentation,
    plane, key, position in the plane's list), its label and revision under ``policy``, and each
    curator's label; with the traces every member has."""
    archive.check_curation_policy(policy)
    record = archive.track(track_id)
    if not record.members:
        raise NotFoundError(f"track {track_id} has no ROIs left (their segmentations were deleted)")
    members, trace_names, image_names = [], None, None
    for member in record.members:
        handle = archive.plane_handle(member.segmentation_id, member.plane)
        status = _status_of(archive, member, policy)
        extractor = archive.extractor(member.segmentation_id, plane=member.plane)
        traces = set(extractor.get_traces_dict())
        images = {name for name, image in extractor.get_images_dict().items() if image is not None}
        trace_names = traces if trace_names is None else trace_names & traces
        image_names = images if image_names is None else image_names & images
        members.append({
            "session": member.session, "segmentation_id": member.segmentation_id, "plane": member.plane,
            "key": member.roi, "roi_id": member.roi_id, "index": list(handle.roi_keys).index(member.roi),
            "label": status.label if status else None, "revision": status.revision if status else 0,
            "by_curator": status.by_curator if status else {},
        })
    subject = archive.segmentation(record.members[0].segmentation_id).subject
    return {"track_id": record.track_id, "matching_run_id": record.matching_run_id, "subject": subject,
            "policy": policy, "members": members, "images": _image_order(image_names or ()),
            "traces": sorted(trace_names or (), key=lambda name: (name != "raw", name))}


def track_state(archive: Any, track_id: int, policy: str,
                seen: str | None = None) -> tuple[str, list[dict[str, Any]] | None]:
    """What an open track page polls for: the version of its sessions' curation and, when it differs
    from the ``seen`` one, each member's label and revision under ``policy`` (None when nothing changed)."""
    archive.check_curation_policy(policy)
    members = archive.track(track_id).members
    version = "|".join(curation_version(archive, member.segmentation_id) for member in members)
    if seen is not None and seen == version:
        return version, None
    return version, [{"roi_id": member.roi_id, "label": status.label if status else None,
                      "revision": status.revision if status else 0,
                      "by_curator": status.by_curator if status else {}}
                     for member in members for status in [_status_of(archive, member, policy)]]


def track_crop(archive: Any, track_id: int, index: int, image: str, low: float, high: float) -> np.ndarray:
    """Member ``index`` of a track: an RGB crop of its session's ``image`` around the ROI, its outline drawn in."""
    member = _member(archive, track_id, index)
    extractor = archive.extractor(member.segmentation_id, plane=member.plane).select_rois([member.roi])
    picture = extractor.get_images_dict().get(image)
    if picture is None:
        raise NotFoundError(f"session {member.session} (segmentation {member.segmentation_id}) has no {image!r} "
                            "image; pick another image")
    picture = np.asarray(picture, dtype=float)
    [edge] = outlines(extractor.get_roi_pixel_masks(), picture.shape)
    rows, cols = crop_box(edge, picture.shape, CROP_RADIUS)
    grey = contrast(picture, low, high)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[edge.rows, edge.cols] = TRACK_OUTLINE
    return rgb[rows, cols]


def track_member_trace(archive: Any, track_id: int, index: int, name: str, width: int) -> dict[str, Any]:
    """Member ``index``'s ``name`` trace over its whole session, decimated to ``width`` columns."""
    member = _member(archive, track_id, index)
    return roi_trace(archive, member.segmentation_id, member.plane, member.roi, name, start=None, stop=None,
                     width=width)


def last_track_labelling(archive: Any, track_id: int, curator: str) -> int | None:
    """The segmentation in which ``curator`` last labelled one of the track's ROIs (None if they never did):
    where "undo my last" on the track page takes effect."""
    latest: tuple[int, int] | None = None
    for member in archive.track(track_id).members:
        for event in archive.curation_history(member.segmentation_id, member.roi, plane=member.plane):
            if event.curator == curator and (latest is None or event.event_id > latest[0]):
                latest = (event.event_id, member.segmentation_id)
    return None if latest is None else latest[1]


def _member(archive: Any, track_id: int, index: int) -> Any:
    members = archive.track(track_id).members
    if not 0 <= index < len(members):
        raise NotFoundError(f"track {track_id} spans {len(members)} sessions (members 0..{len(members) - 1}), "
                            f"not member {index}")
    return members[index]


def _status_of(archive: Any, member: Any, policy: str) -> Any:
    statuses = archive.curation_status(member.segmentation_id, policy=policy, plane=member.plane)
    return next((status for status in statuses if status.roi == member.roi), None)


def run_view(archive: Any, run: int) -> dict[str, Any]:
    """A matching run's tracked cells: those found in every session first, then those in fewer (two or more)."""
    record = next((r for r in archive.matching_runs() if r.matching_run_id == run), None)
    if record is None:
        raise NotFoundError(f"matching run {run} is not in the archive; the archive page lists the runs")
    everywhere = archive.tracks(run, min_sessions=record.num_sessions)
    some = [t for t in archive.tracks(run, min_sessions=2) if t not in set(everywhere)]
    return {"record": record, "everywhere": everywhere, "some": some}


def _image_order(names: Any) -> list[str]:
    """Summary image names, the ones curators look at first (mean, correlation, max) first."""
    return sorted(names, key=lambda name: (PREFERRED_IMAGES.index(name) if name in PREFERRED_IMAGES else 99, name))
