"""roiextractors 0.10's own code reads an archive extractor's private containers as it reads theirs.

roiextractors' SampleSlicedSegmentationExtractor and _RoiSlicedSegmentationExtractor are
built from a parent's ``_roi_masks``, ``_roi_responses``, ``_summary_images`` and
``_properties`` and answer through the base class's methods; over an archive extractor
they must give what the archive extractor's own views give.
"""

from __future__ import annotations

import numpy as np
import pytest
from roiextractors.roislicedsegmentationextractor import _RoiSlicedSegmentationExtractor
from roiextractors.segmentationextractor import SampleSlicedSegmentationExtractor, _ROIMasks

from segdb.errors import InvalidInputError
from segdb.synthetic import synthetic_segmentation


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archived(request, archive_maker, tmp_path_factory):
    """A segmentation with ROIs only, and a CaImAn one with background components, per backend."""
    from segdb.ingest.caiman import caiman_extractor
    from segdb.synthetic import write_synthetic_caiman_hdf5

    folder = tmp_path_factory.mktemp("containers")
    with archive_maker.new(request.param, folder) as archive:
        cells = archive.ingest(synthetic_segmentation(n_rois=9, n_frames=60, seed=2), subject="m1", session="cells")
        caiman = archive.ingest(
            caiman_extractor(write_synthetic_caiman_hdf5(folder / "caiman.hdf5")), subject="m1", session="caiman"
        )
        yield archive, cells, caiman


@pytest.mark.parametrize("mask_type", ["pixel", "image"])
def test_the_mask_container_answers_as_roiextractors_own(archived, mask_type):
    archive, _, caiman = archived
    extractor = archive.extractor(caiman, mask_type=mask_type)
    masks = extractor._roi_masks
    assert isinstance(masks, _ROIMasks) and not masks.is_volumetric
    roi_ids, background_ids = extractor.get_roi_ids(), extractor.get_background_ids()
    assert background_ids and masks.get_roi_ids() == [*roi_ids, *background_ids]
    for roi_id in roi_ids[:3]:
        dense = extractor.get_roi_image_masks([roi_id])[:, :, 0]
        np.testing.assert_array_equal(masks.get_roi_image_mask(roi_id), dense)
        expected = extractor.get_roi_pixel_masks([roi_id])[0]
        got = masks.get_roi_pixel_mask(roi_id)
        np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], expected[np.lexsort(expected.T[::-1])])
    for background_id in background_ids:
        np.testing.assert_array_equal(
            masks.get_roi_image_mask(background_id), extractor.get_background_image_masks([background_id])[:, :, 0]
        )


@pytest.mark.parametrize("mask_type", ["pixel", "image"])
def test_roiextractors_sample_slice_of_an_archive_extractor_matches_its_own_slice(archived, mask_type):
    archive, cells, _ = archived
    extractor = archive.extractor(cells, mask_type=mask_type)
    theirs = SampleSlicedSegmentationExtractor(extractor, 10, 40)
    ours = extractor.slice_samples(10, 40)
    assert theirs.get_roi_ids() == ours.get_roi_ids()
    for name in ("raw", "dff", "neuropil", "deconvolved"):
        np.testing.assert_array_equal(theirs.get_traces(name=name), ours.get_traces(name=name))
    np.testing.assert_array_equal(theirs.get_roi_image_masks(), ours.get_roi_image_masks())
    assert sorted(theirs.get_images_dict()) == sorted(ours.get_images_dict())
    assert theirs.get_property_keys() == ours.get_property_keys()
    ids = ours.get_roi_ids()
    for key in ours.get_property_keys():
        np.testing.assert_array_equal(theirs.get_property(key, ids), ours.get_property(key, ids))


@pytest.mark.parametrize("mask_type", ["pixel", "image"])
def test_roiextractors_roi_selection_of_an_archive_extractor_matches_its_own(archived, mask_type):
    archive, cells, _ = archived
    extractor = archive.extractor(cells, mask_type=mask_type)
    ids = [7, 2, 5]
    theirs = _RoiSlicedSegmentationExtractor(extractor, ids)
    ours = extractor.select_rois(ids)
    assert theirs.get_roi_ids() == ours.get_roi_ids() == ids
    np.testing.assert_array_equal(theirs.get_roi_image_masks(), ours.get_roi_image_masks())
    np.testing.assert_array_equal(theirs.get_traces(name="dff"), ours.get_traces(name="dff"))
    np.testing.assert_array_equal(theirs.get_traces(roi_ids=[5], name="raw"), ours.get_traces(roi_ids=[5], name="raw"))


def test_an_unknown_mask_type_is_refused_by_name(archived):
    archive, cells, _ = archived
    with pytest.raises(InvalidInputError, match="mask_type must be 'pixel' or 'image'; got 'dense'"):
        archive.extractor(cells, mask_type="dense")
    with pytest.raises(InvalidInputError, match="voxel.*2-D planes"):
        archive.multiplane_extractor(cells, mask_type="voxel")
