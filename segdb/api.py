"""The public Archive: the archive layer plus what the feature packages build on it.

The archive layer knows nothing of the extractors, curation, tracking or masks above
it; this facade joins them, so ``segdb.open`` returns one object that hands out
extractors, curates, tracks and extracts traces. It adds no second way of writing:
each method calls the feature package's public function.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from segdb import archive as core
from segdb import curation
from segdb.archive import query as core_query
from segdb.archive import tables
from segdb.archive.filters import WhereSpec
from segdb.errors import InvalidInputError

if TYPE_CHECKING:
    from segdb.extractors import ArchiveSegmentationExtractor, MultiSegmentationExtractor


class Archive(core.Archive):
    """A segdb archive; open one with :func:`segdb.open`."""

    def extractor(
        self,
        segmentation: core.SegmentationRef,
        *,
        plane: str | None = None,
        where: WhereSpec = None,
        curation: str = "latest",
        mask_type: str = "pixel",
    ) -> ArchiveSegmentationExtractor:
        """One plane of a segmentation as a roiextractors ``SegmentationExtractor``.

        Parameters
        ----------
        segmentation
            Its id, record, or 'subject/session/name'.
        plane
            The plane's name; needed only when the segmentation has several planes.
        where
            Keep only the ROIs matching this filter, evaluated in SQL, e.g.
            ``"snr > 5 and accepted"`` or ``{"kind": "cell", "snr": (">", 5)}``.
        curation
            Consensus policy that 'accepted' means (in ``where``, the ``accepted`` property and
            get_accepted_list): latest, majority, unanimous or curator:NAME.
        mask_type
            ``"pixel"`` (what the archive stores) or ``"image"``: the masks NeuroConv's
            ``add_segmentation_to_nwbfile`` writes for this extractor (see
            :class:`~segdb.extractors.ArchiveSegmentationExtractor`).

        Nothing is read from the array files until data is asked for.
        """
        from segdb.extractors import ArchiveSegmentationExtractor

        self.check_curation_policy(curation)
        handle = self.plane_handle(segmentation, plane)
        if where is None:
            return ArchiveSegmentationExtractor(
                self, handle.segmentation_id, handle, curation=curation, mask_type=mask_type
            )
        cells, background = self.matching_mask_indices(
            handle.segmentation_id, handle.plane_name, where, curation=curation
        )
        return ArchiveSegmentationExtractor(
            self, handle.segmentation_id, handle, cells=cells, background=background, curation=curation,
            mask_type=mask_type,
        )

    def multiplane_extractor(
        self,
        segmentation: core.SegmentationRef,
        *,
        where: WhereSpec = None,
        curation: str = "latest",
        mask_type: str = "pixel",
    ) -> MultiSegmentationExtractor:
        """Every plane of a segmentation, combined as roiextractors' MultiSegmentationExtractor describes.

        NWB keeps one PlaneSegmentation per plane: give NeuroConv the planes' extractors
        (``.segmentations``), each made with ``mask_type`` as :meth:`extractor` makes it.
        """
        from segdb.extractors import MultiSegmentationExtractor

        handles = self.plane_handles(segmentation)
        planes = [
            self.extractor(segmentation, plane=h.plane_name, where=where, curation=curation, mask_type=mask_type)
            for h in handles
        ]
        return MultiSegmentationExtractor(planes, plane_names=[h.plane_name for h in handles])


    def extract_traces(
        self,
        segmentation: core.SegmentationRef,
        movie: Any,
        *,
        plane: str | None = None,
        motion_border: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        names: tuple[str, str] = ("raw", "neuropil"),
        dataset: str | None = None,
        replace: bool = False,
        block_size: int | None = None,
        progress: core.ProgressArg = None,
    ) -> TraceExtraction:
        """Compute ROI and neuropil traces of every ROI of a plane from a motion-corrected movie.

        Neuropil masks are made as AllenSDK makes them (each ROI dilated 13 times, minus every
        ROI, cropped to the motion border's usable area). The traces are stored as new series
        ``names`` (default 'raw' and 'neuropil'), the neuropil masks as a mask set named after
        the neuropil series, in a new chunk file. The movie is read once, in blocks, with
        bounded memory.

        Parameters
        ----------
        movie
            Path of an HDF5 / .npy / TIFF movie, or a (frames, height, width) array, memmap or
            h5py dataset; its frames must be the segmentation's samples.
        motion_border
            [right_shift, left_shift, down_shift, up_shift] in pixels.
        replace
            Point existing series of the same names at the new traces instead of refusing.
        """
        from segdb.geometry import CsrMasks
        from segdb.masks import calculate_traces, create_neuropil_mask, create_roi_mask
        from segdb.masks.movie import open_movie

        if len(names) != 2 or len(set(names)) != 2:
            raise InvalidInputError(f"names must be two different trace names (ROI, neuropil); got {names!r}")
        handle = self.plane_handle(segmentation, plane)
        height, width = handle.frame_shape
        border = [float(v) for v in motion_border]
        if len(border) != 4:
            raise InvalidInputError(
                f"motion_border is {motion_border!r}; give [right_shift, left_shift, down_shift, up_shift]"
            )
        pixel_masks = handle.masks.pixel_masks(range(len(handle.roi_keys)))
        rois = [
            create_roi_mask(width, height, border, pix_list=[(int(c), int(r)) for r, c, _ in mask], label=key)
            for key, mask in zip(handle.roi_keys, pixel_masks)
        ]
        union = np.zeros((height, width), dtype=bool)
        for mask in pixel_masks:
            union[mask[:, 0].astype(np.intp), mask[:, 1].astype(np.intp)] = True
        neuropils = [create_neuropil_mask(roi, border, union, label=f"neuropil for {roi.label}") for roi in rois]
        with open_movie(movie, dataset=dataset) as frames:
            if tuple(frames.shape) != (handle.num_samples, height, width):
                raise InvalidInputError(
                    f"the movie is {tuple(frames.shape)} (frames, height, width) but plane {handle.plane_name!r} of "
                    f"segmentation {handle.segmentation_id} has {handle.num_samples} samples of {height} x {width}; "
                    "pass the motion-corrected movie this segmentation was made from"
                )
            show = progress is None or progress is True
            traces, exclusions = calculate_traces(frames, rois + neuropils, block_size, progress=show)
        n = len(rois)
        neuropil_csr = CsrMasks.from_pixel_masks(
            [_plane_pixels(neuropil.get_mask_plane()) for neuropil in neuropils]
        )
        self.add_trace_series(
            handle.segmentation_id,
            handle.plane_name,
            {names[0]: traces[:n].T.astype(np.float32), names[1]: traces[n:].T.astype(np.float32)},
            mask_set=(names[1], neuropil_csr),
            parameters={"motion_border": border, "method": "allensdk roi_masks", "trace_names": list(names)},
            replace=replace,
            progress=progress,
        )
        return TraceExtraction(
            segmentation_id=handle.segmentation_id,
            plane=handle.plane_name,
            names=tuple(names),
            num_rois=n,
            num_samples=handle.num_samples,
            excluded=tuple((str(e["roi_id"]), e["exclusion_label_name"]) for e in exclusions),
        )


    # -- curation ----------------------------------------------------------------------------

    def curate(self, segmentation: core.SegmentationRef, rois: Any, label: str, **options: Any) -> list:
        """Label ROIs accepted / rejected / unsure; see :func:`segdb.curation.curate`."""
        return curation.curate(self, segmentation, rois, label, **options)

    def undo_curation(self, segmentation: core.SegmentationRef, *, curator: str | None = None) -> list:
        """Take back your last labelling (by appending the labels you had before)."""
        return curation.undo_curation(self, segmentation, curator=curator)

    def curation_status(self, segmentation: core.SegmentationRef, *, policy: str = "latest",
                        plane: str | None = None, since_event: int | None = None, with_tags: bool = False) -> list:
        """Each ROI's consensus label under ``policy``, its revision and every curator's label (with
        ``since_event``, of the ROIs labelled after that event only; with ``with_tags``, its tags)."""
        return curation.curation_status(self, segmentation, policy=policy, plane=plane, since_event=since_event,
                                        with_tags=with_tags)

    def curation_history(self, segmentation: core.SegmentationRef, roi: int | str, *,
                         plane: str | None = None) -> list:
        """Every labelling event of one ROI, oldest first."""
        return curation.curation_history(self, segmentation, roi, plane=plane)

    def tag_rois(self, segmentation: core.SegmentationRef, rois: Any, tag: str, *, plane: str | None = None,
                 note: str | None = None, curator: str | None = None, remove: bool = False) -> list:
        """Put a free tag ("L2/3", "interneuron") on ROIs, or take yours off with ``remove``; labels and
        consensus are untouched. See :func:`segdb.curation.tag_rois`."""
        return curation.tag_rois(self, segmentation, rois, tag, plane=plane, note=note, curator=curator,
                                 remove=remove)

    def roi_tags(self, segmentation: core.SegmentationRef, *, plane: str | None = None) -> list:
        """The tags on each ROI that has any, and who put each on; see :func:`segdb.curation.roi_tags`."""
        return curation.roi_tags(self, segmentation, plane=plane)

    def freeze_curation(self, segmentation: core.SegmentationRef, *, reason: str = "") -> None:
        """Close a segmentation's curation; later labels are refused."""
        curation.freeze_curation(self, segmentation, reason=reason)


    # -- sharing as NWB ----------------------------------------------------------------------

    def export_nwb(self, segmentation: core.SegmentationRef, path: str | os.PathLike, **options: Any):
        """Write a segmentation (every plane, its traces, images and curation state) to one NWB file.

        Options: accepted_only, policy, image_masks, dandi, overwrite, progress; see
        :func:`segdb.export.export_nwb`.
        """
        from segdb.export import export_nwb

        return export_nwb(self, segmentation, path, **options)

    def export_nwb_files(self, folder: str | os.PathLike, **options: Any) -> list:
        """Export a segmentation or every segmentation of a subject into a folder (DANDI's layout with dandi=True);
        see :func:`segdb.export.export_nwb_files`."""
        from segdb.export import export_nwb_files

        return export_nwb_files(self, folder, **options)

    # -- cross-session queries and tracking --------------------------------------------------

    def query(self, **filters: Any) -> QueryResult:
        """ROIs across sessions matching every filter, in SQL (see :class:`segdb.archive.query.RoiQuery`).

        Filters: subject, session, date_from, date_to, field_of_view, plane, segmentation, kind,
        where, accepted (with curation=policy), near=(x_um, y_um, radius_um), box, limit.
        The filters are checked now; the answer is read when asked for: ``len()`` counts in SQL, iterating
        gives records, ``.to_pandas()`` / ``.to_arrow()`` read it straight into columns.
        """
        return QueryResult(self, self.scoped_query(**filters))

    def register_field_of_view(self, subject: str, field_of_view: str, **options: Any) -> list:
        """Place every session's plane of a field of view in the first session's frame (mean images)."""
        from segdb.tracking import store

        return store.register_field_of_view(self, subject, field_of_view, **options)

    def match_field_of_view(self, subject: str, field_of_view: str, **parameters: Any):
        """Pair ROIs across the sessions of a field of view into tracks; stored as a new matching run."""
        from segdb.tracking import store

        return store.match_field_of_view(self, subject, field_of_view, **parameters)

    def matching_runs(self, subject: str | None = None) -> list:
        from segdb.tracking import store

        return store.matching_runs(self, subject)

    def tracks(self, matching_run_id: int, *, min_sessions: int = 1) -> list[int]:
        from segdb.tracking import store

        return store.tracks_of_run(self, matching_run_id, min_sessions=min_sessions)

    def track(self, track_id: int):
        """A track's ROI in each session it was found in."""
        from segdb.tracking import store

        return store.track(self, track_id)

    def tracks_of_plane(self, segmentation: core.SegmentationRef, plane: str, *,
                        matching_run_id: int | None = None) -> tuple[int | None, dict]:
        """(matching run, {ROI key: track id}) of a plane's ROIs in ``matching_run_id``, else in the newest
        run holding them; (None, {}) when no run does."""
        from segdb.tracking import store

        return store.tracks_of_plane(self, segmentation, plane, matching_run_id=matching_run_id)

    def track_extractors(self, track_id: int) -> list:
        """(member, extractor of that one ROI) for each session of a track."""
        from segdb.tracking import store

        return store.track_extractors(self, track_id)

    def curate_track(self, track_id: int, label: str, *, note: str | None = None, curator: str | None = None,
                     expected_revision: Mapping[int, int] | None = None) -> list:
        """Label a tracked cell in every session it was found in: one event per member ROI, one batch
        (one undo takes it all back). ``expected_revision`` maps a member's ``roi_id`` to the revision
        seen; if any was labelled since, nothing is written (ConflictError)."""
        members = self.track(track_id).members
        if not members:
            raise InvalidInputError(f"track {track_id} has no ROIs left (their segmentations were deleted)")
        expected = None if expected_revision is None else [
            {member.roi: int(_member_revision(expected_revision, member, track_id))} for member in members
        ]
        return curation.curate_across(
            self, [(member.segmentation_id, member.plane, [member.roi], label) for member in members],
            note=note, curator=curator, expected_revision=expected,
        )

    def track_traces(self, track_id: int, name: str = "raw"):
        """A track's traces across sessions (per session, and NaN-padded into one array)."""
        from segdb.tracking import store

        return store.track_traces(self, track_id, name)


def _member_revision(expected: Mapping[int, int], member: Any, track_id: int) -> int:
    try:
        return expected[member.roi_id]
    except KeyError:
        raise InvalidInputError(
            f"expected_revision has no revision for ROI id {member.roi_id} (session {member.session}) of "
            f"track {track_id}; give one for every member"
        ) from None


class QueryResult(Sequence):
    """The ROIs a query found: a lazy handle that fetches only what is asked of it.

    The query's names, properties and curation policy are checked (and its warnings given) when it is
    made; nothing else is read until asked. ``len()`` and :meth:`count` count in SQL; iterating,
    indexing or comparing builds the frozen records (:class:`~segdb.archive.query.RoiHit`) once, for
    answers small enough to want them one by one; :meth:`columns`, :meth:`to_pandas` and
    :meth:`to_arrow` read the answer straight into columns, without any per-ROI record.
    """

    #: The columns of :meth:`to_pandas` and :meth:`to_arrow` by default: every field of a RoiHit, its
    #: coordinate pairs split in two (``centroid_px`` as centroid_row, centroid_col; ``fov_um`` as
    #: fov_x_um, fov_y_um).
    FIELDS = core_query.FIELD_COLUMNS

    def __init__(self, archive: Archive, scoped: core_query.ScopedQuery):
        self._archive = archive
        self._scoped = scoped
        self._records: list | None = None
        self._count: int | None = None

    def count(self) -> int:  # type: ignore[override]  # Sequence.count(value) means something else
        """How many ROIs the query finds, counted in SQL (no row is fetched)."""
        if self._records is not None:
            return len(self._records)
        if self._count is None:
            self._count = self._archive.scoped_count(self._scoped)
        return self._count

    def records(self) -> list:
        """Every ROI found as a frozen RoiHit, in session order (fetched on first use, then kept)."""
        if self._records is None:
            self._records = self._archive.scoped_hits(self._scoped)
        return self._records

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        return iter(self.records())

    def __getitem__(self, index):
        return self.records()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (QueryResult, list, tuple)):
            return self.records() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<QueryResult of {self.count()} ROI(s); .to_pandas() for a table>"

    def columns(self, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The ROIs found as one numpy array per column, read in one SQL statement.

        Parameters
        ----------
        columns
            Names among :attr:`FIELDS`, ``mask_index`` and the ROIs' properties (e.g. ``["key", "session",
            "snr"]``); default every field. Numeric properties are float64 with NaN where a ROI has no value,
            or their own dtype (int, bool) when every ROI found has one; text properties are str objects.
            A name that is none of these is an error listing what there is.
        """
        return self._archive.scoped_columns(self._scoped, columns)

    def to_pandas(self, columns: Sequence[str] | None = None):
        """A pandas DataFrame, one row per ROI, made from :meth:`columns` (needs pandas).

        session_start is a UTC datetime column; an empty answer is an empty frame with the same columns.
        """
        return tables.pandas_frame(self.columns(columns))

    def to_arrow(self, columns: Sequence[str] | None = None):
        """A pyarrow Table, one row per ROI, made from :meth:`columns` (needs pyarrow: pip install 'segdb[arrow]').

        Missing values (a ROI without the property, a session without a start) are nulls; ROI keys that
        are ints in some sessions and text in others are text.
        """
        return tables.arrow_table(self.columns(columns))

    def extractors(self) -> dict[tuple[int, str], ArchiveSegmentationExtractor]:
        """One extractor per (segmentation, plane), narrowed to the ROIs found there."""
        found = self.columns(["segmentation_id", "plane", "key"])
        keys: dict[tuple[int, str], list] = {}
        for seg_id, plane, key in zip(found["segmentation_id"].tolist(), found["plane"].tolist(),
                                      found["key"].tolist()):
            keys.setdefault((seg_id, plane), []).append(key)
        return {
            (seg_id, plane): self._archive.extractor(seg_id, plane=plane).select_rois(rois)
            for (seg_id, plane), rois in keys.items()
        }


@dataclass(frozen=True)
class TraceExtraction:
    """What extract_traces stored, and which masks gave NaN traces and why."""

    segmentation_id: int
    plane: str
    names: tuple[str, str]
    num_rois: int
    num_samples: int
    excluded: tuple[tuple[str, str], ...]


def _plane_pixels(plane: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(plane)
    return np.column_stack([rows, cols, np.ones(rows.size)]).astype(np.float64)
