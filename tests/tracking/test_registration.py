"""register_images recovers known shifts, rotations and affines of simulated mean images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segdb.errors import InvalidInputError
from segdb.synthetic import SimulatedFov, simulate_fov
from segdb.tracking import Registration, Transform, register_images, register_sessions, warp_image


def corner_error_px(estimate: Transform, truth: Transform, shape: tuple[int, int]) -> float:
    """Largest distance between where the two transforms put the frame's corners."""
    height, width = shape
    corners = np.array([[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]])
    return float(np.hypot(*(estimate.apply(corners) - truth.apply(corners)).T).max())


def test_rigid_registration_recovers_drift_and_rotation_within_half_a_pixel_and_degree():
    # Without tissue deformation the true rigid transform is the exact answer.
    fov = simulate_fov(n_sessions=4, drift_px=15.0, rotation_deg=5.0, deformation_px=0.0, seed=7)
    for session in fov.sessions[1:]:
        found = register_images(fov.sessions[0].mean_image, session.mean_image)
        assert corner_error_px(found.transform, session.transform, fov.frame_shape) < 0.5
        assert math.degrees(abs(found.transform.angle_rad - session.transform.angle_rad)) < 0.5
        assert found.transform.is_rigid()
        assert found.reliable and found.method == "rigid"


def test_deformed_sessions_register_to_within_the_deformation(
    default_fov: SimulatedFov, default_registrations: list[Registration]
):
    # The default simulation deforms the tissue by up to 1.5 px on top of the rigid
    # motion; the best rigid fit can differ from the rigid part by about that much.
    bound = 0.5 + 1.5 * default_fov.parameters["deformation_px"]
    for session, found in zip(default_fov.sessions[1:], default_registrations[1:], strict=True):
        assert corner_error_px(found.transform, session.transform, default_fov.frame_shape) < bound
        assert found.reliable


def test_registration_of_the_reference_session_is_the_identity(default_registrations):
    assert default_registrations[0].transform == Transform.identity()
    assert default_registrations[0].score == 1.0


def test_translation_method_recovers_a_pure_shift():
    fov = simulate_fov(n_sessions=2, rotation_deg=0.0, drift_px=12.0, deformation_px=0.0, seed=3)
    reference, moving = fov.sessions[0].mean_image, fov.sessions[1].mean_image
    truth = fov.sessions[1].transform
    found = register_images(reference, moving, method="translation", refine=False)
    assert found.transform.linear.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert corner_error_px(found.transform, truth, fov.frame_shape) < 0.25


def test_affine_method_recovers_scale_and_shear():
    reference = simulate_fov(n_sessions=1, seed=11).sessions[0].mean_image
    truth = Transform.from_matrix([[1.03, 0.015, -4.0], [-0.01, 0.98, 6.5]])  # moving -> reference
    # moving(q) = reference(truth(q)): warp the reference by the inverse.
    moving = warp_image(reference, truth.inverse())
    found = register_images(reference, moving, method="affine")
    assert found.method == "affine"
    assert corner_error_px(found.transform, truth, reference.shape) < 0.5
    rigid = register_images(reference, moving, method="rigid", refine=False)
    assert corner_error_px(rigid.transform, truth, reference.shape) > 2.0


def test_unrelated_fields_of_view_are_flagged_unreliable(default_fov: SimulatedFov):
    other = simulate_fov(n_sessions=1, seed=99).sessions[0].mean_image
    found = register_images(default_fov.sessions[0].mean_image, other)
    assert found.score < 0.3
    assert not found.reliable


def test_a_supplied_transform_is_scored_against_the_images(default_fov: SimulatedFov):
    reference, session = default_fov.sessions[0].mean_image, default_fov.sessions[2]
    right = Registration.supplied(session.transform, reference, session.mean_image)
    wrong = Registration.supplied(Transform.translation((6.0, -4.0)) @ session.transform, reference,
                                  session.mean_image)
    assert right.method == "supplied"
    assert right.reliable and right.score > wrong.score + 0.3
    unscored = Registration.supplied(session.transform)
    assert unscored.score is None and not unscored.reliable


def test_images_of_different_sizes_register():
    fov = simulate_fov(n_sessions=2, drift_px=8.0, deformation_px=0.0, seed=5)
    reference = fov.sessions[0].mean_image
    moving = fov.sessions[1].mean_image[:200, :230]  # cropping keeps pixel (0, 0) where it was
    found = register_images(reference, moving)
    assert corner_error_px(found.transform, fov.sessions[1].transform, (200, 230)) < 0.5


def test_nan_pixels_outside_the_motion_corrected_area_are_tolerated(default_fov: SimulatedFov):
    moving = default_fov.sessions[1].mean_image.astype(np.float64)
    moving[:, :6] = np.nan
    found = register_images(default_fov.sessions[0].mean_image, moving)
    assert corner_error_px(found.transform, default_fov.sessions[1].transform, default_fov.frame_shape) < 0.5


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"method": "elastic"}, "method is 'elastic'"),
        ({"highpass_sigma_px": 1.0, "lowpass_sigma_px": 2.0}, "must exceed lowpass_sigma_px"),
        ({"max_rotation_deg": -1.0}, "max_rotation_deg"),
        ({"angle_step_deg": 0.0}, "angle_step_deg"),
    ],
)
def test_bad_options_are_refused(default_fov: SimulatedFov, kwargs, words):
    image = default_fov.sessions[0].mean_image
    with pytest.raises(InvalidInputError, match=words):
        register_images(image, image, **kwargs)


def test_bad_images_are_refused():
    good = np.random.default_rng(0).random((64, 64))
    with pytest.raises(InvalidInputError, match="2-D"):
        register_images(good, np.zeros((4, 64, 64)))
    with pytest.raises(InvalidInputError, match="at least 16"):
        register_images(good, good[:8, :8])
    with pytest.raises(InvalidInputError, match="flat"):
        register_images(good, np.ones((64, 64)))
    with pytest.raises(InvalidInputError, match="no finite pixel"):
        register_images(good, np.full((64, 64), np.nan))
    with pytest.raises(InvalidInputError, match="reference_index"):
        register_sessions([good, good], reference_index=2)
    with pytest.raises(InvalidInputError, match="empty"):
        register_sessions([])
