"""A synthetic ``suite2p/`` folder, byte-compatible with what suite2p saves.

:func:`write_suite2p_folder` writes ``stat.npy``, ``F.npy``, ``Fneu.npy``, ``spks.npy``,
``iscell.npy`` and ``ops.npy`` (optionally the second channel) for every plane, so every
reader of suite2p output, roiextractors' included, opens it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import skew

from segdb.archive.values import positive_finite
from segdb.errors import InvalidInputError
from segdb.synthetic.cells import (
    DECAY_TIME_S,
    NEUROPIL_COEFFICIENT,
    SyntheticCell,
    cell_image,
    generate_cells,
    generate_traces,
    summary_images,
    validate_frame_shape,
)


def _neuropil_mask(cell: SyntheticCell, occupied: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """Flat indices of the ring around a cell that suite2p would use for neuropil."""
    height, width = occupied.shape
    center_y, center_x = cell.center
    reach = int(np.ceil(outer)) + 1
    rows = np.arange(max(0, int(center_y) - reach), min(height, int(center_y) + reach + 1))
    cols = np.arange(max(0, int(center_x) - reach), min(width, int(center_x) + reach + 1))
    grid_y, grid_x = np.meshgrid(rows, cols, indexing="ij")
    distance = np.hypot(grid_y - center_y, grid_x - center_x)
    ring = (distance >= inner) & (distance <= outer) & ~occupied[grid_y, grid_x]
    return (grid_y[ring] * width + grid_x[ring]).astype(np.int64)


def _stat_entries(
    cells: Sequence[SyntheticCell],
    frame_shape: tuple[int, int],
    corrected: np.ndarray,
) -> np.ndarray:
    """Build suite2p's stat.npy: an object array of one dict per ROI."""
    coverage = np.zeros(frame_shape, dtype=np.int32)
    for cell in cells:
        np.add.at(coverage, (cell.ypix, cell.xpix), 1)
    occupied = coverage > 0
    npix_all = np.asarray([cell.ypix.size for cell in cells], dtype=np.float64)
    mean_npix = float(npix_all.mean()) if npix_all.size else 1.0
    skews = skew(corrected, axis=1) if corrected.shape[1] > 2 else np.zeros(len(cells))
    stds = corrected.std(axis=1)

    stat = np.empty(len(cells), dtype=object)
    for index, cell in enumerate(cells):
        npix = int(cell.ypix.size)
        # suite2p's compactness is the mean distance to the centre over that of a disk
        # of equal area: 1 for a disk, larger for elongated or ragged shapes.
        distances = np.hypot(cell.ypix - cell.center[0], cell.xpix - cell.center[1])
        disk = np.sqrt(np.arange(npix) / np.pi)
        compact = float(distances.mean() / max(disk.mean(), 1e-6))
        soma_crop = np.ones(npix, dtype=bool)
        stat[index] = {
            "ypix": cell.ypix,
            "xpix": cell.xpix,
            "lam": cell.lam,
            "med": [int(np.median(cell.ypix)), int(np.median(cell.xpix))],
            "footprint": 1.0,
            "mrs": np.float32(compact * 0.9),
            "mrs0": float(np.sqrt(npix / np.pi) * 0.66),
            "compact": compact,
            "solidity": float(np.clip(1.0 + 0.1 * (cell.aspect_ratio - 1.0), 1.0, 2.0)),
            "npix": npix,
            "npix_soma": np.int64(soma_crop.sum()),
            "soma_crop": soma_crop,
            "overlap": coverage[cell.ypix, cell.xpix] > 1,
            "radius": cell.radius,
            "aspect_ratio": cell.aspect_ratio,
            "npix_norm_no_crop": np.float32(npix / mean_npix),
            "npix_norm": np.float32(npix / mean_npix),
            "skew": np.float32(skews[index]),
            "std": np.float32(stds[index]),
            "neuropil_mask": _neuropil_mask(cell, occupied, cell.radius + 2.0, cell.radius * 3.0 + 6.0),
        }
    return stat


def _crop_ranges(rng: np.random.Generator, frame_shape: tuple[int, int]) -> tuple[list[int], list[int]]:
    """Registration crop [start, stop) per axis; deliberately asymmetric, as rigid shifts make it."""
    height, width = frame_shape
    top, bottom = int(rng.integers(1, 4)), int(rng.integers(4, 8))
    left, right = int(rng.integers(4, 8)), int(rng.integers(1, 4))
    return [top, height - bottom], [left, width - right]


def write_suite2p_folder(
    path: str | Path,
    *,
    n_planes: int = 1,
    n_rois: int = 50,
    n_frames: int = 1000,
    frame_shape: tuple[int, int] = (256, 256),
    sampling_frequency: float = 30.0,
    seed: int = 0,
    with_chan2: bool = False,
    with_ops: bool = True,
) -> Path:
    """Write a synthetic suite2p output folder, laid out and typed as suite2p saves it.

    Parameters
    ----------
    path : str or Path
        The ``suite2p`` folder to create (it holds ``plane0/``, ``plane1/``, …).
        Existing plane files in it are overwritten.
    n_planes : int
        Number of planes; each gets its own cells and traces.
    n_rois : int
        ROIs per plane. About 85 % are classified as cells in ``iscell.npy``.
    n_frames : int
        Frames per plane.
    frame_shape : tuple[int, int]
        (height, width) = (``ops["Ly"]``, ``ops["Lx"]``).
    sampling_frequency : float
        Per-plane frame rate in Hz (``ops["fs"]``).
    seed : int
        Seed; the same seed writes the same files.
    with_chan2 : bool
        Also write a second (anatomical) channel: ``F_chan2.npy``, ``Fneu_chan2.npy``,
        ``redcell.npy`` and ``ops["meanImg_chan2"]``.
    with_ops : bool
        Write ``ops.npy``. Without it a reader must be told the frame shape and rate.

    Returns
    -------
    Path
        The ``suite2p`` folder.
    """
    height, width = validate_frame_shape(frame_shape)
    if n_planes < 1 or n_rois < 0 or n_frames < 1:
        raise InvalidInputError(
            f"n_planes must be >= 1, n_rois >= 0 and n_frames >= 1, got n_planes={n_planes}, "
            f"n_rois={n_rois}, n_frames={n_frames}."
        )
    sampling_frequency = positive_finite("sampling_frequency (Hz)", sampling_frequency)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)

    for plane_index in range(n_planes):
        # One generator per plane keyed by (seed, plane): a plane's content does not
        # depend on how many planes were written before it.
        rng = np.random.default_rng([seed, plane_index])
        plane_folder = folder / f"plane{plane_index}"
        plane_folder.mkdir(exist_ok=True)

        yrange, xrange = _crop_ranges(rng, (height, width))
        margin = (yrange[0] + 1, height - yrange[1] + 1, xrange[0] + 1, width - xrange[1] + 1)
        cells = generate_cells(rng, n_rois, (height, width), margin=margin)
        traces = generate_traces(rng, n_rois, n_frames, sampling_frequency)
        corrected = traces["raw"] - NEUROPIL_COEFFICIENT * traces["neuropil"]
        stat = _stat_entries(cells, (height, width), corrected)

        # Classifier output: most ROIs are confident cells, a minority are not.
        probability = np.where(rng.random(n_rois) < 0.85, rng.beta(8, 2, n_rois), rng.beta(2, 8, n_rois))
        iscell = np.column_stack([(probability > 0.5).astype(np.float64), probability])

        np.save(plane_folder / "stat.npy", stat, allow_pickle=True)
        np.save(plane_folder / "F.npy", traces["raw"])
        np.save(plane_folder / "Fneu.npy", traces["neuropil"])
        np.save(plane_folder / "spks.npy", traces["deconvolved"])
        np.save(plane_folder / "iscell.npy", iscell)

        images = summary_images(rng, cells, (height, width), traces)
        ops: dict = {
            "Ly": height,
            "Lx": width,
            "fs": float(sampling_frequency),
            "nframes": n_frames,
            "nplanes": n_planes,
            "nchannels": 2 if with_chan2 else 1,
            "functional_chan": 1,
            "align_by_chan": 1,
            "tau": DECAY_TIME_S,
            "neucoeff": NEUROPIL_COEFFICIENT,
            "diameter": 0,
            "aspect": 1.0,
            "xrange": xrange,
            "yrange": yrange,
            "meanImg": images["mean"],
            "meanImgE": images["enhanced"],
            # suite2p computes Vcorr and max_proj on the registration crop only.
            "Vcorr": images["correlation"][yrange[0] : yrange[1], xrange[0] : xrange[1]].copy(),
            "max_proj": images["max_projection"][yrange[0] : yrange[1], xrange[0] : xrange[1]].copy(),
            "refImg": images["mean"].astype(np.int16),
            "xoff": rng.integers(-2, 3, n_frames).astype(np.int32),
            "yoff": rng.integers(-2, 3, n_frames).astype(np.int32),
            "corrXY": rng.uniform(0.85, 0.95, n_frames).astype(np.float32),
            "badframes": np.zeros(n_frames, dtype=bool),
            "save_path0": str(folder.parent),
            "save_folder": folder.name,
            "save_path": str(plane_folder),
            "ops_path": str(plane_folder / "ops.npy"),
            "reg_file": str(plane_folder / "data.bin"),
            "date_proc": datetime.datetime(2024, 1, 1, 12, 0, 0),
            "synthetic": True,
            "seed": seed,
        }
        if with_chan2:
            chan2_rng = np.random.default_rng([seed, plane_index, 2])
            red = chan2_rng.random(n_rois) < 0.3
            red_probability = np.where(red, chan2_rng.uniform(0.6, 1.0, n_rois), chan2_rng.uniform(0.0, 0.4, n_rois))
            # The anatomical channel is flat in time: a baseline per ROI, brighter for red cells.
            red_level = np.where(red, 500.0, 150.0)[:, None]
            chan2 = red_level + chan2_rng.normal(0.0, 10.0, (n_rois, n_frames))
            chan2_neuropil = 120.0 + chan2_rng.normal(0.0, 5.0, (n_rois, n_frames))
            np.save(plane_folder / "F_chan2.npy", chan2.astype(np.float32))
            np.save(plane_folder / "Fneu_chan2.npy", chan2_neuropil.astype(np.float32))
            np.save(plane_folder / "redcell.npy", np.column_stack([red.astype(np.float64), red_probability]))
            ops["meanImg_chan2"] = (
                images["mean"] * 0.5 + cell_image(cells, (height, width), red_level[:, 0] - 150.0)
            ).astype(np.float32)
            ops["chan2_thres"] = 0.65
        if with_ops:
            np.save(plane_folder / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
        else:
            (plane_folder / "ops.npy").unlink(missing_ok=True)
    return folder
