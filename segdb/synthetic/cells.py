"""Synthetic cells and traces that look like a calcium-imaging pipeline's output.

Cells are elliptical blobs with Gaussian weights placed so that they rarely overlap;
traces are a baseline plus exponentially decaying calcium transients plus noise, with a
slower neuropil signal mixed in the way it contaminates real somata.
:func:`synthetic_segmentation` returns them as an in-memory roiextractors
``NumpySegmentationExtractor`` for tests that need no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from roiextractors import NumpySegmentationExtractor
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from scipy.signal import lfilter

from segdb.archive.values import positive_finite
from segdb.conventions import DEFAULT_CHANNEL_NAME
from segdb.errors import InvalidInputError

# suite2p subtracts 0.7 x neuropil by default (ops["neucoeff"]); the synthetic raw
# trace carries that much neuropil so that the usual correction recovers the cell.
NEUROPIL_COEFFICIENT = 0.7
# GCaMP6s-like decay; also written to ops["tau"] as suite2p does.
DECAY_TIME_S = 1.0


@dataclass(frozen=True)
class SyntheticCell:
    """One synthetic ROI: its pixels and the shape statistics suite2p would report.

    Attributes
    ----------
    ypix, xpix : numpy.ndarray
        Row and column of every pixel (int64), as suite2p stores them.
    lam : numpy.ndarray
        Pixel weights (float32), largest at the centre.
    center : tuple[float, float]
        Centre (row, col) the blob was drawn around.
    radius : float
        Geometric mean of the two semi-axes, in pixels.
    aspect_ratio : float
        Major over minor semi-axis (>= 1).
    """

    ypix: np.ndarray
    xpix: np.ndarray
    lam: np.ndarray
    center: tuple[float, float]
    radius: float
    aspect_ratio: float


def validate_frame_shape(frame_shape: Sequence[int]) -> tuple[int, int]:
    if len(frame_shape) != 2 or any(int(size) < 16 for size in frame_shape):
        raise InvalidInputError(
            f"frame_shape must be (height, width) with both at least 16 pixels, got {tuple(frame_shape)}; "
            "pass e.g. frame_shape=(256, 256)."
        )
    return int(frame_shape[0]), int(frame_shape[1])


def generate_cells(
    rng: np.random.Generator,
    n_rois: int,
    frame_shape: tuple[int, int],
    *,
    margin: tuple[int, int, int, int] = (0, 0, 0, 0),
    npix_range: tuple[int, int] = (40, 150),
) -> list[SyntheticCell]:
    """Draw ``n_rois`` elliptical cells that mostly do not overlap.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same cells.
    n_rois : int
        Number of cells.
    frame_shape : tuple[int, int]
        (height, width) of the field of view.
    margin : tuple[int, int, int, int]
        Pixels to keep free at (top, bottom, left, right): suite2p detects cells only
        inside the registration crop (``yrange``/``xrange``).
    npix_range : tuple[int, int]
        Target range of pixels per cell.

    Returns
    -------
    list[SyntheticCell]
        The cells, in the order they were placed.
    """
    height, width = frame_shape
    top, bottom, left, right = margin
    target_npix = rng.uniform(*npix_range, size=n_rois)
    aspect = rng.uniform(1.0, 1.6, size=n_rois)
    # Area of an ellipse is pi*a*b; with a = r*sqrt(aspect), b = r/sqrt(aspect) it is pi*r^2.
    radii = np.sqrt(target_npix / np.pi)
    angles = rng.uniform(0.0, np.pi, size=n_rois)

    # Greedy rejection sampling keeps centres about one cell diameter apart; after a
    # bounded number of tries the spacing rule is relaxed so a crowded field still fills.
    centers: list[tuple[float, float]] = []
    placed_radii: list[float] = []
    for index in range(n_rois):
        reach = radii[index] * np.sqrt(aspect[index])
        low_y, high_y = top + reach, height - bottom - reach - 1
        low_x, high_x = left + reach, width - right - reach - 1
        if high_y <= low_y or high_x <= low_x:
            raise InvalidInputError(
                f"frame_shape {frame_shape} is too small for cells of up to {npix_range[1]} pixels; "
                "pass a larger frame_shape or fewer/smaller ROIs."
            )
        spacing = 0.95
        for attempt in range(200):
            candidate_y = rng.uniform(low_y, high_y)
            candidate_x = rng.uniform(low_x, high_x)
            if not centers:
                break
            distances = np.hypot(
                np.asarray([c[0] for c in centers]) - candidate_y,
                np.asarray([c[1] for c in centers]) - candidate_x,
            )
            if np.all(distances >= spacing * (np.asarray(placed_radii) + reach)):
                break
            if attempt % 50 == 49:
                spacing *= 0.7
        centers.append((candidate_y, candidate_x))
        placed_radii.append(reach)

    cells = []
    for index, (center_y, center_x) in enumerate(centers):
        semi_major = radii[index] * np.sqrt(aspect[index])
        semi_minor = radii[index] / np.sqrt(aspect[index])
        extent = int(np.ceil(semi_major)) + 1
        rows = np.arange(max(0, int(center_y) - extent), min(height, int(center_y) + extent + 2))
        cols = np.arange(max(0, int(center_x) - extent), min(width, int(center_x) + extent + 2))
        grid_y, grid_x = np.meshgrid(rows, cols, indexing="ij")
        dy, dx = grid_y - center_y, grid_x - center_x
        cos, sin = np.cos(angles[index]), np.sin(angles[index])
        along = (dy * cos + dx * sin) / semi_major
        across = (-dy * sin + dx * cos) / semi_minor
        distance_sq = along**2 + across**2
        inside = distance_sq <= 1.0
        lam = np.exp(-distance_sq[inside] / (2 * 0.45**2))
        lam = lam * rng.uniform(0.85, 1.15, size=lam.size)
        # suite2p's lam sums to roughly the number of pixels' worth of signal it saw;
        # scaling by an arbitrary per-cell brightness keeps weights unnormalised as there.
        lam = (lam / lam.sum() * rng.uniform(5.0, 15.0)).astype(np.float32)
        cells.append(
            SyntheticCell(
                ypix=grid_y[inside].astype(np.int64),
                xpix=grid_x[inside].astype(np.int64),
                lam=lam,
                center=(float(center_y), float(center_x)),
                radius=float(radii[index]),
                aspect_ratio=float(aspect[index]),
            )
        )
    return cells


def generate_traces(
    rng: np.random.Generator,
    n_rois: int,
    n_frames: int,
    sampling_frequency: float,
) -> dict[str, np.ndarray]:
    """Draw raw, neuropil, deconvolved and dF/F traces shaped (n_rois, n_frames).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_rois, n_frames : int
        Output shape.
    sampling_frequency : float
        Frames per second; sets the event rate and the decay per frame.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``raw`` (F), ``neuropil`` (Fneu), ``deconvolved`` (spks), ``dff`` and
        ``denoised`` (noise-free calcium), all float32 and (n_rois, n_frames) as suite2p
        writes them.
    """
    sampling_frequency = positive_finite("sampling_frequency (Hz)", sampling_frequency)
    event_rate_hz = rng.uniform(0.05, 0.5, size=(n_rois, 1))
    probability = np.clip(event_rate_hz / sampling_frequency, 0.0, 1.0)
    events = rng.random((n_rois, n_frames)) < probability
    amplitudes = rng.lognormal(mean=-0.7, sigma=0.5, size=(n_rois, n_frames))
    spikes = np.where(events, amplitudes, 0.0)

    # An AR(1) filter is the exponential kernel of a calcium transient, applied in one
    # vectorised call instead of a convolution per ROI.
    decay = np.exp(-1.0 / (DECAY_TIME_S * sampling_frequency))
    calcium = lfilter([1.0], [1.0, -decay], spikes, axis=1)

    # Neuropil: a field-wide slow fluctuation plus a slower local one per ROI.
    slow_sigma = max(1.0, 5.0 * sampling_frequency)
    shared = gaussian_filter1d(rng.standard_normal(n_frames), slow_sigma) * np.sqrt(slow_sigma)
    local = gaussian_filter1d(rng.standard_normal((n_rois, n_frames)), slow_sigma, axis=1) * np.sqrt(slow_sigma)
    neuropil_baseline = rng.uniform(150.0, 300.0, size=(n_rois, 1))
    neuropil = neuropil_baseline * (1.0 + 0.05 * shared[None, :] + 0.03 * local)
    neuropil += rng.normal(0.0, 1.0, size=neuropil.shape)

    cell_baseline = rng.uniform(150.0, 600.0, size=(n_rois, 1))
    noise_level = rng.uniform(0.02, 0.06, size=(n_rois, 1)) * cell_baseline
    cell = cell_baseline * (1.0 + calcium)
    raw = cell + NEUROPIL_COEFFICIENT * neuropil + rng.normal(0.0, 1.0, size=cell.shape) * noise_level

    return {
        "raw": raw.astype(np.float32),
        "neuropil": neuropil.astype(np.float32),
        "deconvolved": (spikes * cell_baseline).astype(np.float32),
        "dff": (calcium + rng.normal(0.0, 1.0, size=cell.shape) * noise_level / cell_baseline).astype(np.float32),
        "denoised": calcium.astype(np.float32),
    }


def cell_image(cells: Sequence[SyntheticCell], frame_shape: tuple[int, int], brightness: np.ndarray) -> np.ndarray:
    image = np.zeros(frame_shape, dtype=np.float64)
    for cell, level in zip(cells, brightness, strict=True):
        image[cell.ypix, cell.xpix] += level * cell.lam / cell.lam.max()
    return image


def summary_images(
    rng: np.random.Generator,
    cells: Sequence[SyntheticCell],
    frame_shape: tuple[int, int],
    traces: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    height, width = frame_shape
    rows, cols = np.mgrid[0:height, 0:width]
    # Two-photon fields are dimmer at the edges (vignetting) and have a textured neuropil.
    vignette = 1.0 - 0.35 * (((rows - height / 2) / height) ** 2 + ((cols - width / 2) / width) ** 2) * 4
    texture = gaussian_filter(rng.standard_normal(frame_shape), 2.0) * 40.0
    background = 200.0 * vignette + texture
    mean_level = traces["raw"].mean(axis=1) - NEUROPIL_COEFFICIENT * traces["neuropil"].mean(axis=1)
    peak_level = traces["raw"].max(axis=1) - NEUROPIL_COEFFICIENT * traces["neuropil"].mean(axis=1)
    mean_image = background + cell_image(cells, frame_shape, mean_level) + rng.normal(0, 2.0, frame_shape)
    max_image = background * 1.3 + cell_image(cells, frame_shape, peak_level) + rng.normal(0, 4.0, frame_shape)
    correlation = np.clip(
        0.1
        + 0.05 * gaussian_filter(rng.standard_normal(frame_shape), 1.0)
        + cell_image(cells, frame_shape, np.full(len(cells), 0.7)),
        0.0,
        1.0,
    )
    enhanced = mean_image - gaussian_filter(mean_image, 8.0)
    enhanced = (enhanced - enhanced.min()) / max(float(np.ptp(enhanced)), 1e-12)
    return {
        "mean": mean_image.astype(np.float32),
        "enhanced": enhanced.astype(np.float32),
        "max_projection": max_image.astype(np.float32),
        "correlation": correlation.astype(np.float32),
    }



def synthetic_segmentation(
    *,
    n_rois: int = 10,
    n_frames: int = 100,
    frame_shape: tuple[int, int] = (64, 72),
    sampling_frequency: float = 30.0,
    seed: int = 0,
    roi_ids: Literal["int", "str"] | Sequence[int | str] = "int",
) -> NumpySegmentationExtractor:
    """Build an in-memory segmentation with cell-like masks and traces.

    Parameters
    ----------
    n_rois, n_frames : int
        Number of ROIs and samples.
    frame_shape : tuple[int, int]
        (height, width); the default is deliberately not square so a swapped axis shows.
    sampling_frequency : float
        Rate in Hz.
    seed : int
        Seed; the same seed gives the same extractor.
    roi_ids : "int", "str" or sequence
        ``"int"`` gives 0..n-1, ``"str"`` gives ``"roi_000"``, … (to exercise keys that
        round-trip as strings); a sequence is used as given.

    Returns
    -------
    roiextractors.NumpySegmentationExtractor
        With ``raw``, ``dff``, ``neuropil`` and ``deconvolved`` traces (num_samples,
        num_rois), ``mean`` and ``correlation`` images, and an ``accepted`` bool property.
    """
    height, width = validate_frame_shape(frame_shape)
    rng = np.random.default_rng(seed)
    if isinstance(roi_ids, str):
        if roi_ids == "int":
            keys: list[int | str] = list(range(n_rois))
        elif roi_ids == "str":
            keys = [f"roi_{index:03d}" for index in range(n_rois)]
        else:
            raise InvalidInputError(f"roi_ids must be 'int', 'str' or a sequence of keys, got {roi_ids!r}.")
    else:
        keys = list(roi_ids)
        if len(keys) != n_rois or len(set(keys)) != n_rois:
            raise InvalidInputError(
                f"roi_ids must hold {n_rois} distinct keys (one per ROI), got {len(keys)} ({len(set(keys))} distinct)."
            )
    # roiextractors treats any id whose text starts with "background" as a background
    # component, so such a key would silently vanish from the cell ROIs.
    clashing = [key for key in keys if str(key).startswith("background")]
    if clashing:
        raise InvalidInputError(
            f"ROI keys {clashing[:3]} start with 'background', which roiextractors reserves for "
            "background components; choose other keys."
        )

    cells = generate_cells(rng, n_rois, (height, width), npix_range=(20, 60))
    masks = np.zeros((height, width, n_rois), dtype=np.float32)
    for index, cell in enumerate(cells):
        masks[cell.ypix, cell.xpix, index] = cell.lam / cell.lam.max()
    traces = generate_traces(rng, n_rois, n_frames, sampling_frequency)
    images = summary_images(rng, cells, (height, width), traces)
    accepted = rng.random(n_rois) < 0.8

    extractor = NumpySegmentationExtractor(
        image_masks=masks,
        raw=np.ascontiguousarray(traces["raw"].T),
        dff=np.ascontiguousarray(traces["dff"].T),
        neuropil=np.ascontiguousarray(traces["neuropil"].T),
        deconvolved=np.ascontiguousarray(traces["deconvolved"].T),
        mean_image=images["mean"],
        correlation_image=images["correlation"],
        roi_ids=keys,
        sampling_frequency=float(sampling_frequency),
        channel_names=[DEFAULT_CHANNEL_NAME],
        # Without movie_dims roiextractors reports the mask stack's 3-D shape as the frame shape.
        movie_dims=(height, width),
        accepted_list=[key for key, keep in zip(keys, accepted, strict=True) if keep],
    )
    extractor.set_property("accepted", accepted, keys, description="Whether the pipeline accepted the ROI as a cell")
    return extractor




__all__ = [
    "DECAY_TIME_S",
    "NEUROPIL_COEFFICIENT",
    "SyntheticCell",
    "cell_image",
    "generate_cells",
    "generate_traces",
    "summary_images",
    "synthetic_segmentation",
    "validate_frame_shape",
]
