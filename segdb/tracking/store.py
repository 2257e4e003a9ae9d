"""Registration, matching runs and tracks kept in the archive.

The computation is :mod:`segdb.tracking` (pure numpy/scipy); this module gets what it
needs from the archive, runs it, and stores the results: a plane's transform into its
field of view's reference frame, and each matching run with its parameters, scored
pairs and tracks. Runs are never changed after they are written, so a track id always
means the same cell.

Arrays (mean images, pixel masks) come through the archive's public
``archive.plane_handle`` and its lazy references, traces through ``archive.extractor``;
this module opens no array file itself. Its own rows (planes of a field of view,
registrations, matching runs, pairs, tracks) it reads and writes with the catalog's
models in ``archive.catalog.reading()`` and ``archive.catalog.write_with_retry``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select

from segdb.archive import Archive, Record
from segdb.archive.values import as_utc, current_user, is_catalog_id, roi_key_value
from segdb.catalog import models as m
from segdb.errors import InvalidInputError, NotFoundError
from segdb.tracking.pairing import MatchParameters
from segdb.tracking.registration import register_images
from segdb.tracking.roi_sets import RoiSet
from segdb.tracking.tracks import DEFAULT_MAX_GAP, MATCHING_METHOD, Track, build_tracks, tracking_parameters
from segdb.tracking.transforms import Transform, pixel_frame


@dataclass(frozen=True)
class RegistrationRecord(Record):
    plane_id: int
    session: str
    plane: str
    reference_session: str | None
    method: str
    transform: list
    score: float | None
    reliable: bool


@dataclass(frozen=True)
class MatchingRunRecord(Record):
    matching_run_id: int
    subject: str
    field_of_view: str
    method: str
    parameters: dict
    created_at: dt.datetime
    created_by: str
    num_sessions: int
    num_tracks: int


@dataclass(frozen=True)
class TrackMemberRecord(Record):
    session: str
    session_start: dt.datetime | None
    segmentation_id: int
    plane: str
    roi: int | str
    roi_id: int


@dataclass(frozen=True)
class TrackRecord(Record):
    track_id: int
    matching_run_id: int
    members: tuple[TrackMemberRecord, ...]


@dataclass(frozen=True)
class TrackTraces:
    """A track's traces: one array per session, and all of them NaN-padded into one (sessions, samples)."""

    sessions: tuple[str, ...]
    traces: tuple[np.ndarray, ...]

    @property
    def aligned(self) -> np.ndarray:
        length = max((t.size for t in self.traces), default=0)
        out = np.full((len(self.traces), length), np.nan)
        for row, trace in enumerate(self.traces):
            out[row, : trace.size] = trace
        return out


# -- planes of a field of view ------------------------------------------------------------------


@dataclass(frozen=True)
class _FovPlane:
    plane_id: int
    session: str
    session_start: dt.datetime | None
    segmentation_id: int
    plane_name: str
    pixel_size_um: float
    origin: tuple[float, float]
    fov_transform: list | None


def _fov(archive: Archive, subject: str, field_of_view: str) -> tuple[int, list[_FovPlane]]:
    """The field of view's id and its planes, one per session (the newest segmentation of each), oldest first."""
    with archive.catalog.reading() as db:
        fov_id = db.scalar(
            select(m.FieldOfView.fov_id)
            .join(m.FieldOfView.subject)
            .where(m.Subject.subject_name == subject, m.FieldOfView.fov_name == field_of_view)
        )
        if fov_id is None:
            names = list(db.scalars(
                select(m.FieldOfView.fov_name).join(m.FieldOfView.subject)
                .where(m.Subject.subject_name == subject)))
            raise NotFoundError(
                f"subject {subject!r} has no field of view {field_of_view!r}; it has {sorted(names)} (a plane's "
                "field of view is its name unless ingest was given --field-of-view)"
            )
        rows = db.execute(
            select(m.ImagingPlane, m.ImagingSession.session_name, m.ImagingSession.session_start,
                   func.max(m.SegmentationPlane.segmentation_id))
            .join(m.ImagingSession, m.ImagingSession.session_id == m.ImagingPlane.session_id)
            .join(m.SegmentationPlane, m.SegmentationPlane.plane_id == m.ImagingPlane.plane_id)
            .join(m.Segmentation, m.Segmentation.segmentation_id == m.SegmentationPlane.segmentation_id)
            .where(m.ImagingPlane.fov_id == fov_id, m.Segmentation.status == "ready")
            .group_by(m.ImagingPlane.plane_id, m.ImagingSession.session_name, m.ImagingSession.session_start)
            .order_by(m.ImagingSession.session_start, m.ImagingSession.session_name)
        ).all()
        planes = [
            _FovPlane(p.plane_id, session, as_utc(start), int(seg_id), p.plane_name, p.pixel_size_um,
                      (p.origin_x_um, p.origin_y_um), p.fov_transform)
            for p, session, start, seg_id in rows
        ]
    if not planes:
        raise NotFoundError(f"field of view {subject}/{field_of_view} has no segmented planes yet")
    return fov_id, planes


def _pixel_to_fov(plane: _FovPlane) -> Transform:
    plane_to_fov = Transform.from_list(plane.fov_transform) if plane.fov_transform else Transform.identity()
    return plane_to_fov @ pixel_frame(plane.pixel_size_um, plane.origin)


# -- registration -------------------------------------------------------------------------------


def register_field_of_view(
    archive: Archive,
    subject: str,
    field_of_view: str,
    *,
    method: str = "rigid",
    image: str = "mean",
    transforms: dict[str, Any] | None = None,
) -> list[RegistrationRecord]:
    """Place every plane of a field of view in the reference frame of its first session.

    Each plane's ``image`` (default the mean image) is registered to the first session's;
    ``transforms`` maps a session name to a 2x3 (x, y) µm affine you supply instead.
    Every cross-session comparison (position queries, matching) then uses these transforms.
    """
    _, planes = _fov(archive, subject, field_of_view)
    reference = planes[0]
    ref_handle = archive.plane_handle(reference.segmentation_id, reference.plane_name)
    if image not in ref_handle.images and len(planes) > 1:
        raise NotFoundError(
            f"session {reference.session} has no {image!r} image to register to; it has {sorted(ref_handle.images)}"
        )
    records = [_store_registration(archive, reference, None, Transform.identity(), "reference", 1.0, True)]
    ref_image = ref_handle.images[image][:] if len(planes) > 1 else None
    ref_pixel_to_fov = _pixel_to_fov(reference)
    for plane in planes[1:]:
        supplied = (transforms or {}).get(plane.session)
        if supplied is not None:
            plane_to_fov = supplied if isinstance(supplied, Transform) else Transform.from_list(supplied)
            records.append(_store_registration(archive, plane, reference, plane_to_fov, "supplied", None, True))
            continue
        handle = archive.plane_handle(plane.segmentation_id, plane.plane_name)
        if image not in handle.images:
            raise NotFoundError(
                f"session {plane.session} has no {image!r} image to register; it has {sorted(handle.images)}; "
                "supply its transform instead"
            )
        registration = register_images(ref_image, handle.images[image][:], method=method)
        # moving pixels -> reference pixels -> field of view µm, then from the plane's µm frame.
        plane_to_fov = (
            ref_pixel_to_fov @ registration.transform @ pixel_frame(plane.pixel_size_um, plane.origin).inverse()
        )
        if not registration.reliable:
            warnings.warn(
                f"the registration of {subject}/{plane.session} to {reference.session} is poor (score "
                f"{registration.score:.2f}, overlap {registration.overlap:.2f}); check that both image the same field "
                "of view, or supply its transform",
                stacklevel=2,
            )
        records.append(_store_registration(archive, plane, reference, plane_to_fov, registration.method,
                                           registration.score, registration.reliable))
    return records


def _store_registration(archive: Archive, plane: _FovPlane, reference: _FovPlane | None, plane_to_fov: Transform,
                        method: str, score: float | None, reliable: bool) -> RegistrationRecord:
    matrix = plane_to_fov.to_list()

    def write(db) -> None:
        archive.place_plane(db, plane.plane_id, matrix)
        existing = db.get(m.PlaneRegistration, plane.plane_id)
        if existing is not None:
            db.delete(existing)
            db.flush()
        db.add(m.PlaneRegistration(
            plane_id=plane.plane_id, reference_plane_id=None if reference is None else reference.plane_id,
            method=method, transform=matrix, score=score, overlap=None, created_by=current_user(),
        ))

    archive.catalog.write_with_retry(write)
    return RegistrationRecord(plane.plane_id, plane.session, plane.plane_name,
                              None if reference is None else reference.session, method, matrix, score, reliable)


# -- matching -----------------------------------------------------------------------------------


def match_field_of_view(
    archive: Archive,
    subject: str,
    field_of_view: str,
    parameters: MatchParameters | None = None,
    *,
    use_masks: bool = True,
    max_gap: int | None = DEFAULT_MAX_GAP,
    **options: float,
) -> MatchingRunRecord:
    """Pair ROIs across every session of a field of view and join them into tracks; store the run.

    ``parameters`` and ``options`` (``max_distance_um``, ``min_iou``, ...) are those of
    :func:`segdb.tracking.build_tracks`, as is ``max_gap``; they are stored with the run,
    with ``use_masks`` and the segmentation matched in each session.
    """
    fov_id, planes = _fov(archive, subject, field_of_view)
    match = MatchParameters.resolve(parameters, options)
    stored_parameters = {
        **tracking_parameters(match, max_gap=max_gap),
        "use_masks": use_masks,
        "segmentations": {p.session: p.segmentation_id for p in planes},
    }
    sessions = [_session_roi_set(archive, plane, use_masks) for plane in planes]
    tracks = build_tracks(sessions, match, max_gap=max_gap)
    creator = current_user()

    def write(db) -> MatchingRunRecord:
        run = m.MatchingRun(
            fov_id=fov_id, plane_name=planes[0].plane_name, method=MATCHING_METHOD, parameters=stored_parameters,
            created_by=creator, num_sessions=len(planes), num_tracks=len(tracks),
        )
        db.add(run)
        db.flush()
        _insert_pairs(db, run.matching_run_id, tracks)
        _insert_tracks(db, run.matching_run_id, tracks, planes)
        return _run_record(run, subject, field_of_view)

    return archive.catalog.write_with_retry(write)


def _session_roi_set(archive: Archive, plane: _FovPlane, use_masks: bool) -> RoiSet:
    """A plane's cell ROIs (catalog ids, masks from the archive's plane handle) in its field of view's frame."""
    with archive.catalog.reading() as db:
        roi_ids = list(db.scalars(
            select(m.Roi.roi_id)
            .where(m.Roi.segmentation_id == plane.segmentation_id, m.Roi.plane_id == plane.plane_id,
                   m.Roi.kind == "cell")
            .order_by(m.Roi.mask_index)
        ))
    handle = archive.plane_handle(plane.segmentation_id, plane.plane_name)
    masks = handle.masks.pixel_masks(range(len(roi_ids)))
    roi_set = RoiSet.from_pixel_masks(np.asarray(roi_ids), masks, _pixel_to_fov(plane))
    return roi_set if use_masks else roi_set.without_masks()


def _insert_pairs(db, matching_run_id: int, tracks: list[Track]) -> None:
    """The pairs that joined the tracks, each once."""
    pairs = {(int(link.pair.a_id), int(link.pair.b_id)): link.pair for track in tracks for link in track.links}
    if pairs:
        db.execute(insert(m.RoiMatch), [
            {"matching_run_id": matching_run_id, "roi_a_id": a, "roi_b_id": b,
             "distance_um": float(p.distance_um), "iou": None if p.iou is None else float(p.iou),
             "score": float(p.score)}
            for (a, b), p in pairs.items()
        ])


def _insert_tracks(db, matching_run_id: int, tracks: list[Track], planes: list[_FovPlane]) -> None:
    """The tracks and their members; a member names its session through its plane."""
    if not tracks:
        return
    session_ids = dict(db.execute(
        select(m.ImagingPlane.plane_id, m.ImagingPlane.session_id)
        .where(m.ImagingPlane.plane_id.in_([p.plane_id for p in planes]))
    ).all())
    track_ids = db.execute(
        insert(m.Track).returning(m.Track.track_id, sort_by_parameter_order=True),
        [{"matching_run_id": matching_run_id, "num_sessions": len(t.members)} for t in tracks],
    ).scalars().all()
    members = [
        {"track_id": track_id, "roi_id": int(member.roi_id), "matching_run_id": matching_run_id,
         "session_id": session_ids[planes[member.session_index].plane_id]}
        for track_id, track in zip(track_ids, tracks, strict=True)
        for member in track.members
    ]
    db.execute(insert(m.TrackMember), members)


def _run_record(run: m.MatchingRun, subject: str, field_of_view: str) -> MatchingRunRecord:
    return MatchingRunRecord(run.matching_run_id, subject, field_of_view, run.method, dict(run.parameters),
                             as_utc(run.created_at), run.created_by, run.num_sessions, run.num_tracks)


def matching_runs(archive: Archive, subject: str | None = None) -> list[MatchingRunRecord]:
    with archive.catalog.reading() as db:
        query = (
            select(m.MatchingRun, m.Subject.subject_name, m.FieldOfView.fov_name)
            .join(m.FieldOfView, m.FieldOfView.fov_id == m.MatchingRun.fov_id)
            .join(m.FieldOfView.subject)
            .order_by(m.MatchingRun.matching_run_id)
        )
        if subject is not None:
            query = query.where(m.Subject.subject_name == subject)
        return [_run_record(run, s, f) for run, s, f in db.execute(query).all()]


def tracks_of_run(archive: Archive, matching_run_id: int, *, min_sessions: int = 1) -> list[int]:
    """The ids of a matching run's tracks that span at least ``min_sessions`` sessions."""
    with archive.catalog.reading() as db:
        if not is_catalog_id(matching_run_id) or db.get(m.MatchingRun, int(matching_run_id)) is None:
            runs = list(db.scalars(select(m.MatchingRun.matching_run_id).order_by(m.MatchingRun.matching_run_id)))
            there = ("there are none yet; `segdb track match --subject SUBJECT --fov FOV` makes one" if not runs
                     else f"the runs it holds are {', '.join(map(str, runs[:12]))}{', …' if len(runs) > 12 else ''} "
                          "(`segdb track runs` lists them)")
            raise NotFoundError(f"matching run {matching_run_id} is not in the archive; {there}")
        return list(db.scalars(
            select(m.Track.track_id)
            .where(m.Track.matching_run_id == int(matching_run_id), m.Track.num_sessions >= min_sessions)
            .order_by(m.Track.track_id)
        ))


def track(archive: Archive, track_id: int) -> TrackRecord:
    """A track's ROI in each session it was found in, oldest session first."""
    with archive.catalog.reading() as db:
        row = db.get(m.Track, int(track_id)) if is_catalog_id(track_id) else None
        if row is None:
            count = db.scalar(select(func.count()).select_from(m.Track))
            raise NotFoundError(
                f"track {track_id} is not in the archive ({count} tracks); list them with `segdb track list RUN`"
            )
        members = db.execute(
            select(m.Roi, m.ImagingSession.session_name, m.ImagingSession.session_start, m.ImagingPlane.plane_name)
            .join(m.TrackMember, m.TrackMember.roi_id == m.Roi.roi_id)
            .join(m.ImagingSession, m.ImagingSession.session_id == m.TrackMember.session_id)
            .join(m.Roi.plane)
            .where(m.TrackMember.track_id == row.track_id)
            .order_by(m.ImagingSession.session_start, m.ImagingSession.session_name)
        ).all()
        return TrackRecord(row.track_id, row.matching_run_id, tuple(
            TrackMemberRecord(session, as_utc(start), roi.segmentation_id, plane,
                              roi_key_value(roi.roi_key, roi.roi_key_type), roi.roi_id)
            for roi, session, start, plane in members
        ))


def tracks_of_plane(archive: Archive, segmentation: Any, plane: str, *,
                    matching_run_id: int | None = None) -> tuple[int | None, dict[int | str, int]]:
    """The matching run (``matching_run_id``, else the newest one holding this plane's ROIs) and
    {ROI key: track id} of the plane's ROIs in it; (None, {}) when no run holds them."""
    with archive.catalog.reading() as db:
        seg_id, plane_id, _ = archive.resolve_plane(db, segmentation, plane)
        in_plane = (m.Roi.segmentation_id == seg_id) & (m.Roi.plane_id == plane_id)
        if matching_run_id is None:
            matching_run_id = db.scalar(
                select(func.max(m.TrackMember.matching_run_id))
                .join(m.Roi, m.Roi.roi_id == m.TrackMember.roi_id).where(in_plane)
            )
            if matching_run_id is None:
                return None, {}
        elif db.get(m.MatchingRun, int(matching_run_id)) is None:
            raise NotFoundError(f"matching run {matching_run_id} is not in the archive; `segdb track runs` lists them")
        rows = db.execute(
            select(m.Roi.roi_key, m.Roi.roi_key_type, m.TrackMember.track_id)
            .join(m.TrackMember, m.TrackMember.roi_id == m.Roi.roi_id)
            .where(in_plane, m.TrackMember.matching_run_id == int(matching_run_id))
        ).all()
        return int(matching_run_id), {roi_key_value(key, key_type): track_id for key, key_type, track_id in rows}


def track_extractors(archive: Any, track_id: int) -> list[tuple[TrackMemberRecord, Any]]:
    """Each session's extractor, narrowed to the track's ROI there."""
    record = track(archive, track_id)
    return [
        (member, archive.extractor(member.segmentation_id, plane=member.plane).select_rois([member.roi]))
        for member in record.members
    ]


def track_traces(archive: Any, track_id: int, name: str = "raw") -> TrackTraces:
    """A track's ``name`` trace in every session it spans."""
    pairs = track_extractors(archive, track_id)
    traces = []
    for member, extractor in pairs:
        trace = extractor.get_traces(name=name)
        if trace is None:
            raise InvalidInputError(f"session {member.session} has no {name!r} traces; pick another trace name")
        traces.append(np.asarray(trace)[:, 0])
    return TrackTraces(tuple(member.session for member, _ in pairs), tuple(traces))
