"""Follow cells across sessions: register mean images, pair ROIs, build tracks.

Pure numpy/scipy computation on plain values (arrays and small frozen dataclasses); it
imports nothing from the catalog or the archive, which store what it returns.

* :mod:`~segdb.tracking.transforms`: :class:`Transform`, a 2-D affine of (x=col, y=row)
  points, and resampling of images and masks.
* :mod:`~segdb.tracking.registration`: :func:`register_images` estimates the transform
  between two sessions' mean images.
* :mod:`~segdb.tracking.matching`: :func:`match_sessions` pairs two sessions' ROIs,
  :func:`build_tracks` joins many sessions into tracks.
* :mod:`~segdb.tracking.simulate`: a field of view over sessions with known identities,
  and :func:`evaluate` for tracks against it.

>>> from segdb.tracking import simulate_fov, register_sessions, build_tracks, evaluate
>>> fov = simulate_fov(seed=1)                                        # doctest: +SKIP
>>> registrations = register_sessions(fov.mean_images())             # doctest: +SKIP
>>> sets = fov.roi_sets([r.transform for r in registrations])        # doctest: +SKIP
>>> evaluate(build_tracks(sets), fov)                                # doctest: +SKIP
"""

from __future__ import annotations

from segdb.tracking.matching import (
    DEFAULT_DISTANCE_WEIGHT,
    DEFAULT_IOU_WEIGHT,
    DEFAULT_MAX_DISTANCE_UM,
    DEFAULT_MAX_GAP,
    DEFAULT_MIN_IOU,
    MATCHING_METHOD,
    Pair,
    PairsSource,
    RoiSet,
    SparseMasks,
    Track,
    TrackLink,
    TrackMember,
    build_tracks,
    match_sessions,
    tracking_parameters,
)
from segdb.tracking.registration import (
    MIN_RELIABLE_OVERLAP,
    MIN_RELIABLE_SCORE,
    Registration,
    RegistrationMethod,
    register_images,
    register_sessions,
)
from segdb.tracking.simulate import (
    PairAccuracy,
    SimulatedFov,
    SimulatedSession,
    evaluate,
    session_segmentation_dict,
    simulate_fov,
)
from segdb.tracking.transforms import Transform, pixel_frame, warp_image, warp_mask, warp_masks

__all__ = [
    "DEFAULT_DISTANCE_WEIGHT",
    "DEFAULT_IOU_WEIGHT",
    "DEFAULT_MAX_DISTANCE_UM",
    "DEFAULT_MAX_GAP",
    "DEFAULT_MIN_IOU",
    "MATCHING_METHOD",
    "MIN_RELIABLE_OVERLAP",
    "MIN_RELIABLE_SCORE",
    "Pair",
    "PairAccuracy",
    "PairsSource",
    "Registration",
    "RegistrationMethod",
    "RoiSet",
    "SimulatedFov",
    "SimulatedSession",
    "SparseMasks",
    "Track",
    "TrackLink",
    "TrackMember",
    "Transform",
    "build_tracks",
    "evaluate",
    "match_sessions",
    "pixel_frame",
    "register_images",
    "register_sessions",
    "session_segmentation_dict",
    "simulate_fov",
    "tracking_parameters",
    "warp_image",
    "warp_mask",
    "warp_masks",
]
