"""The real suite2p output in shared/data goes in through `segdb ingest suite2p` and comes back
exactly as roiextractors' own Suite2pSegmentationExtractor reads it."""

from __future__ import annotations

import numpy as np
from roiextractors import Suite2pSegmentationExtractor

from segdb.ingest.frontends import ingest_path


def test_real_suite2p_values_equal_what_roiextractors_reads(archive, real_suite2p_dir):
    reference = Suite2pSegmentationExtractor(real_suite2p_dir)
    [record] = ingest_path(archive, "suite2p", real_suite2p_dir, subject="fissa", session="example")
    assert record.num_rois == reference.get_num_rois() == 23
    assert record.num_samples == reference.get_num_samples() == 864
    assert record.sampling_frequency == reference.get_sampling_frequency()

    [plane] = archive.plane_handles(record)
    assert plane.frame_shape == tuple(reference.get_frame_shape()) == (176, 156)
    assert list(plane.roi_keys) == reference.get_roi_ids()
    for name in ("raw", "neuropil", "deconvolved"):
        expected = reference.get_traces(name=name)
        got = plane.traces[name][:]
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(plane.masks.pixel_masks(range(23)), reference.get_roi_pixel_masks()):
        np.testing.assert_array_equal(got[:, :2], expected[:, :2])
        np.testing.assert_allclose(got[:, 2], expected[:, 2], rtol=1e-6)
    for name, image in reference.get_images_dict().items():
        np.testing.assert_array_equal(plane.images[name][:], image)
    properties = archive.plane_properties(record)
    np.testing.assert_array_equal(properties["iscell"], reference.get_property("iscell", reference.get_roi_ids()))
    accepted = [r.source_accepted for r in archive.rois(record)]
    assert accepted == [bool(v) for v in reference.get_property("iscell", reference.get_roi_ids())]
    assert archive.verify().ok
