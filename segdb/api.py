"""The public Archive: the archive core plus the extractors it hands out.

The archive layer knows nothing of the extractor classes above it; this module
joins them, so ``segdb.open`` returns an archive that can hand out extractors.
"""

from __future__ import annotations

import os

from segdb.archive import core
from segdb.archive.filters import WhereSpec
from segdb.errors import InvalidInputError, NotFoundError
from segdb.extractors.archive_extractor import ArchiveSegmentationExtractor
from segdb.extractors.multiplane import MultiSegmentationExtractor


class Archive(core.Archive):
    """A segdb archive; open one with :func:`segdb.open`."""

    def extractor(
        self,
        segmentation: core.SegmentationRef,
        *,
        plane: str | None = None,
        where: WhereSpec = None,
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

        Nothing is read from the array files until data is asked for.
        """
        handles = self.plane_handles(segmentation)
        if plane is None:
            if len(handles) > 1:
                raise InvalidInputError(
                    f"segmentation {handles[0].segmentation_id} has planes {[h.plane_name for h in handles]}; pass "
                    "plane=NAME, or use archive.multiplane_extractor for all of them"
                )
            handle = handles[0]
        else:
            matching = [h for h in handles if h.plane_name == plane]
            if not matching:
                raise NotFoundError(
                    f"plane {plane!r} is not part of segmentation {handles[0].segmentation_id}; its planes are "
                    f"{[h.plane_name for h in handles]}"
                )
            handle = matching[0]
        extractor = ArchiveSegmentationExtractor(self, handle.segmentation_id, handle)
        if where is None:
            return extractor
        cells, background = self.matching_mask_indices(handle.segmentation_id, handle.plane_name, where)
        return ArchiveSegmentationExtractor(self, handle.segmentation_id, handle, cells=cells, background=background)

    def multiplane_extractor(
        self, segmentation: core.SegmentationRef, *, where: WhereSpec = None
    ) -> MultiSegmentationExtractor:
        """Every plane of a segmentation, combined as roiextractors' MultiSegmentationExtractor describes."""
        handles = self.plane_handles(segmentation)
        planes = [self.extractor(segmentation, plane=h.plane_name, where=where) for h in handles]
        return MultiSegmentationExtractor(planes, plane_names=[h.plane_name for h in handles])


_REOPENED: dict[tuple[int, tuple[str, str]], Archive] = {}


def reopen(spec: tuple[str, str]) -> Archive:
    """The archive a pickled extractor came from, opened once per process."""
    key = (os.getpid(), tuple(spec))
    if key not in _REOPENED:
        url, storage_root = spec
        _REOPENED[key] = Archive.open(url, storage_root=storage_root, create=False)
    return _REOPENED[key]


