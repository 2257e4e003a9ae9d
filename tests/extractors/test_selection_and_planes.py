"""Selection by content in SQL, multi-plane extractors from the archive, and the real suite2p
output read through roiextractors and through the archive, method by method."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from roiextractors import Suite2pSegmentationExtractor

import segdb
from segdb.archive.filters import Condition, parse_where
from segdb.ingest.frontends import ingest_path
from segdb.synthetic import synthetic_segmentation, write_suite2p_folder


@pytest.fixture
def scored(archive):
    source = synthetic_segmentation(n_rois=10, n_frames=40, seed=8)
    record = archive.ingest(source, subject="m1", session="s1")
    extractor = archive.extractor(record)
    snr = np.array([1.0, 6.0, 2.5, 9.0, 5.0, 7.5, 0.5, 5.5, 3.0, 8.0])
    extractor.set_property("snr", snr, extractor.get_roi_ids())
    extractor.set_property("region", np.array(["V1", "V1", "LM", "LM", "V1", "AL", "V1", "LM", "AL", "V1"]),
                           extractor.get_roi_ids())
    accepted = source.get_property("accepted", source.get_roi_ids())
    return archive, record, snr, accepted


def test_where_on_a_numeric_property(scored):
    archive, record, snr, _ = scored
    extractor = archive.extractor(record, where="snr > 5")
    assert extractor.get_roi_ids() == [i for i in range(10) if snr[i] > 5]
    np.testing.assert_array_equal(extractor.get_property("snr", extractor.get_roi_ids()), snr[snr > 5])


def test_where_combines_properties_acceptance_and_text(scored):
    archive, record, snr, accepted = scored
    got = archive.extractor(record, where="snr >= 5 and accepted and region == 'V1'").get_roi_ids()
    regions = ["V1", "V1", "LM", "LM", "V1", "AL", "V1", "LM", "AL", "V1"]
    assert got == [i for i in range(10) if snr[i] >= 5 and accepted[i] and regions[i] == "V1"]
    by_mapping = archive.extractor(record, where={"snr": (">=", 5), "accepted": True, "region": "V1"})
    assert by_mapping.get_roi_ids() == got
    rejected = archive.extractor(record, where="not accepted").get_roi_ids()
    assert rejected == [i for i in range(10) if not accepted[i]]


def test_where_on_roi_columns_and_sets(scored):
    archive, record, _, _ = scored
    rois = archive.rois(record)
    big = [r.key for r in rois if r.pixel_count >= 40]
    assert archive.extractor(record, where="pixel_count >= 40").get_roi_ids() == big
    assert archive.extractor(record, where="key in [3, 1, 7]").get_roi_ids() == [1, 3, 7]
    assert archive.extractor(record, where="kind == 'cell' and region in ['LM', 'AL']").get_roi_ids() == [2, 3, 5, 7, 8]


def test_a_filtered_extractor_is_an_ordinary_extractor(scored):
    archive, record, snr, _ = scored
    extractor = archive.extractor(record, where="snr > 5")
    full = archive.extractor(record)
    ids = extractor.get_roi_ids()
    np.testing.assert_array_equal(extractor.get_traces(), full.get_traces(roi_ids=ids))
    np.testing.assert_array_equal(extractor.slice_samples(5, 9).get_traces(roi_ids=ids[::-1]),
                                  full.get_traces(roi_ids=ids[::-1], start_frame=5, end_frame=9))


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("snr >> 5", "cannot read the condition"),
        ("kind == 'neuron'", "ROI kinds are"),
        ("pixel_count > 'big'", "takes numbers"),
        ({"snr": ("~", 3)}, "not one of"),
        (42, "a ROI filter is"),
    ],
)
def test_bad_filters_are_refused_with_the_fix(scored, where, message):
    archive, record, _, _ = scored
    with pytest.raises(segdb.InvalidInputError, match=message):
        archive.extractor(record, where=where)


def test_parse_where_spellings_agree():
    expected = [Condition("snr", ">", 5), Condition("accepted", "==", True), Condition("kind", "==", "cell")]
    assert parse_where("snr > 5 and accepted and kind == 'cell'") == expected
    assert parse_where({"snr": (">", 5), "accepted": True, "kind": "cell"}) == expected
    assert parse_where(["snr > 5", "accepted", Condition("kind", "==", "cell")]) == expected


def test_multiplane_extractor_from_the_archive(archive, tmp_path):
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=3, n_rois=5, n_frames=60, frame_shape=(40, 44))
    [record] = ingest_path(archive, "suite2p", folder, subject="m1", session="s1")
    multi = archive.multiplane_extractor(record)
    assert isinstance(multi, segdb.MultiSegmentationExtractor)
    assert multi.no_planes == 3 and multi.get_num_rois() == 15
    plane1 = archive.extractor(record, plane="plane1")
    np.testing.assert_array_equal(multi.get_traces(roi_ids=[5, 9]), plane1.get_traces(roi_ids=[0, 4]))
    np.testing.assert_array_equal(multi.get_images("mean_plane2"), archive.extractor(record, plane="plane2").get_image("mean"))
    with pytest.raises(segdb.InvalidInputError, match="pass plane=NAME"):
        archive.extractor(record)
    with pytest.raises(KeyError, match="plane7"):
        archive.extractor(record, plane="plane7")


def test_real_suite2p_through_roiextractors_and_the_archive_method_by_method(archive, real_suite2p_dir):
    reference = Suite2pSegmentationExtractor(real_suite2p_dir)
    [record] = ingest_path(archive, "suite2p", real_suite2p_dir, subject="fissa", session="example")
    ours = archive.extractor(record)
    ids = reference.get_roi_ids()
    assert ours.get_roi_ids() == ids
    assert ours.get_num_rois() == reference.get_num_rois()
    assert tuple(ours.get_frame_shape()) == tuple(reference.get_frame_shape())
    assert ours.get_num_samples() == reference.get_num_samples()
    assert ours.get_sampling_frequency() == reference.get_sampling_frequency()
    for name, data in reference.get_traces_dict().items():
        if data is None:
            assert ours.get_traces(name=name) is None
        else:
            np.testing.assert_array_equal(ours.get_traces(name=name), reference.get_traces(name=name))
            np.testing.assert_array_equal(
                ours.get_traces(roi_ids=[20, 3, 11], start_frame=100, end_frame=300, name=name),
                reference.get_traces(roi_ids=[20, 3, 11], start_frame=100, end_frame=300, name=name),
            )
    for got, expected in zip(ours.get_roi_pixel_masks(), reference.get_roi_pixel_masks()):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(ours.get_roi_image_masks(roi_ids=[4, 2]), reference.get_roi_image_masks(roi_ids=[4, 2]),
                               rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        np.testing.assert_array_equal(ours.get_roi_locations(), reference.get_roi_locations())
    for name, image in reference.get_images_dict().items():
        np.testing.assert_array_equal(ours.get_image(name), image)
    np.testing.assert_array_equal(ours.get_property("iscell", ids), reference.get_property("iscell", ids))
    np.testing.assert_allclose(ours.get_timestamps(), reference.get_timestamps())
    assert ours.get_background_ids() == reference.get_background_ids() == []
    sliced_ours, sliced_ref = ours.slice_samples(100, 200), reference.slice_samples(100, 200)
    np.testing.assert_array_equal(sliced_ours.get_traces(name="neuropil"), sliced_ref.get_traces(name="neuropil"))
