"""ROI property values come back as written, or are refused before anything is written: one rule for
every shape, checked in the type a value arrives in (never wrapped, never turned into text)."""

from __future__ import annotations

import numpy as np
import pytest

import segdb
from segdb.synthetic import synthetic_segmentation

N_ROIS = 4


def _source(name: str, values) -> segdb.InvalidInputError:
    extractor = synthetic_segmentation(n_rois=N_ROIS, n_frames=30, seed=3)
    extractor.set_property(name, values, extractor.get_roi_ids())
    return extractor


def _h5_files(archive) -> list:
    return sorted(archive.storage_root.rglob("*.h5"))


def _ingest(archive, extractor, name="run"):
    return archive.ingest(extractor, subject="m1", session="s1", name=name, progress=False)


def _refused(archive, extractor, *expected: str) -> str:
    before = _h5_files(archive)
    with pytest.raises(segdb.InvalidInputError) as caught:
        _ingest(archive, extractor)
    message = str(caught.value)
    for part in expected:
        assert part in message
    assert _h5_files(archive) == before
    return message


@pytest.mark.parametrize(
    "values, shown",
    [
        (np.array([1, 2, 3, 2**64 - 5], dtype=np.uint64), "18446744073709551611"),
        (np.array([1, 2, 3, -(2**53) - 1], dtype=np.int64), "-9007199254740993"),
    ],
    ids=["uint64", "int64"],
)
def test_integers_beyond_2_53_are_refused_in_the_type_they_arrive_in(archive, values, shown):
    message = _refused(archive, _source("big", values), "'big'", shown, "2**53")
    assert "string" in message


def test_integers_within_2_53_come_back_exactly_with_their_dtype(archive):
    values = np.array([0, 1, 2**53 - 1, 2**53], dtype=np.uint64)
    record = _ingest(archive, _source("count", values))
    back = archive.plane_properties(record)["count"]
    assert back.dtype == np.uint64
    assert back.tolist() == values.tolist()


@pytest.mark.parametrize(
    "values, shown",
    [
        (np.array(["a", None, "c", "d"], dtype=object), "None"),
        (np.array(["a", "b", True, "d"], dtype=object), "True"),
        (np.array([{"x": 1}, "b", "c", "d"], dtype=object), "{'x': 1}"),
        (np.array([1.5, 2, 3, 4], dtype=object), "1.5"),
    ],
    ids=["None", "bool", "dict", "number"],
)
def test_object_properties_of_non_strings_are_refused_not_made_text(archive, values, shown):
    _refused(archive, _source("label", values), "'label'", shown)


def test_object_properties_of_strings_come_back_as_the_strings(archive):
    values = np.array(["V1", "LM", "", "AL"], dtype=object)
    record = _ingest(archive, _source("region", values))
    assert archive.plane_properties(record)["region"].tolist() == ["V1", "LM", "", "AL"]


@pytest.mark.parametrize("shape", [(N_ROIS,), (N_ROIS, 2), (N_ROIS, 2, 2)], ids=["1-D", "2-D", "3-D"])
def test_infinity_is_refused_in_every_shape(archive, shape):
    values = np.zeros(shape)
    values.reshape(N_ROIS, -1)[1, -1] = -np.inf
    _refused(archive, _source("score", values), "'score'", "infinite")


@pytest.mark.parametrize("shape", [(N_ROIS,), (N_ROIS, 2)], ids=["1-D", "2-D"])
def test_nan_marks_a_missing_value_in_every_shape(archive, shape):
    values = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    values.reshape(N_ROIS, -1)[1, -1] = np.nan
    record = _ingest(archive, _source("score", values))
    np.testing.assert_array_equal(archive.plane_properties(record)["score"], values)


@pytest.mark.parametrize("name", ["", "  ", " snr", "snr\n"], ids=["empty", "blank", "leading-space", "newline"])
def test_a_property_name_that_cannot_be_used_is_refused(archive, name):
    _refused(archive, _source(name, np.ones(N_ROIS)), "property name", repr(name))


def test_set_roi_property_follows_the_same_rules(archive):
    record = _ingest(archive, synthetic_segmentation(n_rois=N_ROIS, n_frames=30, seed=3))
    for values, shown in (([2**64 - 5] * N_ROIS, "18446744073709551611"), ([None] * N_ROIS, "None")):
        with pytest.raises(segdb.InvalidInputError, match=shown):
            archive.set_roi_property(record, "plane0", "bad", dict(enumerate(values)))
    assert "bad" not in archive.property_names(record)
