"""MultiSegmentationExtractor against the per-plane extractors it combines.

Every expectation is built by hand from the planes (roiextractors'
NumpySegmentationExtractor and small subclasses that add what 0.10's base class
lacks: background components, channel names, native timestamps, lazy traces).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pytest
from roiextractors import NumpySegmentationExtractor, SegmentationExtractor

from segdb.errors import InvalidInputError
from segdb.extractors import MultiSegmentationExtractor, TraceWindow

FRAME = (12, 10)
NUM_SAMPLES = 40
RATE = 30.0
ROIS_PER_PLANE = (3, 2, 4)


def make_plane(
    num_rois: int,
    seed: int,
    *,
    num_samples: int = NUM_SAMPLES,
    frame: tuple[int, int] = FRAME,
    sampling_frequency: float = RATE,
    plane_class: type[NumpySegmentationExtractor] = NumpySegmentationExtractor,
    with_dff: bool = True,
    **kwargs,
) -> NumpySegmentationExtractor:
    """A plane of random ROIs whose values differ between planes (distinct seeds)."""
    rng = np.random.default_rng(seed)
    masks = (rng.random((*frame, num_rois)) > 0.6) * rng.uniform(0.5, 1.0, (*frame, num_rois))
    masks[seed % frame[0], seed % frame[1], :] = 1.0  # no ROI without pixels
    return plane_class(
        image_masks=masks,
        raw=rng.normal(seed, 1.0, (num_samples, num_rois)),
        dff=rng.normal(-seed, 1.0, (num_samples, num_rois)) if with_dff else None,
        mean_image=rng.random(frame),
        correlation_image=rng.random(frame),
        sampling_frequency=sampling_frequency,
        movie_dims=frame,
        **kwargs,
    )


@pytest.fixture
def planes() -> list[NumpySegmentationExtractor]:
    return [make_plane(n, seed) for seed, n in enumerate(ROIS_PER_PLANE, start=1)]


@pytest.fixture
def multi(planes) -> MultiSegmentationExtractor:
    return MultiSegmentationExtractor(planes)


def by_hand(planes: Sequence[SegmentationExtractor], pairs: Sequence[tuple[int, object]], method: str, **kwargs):
    """Ask each plane for one ROI at a time: the slow, obviously right answer."""
    return [getattr(planes[p], method)(roi_ids=[roi], **kwargs) for p, roi in pairs]


GLOBAL_TO_PLANE = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3)]
MIXED_IDS = [7, 0, 4, 2, 5, 7]


# ---------------------------------------------------------------------- construction


def test_it_is_an_instantiable_segmentation_extractor(multi):
    assert isinstance(multi, SegmentationExtractor)
    assert not MultiSegmentationExtractor.__abstractmethods__


def test_planes_are_counted_named_and_kept_in_order(multi, planes):
    assert multi.no_planes == 3
    assert multi.get_num_planes() == 3
    assert multi.plane_names == ["Plane0", "Plane1", "Plane2"]
    assert len(multi.segmentations) == 3
    assert all(kept is given for kept, given in zip(multi.segmentations, planes))


def test_plane_names_of_the_wrong_length_raise_naming_both_lengths(planes):
    with pytest.raises(ValueError, match=r"2 names .* 3 planes"):
        MultiSegmentationExtractor(planes, plane_names=["deep", "shallow"])


def test_plane_names_that_clash_once_lower_cased_are_refused(planes):
    with pytest.raises(ValueError, match="lower-cased"):
        MultiSegmentationExtractor(planes, plane_names=["L23", "l23", "L4"])


def test_empty_or_non_extractor_input_is_refused(planes):
    with pytest.raises(ValueError, match="empty"):
        MultiSegmentationExtractor([])
    with pytest.raises(TypeError, match=r"segmentation_extractors_list\[1\] is a ndarray"):
        MultiSegmentationExtractor([planes[0], np.zeros(3)])
    with pytest.raises(TypeError, match="single NumpySegmentationExtractor"):
        MultiSegmentationExtractor(planes[0])


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"num_samples": NUM_SAMPLES - 5}, r"number of samples: Plane0: 40, Plane1: 35, Plane2: 40"),
        ({"sampling_frequency": 15.0}, r"sampling frequency \(Hz\): Plane0: 30.0, Plane1: 15.0"),
        ({"frame": (12, 11)}, r"frame shape \(height, width\): Plane0: \(12, 10\), Plane1: \(12, 11\)"),
    ],
)
def test_planes_that_disagree_are_refused_naming_planes_and_values(changed, message):
    planes = [make_plane(3, 1), make_plane(2, 2, **changed), make_plane(4, 3)]
    with pytest.raises(ValueError, match=message):
        MultiSegmentationExtractor(planes)


def test_a_frame_shape_that_is_not_height_width_is_refused():
    # Without movie_dims, roiextractors' Numpy extractor reports the (H, W, n) mask shape.
    rng = np.random.default_rng(0)
    plane = NumpySegmentationExtractor(image_masks=rng.random((*FRAME, 2)), raw=rng.random((NUM_SAMPLES, 2)))
    with pytest.raises(ValueError, match=r"Plane0 reports frame shape \(12, 10, 2\).*movie_dims"):
        MultiSegmentationExtractor([plane])


def test_shared_acquisition_values_come_from_the_planes(multi, planes):
    assert multi.get_frame_shape() == FRAME
    assert multi.get_num_samples() == NUM_SAMPLES == planes[0].get_num_samples()
    assert multi.get_sampling_frequency() == RATE
    np.testing.assert_allclose(multi.get_timestamps(0, 3), np.arange(3) / RATE)


# ---------------------------------------------------------------------- global ids


def test_global_ids_number_rois_across_planes_in_plane_order(multi):
    assert multi.get_roi_ids() == list(range(9))
    assert multi.get_num_rois() == 9
    assert multi.get_plane_roi_ids() == GLOBAL_TO_PLANE
    assert multi.get_roi_id_map() == dict(enumerate(GLOBAL_TO_PLANE))
    assert multi.get_plane_roi_ids([8, 3, 0]) == [(2, 3), (1, 0), (0, 0)]


def test_global_id_of_a_plane_roi_by_plane_index_or_name(multi):
    assert multi.get_global_roi_id(2, 1) == 6
    assert multi.get_global_roi_id("Plane1", 0) == 3
    with pytest.raises(ValueError, match=r"ROI 5 is not in plane Plane1 \(its ROI ids are \[0, 1\]\)"):
        multi.get_global_roi_id(1, 5)
    with pytest.raises(ValueError, match=r"no plane named 'Plane7'"):
        multi.get_global_roi_id("Plane7", 0)
    with pytest.raises(ValueError, match=r"plane 3 is not a plane index \(0..2\)"):
        multi.get_global_roi_id(3, 0)


def test_planes_keep_their_own_string_roi_ids_behind_integer_global_ids():
    named = make_plane(2, 4, roi_ids=["cell_a", "cell_b"])
    multi = MultiSegmentationExtractor([make_plane(1, 1), named])
    assert multi.get_roi_ids() == [0, 1, 2]
    assert multi.get_plane_roi_ids() == [(0, 0), (1, "cell_a"), (1, "cell_b")]
    np.testing.assert_array_equal(
        multi.get_traces([2, 0]), np.c_[named.get_traces(["cell_b"]), multi.segmentations[0].get_traces([0])]
    )


# ---------------------------------------------------------------------- traces


@pytest.mark.parametrize("name", ["raw", "dff"])
def test_traces_of_ids_mixing_planes_come_back_in_the_order_asked(multi, planes, name):
    traces = multi.get_traces(roi_ids=MIXED_IDS, start_frame=5, end_frame=17, name=name)
    expected = np.hstack(
        by_hand(planes, [GLOBAL_TO_PLANE[i] for i in MIXED_IDS], "get_traces", start_frame=5, end_frame=17, name=name)
    )
    assert traces.shape == (12, len(MIXED_IDS))
    np.testing.assert_array_equal(traces, expected)


def test_traces_of_all_rois_are_the_planes_side_by_side(multi, planes):
    np.testing.assert_array_equal(multi.get_traces(), np.hstack([plane.get_traces() for plane in planes]))
    np.testing.assert_array_equal(
        multi.get_traces(np.array([1, 3])), np.c_[planes[0].get_traces([1]), planes[1].get_traces([0])]
    )


def test_traces_of_no_rois_have_the_window_length(multi):
    assert multi.get_traces([], start_frame=2, end_frame=9).shape == (7, 0)


def test_unknown_roi_ids_are_refused_by_name_with_the_valid_range(multi):
    with pytest.raises(ValueError, match=r"\[9, -1, 'x', 2.5\] in roi_ids .* 9 ROIs over 3 planes: 0..8"):
        multi.get_traces([0, 9, -1, "x", 2.5])
    with pytest.raises(InvalidInputError, match=r"ROI ids \[12\]"):
        multi.get_roi_pixel_masks([1, 12])
    with pytest.raises(TypeError, match="list or 1-D array"):
        multi.get_traces(3)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(-1, 5, r"start_frame=-1 is outside 0..40"), (0, 41, r"end_frame=41 is outside 0..40"), (9, 3, "after")],
)
def test_sample_windows_outside_the_recording_are_refused(multi, start, end, message):
    with pytest.raises(ValueError, match=message):
        multi.get_traces([0], start_frame=start, end_frame=end)


def test_a_trace_type_no_plane_has_is_none_and_one_some_lack_is_refused():
    with_dff, without_dff = make_plane(2, 1), make_plane(2, 2, with_dff=False)
    multi = MultiSegmentationExtractor([with_dff, without_dff])
    assert multi.get_traces(name="deconvolved") is None
    np.testing.assert_array_equal(multi.get_traces([1, 0], name="dff"), with_dff.get_traces([1, 0], name="dff"))
    with pytest.raises(ValueError, match=r"traces 'dff' exist in planes \['Plane0'\] but not in \['Plane1'\]"):
        multi.get_traces([0, 2], name="dff")


# ---------------------------------------------------------------------- masks


def test_pixel_masks_follow_the_order_asked(multi, planes):
    masks = multi.get_roi_pixel_masks(MIXED_IDS)
    expected = [m[0] for m in by_hand(planes, [GLOBAL_TO_PLANE[i] for i in MIXED_IDS], "get_roi_pixel_masks")]
    assert len(masks) == len(MIXED_IDS)
    for got, want in zip(masks, expected):
        assert got.shape[1] == 3  # [row, col, weight]
        np.testing.assert_array_equal(got, want)


def test_image_masks_follow_the_order_asked(multi, planes):
    masks = multi.get_roi_image_masks(MIXED_IDS)
    expected = np.concatenate(by_hand(planes, [GLOBAL_TO_PLANE[i] for i in MIXED_IDS], "get_roi_image_masks"), axis=2)
    assert masks.shape == (*FRAME, len(MIXED_IDS))
    np.testing.assert_array_equal(masks, expected)
    assert multi.get_roi_image_masks([]).shape == (*FRAME, 0)


def test_roi_locations_follow_the_order_asked_and_warn_once(multi, planes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the planes' own deprecation warning
        expected = np.hstack(by_hand(planes, [GLOBAL_TO_PLANE[i] for i in MIXED_IDS], "get_roi_locations"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        locations = multi.get_roi_locations(MIXED_IDS)
    assert locations.shape == (2, len(MIXED_IDS))  # [row; col]
    np.testing.assert_array_equal(locations, expected)
    assert [(w.category, w.filename) for w in caught] == [(FutureWarning, __file__)]


# ---------------------------------------------------------------------- images


def test_images_carry_the_lower_cased_plane_name_as_suffix(multi, planes):
    images = multi.get_images_dict()
    assert sorted(images) == sorted(f"{kind}_plane{p}" for kind in ("mean", "correlation") for p in range(3))
    assert images["mean_plane2"] is planes[2].get_images_dict()["mean"]
    np.testing.assert_array_equal(multi.get_images("correlation_plane1"), planes[1].get_image("correlation"))
    np.testing.assert_array_equal(multi.get_images(), planes[0].get_image("correlation"))
    np.testing.assert_array_equal(multi.get_image("mean_plane0"), planes[0].get_image("mean"))


def test_custom_plane_names_become_suffixes_of_images_and_traces(planes):
    multi = MultiSegmentationExtractor(planes, plane_names=["L1", "L23", "b_L23"])
    assert "mean_l23" in multi.get_images_dict() and "raw_b_l23" in multi.get_traces_dict()
    # 'mean_b_l23' ends with '_l23' too: the longer plane suffix wins.
    np.testing.assert_array_equal(multi.get_image("mean_b_l23"), planes[2].get_image("mean"))
    np.testing.assert_array_equal(multi.get_image("mean_l23"), planes[1].get_image("mean"))


def test_an_unknown_image_name_is_refused_listing_the_valid_names(multi):
    with pytest.raises(ValueError, match=r"no image 'correlation'; images are \['correlation_plane0', "):
        multi.get_image("correlation")
    with pytest.raises(ValueError, match="no image 'max_plane0'"):
        multi.get_images("max_plane0")


# ---------------------------------------------------------------------- traces dict


def test_traces_dict_hands_on_each_planes_arrays_under_suffixed_names(multi, planes):
    traces = multi.get_traces_dict()
    for index, plane in enumerate(planes):
        for name, data in plane.get_traces_dict().items():
            assert traces[f"{name}_plane{index}"] is data


def test_traces_dict_views_read_like_get_traces(multi):
    raw = multi.get_traces_dict()["raw"]
    assert isinstance(raw, TraceWindow)
    assert raw.shape == (NUM_SAMPLES, 9) and len(raw) == NUM_SAMPLES and raw.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(raw), multi.get_traces())
    np.testing.assert_array_equal(raw[3:9, [5, 0]], multi.get_traces([5, 0], 3, 9))
    np.testing.assert_array_equal(raw[::7, 4], multi.get_traces([4])[::7, 0])
    assert raw[-1, 8] == multi.get_traces([8])[-1, 0]
    assert multi.get_traces_dict()["deconvolved"] is None  # no plane has it


def test_traces_dict_does_not_read_lazy_plane_traces():
    recorder = RecordingTraces(np.arange(NUM_SAMPLES * 3, dtype=float).reshape(NUM_SAMPLES, 3))
    lazy = make_plane(3, 2, plane_class=LazyTracePlane, recorder=recorder)
    multi = MultiSegmentationExtractor([make_plane(2, 1), lazy])

    traces = multi.get_traces_dict()
    assert traces["raw_plane1"] is recorder
    assert recorder.reads == []

    window = traces["raw"][2:5, [4, 0]]  # global 4 is the lazy plane's ROI 2
    np.testing.assert_array_equal(window[:, 0], recorder.data[2:5, 2])
    assert recorder.reads == [(slice(2, 5), [2])]


# ---------------------------------------------------------------------- curation


def test_accepted_and_rejected_lists_use_each_planes_own_decision():
    planes = [
        make_plane(3, 1, accepted_list=[0, 2]),  # 'is_accepted' property
        make_plane(2, 2, rejected_list=[1]),  # 'is_rejected' property only
        make_plane(3, 3, plane_class=CuratedPlane),  # its own get_accepted_list / get_rejected_list
        make_plane(2, 4),  # says nothing: all accepted, none rejected
        make_plane(2, 5),
    ]
    planes[4].set_property("iscell", np.array([0.0, 1.0]), [0, 1])
    multi = MultiSegmentationExtractor(planes)
    # global ids: plane0 0-2, plane1 3-4, plane2 5-7, plane3 8-9, plane4 10-11
    with pytest.warns(DeprecationWarning, match="get_accepted_list is deprecated"):
        accepted = multi.get_accepted_list()
    with pytest.warns(DeprecationWarning, match="get_rejected_list is deprecated"):
        rejected = multi.get_rejected_list()
    assert accepted == [0, 2, 3, 6, 8, 9, 11]
    assert rejected == [1, 4, 5, 10]


def test_curation_lists_of_a_selection_hold_only_selected_ids():
    multi = MultiSegmentationExtractor([make_plane(3, 1, accepted_list=[0, 2]), make_plane(2, 2)])
    selected = multi.select_rois([4, 2, 1])
    with pytest.warns(DeprecationWarning):
        assert selected.get_accepted_list() == [4, 2]
    with pytest.warns(DeprecationWarning):
        assert selected.get_rejected_list() == [1]


# ---------------------------------------------------------------------- channels, timestamps


def test_channel_names_are_the_union_of_the_planes_in_order():
    multi = MultiSegmentationExtractor(
        [
            make_plane(1, 1, plane_class=ChannelPlane, channel_names=["GCaMP", "tdTomato"]),
            make_plane(1, 2, plane_class=ChannelPlane, channel_names=["GCaMP"]),
            make_plane(1, 3),  # roiextractors 0.10 planes have no get_channel_names
        ]
    )
    assert multi.get_channel_names() == ["GCaMP", "tdTomato"]
    assert multi.get_num_channels() == 2


def test_planes_that_name_no_channel_give_roiextractors_default(multi):
    assert multi.get_channel_names() == ["OpticalChannel"]
    assert multi.get_num_channels() == 1


def test_native_timestamps_are_plane_zeros():
    first = make_plane(2, 1, plane_class=TimestampedPlane)
    second = make_plane(2, 2, plane_class=TimestampedPlane)
    second.native_times = second.native_times + 0.01
    multi = MultiSegmentationExtractor([first, second])
    np.testing.assert_array_equal(multi.get_native_timestamps(3, 8), first.native_times[3:8])
    np.testing.assert_array_equal(multi.get_timestamps(), first.native_times)
    with pytest.raises(ValueError, match="end_sample=99 is outside 0..40"):
        multi.get_native_timestamps(0, 99)


# ---------------------------------------------------------------------- background components


@pytest.fixture
def background_planes() -> list[BackgroundPlane]:
    return [make_plane(2, seed, plane_class=BackgroundPlane, num_background=k) for seed, k in ((1, 2), (2, 1))]


def test_background_components_get_global_background_ids(background_planes):
    multi = MultiSegmentationExtractor(background_planes)
    assert multi.get_background_ids() == ["background0", "background1", "background2"]
    assert multi.get_num_background_components() == 3
    asked = ["background2", "background0"]
    expected_image = np.concatenate(
        [
            background_planes[1].get_background_image_masks(["background0"]),
            background_planes[0].get_background_image_masks(["background0"]),
        ],
        axis=2,
    )
    np.testing.assert_array_equal(multi.get_background_image_masks(asked), expected_image)
    pixel = multi.get_background_pixel_masks(asked)
    np.testing.assert_array_equal(pixel[0], background_planes[1].get_background_pixel_masks(["background0"])[0])
    traces = multi.get_traces(asked, 1, 6, name="background")
    np.testing.assert_array_equal(traces[:, 0], background_planes[1].background_traces[1:6, 0])
    np.testing.assert_array_equal(traces[:, 1], background_planes[0].background_traces[1:6, 0])
    with pytest.raises(ValueError, match=r"background ids \['background3'\] .* 3 background components"):
        multi.get_background_pixel_masks(["background3"])


def test_background_traces_dict_view_has_one_column_per_background_component(background_planes):
    multi = MultiSegmentationExtractor(background_planes)
    view = multi.get_traces_dict()["background"]
    assert view.roi_ids == ["background0", "background1", "background2"]
    np.testing.assert_array_equal(np.asarray(view), np.hstack([p.background_traces for p in background_planes]))


def test_selecting_rois_keeps_background_only_when_asked_for(background_planes):
    multi = MultiSegmentationExtractor(background_planes)
    assert multi.select_rois([3, 0]).get_background_ids() == []
    with_background = multi.select_rois([3, "background2"])
    assert with_background.get_background_ids() == ["background2"]
    assert with_background.get_roi_ids() == [3]


# ---------------------------------------------------------------------- properties


def test_plane_properties_read_through_with_global_ids(multi, planes):
    for index, plane in enumerate(planes):
        plane.set_property("snr", np.arange(plane.get_num_rois()) + 10.0 * index, plane.get_roi_ids())
    planes[0].set_property("only_here", np.ones(3), [0, 1, 2])
    assert multi.get_property_keys() == ["snr"]
    np.testing.assert_array_equal(multi.get_property("snr", [6, 0, 3]), [21.0, 0.0, 10.0])
    np.testing.assert_array_equal(multi.get_property("only_here", [2, 0]), [1.0, 1.0])
    with pytest.raises(KeyError, match="property 'only_here' is not on plane Plane1"):
        multi.get_property("only_here", [2, 3])
    info = multi.get_property_info("snr")
    np.testing.assert_array_equal(info.data, multi.get_property("snr", multi.get_roi_ids()))


def test_a_property_set_on_the_extractor_wins_over_the_planes(multi, planes):
    for plane in planes:
        plane.set_property("quality", np.zeros(plane.get_num_rois()), plane.get_roi_ids())
    multi.set_property("quality", np.arange(9) * 2, list(range(9)), description="ours")
    np.testing.assert_array_equal(multi.get_property("quality", [8, 1]), [16, 2])
    assert multi.get_property_info("quality").description == "ours"
    assert multi.get_property_keys() == ["quality"]


# ---------------------------------------------------------------------- narrower views


def test_select_rois_keeps_global_ids_and_the_order_given(multi, planes):
    selected = multi.select_rois([7, 1, 4])
    assert isinstance(selected, MultiSegmentationExtractor)
    assert selected.get_roi_ids() == [7, 1, 4]
    assert selected.get_num_rois() == 3
    assert selected.get_plane_roi_ids() == [(2, 2), (0, 1), (1, 1)]
    np.testing.assert_array_equal(selected.get_traces(), multi.get_traces([7, 1, 4]))
    np.testing.assert_array_equal(selected.get_roi_image_masks(), multi.get_roi_image_masks([7, 1, 4]))
    np.testing.assert_array_equal(np.asarray(selected.get_traces_dict()["raw"]), multi.get_traces([7, 1, 4]))
    with pytest.raises(ValueError, match=r"ROI ids \[0\] .* 3 selected ROIs: \[7, 1, 4\]"):
        selected.get_roi_pixel_masks([0])
    assert multi.get_roi_ids() == list(range(9))  # the parent is untouched


def test_select_rois_refuses_empty_unknown_and_repeated_ids(multi):
    with pytest.raises(ValueError, match="roi_ids is empty"):
        multi.select_rois([])
    with pytest.raises(ValueError, match=r"\[10\]"):
        multi.select_rois([1, 10])
    with pytest.raises(ValueError, match=r"repeats \['1'\]"):
        multi.select_rois([1, 2, 1])


def test_select_rois_carries_the_extractors_own_properties(multi):
    multi.set_property("label", np.arange(9) * 3, list(range(9)))
    selected = multi.select_rois([8, 2])
    np.testing.assert_array_equal(selected.get_property("label", [2, 8]), [6, 24])


def test_slice_samples_slices_every_plane(multi, planes):
    sliced = multi.slice_samples(10, 25)
    assert isinstance(sliced, MultiSegmentationExtractor)
    assert sliced.get_num_samples() == 15
    assert sliced.get_roi_ids() == multi.get_roi_ids()
    np.testing.assert_array_equal(sliced.get_traces(MIXED_IDS), multi.get_traces(MIXED_IDS, 10, 25))
    np.testing.assert_array_equal(sliced.get_traces([8], 2, 4), planes[2].get_traces([3], 12, 14))
    np.testing.assert_array_equal(sliced.get_roi_image_masks([3]), multi.get_roi_image_masks([3]))
    with pytest.raises(ValueError, match="holds no samples"):
        multi.slice_samples(20, 20)
    with pytest.raises(ValueError, match="end_sample=50 is outside 0..40"):
        multi.slice_samples(0, 50)


def test_slices_and_selections_compose_and_keep_set_times(multi):
    multi.set_times(np.linspace(100.0, 101.0, NUM_SAMPLES))
    view = multi.select_rois([5, 3]).slice_samples(4, 12)
    assert view.get_roi_ids() == [5, 3]
    np.testing.assert_array_equal(view.get_traces(), multi.get_traces([5, 3], 4, 12))
    np.testing.assert_array_equal(view.get_timestamps(), multi.get_timestamps(4, 12))
    other_way = multi.slice_samples(4, 12).select_rois([5, 3])
    np.testing.assert_array_equal(other_way.get_traces(), view.get_traces())


# ---------------------------------------------------------------------- test planes


class RecordingTraces:
    """A (samples, rois) array stand-in that notes every read, as a lazy h5py dataset would cost one."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.ndim = data.ndim
        self.reads: list[object] = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.data[key]

    def __array__(self, dtype=None, copy=None):
        self.reads.append("everything")
        return np.asarray(self.data, dtype=dtype)


class LazyTracePlane(NumpySegmentationExtractor):
    """A plane whose raw traces live in a RecordingTraces and are read only by slicing it."""

    def __init__(self, *, recorder: RecordingTraces, raw=None, dff=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder

    def get_traces_dict(self) -> dict:
        return {"raw": self.recorder}

    def get_num_samples(self) -> int:
        return self.recorder.shape[0]

    def get_traces(self, roi_ids=None, start_frame=None, end_frame=None, name="raw"):
        if name != "raw":
            return None
        own_ids = self.get_roi_ids()
        columns = list(range(len(own_ids))) if roi_ids is None else [own_ids.index(r) for r in roi_ids]
        return self.recorder[slice(start_frame, end_frame), columns]


class CuratedPlane(NumpySegmentationExtractor):
    """A plane that answers get_accepted_list / get_rejected_list itself, as roiextractors' EXTRACT does."""

    def get_accepted_list(self) -> list:
        return [1]

    def get_rejected_list(self) -> list:
        return [0]


class ChannelPlane(NumpySegmentationExtractor):
    """A plane that names its channels."""

    def get_channel_names(self) -> list[str]:
        return list(self._channel_names)


class TimestampedPlane(NumpySegmentationExtractor):
    """A plane with native timestamps of its own."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.native_times = np.arange(self.get_num_samples()) / RATE + 5.0

    def get_native_timestamps(self, start_sample=None, end_sample=None):
        return self.native_times[start_sample:end_sample]


class BackgroundPlane(NumpySegmentationExtractor):
    """A plane with background components 'background0'… (masks and traces), as CaImAn gives."""

    def __init__(self, *, num_background: int, **kwargs) -> None:
        super().__init__(**kwargs)
        rng = np.random.default_rng(num_background + 100)
        self.background_masks = rng.random((*FRAME, num_background))
        self.background_traces = rng.normal(size=(kwargs["raw"].shape[0], num_background))

    def get_background_ids(self) -> list[str]:
        return [f"background{i}" for i in range(self.background_masks.shape[2])]

    def get_num_background_components(self) -> int:
        return self.background_masks.shape[2]

    def _columns(self, background_ids) -> list[int]:
        own = self.get_background_ids()
        return list(range(len(own))) if background_ids is None else [own.index(b) for b in background_ids]

    def get_background_image_masks(self, background_ids=None) -> np.ndarray:
        return self.background_masks[:, :, self._columns(background_ids)]

    def get_background_pixel_masks(self, background_ids=None) -> list[np.ndarray]:
        masks = self.get_background_image_masks(background_ids)
        return [
            np.column_stack([*np.nonzero(masks[:, :, k]), masks[:, :, k][np.nonzero(masks[:, :, k])]])
            for k in range(masks.shape[2])
        ]

    def get_traces(self, roi_ids=None, start_frame=None, end_frame=None, name="raw"):
        if name == "background":
            return self.background_traces[start_frame:end_frame, self._columns(roi_ids)]
        return super().get_traces(roi_ids=roi_ids, start_frame=start_frame, end_frame=end_frame, name=name)

    def get_traces_dict(self) -> dict:
        return {**super().get_traces_dict(), "background": self.background_traces}
