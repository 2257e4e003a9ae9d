"""The archive extractor refuses bad input with segdb's errors, naming the thing and the fix.

They subclass ValueError and KeyError, so code written against roiextractors still catches them.
"""

from __future__ import annotations

import numpy as np
import pytest

from segdb.errors import InvalidInputError, NotFoundError
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def extractor(archive):
    record = archive.ingest(synthetic_segmentation(n_rois=6, n_frames=30, seed=5), subject="m1", session="s1")
    return archive.extractor(record)


def test_an_unknown_property_is_not_found_listing_the_properties_there(extractor):
    with pytest.raises(NotFoundError, match=r"'nothing' not found .*Available properties: .*'accepted'.*set_property"):
        extractor.get_property("nothing", [0, 1])


def test_an_unknown_roi_id_is_refused_naming_it_and_the_ids_held(extractor):
    with pytest.raises(InvalidInputError, match=r"ROI ids \[99\] in roi_ids are not in segmentation \d+ plane "
                                                r"'plane0' \(it has 6 ROIs: \[0, 1, 2, 3, 4, 5\]\)"):
        extractor.get_traces(roi_ids=[3, 99])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.slice_samples(10, 10), r"start_sample=10, end_sample=10 holds no samples"),
        (lambda e: e.slice_samples(0, 31), r"end_sample=31 is outside 0..30"),
        (lambda e: e.get_traces(start_frame=1.5), r"start_frame must be a whole number of samples"),
        (lambda e: e.select_rois([2, 2]), r"roi_ids repeats \['2'\]; give each id once"),
        (lambda e: e.get_image("nope"), r"could not find nope image, enter one of \[.*'mean'"),
        (lambda e: e.set_times(np.arange(29.0)), r"one time per sample: this extractor has 30 samples"),
        (lambda e: e.set_property("accepted", [True], [0]), r"archive.curate"),
    ],
)
def test_bad_input_is_an_invalid_input_error_saying_what_to_do(extractor, call, message):
    with pytest.raises(InvalidInputError, match=message):
        call(extractor)
