"""A synthetic CaImAn results file, laid out as ``CNMF.save`` writes it."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from segdb.synthetic.cells import generate_cells, generate_traces


def write_synthetic_caiman_hdf5(
    path: str | Path,
    *,
    n_rois: int = 8,
    n_frames: int = 100,
    frame_shape: tuple[int, int] = (48, 56),
    n_background: int = 1,
    sampling_frequency: float = 30.0,
    seed: int = 0,
    evaluated: bool = True,
    with_dff: bool = True,
) -> Path:
    """Write a small CaImAn results file laid out as ``CNMF.save`` writes it.

    Parameters
    ----------
    path : str or Path
        File to write (overwritten).
    n_rois, n_frames : int
        Components and frames.
    frame_shape : tuple[int, int]
        (height, width) = ``params/data/dims``.
    n_background : int
        Background components (columns of ``b``, rows of ``f``).
    sampling_frequency : float
        ``params/data/fr`` in Hz.
    seed : int
        Seed; the same seed writes the same file.
    evaluated : bool
        Write ``idx_components``/``idx_components_bad`` and the quality fields (about a
        quarter of the components rejected); without it they are ``"NoneType"``, as
        before ``estimates.evaluate_components`` runs.
    with_dff : bool
        Write ``F_dff``; without it ``"NoneType"``, as before ``detrend_df_f`` runs.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    height, width = (int(size) for size in frame_shape)
    rng = np.random.default_rng(seed)
    cells = generate_cells(rng, n_rois, (height, width), npix_range=(20, 60))
    traces = generate_traces(rng, n_rois, n_frames, sampling_frequency)
    n_pixels = height * width

    # A: one column per component over Fortran-flattened pixels, unit L2 norm as CaImAn
    # normalises its spatial footprints. Built column by column in CSC form directly.
    data, indices, indptr = [], [], [0]
    for cell in cells:
        flat = cell.ypix + cell.xpix * height
        order = np.argsort(flat)
        weights = cell.lam[order].astype(np.float64)
        data.append(weights / np.linalg.norm(weights))
        indices.append(flat[order].astype(np.int32))
        indptr.append(indptr[-1] + flat.size)
    footprints = {
        "data": np.concatenate(data) if data else np.zeros(0),
        "indices": np.concatenate(indices) if indices else np.zeros(0, dtype=np.int32),
        "indptr": np.asarray(indptr, dtype=np.int32),
        "shape": np.asarray([n_pixels, n_rois], dtype=np.int64),
    }
    scale = np.asarray([200.0 * float(np.linalg.norm(cell.lam)) for cell in cells]).reshape(-1, 1)
    denoised = traces["denoised"].astype(np.float64) * (scale if n_rois else 1.0)
    residual = rng.normal(0.0, 2.0, size=denoised.shape)
    rows, cols = np.mgrid[0:height, 0:width]
    background_images = [
        (100.0 + 40.0 * np.cos(rows / height * np.pi * (index + 1)) + 20.0 * cols / width)
        for index in range(n_background)
    ]
    spatial_background = np.stack([image.ravel(order="F") for image in background_images], axis=1)
    temporal_background = 1.0 + 0.05 * rng.standard_normal((n_background, n_frames))
    correlation = np.zeros((height, width))
    for cell in cells:
        correlation[cell.ypix, cell.xpix] = np.maximum(
            correlation[cell.ypix, cell.xpix], 0.8 * cell.lam / cell.lam.max()
        )
    correlation += 0.05 * rng.random((height, width))

    # A fixed share rejected (at least one, when there are two or more) so that every
    # file exercises both outcomes of the evaluation.
    accepted = np.ones(n_rois, dtype=bool)
    if n_rois >= 2:
        accepted[rng.permutation(n_rois)[: max(1, n_rois // 4)]] = False
    with h5py.File(path, "w") as file:
        estimates = file.create_group("estimates")
        group = estimates.create_group("A")
        for key, value in footprints.items():
            group.create_dataset(key, data=value)
        estimates.create_dataset("C", data=denoised)
        estimates.create_dataset("S", data=traces["deconvolved"].astype(np.float64))
        estimates.create_dataset("YrA", data=residual)
        estimates.create_dataset("F_dff", data=traces["dff"].astype(np.float64) if with_dff else "NoneType")
        estimates.create_dataset("b", data=spatial_background)
        estimates.create_dataset("f", data=temporal_background)
        estimates.create_dataset("Cn", data=correlation)
        estimates.create_dataset("dims", data=np.asarray([height, width]))
        estimates.create_dataset("sn", data=np.full(n_pixels, 2.0))
        estimates.create_dataset("neurons_sn", data=np.full(n_rois, 2.0))
        estimates.create_dataset("bl", data=np.zeros(n_rois))
        estimates.create_dataset("g", data=np.full((n_rois, 1), np.exp(-1.0 / sampling_frequency)))
        # CaImAn stores a Python None as this string; readers must treat it as absent.
        estimates.create_dataset("cnn_preds", data="NoneType")
        if evaluated:
            estimates.create_dataset("idx_components", data=np.flatnonzero(accepted))
            estimates.create_dataset("idx_components_bad", data=np.flatnonzero(~accepted))
            estimates.create_dataset(
                "SNR_comp", data=np.where(accepted, rng.uniform(3.0, 10.0, n_rois), rng.uniform(0.5, 2.0, n_rois))
            )
            estimates.create_dataset(
                "r_values", data=np.where(accepted, rng.uniform(0.8, 1.0, n_rois), rng.uniform(-0.2, 0.5, n_rois))
            )
        else:
            for name in ("idx_components", "idx_components_bad", "SNR_comp", "r_values"):
                estimates.create_dataset(name, data="NoneType")
        params = file.create_group("params")
        data_params = params.create_group("data")
        data_params.create_dataset("dims", data=np.asarray([height, width]))
        data_params.create_dataset("fr", data=float(sampling_frequency))
        data_params.create_dataset("decay_time", data=1.0)
        quality = params.create_group("quality")
        quality.create_dataset("min_SNR", data=2.5)
        quality.create_dataset("rval_thr", data=0.8)
        quality.create_dataset("use_cnn", data=False)
        file.create_dataset("dims", data=np.asarray([height, width]))
    return path


__all__ = ["write_synthetic_caiman_hdf5"]
