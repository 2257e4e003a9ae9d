"""From a path on disk to archived segmentations: what `segdb ingest FORMAT PATH` runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segdb.archive import Archive, SegmentationRecord
from segdb.errors import InvalidInputError, NotFoundError

FORMATS = ("suite2p", "caiman", "nwb")


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
    **ingest_options: Any,
) -> list[SegmentationRecord]:
    """Ingest a pipeline's output folder or file; returns one record per segmentation made.

    A suite2p folder gives one segmentation per channel holding every plane
    (named ``suite2p`` and ``suite2p-chan2`` unless ``name`` is given); CaImAn and
    NWB files give one single-plane segmentation. ``plane_segmentation`` and
    ``pixel_mask_order`` are the NWB reader's choices (see :func:`segdb.ingest.nwb_extractor`).
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{fmt} input {str(path)!r} does not exist; check the path")
    if fmt == "suite2p":
        from segdb.ingest.suite2p import find_suite2p_planes, suite2p_extractor

        by_channel: dict[str, dict[str, Any]] = {}
        for found in find_suite2p_planes(path):
            extractor = suite2p_extractor(
                found,
                frame_shape=None if frame_shape is None else (int(frame_shape[0]), int(frame_shape[1])),
                sampling_frequency=sampling_frequency,
            )
            by_channel.setdefault(found.channel_name, {})[found.plane_name] = extractor
        records = []
        for channel, planes in by_channel.items():
            base = name or "suite2p"
            seg_name = base if channel == "chan1" else f"{base}-{channel}"
            records.append(
                archive.ingest(
                    planes, subject=subject, session=session, name=seg_name, source_format="suite2p",
                    source_path=str(path.resolve()), **ingest_options,
                )
            )
        return records
    if fmt == "caiman":
        from segdb.ingest.caiman import caiman_extractor

        extractor = caiman_extractor(path)
    elif fmt == "nwb":
        from segdb.ingest.nwb import nwb_extractor

        extractor = nwb_extractor(
            path,
            plane_segmentation_name=plane_segmentation,
            frame_shape=None if frame_shape is None else (int(frame_shape[0]), int(frame_shape[1])),
            pixel_mask_order=pixel_mask_order,
        )
    else:
        raise InvalidInputError(f"unknown input format {fmt!r}; segdb ingests {', '.join(FORMATS)}")
    return [
        archive.ingest(
            extractor, subject=subject, session=session, plane=plane, name=name, source_format=fmt,
            source_path=str(path.resolve()), **ingest_options,
        )
    ]
