"""A simulated field of view imaged over many sessions, with known cell identities.

:func:`simulate_fov` is the ground truth for registration and tracking: every ROI of
every session knows which cell it is, every session knows its true transform to
session 0; :func:`segdb.synthetic.groundtruth.evaluate` scores tracks against that truth.

The model
---------
* **Tissue.** Cells are ellipses fixed in the tissue (session 0's pixel frame), placed by
  dart throwing so that neighbours overlap at most a little (cells at different depths
  can overlap in projection), over an area wider than the frame so that drift
  brings cells in and out of view. Half of the cells are detectable in a session on
  average; the other half are still visible in the mean image (inactive cells are).
* **Sessions.** Session ``s`` sees the tissue through a rigid transform: a rotation of
  up to ``±rotation_deg`` about the frame centre and a shift of up to ``±drift_px`` per
  axis, drawn independently for each session (session 0 is the identity). On top of it
  the tissue itself is deformed a little in every session after the first (a smooth
  random displacement field of up to ``deformation_px``), as brains are between days,
  so no rigid or affine transform registers two sessions exactly.
* **Turnover.** Whether a cell is detected follows a two-state Markov chain per cell:
  a detected cell is lost in the next session with probability ``turnover`` and an
  undetected one is found with the same probability, so about half of the tissue's cells
  are detected in any session, some cells disappear and come back, and new ones appear.
  A detected cell yields a ROI only when its centre lies inside the frame.
* **Noisy masks.** Each ROI is its cell's ellipse as the session sees it, with the
  centre moved by N(0, (mask_noise * radius / 2)^2) pixels, the semi-axes scaled by
  1 + N(0, (mask_noise / 2)^2), a fraction ``mask_noise / 2`` of its pixels dropped and as
  many edge pixels added at random; weights are a bell profile times noise.
* **Mean images.** A smooth background texture fixed to the tissue, every cell in view
  (nucleus darker than cytoplasm, each cell's brightness varying by up to ±60% between
  sessions), a vignetting fixed to the microscope, a per-session gain, and pixel noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.ndimage

from segdb.conventions import DEFAULT_CHANNEL_NAME
from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks
from segdb.tracking.roi_sets import RoiSet
from segdb.tracking.transforms import Transform, pixel_frame

# A cell is detected in about this fraction of sessions (stationary state of the chain).
_DETECTED_FRACTION = 0.5
# Cells lie at different depths of the imaged slab, so in projection neighbours may
# overlap: centres are kept at least this fraction of the sum of their semi-major axes
# apart (1 would forbid overlap). Overlapping neighbours are what makes matching hard.
_SPACING = 0.75
# A ROI clipped by the frame edge to fewer pixels than this is not something a
# segmentation pipeline would report.
_MIN_ROI_PIXELS = 6


@dataclass(frozen=True, eq=False)
class SimulatedSession:
    """One simulated session of the field of view.

    Attributes
    ----------
    index : int
        Position of the session (0 is the reference).
    mean_image : (H, W) float32 array
        The session's mean image.
    roi_ids : (n,) int64 array
        ROI ids, unique over the whole simulation (as catalog ids would be), in an
        order unrelated to identity.
    cell_ids : (n,) int64 array
        True identity of each ROI (a tissue cell index).
    pixel_masks : tuple of (k, 3) float64 arrays
        ``[row, col, weight]`` of each ROI in this session's pixel frame.
    transform : Transform
        True rigid map from this session's pixel (x=col, y=row) frame to session 0's
        (the tissue's deformation comes on top, see :func:`simulate_fov`).
    """

    index: int
    mean_image: np.ndarray
    roi_ids: np.ndarray
    cell_ids: np.ndarray
    pixel_masks: tuple[np.ndarray, ...]
    transform: Transform

    @property
    def num_rois(self) -> int:
        """Number of ROIs in the session."""
        return int(self.roi_ids.size)

    def masks(self) -> CsrMasks:
        """The ROI masks as one :class:`~segdb.geometry.CsrMasks`."""
        return CsrMasks.from_pixel_masks(list(self.pixel_masks))

    def image_masks(self) -> np.ndarray:
        """Dense ``(H, W, n)`` float32 image masks (roiextractors' layout)."""
        height, width = self.mean_image.shape
        out = np.zeros((height, width, self.num_rois), dtype=np.float32)
        for index, pixels in enumerate(self.pixel_masks):
            out[pixels[:, 0].astype(np.int64), pixels[:, 1].astype(np.int64), index] = pixels[:, 2]
        return out


@dataclass(frozen=True, eq=False)
class SimulatedFov:
    """A field of view over sessions, with the truth; made by :func:`simulate_fov`.

    Attributes
    ----------
    sessions : tuple[SimulatedSession, ...]
        The sessions, in order.
    frame_shape : (height, width)
        Pixel size of every session's frame.
    pixel_size_um : float
        µm per pixel.
    parameters : dict
        The arguments :func:`simulate_fov` was called with.
    """

    sessions: tuple[SimulatedSession, ...]
    frame_shape: tuple[int, int]
    pixel_size_um: float
    parameters: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sessions)

    def mean_images(self) -> list[np.ndarray]:
        """Mean image of every session."""
        return [session.mean_image for session in self.sessions]

    def true_transforms(self) -> list[Transform]:
        """True map from each session's pixel frame to session 0's."""
        return [session.transform for session in self.sessions]

    def identities(self) -> dict[tuple[int, int], int]:
        """``{(session_index, roi_id): cell_id}`` for every ROI: the truth for :func:`evaluate`."""
        return {
            (session.index, int(roi)): int(cell)
            for session in self.sessions
            for roi, cell in zip(session.roi_ids, session.cell_ids, strict=True)
        }

    def roi_sets(self, transforms: Sequence[Transform] | None = None, *, with_masks: bool = True) -> list[RoiSet]:
        """One :class:`~segdb.tracking.roi_sets.RoiSet` per session, in session 0's µm frame.

        Parameters
        ----------
        transforms : sequence of Transform, optional
            Each session's pixel frame -> session 0's pixel frame, e.g. from
            :func:`~segdb.tracking.registration.register_sessions`; the true transforms
            when omitted.
        with_masks : bool
            Include the pixel masks (for IoU); without them matching uses centroids only.
        """
        chosen = self.true_transforms() if transforms is None else list(transforms)
        if len(chosen) != len(self.sessions):
            raise InvalidInputError(
                f"transforms holds {len(chosen)} transforms for {len(self.sessions)} sessions; give one per session"
            )
        to_um = pixel_frame(self.pixel_size_um)
        sets = [
            RoiSet.from_pixel_masks(session.roi_ids, session.masks(), to_um @ transform)
            for session, transform in zip(self.sessions, chosen, strict=True)
        ]
        return sets if with_masks else [roi_set.without_masks() for roi_set in sets]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float = math.inf) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        bound = f"between {low} and {high}" if math.isfinite(high) else f">= {low}"
        raise InvalidInputError(f"{name} must be a number {bound}, got {value!r}")
    return number


def _place_cells(
    rng: np.random.Generator, count: int, bounds: tuple[float, float, float, float], reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dart throwing: centres (x, y) of up to ``count`` cells kept ``_SPACING`` reaches apart.

    Returns the centres and, for each, its index into ``reach``.
    """
    x0, y0, x1, y1 = bounds
    cell = 2.0 * float(reach.max()) + 1.0
    grid: dict[tuple[int, int], list[int]] = {}
    centres: list[tuple[float, float]] = []
    kept: list[int] = []
    # Darts in batches: few Python-level operations per dart, and the attempts are bounded
    # so that an impossible density ends with fewer cells rather than a hang.
    attempts = 0
    candidate = 0
    while len(kept) < count and attempts < 60 * count:
        batch = rng.uniform((x0, y0), (x1, y1), size=(256, 2))
        for x, y in batch:
            attempts += 1
            r = reach[candidate % reach.size]
            gx, gy = int(x // cell), int(y // cell)
            clear = True
            for nx in (gx - 1, gx, gx + 1):
                for ny in (gy - 1, gy, gy + 1):
                    for other in grid.get((nx, ny), ()):
                        ox, oy = centres[other]
                        if (ox - x) ** 2 + (oy - y) ** 2 < (_SPACING * (r + reach[kept[other]])) ** 2:
                            clear = False
                            break
                    if not clear:
                        break
                if not clear:
                    break
            if clear:
                grid.setdefault((gx, gy), []).append(len(centres))
                centres.append((x, y))
                kept.append(candidate % reach.size)
                candidate += 1
                if len(kept) == count:
                    break
    return np.asarray(centres, dtype=np.float64).reshape(-1, 2), np.asarray(kept, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _Deformation:
    """A smooth displacement field D: tissue point c lies at c + D(c) in a session's world.

    D is a sum of a few plane waves with wavelengths of about the frame size, scaled so
    that its largest displacement over the frame is ``amplitude``.
    """

    amplitude: np.ndarray  # (k, 2) per-wave displacement (x, y)
    wave: np.ndarray  # (k, 2) wave vectors (rad / pixel)
    phase: np.ndarray  # (k,)

    @classmethod
    def none(cls) -> _Deformation:
        return cls(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))

    @classmethod
    def random(cls, rng: np.random.Generator, largest_px: float, frame_shape: tuple[int, int]) -> _Deformation:
        waves = 4
        size = float(max(frame_shape))
        direction = rng.uniform(0.0, 2 * math.pi, size=waves)
        wavelength = rng.uniform(0.8, 2.0, size=waves) * size
        wave = np.stack([np.cos(direction), np.sin(direction)], axis=1) * (2 * math.pi / wavelength)[:, np.newaxis]
        amplitude = rng.normal(size=(waves, 2))
        phase = rng.uniform(0.0, 2 * math.pi, size=waves)
        field = cls(amplitude, wave, phase)
        yy, xx = np.mgrid[0 : frame_shape[0] : 8, 0 : frame_shape[1] : 8]
        largest = np.hypot(*field.displacement(np.stack([xx.ravel(), yy.ravel()], axis=1).astype(float)).T).max()
        scale = 0.0 if largest == 0 else largest_px / largest
        return cls(amplitude * scale, wave, phase)

    def displacement(self, points: np.ndarray) -> np.ndarray:
        if self.phase.size == 0:
            return np.zeros_like(points)
        return np.sin(points @ self.wave.T + self.phase) @ self.amplitude

    def deform(self, points: np.ndarray) -> np.ndarray:
        """Where tissue points lie in the session's world."""
        return points + self.displacement(points)

    def seen_at(self, world: np.ndarray) -> np.ndarray:
        """The tissue point seen at each world point (first-order inverse of :meth:`deform`)."""
        return world - self.displacement(world)


def _ellipse_distance(dx: np.ndarray, dy: np.ndarray, semi_major: float, semi_minor: float, angle: float) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    along = (dx * cos + dy * sin) / semi_major
    across = (-dx * sin + dy * cos) / semi_minor
    return np.sqrt(along**2 + across**2)


def simulate_fov(
    n_sessions: int = 6,
    n_cells: int = 200,
    frame_shape: Sequence[int] = (256, 256),
    pixel_size_um: float = 1.2,
    drift_px: float = 10.0,
    rotation_deg: float = 3.0,
    turnover: float = 0.15,
    mask_noise: float = 0.3,
    seed: int = 0,
    *,
    deformation_px: float = 1.5,
    cell_radius_um: tuple[float, float] = (4.0, 6.0),
) -> SimulatedFov:
    """Simulate a field of view over sessions with known cell identities.

    Parameters
    ----------
    n_sessions : int
        Number of sessions (session 0 is the reference frame).
    n_cells : int
        About how many ROIs each session has (detected cells whose centre is in view).
    frame_shape : (height, width)
        Pixels per frame.
    pixel_size_um : float
        µm per pixel.
    drift_px : float
        Each session is shifted from session 0 by up to this many pixels per axis.
    rotation_deg : float
        Each session is turned from session 0 by up to this many degrees.
    turnover : float
        Per-session probability that a detected cell is lost (and that an undetected
        one is found), in [0, 1].
    mask_noise : float
        Strength of the mask noise, in [0, 1): see the module docstring.
    seed : int
        Same seed, same field of view.
    deformation_px : float
        Largest displacement of the smooth non-rigid deformation of the tissue in each
        session after the first.
    cell_radius_um : (low, high)
        Range of cell radii (geometric mean of the semi-axes).

    Returns
    -------
    SimulatedFov
    """
    n_sessions = _check_int("n_sessions", n_sessions, 1)
    n_cells = _check_int("n_cells", n_cells, 1)
    try:
        height, width = (int(v) for v in frame_shape)
    except (TypeError, ValueError):
        height = width = 0
    if height < 32 or width < 32:
        raise InvalidInputError(f"frame_shape must be (height, width), each at least 32 pixels, got {frame_shape!r}")
    pixel_size_um = _check_float("pixel_size_um", pixel_size_um, 1e-6)
    drift_px = _check_float("drift_px", drift_px, 0.0)
    rotation_deg = _check_float("rotation_deg", rotation_deg, 0.0, 45.0)
    turnover = _check_float("turnover", turnover, 0.0, 1.0)
    mask_noise = _check_float("mask_noise", mask_noise, 0.0, 0.99)
    deformation_px = _check_float("deformation_px", deformation_px, 0.0)
    radius_low, radius_high = (_check_float("cell_radius_um", v, 1e-6) for v in cell_radius_um)
    if radius_high < radius_low:
        raise InvalidInputError(f"cell_radius_um must be (low, high) with low <= high, got {cell_radius_um!r}")
    parameters = {
        "n_sessions": n_sessions, "n_cells": n_cells, "frame_shape": (height, width), "pixel_size_um": pixel_size_um,
        "drift_px": drift_px, "rotation_deg": rotation_deg, "turnover": turnover, "mask_noise": mask_noise,
        "seed": seed, "deformation_px": deformation_px, "cell_radius_um": (radius_low, radius_high),
    }
    rng = np.random.default_rng(seed)
    center = ((width - 1) / 2.0, (height - 1) / 2.0)

    transforms = [Transform.identity()]
    for _ in range(1, n_sessions):
        angle = math.radians(rng.uniform(-rotation_deg, rotation_deg))
        shift = rng.uniform(-drift_px, drift_px, size=2)
        transforms.append(Transform.rigid(angle, shift, center=center))
    deformations = [_Deformation.none()] + [
        _Deformation.random(rng, deformation_px, (height, width)) for _ in range(1, n_sessions)
    ]

    # The tissue area any session can see, with room for a cell's reach around it.
    half_diagonal = 0.5 * math.hypot(height, width)
    turn_px = 2 * half_diagonal * math.sin(math.radians(rotation_deg))
    margin = deformation_px + drift_px * math.sqrt(2) + turn_px + 2 * radius_high / pixel_size_um + 4
    bounds = (-margin, -margin, width + margin, height + margin)
    tissue_area = (width + 2 * margin) * (height + 2 * margin)
    n_tissue = round(n_cells / _DETECTED_FRACTION * tissue_area / (height * width))

    radii = rng.uniform(radius_low, radius_high, size=n_tissue) / pixel_size_um
    aspect = rng.uniform(1.0, 1.4, size=n_tissue)
    semi_major = radii * np.sqrt(aspect)
    semi_minor = radii / np.sqrt(aspect)
    orientation = rng.uniform(0.0, math.pi, size=n_tissue)
    centres, chosen = _place_cells(rng, n_tissue, bounds, semi_major)
    semi_major, semi_minor, orientation, radii = (a[chosen] for a in (semi_major, semi_minor, orientation, radii))
    n_tissue = centres.shape[0]
    base_brightness = rng.uniform(0.6, 1.4, size=n_tissue)

    # Which cells are detected in each session: a two-state Markov chain per cell.
    detected = np.empty((n_sessions, n_tissue), dtype=bool)
    detected[0] = rng.random(n_tissue) < _DETECTED_FRACTION
    for s in range(1, n_sessions):
        flip = rng.random(n_tissue) < turnover
        detected[s] = detected[s - 1] ^ flip

    # The tissue's cells rendered once as sparse (cell, canvas pixel, profile) triples;
    # each session only re-weights them by that session's brightness.
    canvas_x0, canvas_y0 = math.floor(bounds[0]), math.floor(bounds[1])
    canvas_w = math.ceil(bounds[2]) - canvas_x0 + 1
    canvas_h = math.ceil(bounds[3]) - canvas_y0 + 1
    owners, flat, profile = [], [], []
    for c in range(n_tissue):
        reach = math.ceil(semi_major[c]) + 2
        cx, cy = centres[c]
        xs = np.arange(int(cx) - reach, int(cx) + reach + 1)
        ys = np.arange(int(cy) - reach, int(cy) + reach + 1)
        gx, gy = np.meshgrid(xs, ys)
        d = _ellipse_distance(gx - cx, gy - cy, semi_major[c], semi_minor[c], orientation[c])
        # GCaMP fills the cytoplasm and spares the nucleus: a bright body, a darker centre.
        value = np.exp(-(d**2) / (2 * 0.55**2)) * (1.0 - 0.45 * np.exp(-(d**2) / (2 * 0.3**2)))
        keep = (value > 0.01) & (gx - canvas_x0 >= 0) & (gx - canvas_x0 < canvas_w) & (gy - canvas_y0 >= 0) & (
            gy - canvas_y0 < canvas_h)
        owners.append(np.full(int(keep.sum()), c))
        flat.append((gy[keep] - canvas_y0) * canvas_w + (gx[keep] - canvas_x0))
        profile.append(value[keep])
    owner_all = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    flat_all = np.concatenate(flat) if flat else np.zeros(0, dtype=np.int64)
    profile_all = np.concatenate(profile) if profile else np.zeros(0)

    texture = scipy.ndimage.gaussian_filter(rng.normal(size=(canvas_h, canvas_w)), 6.0)
    texture = texture / (texture.std() + 1e-12) * 0.15
    yy, xx = np.mgrid[:height, :width]
    vignetting = 1.0 - 0.35 * (((xx - center[0]) / width) ** 2 + ((yy - center[1]) / height) ** 2) * 4
    points_xy = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)

    sessions = []
    next_roi_id = 0
    for s, (transform, deformation) in enumerate(zip(transforms, deformations, strict=True)):
        # Cells change brightness between sessions (expression, activity, depth), and
        # active (detected) cells are brighter on average: mean images never repeat.
        brightness = base_brightness * rng.uniform(0.4, 1.6, size=n_tissue) * np.where(detected[s], 1.3, 1.0)
        canvas = 0.5 + texture + np.bincount(
            flat_all, weights=profile_all * brightness[owner_all], minlength=canvas_h * canvas_w
        ).reshape(canvas_h, canvas_w)
        tissue_xy = deformation.seen_at(transform.apply(points_xy))
        sampled = scipy.ndimage.map_coordinates(
            canvas, [tissue_xy[:, 1] - canvas_y0, tissue_xy[:, 0] - canvas_x0], order=1, mode="nearest"
        ).reshape(height, width)
        gain = rng.uniform(0.8, 1.2)  # laser power and PMT gain differ between days
        noise = rng.normal(0.0, 0.06, size=(height, width))
        mean_image = (gain * sampled * vignetting + noise).astype(np.float32)

        session_centres = transform.inverse().apply(deformation.deform(centres))
        in_view = (
            detected[s]
            & (session_centres[:, 0] >= 0) & (session_centres[:, 0] <= width - 1)
            & (session_centres[:, 1] >= 0) & (session_centres[:, 1] <= height - 1)
        )
        cells_here = np.flatnonzero(in_view)
        rng.shuffle(cells_here)
        masks, cell_ids = [], []
        for c in cells_here:
            mask = _noisy_mask(rng, centres[c], semi_major[c], semi_minor[c], orientation[c], radii[c],
                               transform, deformation, (height, width), mask_noise)
            if mask.shape[0] >= _MIN_ROI_PIXELS:
                masks.append(mask)
                cell_ids.append(c)
        roi_ids = np.arange(next_roi_id, next_roi_id + len(masks), dtype=np.int64)
        next_roi_id += len(masks)
        sessions.append(
            SimulatedSession(
                index=s, mean_image=mean_image, roi_ids=roi_ids, cell_ids=np.asarray(cell_ids, dtype=np.int64),
                pixel_masks=tuple(masks), transform=transform,
            )
        )
    return SimulatedFov(sessions=tuple(sessions), frame_shape=(height, width), pixel_size_um=pixel_size_um,
                        parameters=parameters)


def _noisy_mask(
    rng: np.random.Generator,
    centre_xy: np.ndarray,
    semi_major: float,
    semi_minor: float,
    orientation: float,
    radius: float,
    transform: Transform,
    deformation: _Deformation,
    frame_shape: tuple[int, int],
    mask_noise: float,
) -> np.ndarray:
    """A segmentation's take on one cell: its ellipse as the session sees it, with noise."""
    height, width = frame_shape
    jitter = rng.normal(0.0, mask_noise * radius / 2.0, size=2)
    scale = max(0.5, 1.0 + rng.normal(0.0, mask_noise / 2.0))
    major, minor = semi_major * scale, semi_minor * scale
    centre_session = transform.inverse().apply(deformation.deform(centre_xy[np.newaxis])[0]) + jitter
    reach = math.ceil(major) + 2
    xs = np.arange(int(centre_session[0]) - reach, int(centre_session[0]) + reach + 1)
    ys = np.arange(int(centre_session[1]) - reach, int(centre_session[1]) + reach + 1)
    gx, gy = np.meshgrid(xs, ys)
    # The ellipse is fixed in the tissue: test each session pixel where it lies in the tissue.
    tissue = deformation.seen_at(transform.apply(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float64)))
    jitter_tissue = transform.linear @ jitter
    d = _ellipse_distance(
        tissue[:, 0] - centre_xy[0] - jitter_tissue[0], tissue[:, 1] - centre_xy[1] - jitter_tissue[1],
        major, minor, orientation,
    ).reshape(gx.shape)
    inside = d <= 1.0
    if mask_noise > 0:
        ring = scipy.ndimage.binary_dilation(inside) & ~inside
        n_inside = int(inside.sum())
        drop = inside & (rng.random(inside.shape) < mask_noise / 2.0)
        add_probability = min(1.0, mask_noise / 2.0 * n_inside / max(1, int(ring.sum())))
        add = ring & (rng.random(inside.shape) < add_probability)
        inside = (inside & ~drop) | add
    in_frame = (gx >= 0) & (gx < width) & (gy >= 0) & (gy < height)
    keep = inside & in_frame
    weight = np.exp(-(d[keep] ** 2) / (2 * 0.6**2)) * rng.uniform(0.8, 1.2, size=int(keep.sum()))
    if weight.size:
        weight = weight / weight.max()
    return np.stack([gy[keep], gx[keep], weight], axis=1).astype(np.float64)


def session_segmentation_dict(
    session: SimulatedSession,
    *,
    n_frames: int = 100,
    sampling_frequency: float = 30.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Keyword arguments for ``roiextractors.NumpySegmentationExtractor`` for one session.

    ``NumpySegmentationExtractor(**session_segmentation_dict(fov.sessions[2]))`` gives an
    extractor that ``Archive.ingest`` accepts; ROI ids are the simulation's, so
    :meth:`SimulatedFov.identities` still names their cells after ingest.

    Parameters
    ----------
    session : SimulatedSession
        The session.
    n_frames : int
        Length of the (synthetic, small) traces.
    sampling_frequency : float
        Rate in Hz.
    seed : int
        Seed of the traces.

    Returns
    -------
    dict
        ``image_masks`` (H, W, n), ``raw`` and ``dff`` (n_frames, n), ``mean_image``,
        ``roi_ids``, ``sampling_frequency``, ``movie_dims`` and ``channel_names``.
    """
    # segdb.synthetic.cells pulls in roiextractors; only this helper needs it.
    from segdb.synthetic.cells import generate_traces

    n_frames = _check_int("n_frames", n_frames, 1)
    rng = np.random.default_rng(seed)
    traces = generate_traces(rng, session.num_rois, n_frames, float(sampling_frequency))
    return {
        "image_masks": session.image_masks(),
        "raw": np.ascontiguousarray(traces["raw"].T),
        "dff": np.ascontiguousarray(traces["dff"].T),
        "mean_image": np.asarray(session.mean_image),
        "roi_ids": [int(roi) for roi in session.roi_ids],
        "sampling_frequency": float(sampling_frequency),
        "movie_dims": tuple(session.mean_image.shape),
        "channel_names": [DEFAULT_CHANNEL_NAME],
    }


__all__ = [
    "SimulatedFov",
    "SimulatedSession",
    "session_segmentation_dict",
    "simulate_fov",
]
