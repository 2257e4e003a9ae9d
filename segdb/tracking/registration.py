"""Register the mean images of two sessions of one field of view.

:func:`register_images` estimates the :class:`~segdb.tracking.transforms.Transform` that
maps the *moving* session's pixel (x=col, y=row) coordinates to the *reference*
session's, so that a ROI of the moving session can be placed in the reference frame.

How (chosen for two-photon mean images: blobby cells on a smooth, uneven background,
drift of tens of pixels, rotation of a few degrees, cells that change brightness):

1. Both images are band-passed (a difference of Gaussians): the slow background and
   vignetting would otherwise dominate every correlation, and pixel noise would
   dominate a whitened one. Each is then scaled to zero mean and unit variance.
2. Rotation (``method="rigid"`` or ``"affine"``): the moving image is turned through a
   grid of angles (``±max_rotation_deg`` in ``angle_step_deg`` steps, on an image
   reduced to at most ~256 pixels a side for speed), each turned copy is phase-correlated
   with the reference under a Hann window, and the angle with the sharpest correlation
   peak wins; a parabola through its neighbours gives a sub-step angle. For the few
   degrees that sessions of one field of view differ by, this is more robust than
   log-polar correlation of spectrum magnitudes, whose low frequencies say little about
   rotation and whose window artefacts pull towards zero.
3. Translation at that angle by phase correlation on the full-resolution images, to a
   fraction of a pixel by a parabola fit through the correlation peak.
4. Refinement (``refine=True``): the normalised cross-correlation of the band-passed
   images over their overlap is maximised with :func:`scipy.optimize.minimize`
   (Nelder-Mead) over angle and shift, or over all six affine parameters for
   ``method="affine"``.

The returned :class:`Registration` carries that normalised cross-correlation as its
``score`` (1 is a perfect match; images of unrelated fields of view give about 0) and
the fraction of the reference frame the moving image covers, so callers can flag poor
registrations (:attr:`Registration.reliable`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.ndimage
import scipy.optimize

from segdb.errors import InvalidInputError
from segdb.tracking.transforms import Transform, warp_image

RegistrationMethod = Literal["translation", "rigid", "affine"]
_METHODS = ("translation", "rigid", "affine")

#: Below this score (normalised cross-correlation of the band-passed mean images after
#: registration) a registration is flagged as unreliable. Sessions of one field of view
#: in the simulator score 0.6-0.9; unrelated fields of view score about 0.
MIN_RELIABLE_SCORE = 0.3
#: Below this overlap (fraction of the reference frame covered by the moving image) a
#: registration is flagged as unreliable whatever its score.
MIN_RELIABLE_OVERLAP = 0.5

# The angle search runs on images reduced to about this many pixels a side.
_COARSE_SIZE = 256
# The NCC refinement runs on images reduced to at most about this many pixels a side:
# a few hundred warps of a 512 x 512 image would cost seconds, and half resolution
# still places cells of 8-12 pixels to well under a pixel.
_REFINE_SIZE = 320


@dataclass(frozen=True)
class Registration:
    """The result of :func:`register_images`.

    Attributes
    ----------
    transform : Transform
        Moving pixel (x, y) -> reference pixel (x, y).
    score : float or None
        Normalised cross-correlation of the band-passed images over their overlap after
        registration, in [-1, 1]; None when it was not measured (a supplied transform
        without images).
    overlap : float
        Fraction of the reference frame that the registered moving image covers.
    method : str
        ``"translation"``, ``"rigid"``, ``"affine"`` or ``"supplied"`` (see
        :meth:`supplied`).
    """

    transform: Transform
    score: float | None
    overlap: float
    method: str

    @property
    def reliable(self) -> bool:
        """Whether score and overlap clear :data:`MIN_RELIABLE_SCORE` and :data:`MIN_RELIABLE_OVERLAP`.

        False when the score was not measured.
        """
        if self.score is None:
            return False
        return self.score >= MIN_RELIABLE_SCORE and self.overlap >= MIN_RELIABLE_OVERLAP

    @classmethod
    def supplied(
        cls,
        transform: Transform,
        reference: np.ndarray | None = None,
        moving: np.ndarray | None = None,
        *,
        highpass_sigma_px: float = 10.0,
        lowpass_sigma_px: float = 1.0,
    ) -> Registration:
        """Wrap a transform a user gives, scoring it when both mean images are at hand.

        Without images the score is None and the overlap 1.0 (nothing to measure).
        """
        if not isinstance(transform, Transform):
            raise InvalidInputError(f"transform must be a Transform, got {type(transform).__name__}")
        if reference is None or moving is None:
            return cls(transform=transform, score=None, overlap=1.0, method="supplied")
        ref, mov = _prepare_pair(reference, moving, lowpass_sigma_px, highpass_sigma_px)
        score, overlap = _correlation(ref, mov, transform)
        return cls(transform=transform, score=score, overlap=overlap, method="supplied")


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 2:
        raise InvalidInputError(f"{name} must be a 2-D mean image (height, width), got shape {array.shape}")
    if min(array.shape) < 16:
        raise InvalidInputError(f"{name} is {array.shape}; registration needs at least 16 x 16 pixels")
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    if not finite.any():
        raise InvalidInputError(f"{name} holds no finite pixel")
    if not finite.all():
        # Pixels outside the motion-corrected area are often NaN; fill them with the
        # image's median so the band-pass does not spread NaN everywhere.
        array = np.where(finite, array, np.median(array[finite]))
    return array


def _bandpass(image: np.ndarray, low: float, high: float) -> np.ndarray:
    smooth = scipy.ndimage.gaussian_filter(image, low, mode="reflect") if low > 0 else image
    background = scipy.ndimage.gaussian_filter(image, high, mode="reflect")
    out = smooth - background
    out -= out.mean()
    std = out.std()
    if std == 0 or not np.isfinite(std):
        raise InvalidInputError(
            "a mean image is flat after removing its background (no cells or texture to register on); "
            "check that the right image was passed"
        )
    return out / std


def _prepare_pair(
    reference: np.ndarray, moving: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    for name, value in (("lowpass_sigma_px", low), ("highpass_sigma_px", high)):
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative number of pixels, got {value!r}")
    if high <= low:
        raise InvalidInputError(
            f"highpass_sigma_px ({high}) must exceed lowpass_sigma_px ({low}): the band kept lies between them"
        )
    ref = _bandpass(_check_image(reference, "reference"), low, high)
    mov = _bandpass(_check_image(moving, "moving"), low, high)
    return ref, mov


def _hann(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1]))


def _embed(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if image.shape == shape:
        return image
    out = np.zeros(shape, dtype=np.float64)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def _phase_correlation_peak(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Integer shift (row, col) with ``reference(p) ≈ moving(p - shift)``, the peak height, the surface."""
    cross = np.fft.rfft2(reference) * np.conj(np.fft.rfft2(moving))
    cross /= np.abs(cross) + 1e-12
    surface = np.fft.irfft2(cross, s=reference.shape)
    peak = np.array(np.unravel_index(int(np.argmax(surface)), surface.shape))
    shape = np.array(surface.shape)
    shift = np.where(peak > shape // 2, peak - shape, peak)
    return shift.astype(np.float64), float(surface[tuple(peak)]), surface


def _subpixel_shift(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Shift (row, col) with ``reference(p) ≈ moving(p - shift)``, refined by a parabola through the peak."""
    shift, _, surface = _phase_correlation_peak(reference, moving)
    refined = shift.copy()
    peak = [int(v) % n for v, n in zip(shift, surface.shape, strict=True)]
    for axis in range(2):
        before, after = list(peak), list(peak)
        before[axis] = (peak[axis] - 1) % surface.shape[axis]
        after[axis] = (peak[axis] + 1) % surface.shape[axis]
        left, centre, right = surface[tuple(before)], surface[tuple(peak)], surface[tuple(after)]
        curvature = left - 2 * centre + right
        if curvature < 0:
            refined[axis] += 0.5 * (left - right) / curvature
    return refined


def _reduce(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    height = image.shape[0] // factor * factor
    width = image.shape[1] // factor * factor
    return image[:height, :width].reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def _center_xy(shape: tuple[int, int]) -> tuple[float, float]:
    return (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0


def _best_angle(reference: np.ndarray, moving: np.ndarray, max_rotation_deg: float, step_deg: float) -> float:
    """The angle (radians) whose turned moving image phase-correlates best with the reference."""
    factor = max(1, math.ceil(max(reference.shape) / _COARSE_SIZE))
    ref = _reduce(reference, factor)
    mov = _reduce(moving, factor)
    window = _hann(ref.shape)
    ref_windowed = ref * window
    center = _center_xy(ref.shape)
    steps = math.floor(max_rotation_deg / step_deg + 1e-9)
    angles_deg = np.arange(-steps, steps + 1) * step_deg
    peaks = np.empty(angles_deg.size)
    for index, angle_deg in enumerate(angles_deg):
        turned = warp_image(mov, Transform.rigid(math.radians(angle_deg), center=center), cval=0.0)
        _, peaks[index], _ = _phase_correlation_peak(ref_windowed, turned * window)
    best = int(np.argmax(peaks))
    angle = float(angles_deg[best])
    if 0 < best < peaks.size - 1:
        left, centre, right = peaks[best - 1], peaks[best], peaks[best + 1]
        curvature = left - 2 * centre + right
        if curvature < 0:
            angle += step_deg * float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    return math.radians(angle)


def _correlation(
    reference: np.ndarray, moving: np.ndarray, transform: Transform, stride: int = 1
) -> tuple[float, float]:
    """NCC of the reference and the registered moving image over their overlap, and the overlap fraction.

    Only every ``stride``-th reference pixel along each axis is compared: the
    refinement's few hundred evaluations use 2 (a quarter of the pixels, smooth enough
    to optimise), the final score uses them all.
    """
    rows = np.arange(0, reference.shape[0], stride, dtype=np.float64)
    cols = np.arange(0, reference.shape[1], stride, dtype=np.float64)
    grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
    source = transform.inverse().apply(np.column_stack([grid_cols.ravel(), grid_rows.ravel()]))
    warped = scipy.ndimage.map_coordinates(moving, [source[:, 1], source[:, 0]], order=1, cval=np.nan)
    valid = np.isfinite(warped)
    count = int(np.count_nonzero(valid))
    overlap = count / warped.size
    if count < 16:
        return -1.0, overlap
    # Sums over the overlap without gathering it: zero the pixels outside it instead.
    b = np.where(valid, warped, 0.0)
    a = np.where(valid, reference[::stride, ::stride].ravel(), 0.0)
    sum_a, sum_b = float(a.sum()), float(b.sum())
    # einsum rather than a BLAS dot: on a busy machine a threaded dot of one image costs
    # a millisecond of thread hand-off, twenty times the arithmetic.
    cov = float(np.einsum("i,i->", a, b)) - sum_a * sum_b / count
    var_a = float(np.einsum("i,i->", a, a)) - sum_a * sum_a / count
    var_b = float(np.einsum("i,i->", b, b)) - sum_b * sum_b / count
    if var_a <= 0 or var_b <= 0:
        return -1.0, overlap
    return cov / math.sqrt(var_a * var_b), overlap


def _refine(reference: np.ndarray, moving: np.ndarray, initial: Transform, method: str) -> Transform:
    """Maximise NCC from ``initial``; large images are refined at a reduced resolution."""
    factor = max(1, math.ceil(max(*reference.shape, *moving.shape) / _REFINE_SIZE))
    if factor == 1:
        return _refine_at(reference, moving, initial, method)
    # Block-averaged pixel i covers full pixels f*i .. f*i + f - 1, whose centre is
    # f*i + (f - 1)/2: conjugating by that map carries transforms between resolutions.
    half = (factor - 1) / 2.0
    to_full = Transform(((float(factor), 0.0, half), (0.0, float(factor), half)))
    reduced = to_full.inverse() @ initial @ to_full
    refined = _refine_at(_reduce(reference, factor), _reduce(moving, factor), reduced, method)
    return to_full @ refined @ to_full.inverse()


def _refine_at(reference: np.ndarray, moving: np.ndarray, initial: Transform, method: str) -> Transform:
    center = np.array(_center_xy(reference.shape))
    # Parameters are scaled so that one unit moves a typical pixel by about one pixel:
    # Nelder-Mead's simplex then has the same reach along every axis.
    radius = 0.5 * min(reference.shape)
    linear0 = initial.linear
    # Re-express the initial transform about the image centre: p' = L (p - c) + c + t.
    t0 = initial.apply(center) - center

    def build(params: np.ndarray) -> Transform:
        if method == "affine":
            linear = linear0 + params[:4].reshape(2, 2) / radius
            shift = t0 + params[4:]
        elif method == "rigid":
            base_angle = math.atan2(linear0[1, 0], linear0[0, 0])
            angle = base_angle + params[0] / radius
            cos, sin = math.cos(angle), math.sin(angle)
            linear = np.array([[cos, -sin], [sin, cos]])
            shift = t0 + params[1:]
        else:
            linear = linear0
            shift = t0 + params
        offset = center + shift - linear @ center
        return Transform.from_matrix(np.column_stack([linear, offset]))

    def cost(params: np.ndarray) -> float:
        try:
            transform = build(params)
        except InvalidInputError:
            return 2.0
        score, overlap = _correlation(reference, moving, transform, stride=2)
        # An overlap that shrinks to a corner can correlate by chance; refuse it.
        return 2.0 if overlap < 0.2 else -score

    size = {"affine": 6, "rigid": 3, "translation": 2}[method]
    simplex = np.vstack([np.zeros(size), 0.5 * np.eye(size)])
    result = scipy.optimize.minimize(
        cost, np.zeros(size), method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 0.01, "fatol": 1e-6, "maxiter": 200 * size},
    )
    best = result.x if result.fun <= cost(np.zeros(size)) else np.zeros(size)
    return build(best)


def register_images(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    method: RegistrationMethod = "rigid",
    max_rotation_deg: float = 10.0,
    angle_step_deg: float = 1.0,
    highpass_sigma_px: float = 10.0,
    lowpass_sigma_px: float = 1.0,
    refine: bool = True,
) -> Registration:
    """Estimate the transform from ``moving``'s pixel frame to ``reference``'s.

    Parameters
    ----------
    reference, moving : (H, W) arrays
        Mean (or other summary) images of the same field of view in two sessions. They
        may differ in size; pixel (0, 0) of each is its own frame's origin.
    method : {"rigid", "translation", "affine"}
        Degrees of freedom: shift only; shift and rotation; or a full affine (shift,
        rotation, scale, shear), found by refining the rigid result.
    max_rotation_deg, angle_step_deg : float
        The rotation search covers ``±max_rotation_deg`` in steps of ``angle_step_deg``
        (rigid and affine only).
    highpass_sigma_px, lowpass_sigma_px : float
        Band-pass (difference of Gaussians, in pixels): structures much larger than
        ``highpass_sigma_px`` (background, vignetting) and smaller than
        ``lowpass_sigma_px`` (pixel noise) are ignored.
    refine : bool
        Maximise the images' normalised cross-correlation after the phase-correlation
        estimate (sub-pixel, sub-0.1° on cell-rich images; a few hundred image warps).

    Returns
    -------
    Registration
        ``transform`` maps moving (x, y) pixels to reference (x, y) pixels; ``score`` and
        ``overlap`` say how well the images agree after registration.

    Examples
    --------
    >>> registration = register_images(mean_session0, mean_session3)  # doctest: +SKIP
    >>> registration.transform.apply_rowcol(centroids_rowcol_session3)  # doctest: +SKIP
    """
    if method not in _METHODS:
        raise InvalidInputError(f"method is {method!r}; choose one of {', '.join(map(repr, _METHODS))}")
    for name, value in (("max_rotation_deg", max_rotation_deg), ("angle_step_deg", angle_step_deg)):
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative number of degrees, got {value!r}")
    if method != "translation" and angle_step_deg <= 0:
        raise InvalidInputError(f"angle_step_deg must be positive for method {method!r}, got {angle_step_deg!r}")
    ref, mov = _prepare_pair(reference, moving, float(lowpass_sigma_px), float(highpass_sigma_px))
    shape = (max(ref.shape[0], mov.shape[0]), max(ref.shape[1], mov.shape[1]))
    ref_canvas = _embed(ref, shape)
    mov_canvas = _embed(mov, shape)
    center = _center_xy(shape)

    angle = 0.0
    if method != "translation" and max_rotation_deg > 0:
        angle = _best_angle(ref_canvas, mov_canvas, float(max_rotation_deg), float(angle_step_deg))
    turn = Transform.rigid(angle, center=center)
    turned = warp_image(mov_canvas, turn, cval=0.0) if angle != 0.0 else mov_canvas
    window = _hann(shape)
    shift_rc = _subpixel_shift(ref_canvas * window, turned * window)
    estimate = Transform.translation((shift_rc[1], shift_rc[0])) @ turn
    if refine:
        estimate = _refine(ref, mov, estimate, method)
    score, overlap = _correlation(ref, mov, estimate)
    return Registration(transform=estimate, score=score, overlap=overlap, method=method)


def register_sessions(
    mean_images: Sequence[np.ndarray],
    *,
    reference_index: int = 0,
    method: RegistrationMethod = "rigid",
    **options: float | bool,
) -> list[Registration]:
    """Register every session's mean image to one reference session's.

    Parameters
    ----------
    mean_images : sequence of (H, W) arrays
        One mean image per session (of the same field of view and plane).
    reference_index : int
        The session whose frame is the reference; its own registration is the identity
        (score 1).
    method, **options
        Passed to :func:`register_images`.

    Returns
    -------
    list[Registration]
        One per session, in order; each maps that session's pixels to the reference's.
    """
    images = list(mean_images)
    if not images:
        raise InvalidInputError("mean_images is empty; give one mean image per session")
    if not -len(images) <= reference_index < len(images):
        raise InvalidInputError(
            f"reference_index is {reference_index}, but there are {len(images)} sessions (0..{len(images) - 1})"
        )
    reference_index %= len(images)
    reference = images[reference_index]
    identity = Registration(transform=Transform.identity(), score=1.0, overlap=1.0, method=method)
    return [
        identity if index == reference_index
        else register_images(reference, image, method=method, **options)  # type: ignore[arg-type]
        for index, image in enumerate(images)
    ]


__all__ = [
    "MIN_RELIABLE_OVERLAP",
    "MIN_RELIABLE_SCORE",
    "Registration",
    "RegistrationMethod",
    "register_images",
    "register_sessions",
]
