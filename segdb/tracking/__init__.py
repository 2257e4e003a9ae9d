"""Follow cells across sessions: register mean images, pair ROIs, build tracks.

Pure numpy/scipy computation on plain values (arrays and small frozen dataclasses); the
archive stores what it returns.

* :mod:`~segdb.tracking.transforms`: :class:`Transform`, a 2-D affine of (x=col, y=row)
  points, and resampling of images and masks.
* :mod:`~segdb.tracking.registration`: :func:`register_images` estimates the transform
  between two sessions' mean images.
* :mod:`~segdb.tracking.roi_sets`: :class:`RoiSet`, one session's ROIs as matching sees them.
* :mod:`~segdb.tracking.pairing`: :func:`match_sessions` pairs two sessions' ROIs, scored
  as one :class:`MatchParameters` says.
* :mod:`~segdb.tracking.tracks`: :func:`build_tracks` joins many sessions into tracks.
* :mod:`~segdb.tracking.store`: registration and matching runs kept in an archive.

May import: numpy, scipy, :mod:`segdb.geometry` (pixel masks, centroids, affines) and
:mod:`segdb.errors`; :mod:`~segdb.tracking.store` alone also uses :mod:`segdb.archive`
and :mod:`segdb.catalog`, and importing this package does not import it. Nothing here
imports :mod:`segdb.synthetic`, :mod:`segdb.ingest`, :mod:`segdb.extractors` or
:mod:`segdb.curation`.

Simulated fields of view with known identities, to test all of this against, live in
:mod:`segdb.synthetic.fov`.

>>> from segdb.synthetic import simulate_fov, evaluate
>>> from segdb.tracking import register_sessions, build_tracks
>>> fov = simulate_fov(seed=1)                                        # doctest: +SKIP
>>> registrations = register_sessions(fov.mean_images())             # doctest: +SKIP
>>> sets = fov.roi_sets([r.transform for r in registrations])        # doctest: +SKIP
>>> evaluate(build_tracks(sets), fov)                                # doctest: +SKIP
"""

from __future__ import annotations

from segdb.tracking.pairing import (
    DEFAULT_DISTANCE_WEIGHT,
    DEFAULT_IOU_WEIGHT,
    DEFAULT_MAX_DISTANCE_UM,
    DEFAULT_MIN_IOU,
    MatchParameters,
    Pair,
    match_sessions,
)
from segdb.tracking.registration import (
    MIN_RELIABLE_OVERLAP,
    MIN_RELIABLE_SCORE,
    Registration,
    RegistrationMethod,
    register_images,
    register_sessions,
)
from segdb.tracking.roi_sets import RoiSet
from segdb.tracking.tracks import (
    DEFAULT_MAX_GAP,
    MATCHING_METHOD,
    PairsSource,
    Track,
    TrackLink,
    TrackMember,
    build_tracks,
    tracking_parameters,
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
    "MatchParameters",
    "Pair",
    "PairsSource",
    "Registration",
    "RegistrationMethod",
    "RoiSet",
    "Track",
    "TrackLink",
    "TrackMember",
    "Transform",
    "build_tracks",
    "match_sessions",
    "pixel_frame",
    "register_images",
    "register_sessions",
    "tracking_parameters",
    "warp_image",
    "warp_mask",
    "warp_masks",
]
