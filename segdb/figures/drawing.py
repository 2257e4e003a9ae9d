"""Pictures of an archive's contents as image files: ROI outlines over a summary image, a track's montage.

Drawn with matplotlib's object API (no pyplot, no window), so it runs on a server without a display.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segdb.archive import Record, SegmentationRef
from segdb.curation import curation_status
from segdb.errors import InvalidInputError
from segdb.figures.outlines import (
    LABEL_COLOURS,
    UNLABELLED,
    contrast,
    crop_box,
    group_colours,
    label_colours,
    outlines,
    overlay,
    value_colormap,
    value_colours,
)
from segdb.tracking.store import track, tracks_of_plane

#: What ``color_by`` takes besides a property name.
COLOUR_SCHEMES = ("label", "track")
FILE_TYPES = (".png", ".svg", ".pdf")
# Pixels shown around a tracked ROI in each session's crop.
CROP_RADIUS = 24


@dataclass(frozen=True)
class PictureRecord(Record):
    """A picture written: where, of what, and how many ROIs it shows in each colour group."""

    path: str
    segmentation_id: int | None
    plane: str | None
    image: str
    color_by: str
    num_rois: int
    counts: dict[str, int]


def draw_segmentation(
    archive: Any,
    segmentation: SegmentationRef,
    path: str | os.PathLike,
    *,
    plane: str | None = None,
    image: str | None = None,
    color_by: str = "label",
    policy: str = "latest",
    where: Any = None,
    matching_run: int | None = None,
    percentiles: tuple[float, float] = (1.0, 99.5),
) -> PictureRecord:
    """Every ROI's outline over a summary image of one plane, coloured by ``color_by``.

    ``image`` is a summary image's name (default: correlation, else mean, else the first there is).
    ``color_by`` is ``label`` (each ROI's label under ``policy``), ``track`` (a colour per
    track of ``matching_run``, default the newest run holding the plane), or the name of a
    numeric property. ``where`` keeps only the ROIs it selects (the CLI's ``--where``).
    """
    target = _picture_path(path)
    extractor = archive.extractor(segmentation, plane=plane, where=where, curation=policy)
    record = archive.segmentation(extractor.segmentation_id)
    plane_name = extractor.plane_name
    image, picture = _summary_image(extractor, image)
    keys = list(extractor.get_roi_ids())
    frame = picture.shape
    edges = outlines(extractor.get_roi_pixel_masks(), frame)
    colours, legend, colourbar = _colouring(archive, extractor, keys, color_by, policy, matching_run)

    figure, axes = _figure(frame, colourbar is not None)
    axes.imshow(contrast(picture, *percentiles), cmap="gray", interpolation="nearest")
    axes.imshow(overlay(edges, colours, frame), interpolation="nearest")
    axes.set_axis_off()
    axes.set_title(f"{record.subject}/{record.session}/{record.name} · {plane_name} · {image} · "
                   f"{len(keys)} ROIs", fontsize=9)
    if legend:
        from matplotlib.patches import Patch

        axes.legend(handles=[Patch(color=colour, label=f"{label} ({count})") for label, colour, count in legend],
                    loc="upper right", fontsize=7, framealpha=0.8)
    if colourbar is not None:
        _add_colourbar(figure, axes, color_by, colourbar)
    _save(figure, target)
    counts = {label: count for label, _, count in legend} if legend else {}
    return PictureRecord(str(target), extractor.segmentation_id, plane_name, image, color_by, len(keys), counts)


def draw_track(archive: Any, track_id: int, path: str | os.PathLike, *, image: str | None = "mean",
               trace: str = "raw", percentiles: tuple[float, float] = (1.0, 99.5)) -> PictureRecord:
    """One tracked cell across sessions: a crop of each session's image around its outline, and
    its ``trace`` in every session, one above the other."""
    target = _picture_path(path)
    record = track(archive, track_id)
    members = record.members
    if not members:
        raise InvalidInputError(f"track {track_id} has no ROIs left (their segmentations were deleted)")
    panels = []
    for member in members:
        extractor = archive.extractor(member.segmentation_id, plane=member.plane).select_rois([member.roi])
        image, picture = _summary_image(extractor, image)
        [edge] = outlines(extractor.get_roi_pixel_masks(), picture.shape)
        rows, cols = crop_box(edge, picture.shape, CROP_RADIUS)
        values = extractor.get_traces(name=trace)
        if values is None:
            raise InvalidInputError(
                f"session {member.session} (segmentation {member.segmentation_id}) has no {trace!r} traces; "
                f"pick one of {sorted(extractor.get_traces_dict())} with --trace"
            )
        rate = extractor.get_sampling_frequency()
        outline = overlay([edge], [LABEL_COLOURS["unsure"]], picture.shape)[rows, cols]
        panels.append((member, contrast(picture[rows, cols], *percentiles), outline,
                       np.asarray(values, dtype=float)[:, 0], rate))

    from matplotlib.figure import Figure

    columns = min(len(panels), 8)
    crop_rows = -(-len(panels) // columns)
    figure = Figure(figsize=(1.6 * columns + 0.4, 1.7 * crop_rows + 0.45 * len(panels) + 1.2), dpi=120)
    grid = figure.add_gridspec(crop_rows + 1, columns, height_ratios=[1.6] * crop_rows + [0.45 * len(panels) + 0.8])
    for index, (member, crop, outline, _, _) in enumerate(panels):
        axes = figure.add_subplot(grid[index // columns, index % columns])
        axes.imshow(crop, cmap="gray", interpolation="nearest")
        axes.imshow(outline, interpolation="nearest")
        axes.set_title(f"{member.session}\nROI {member.roi}", fontsize=7)
        axes.set_axis_off()
    axes = figure.add_subplot(grid[crop_rows, :])
    for offset, (member, *_, values, rate) in enumerate(panels):
        spread = np.nanpercentile(values, 99) - np.nanpercentile(values, 1) if np.isfinite(values).any() else 1.0
        scaled = (values - np.nanmedian(values)) / (spread or 1.0)
        times = np.arange(values.size) / rate if rate else np.arange(values.size)
        axes.plot(times, scaled - 1.2 * offset, linewidth=0.6, color=group_colours([offset])[0])
        axes.text(times[0] if times.size else 0, -1.2 * offset + 0.35, member.session, fontsize=7)
    axes.set_yticks([])
    axes.set_xlabel("time (s)" if all(panel[-1] for panel in panels) else "sample", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_title(f"track {record.track_id} (matching run {record.matching_run_id}): {trace} trace, "
                   f"{len(panels)} sessions", fontsize=9)
    figure.tight_layout()
    _save(figure, target)
    return PictureRecord(str(target), None, None, image, f"track {record.track_id}", len(panels), {})


def _colouring(archive: Any, extractor: Any, keys: list, color_by: str, policy: str, matching_run: int | None):
    """(colour per ROI, legend rows (label, colour, count) or None, colourbar (range, colormap) or None)."""
    if color_by == "label":
        labels = {status.roi: status.label
                  for status in curation_status(archive, extractor.segmentation_id, policy=policy,
                                                plane=extractor.plane_name)}
        chosen = [labels.get(key) for key in keys]
        counts = Counter(label or "unlabelled" for label in chosen)
        legend = [(label, LABEL_COLOURS.get(label, UNLABELLED), counts[label])
                  for label in (*LABEL_COLOURS, "unlabelled") if counts[label]]
        return label_colours(chosen), legend, None
    if color_by == "track":
        run, tracks = tracks_of_plane(archive, extractor.segmentation_id, extractor.plane_name,
                                      matching_run_id=matching_run)
        groups = [tracks.get(key) for key in keys]
        tracked = sum(group is not None for group in groups)
        legend = [(f"tracked in run {run}" if run else "no matching run holds this plane", (1.0, 1.0, 1.0), tracked),
                  ("not tracked", UNLABELLED, len(keys) - tracked)]
        return group_colours(groups), [row for row in legend if row[2] or row[0].startswith("no")], None
    properties = extractor.get_property_keys()
    if color_by not in properties:
        raise InvalidInputError(
            f"--color-by {color_by!r} is neither {' nor '.join(COLOUR_SCHEMES)} nor a property of segmentation "
            f"{extractor.segmentation_id}; its properties are {', '.join(properties) or 'none'}"
        )
    values = np.asarray(extractor.get_property(color_by, keys))
    if values.ndim != 1 or values.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"--color-by {color_by!r}: that property holds {values.dtype} values of shape {values.shape[1:] or '()'}"
            "; colour by a property holding one number per ROI"
        )
    colours, span = value_colours(values.astype(float))
    return colours, None, span


# The summary image drawn when none is named: the first of these a plane has.
PREFERRED_IMAGES = ("correlation", "mean", "max_projection")


def _summary_image(extractor: Any, name: str | None) -> tuple[str, np.ndarray]:
    """The name and pixels of a plane's summary image ``name`` (None: the first of PREFERRED_IMAGES there is)."""
    images = extractor.get_images_dict()
    if name is None:
        there = [key for key in (*PREFERRED_IMAGES, *sorted(images)) if images.get(key) is not None]
        if not there:
            raise InvalidInputError(
                f"plane {extractor.plane_name!r} of segmentation {extractor.segmentation_id} holds no summary "
                "image to draw the outlines on"
            )
        name = there[0]
    if name not in images or images[name] is None:
        there = ", ".join(sorted(k for k, v in images.items() if v is not None)) or "none"
        raise InvalidInputError(
            f"plane {extractor.plane_name!r} of segmentation {extractor.segmentation_id} has no {name!r} image; "
            f"its summary images are {there} (--image NAME)"
        )
    picture = np.asarray(images[name], dtype=float)
    if picture.ndim != 2:
        raise InvalidInputError(f"the {name!r} image has shape {picture.shape}, not (height, width)")
    return name, picture


def _figure(frame: tuple[int, int], with_colourbar: bool):
    from matplotlib.figure import Figure

    height, width = frame
    inches = 7.0
    scale = inches / max(height, width)
    figure = Figure(figsize=(width * scale + (1.0 if with_colourbar else 0.2), height * scale + 0.5), dpi=150)
    axes = figure.add_axes((0.01, 0.01, 0.86 if with_colourbar else 0.98, 0.92))
    return figure, axes


def _add_colourbar(figure: Any, axes: Any, name: str, span: tuple[float, float]) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(*span), cmap=value_colormap())
    bar = figure.colorbar(mappable, ax=axes, fraction=0.04, pad=0.02)
    bar.set_label(name, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _picture_path(path: str | os.PathLike) -> Path:
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"{target} is a folder; give the picture's file name, e.g. {target / 'rois.png'}")
    if target.suffix.lower() not in FILE_TYPES:
        raise InvalidInputError(
            f"cannot write a picture to {str(target)!r}: give a file name ending in {', '.join(FILE_TYPES)}"
        )
    if not target.parent.is_dir():
        raise InvalidInputError(f"the folder {target.parent} does not exist; create it or write the picture elsewhere")
    return target


def _save(figure: Any, target: Path) -> None:
    """Write the figure beside its final name, then move it there, so a failed write leaves no half picture."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    partial = target.with_name(f".{target.name}.partial{target.suffix}")
    try:
        figure.savefig(partial, format=target.suffix.lstrip(".").lower())
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise InvalidInputError(f"cannot write the picture {target}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)
