"""CaImAn front end: the synthetic results file reads back through roiextractors as written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from roiextractors import CaimanSegmentationExtractor
from scipy.sparse import csc_matrix

from segdb.errors import InvalidInputError, NotFoundError
from segdb.ingest import caiman_extractor
from segdb.synthetic import write_synthetic_caiman_hdf5

# Not square, so a row/column mix-up in the Fortran-order unflattening shows.
FRAME = (40, 52)


@pytest.fixture
def caiman_file(tmp_path: Path) -> Path:
    return write_synthetic_caiman_hdf5(
        tmp_path / "caiman_results.hdf5",
        n_rois=9,
        n_frames=80,
        frame_shape=FRAME,
        n_background=2,
        sampling_frequency=12.5,
    )


def test_roiextractors_reads_the_synthetic_file_with_expected_shapes_and_values(caiman_file: Path) -> None:
    extractor = CaimanSegmentationExtractor(file_path=caiman_file)
    with h5py.File(caiman_file, "r") as file:
        estimates = file["estimates"]
        denoised, residual = estimates["C"][()], estimates["YrA"][()]
        deconvolved, dff, background = estimates["S"][()], estimates["F_dff"][()], estimates["f"][()]
        correlation = estimates["Cn"][()]
        group = estimates["A"]
        footprints = csc_matrix(
            (group["data"][()], group["indices"][()], group["indptr"][()]), shape=tuple(group["shape"][()])
        )

    assert tuple(int(size) for size in extractor.get_frame_shape()) == FRAME
    assert extractor.get_sampling_frequency() == 12.5
    assert extractor.get_roi_ids() == list(range(9))
    assert extractor.get_background_ids() == ["background0", "background1"]
    np.testing.assert_allclose(extractor.get_traces(name="raw"), (denoised + residual).T)
    np.testing.assert_array_equal(extractor.get_traces(name="denoised"), denoised.T)
    np.testing.assert_array_equal(extractor.get_traces(name="deconvolved"), deconvolved.T)
    np.testing.assert_array_equal(extractor.get_traces(name="dff"), dff.T)
    np.testing.assert_array_equal(extractor.get_traces(name="background"), background.T)
    np.testing.assert_array_equal(extractor.get_image("correlation"), correlation)
    # CaImAn's own view of a footprint: the column reshaped in Fortran order to (d1, d2).
    expected_masks = footprints.toarray().reshape((*FRAME, -1), order="F")
    np.testing.assert_allclose(extractor.get_roi_image_masks(), expected_masks)
    # Each synthetic footprint is one compact blob with unit L2 norm, as CaImAn normalises A.
    for index in range(9):
        np.testing.assert_allclose(np.linalg.norm(expected_masks[:, :, index]), 1.0)


def test_caiman_extractor_sets_accepted_from_idx_components(caiman_file: Path) -> None:
    with h5py.File(caiman_file, "r") as file:
        good = file["estimates/idx_components"][()]
        bad = file["estimates/idx_components_bad"][()]

    extractor = caiman_extractor(caiman_file)
    accepted = extractor.get_property("accepted", extractor.get_roi_ids())

    assert accepted.dtype == bool
    assert sorted(np.flatnonzero(accepted)) == sorted(good)
    assert sorted(np.flatnonzero(~accepted)) == sorted(bad)
    assert 0 < accepted.sum() < accepted.size
    np.testing.assert_array_equal(accepted, extractor.get_property("is_accepted", extractor.get_roi_ids()))
    assert extractor.get_property("snr", extractor.get_roi_ids()).shape == (9,)


def test_unevaluated_file_accepts_everything_and_has_no_dff(tmp_path: Path) -> None:
    path = write_synthetic_caiman_hdf5(tmp_path / "raw_cnmf.hdf5", n_rois=4, evaluated=False, with_dff=False)

    extractor = caiman_extractor(path)

    assert extractor.get_property("accepted", extractor.get_roi_ids()).all()
    assert extractor.get_traces(name="dff") is None
    assert "snr" not in extractor.get_property_keys()


def test_empty_idx_components_means_every_component_was_rejected(tmp_path: Path) -> None:
    path = write_synthetic_caiman_hdf5(tmp_path / "all_rejected.hdf5", n_rois=4)
    with h5py.File(path, "a") as file:
        del file["estimates/idx_components"], file["estimates/idx_components_bad"]
        file["estimates"].create_dataset("idx_components", data=np.zeros(0, dtype=np.int64))
        file["estimates"].create_dataset("idx_components_bad", data=np.arange(4))

    extractor = caiman_extractor(path)

    # roiextractors 0.10 reads an empty index list as "not evaluated" and accepts all.
    assert not extractor.get_property("accepted", extractor.get_roi_ids()).any()


def test_caiman_extractor_names_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nothing.hdf5.*does not exist"):
        caiman_extractor(tmp_path / "nothing.hdf5")
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file.create_dataset("data", data=np.zeros(3))
    with pytest.raises(InvalidInputError, match="other.h5.*not a CaImAn results file.*estimates/A"):
        caiman_extractor(tmp_path / "other.h5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(InvalidInputError, match="text.hdf5.*not an HDF5 file"):
        caiman_extractor(tmp_path / "text.hdf5")
