"""Suite2p output as roiextractors segmentation extractors.

suite2p saves one folder per plane (``suite2p/plane0``, ``plane1``, …; a ``combined``
folder merges them for viewing and is not a plane). Each plane folder holds ``stat.npy``
(per-ROI pixels and shape statistics), ``F.npy``/``Fneu.npy``/``spks.npy`` traces shaped
(n_rois, n_frames), ``iscell.npy`` (classifier decision, probability) and ``ops.npy`` (the
run's settings and summary images). A second channel adds ``F_chan2.npy`` and
``Fneu_chan2.npy`` for the same ROIs.

:func:`find_suite2p_planes` lists every (plane, channel) a folder holds;
:func:`suite2p_extractor` opens one of them. With ``ops.npy`` the reader is roiextractors'
own ``Suite2pSegmentationExtractor``; without it (ops is often deleted because it is
large) segdb builds an equivalent extractor once told the frame shape and rate.
"""

from __future__ import annotations

import math
import pickle
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from natsort import natsorted
from numpy.lib import format as npy_format
from roiextractors import SegmentationExtractor, Suite2pSegmentationExtractor
from roiextractors.segmentationextractor import _ROIMasks, _RoiResponse

from segdb.errors import InvalidInputError, NotFoundError, SegDBError
from segdb.ingest.settings import kept_settings

_PLANE_FOLDER = re.compile(r"plane\d+")

# stat.npy fields worth filtering ROIs on, stored as float properties of the same name.
STAT_PROPERTIES: dict[str, str] = {
    "npix": "Number of pixels in the ROI (suite2p stat['npix'])",
    "compact": "Compactness: mean distance to the centre relative to a disk's; 1 is a disk (suite2p)",
    "skew": "Skewness of the neuropil-corrected trace (suite2p)",
    "std": "Standard deviation of the neuropil-corrected trace (suite2p)",
    "radius": "Radius of the ellipse fitted to the ROI, in pixels (suite2p)",
    "aspect_ratio": "Aspect ratio of the ellipse fitted to the ROI (suite2p)",
    "footprint": "Spatial scale at which the ROI was detected (suite2p)",
}


#: What ``require=`` (``--require``) can insist on, and the file each needs.
REQUIRABLE = {"raw": "F.npy", "iscell": "iscell.npy"}

_COPIED = "was the folder copied completely?"


@dataclass(frozen=True)
class Suite2pPlane:
    """One plane and channel of a suite2p output folder.

    Attributes
    ----------
    plane_name : str
        Name of the plane folder, e.g. ``"plane0"``.
    channel_name : str
        ``"chan1"`` (functional) or ``"chan2"`` (second, usually anatomical, channel).
    path : Path
        The plane folder that holds ``stat.npy``.
    """

    plane_name: str
    channel_name: str
    path: Path

    @property
    def suite2p_folder(self) -> Path:
        """The folder holding the plane folders (what roiextractors' reader is given)."""
        return self.path.parent


def _is_plane_folder(folder: Path) -> bool:
    return (folder / "stat.npy").is_file()


def _channels_of(plane_folder: Path) -> list[str]:
    return ["chan1", "chan2"] if (plane_folder / "F_chan2.npy").is_file() else ["chan1"]


def find_suite2p_planes(folder: str | Path) -> list[Suite2pPlane]:
    """List every plane and channel of a suite2p output folder.

    Parameters
    ----------
    folder : str or Path
        The ``suite2p`` folder (holding ``plane0/``, ``plane1/``, …), a single plane
        folder (holding ``stat.npy``), or the folder suite2p was told to save into
        (holding ``suite2p/``).

    Returns
    -------
    list[Suite2pPlane]
        One entry per plane and channel, planes in natural order (plane2 before plane10),
        ``chan1`` before ``chan2``. The ``combined`` folder is not a plane and is skipped.

    Raises
    ------
    NotFoundError
        If ``folder`` does not exist or holds no plane with a ``stat.npy``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFoundError(
            f"Suite2p folder '{folder}' does not exist or is not a folder; pass the 'suite2p' output folder."
        )

    if _is_plane_folder(folder):
        plane_folders = [folder]
    else:
        root = folder
        if not any(_PLANE_FOLDER.fullmatch(child.name) for child in folder.iterdir()) and (folder / "suite2p").is_dir():
            root = folder / "suite2p"
        candidates = natsorted(
            (child for child in root.iterdir() if child.is_dir() and _PLANE_FOLDER.fullmatch(child.name)),
            key=lambda child: child.name,
        )
        plane_folders = []
        for candidate in candidates:
            if _is_plane_folder(candidate):
                plane_folders.append(candidate)
            else:
                # suite2p leaves a plane without stat.npy when detection was switched off
                # or crashed; it has no ROIs to archive, but the user should hear of it.
                warnings.warn(
                    f"Skipping suite2p plane folder '{candidate}': it has no stat.npy (was ROI detection run?).",
                    UserWarning,
                    stacklevel=2,
                )
    if not plane_folders:
        raise NotFoundError(
            f"No suite2p planes found in '{folder}': looked for stat.npy in it and in its plane*/ "
            "sub-folders (e.g. suite2p/plane0/stat.npy). Pass the 'suite2p' output folder or one plane folder."
        )
    return [
        Suite2pPlane(plane_name=plane_folder.name, channel_name=channel, path=plane_folder)
        for plane_folder in plane_folders
        for channel in _channels_of(plane_folder)
    ]

@dataclass(frozen=True)
class Suite2pPlaneFiles:
    """What :func:`check_suite2p_plane` found in a plane folder, all files checked.

    Attributes
    ----------
    n_rois : int
        ROIs in ``stat.npy``; every trace and classifier file has as many rows.
    n_frames : int
        Frames in the trace files.
    options : dict or None
        The content of ``ops.npy``, or None when the plane has none.
    warnings : tuple[str, ...]
        What is missing and what that means for the archived segmentation, one sentence each.
    """

    n_rois: int
    n_frames: int
    options: dict | None
    warnings: tuple[str, ...]


def _in_plane(path: Path) -> str:
    return f"{path.name} in {path.parent}"


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` file announces, checked against its size; nothing is loaded."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError(f"{_in_plane(path)} is empty (0 bytes); {_COPIED}")
    try:
        with path.open("rb") as file:
            version = npy_format.read_magic(file)
            if version == (1, 0):
                shape, _fortran, dtype = npy_format.read_array_header_1_0(file)
            else:
                shape, _fortran, dtype = npy_format.read_array_header_2_0(file)
            data_start = file.tell()
    except (ValueError, EOFError, SyntaxError) as error:
        raise InvalidInputError(
            f"{_in_plane(path)} is not a readable .npy file (its header is damaged: {error}); {_COPIED}"
        ) from None
    if not dtype.hasobject:
        expected = data_start + math.prod(shape) * dtype.itemsize
        if size < expected:
            raise InvalidInputError(
                f"{_in_plane(path)} is truncated: it has {size:,} bytes of the {expected:,} its header announces "
                f"for a {dtype} array of shape {shape}; {_COPIED}"
            )
    return tuple(shape), dtype


# What suite2p's stat.npy and ops.npy hold when unpickled: numpy arrays, dtypes and scalars inside
# dicts, lists and tuples, and datetimes (ops' date_proc). Nothing else is ever imported or called
# while reading them, so a crafted folder cannot run code during an ingest.
_PICKLE_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"), ("datetime", "datetime"), ("datetime", "date"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("collections", "OrderedDict"),
}


class _ForeignPickle(pickle.UnpicklingError):
    """A pickle that names something suite2p never writes."""


class _Suite2pUnpickler(pickle.Unpickler):
    """Unpickles only the types suite2p writes (:data:`_PICKLE_GLOBALS`)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_GLOBALS or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise _ForeignPickle(f"{module}.{name}")


def _load_pickled(path: Path) -> Any:
    """A ``.npy`` file suite2p writes with pickled objects (``stat.npy``, ``ops.npy``), or one clear error.

    Only the types suite2p writes are unpickled (:class:`_Suite2pUnpickler`).
    """
    _npy_header(path)
    try:
        with open(path, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else (
                np.lib.format.read_array_header_2_0)
            _, _, dtype = read_header(stream)
            if not dtype.hasobject:
                return np.load(path, allow_pickle=False)
            return _Suite2pUnpickler(stream).load()
    except _ForeignPickle as foreign:
        raise InvalidInputError(
            f"{_in_plane(path)} asks to load {foreign}, which suite2p never writes; segdb does not run code from a "
            "file, so it is refused: is it really suite2p's output?"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, AttributeError, ImportError, TypeError,
            IndexError, KeyError) as error:
        raise InvalidInputError(f"{_in_plane(path)} cannot be read ({error}); {_COPIED}") from None


def _checked_stat(path: Path) -> np.ndarray:
    stat = _load_pickled(path)
    fields = ("ypix", "xpix", "lam")
    hint = f"it must be the stat.npy suite2p wrote, one dict per ROI with {', '.join(fields)}"
    if not isinstance(stat, np.ndarray) or stat.ndim != 1 or stat.dtype != object:
        shape = getattr(stat, "shape", None)
        dtype = getattr(stat, "dtype", type(stat).__name__)
        raise InvalidInputError(
            f"{_in_plane(path)} is not suite2p's ROI statistics: it holds a {dtype} array of shape {shape}; {hint}"
        )
    for index, entry in enumerate(stat):
        missing = [field for field in fields if not isinstance(entry, dict) or field not in entry]
        if missing:
            what = f"has no {', '.join(missing)}" if isinstance(entry, dict) else f"is a {type(entry).__name__}"
            raise InvalidInputError(f"{_in_plane(path)} is not suite2p's ROI statistics: ROI {index} {what}; {hint}")
        sizes = {field: np.asarray(entry[field]).size for field in fields}
        if len(set(sizes.values())) != 1:
            raise InvalidInputError(
                f"{_in_plane(path)} is damaged: ROI {index} has {sizes['ypix']} ypix, {sizes['xpix']} xpix and "
                f"{sizes['lam']} lam values, which must be as many; {_COPIED}"
            )
    return stat


def _held(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _checked_options(path: Path) -> dict:
    options = _load_pickled(path)
    if isinstance(options, np.ndarray) and options.shape == () and options.dtype == object:
        options = options.item()
    if not isinstance(options, dict):
        raise InvalidInputError(
            f"{_in_plane(path)} is not suite2p's settings: it holds {_held(options)}, not a dict; "
            "remove it (and pass --frame-shape and --rate) or put back the ops.npy suite2p wrote"
        )
    missing = [key for key in ("Ly", "Lx", "fs") if key not in options]
    if missing:
        raise InvalidInputError(
            f"{_in_plane(path)} is not suite2p's settings: it has no {', '.join(missing)}; "
            "remove it (and pass --frame-shape and --rate) or put back the ops.npy suite2p wrote"
        )
    return options


def _checked_rows(path: Path, n_rois: int, *, ndim: int, meaning: str) -> tuple[int, ...]:
    """The shape of a numeric per-ROI file, checked: ``ndim`` axes, one row per ROI of stat.npy."""
    shape, dtype = _npy_header(path)
    if dtype.kind not in "biuf":
        raise InvalidInputError(
            f"{_in_plane(path)} holds {dtype} values, not numbers; it must be {meaning}; {_COPIED}"
        )
    if len(shape) != ndim:
        raise InvalidInputError(
            f"{_in_plane(path)} has shape {shape}; suite2p writes it as {meaning}; {_COPIED}"
        )
    if shape[0] != n_rois:
        transposed = ndim == 2 and shape[1] == n_rois
        raise InvalidInputError(
            f"{_in_plane(path)} has {shape[0]} rows but stat.npy has {n_rois} ROIs; "
            + (f"it looks transposed (shape {shape}): suite2p writes it as {meaning}" if transposed else _COPIED)
        )
    return shape


def check_suite2p_plane(plane: Suite2pPlane, *, require: Collection[str] = ()) -> Suite2pPlaneFiles:
    """Check every file of one plane and channel before a reader opens it.

    Reads the headers of the array files (nothing is loaded), and the pickled
    ``stat.npy`` and ``ops.npy``; checks that each file is complete, holds what suite2p
    writes there, and that the trace and classifier files have one row per ROI of
    ``stat.npy`` and the same number of frames.

    Parameters
    ----------
    plane : Suite2pPlane
        From :func:`find_suite2p_planes`.
    require : collection of str
        Names from :data:`REQUIRABLE`: ``"raw"`` makes a missing ``F.npy`` an error,
        ``"iscell"`` a missing ``iscell.npy``. Otherwise each is a warning.

    Returns
    -------
    Suite2pPlaneFiles

    Raises
    ------
    InvalidInputError
        Naming the file, what is wrong with it and what to do.
    """
    unknown = sorted(set(require) - set(REQUIRABLE))
    if unknown:
        raise InvalidInputError(
            f"cannot require {', '.join(map(repr, unknown))}; --require takes {', '.join(REQUIRABLE)} "
            "(comma-separated)"
        )
    folder = plane.path
    stat = _checked_stat(folder / "stat.npy")
    n_rois = stat.size
    options = _checked_options(folder / "ops.npy") if (folder / "ops.npy").is_file() else None

    suffix = "" if plane.channel_name == "chan1" else "_chan2"
    trace_names = [f"F{suffix}.npy", f"Fneu{suffix}.npy"] + (["spks.npy"] if plane.channel_name == "chan1" else [])
    meaning = "(n_rois, n_frames), one row per ROI of stat.npy"
    frames: dict[str, int] = {}
    for file_name in trace_names:
        if (folder / file_name).is_file():
            frames[file_name] = _checked_rows(folder / file_name, n_rois, ndim=2, meaning=meaning)[1]
    if not frames:
        raise InvalidInputError(
            f"{folder} has none of {', '.join(trace_names)}, so its ROIs have no traces; suite2p writes them "
            f"after extraction: {_COPIED}"
        )
    if len(set(frames.values())) > 1:
        counts = ", ".join(f"{name} has {count}" for name, count in frames.items())
        raise InvalidInputError(f"the trace files in {folder} disagree in their number of frames ({counts}); {_COPIED}")
    n_frames = next(iter(frames.values()))
    if options is not None and "nframes" in options and int(options["nframes"]) != n_frames:
        raise InvalidInputError(
            f"ops.npy in {folder} says nframes={int(options['nframes'])} but {next(iter(frames))} has {n_frames} "
            "frames; the ops.npy belongs to another run, or the folder was not copied completely"
        )

    for file_name in ("iscell.npy", "redcell.npy"):
        if (folder / file_name).is_file():
            _checked_rows(folder / file_name, n_rois, ndim=2, meaning="(n_rois, 2): decision, probability")

    notes = []
    raw_name = f"F{suffix}.npy"
    absent = {
        "raw": (raw_name, f"{raw_name} is missing in {folder}, so the segmentation has no raw trace"),
        "iscell": ("iscell.npy", f"iscell.npy is missing in {folder}, so every ROI is taken as accepted"),
    }
    for requirement, (file_name, note) in absent.items():
        if (folder / file_name).is_file():
            continue
        if requirement in require:
            raise InvalidInputError(f"{note}; it was required (--require {requirement}): {_COPIED}")
        notes.append(note)
    return Suite2pPlaneFiles(n_rois=n_rois, n_frames=n_frames, options=options, warnings=tuple(notes))


def suite2p_settings(options: dict) -> dict[str, Any]:
    """The settings of a suite2p run from its ``ops.npy``: scalars and short lists, no images or per-frame arrays.

    Parameters
    ----------
    options : dict
        The content of ``ops.npy``.

    Returns
    -------
    dict
        ``tau``, ``diameter``, ``fs``, ``nplanes``, … as JSON values, keys sorted; arrays of
        more than :data:`segdb.ingest.settings.MAX_SETTING_ELEMENTS` elements (``meanImg``, ``xoff``, …) are left out.
    """
    return kept_settings(options)


def _full_frame(cropped: np.ndarray, options: dict, frame_shape: tuple[int, int]) -> np.ndarray:
    """Place an image computed on suite2p's registration crop back into the full frame.

    suite2p computes ``Vcorr`` and ``max_proj`` on rows ``yrange[0]:yrange[1]`` and columns
    ``xrange[0]:xrange[1]`` only (its GUI and ``convert_Fall.m`` paste them there);
    pixels outside the crop are 0.
    """
    cropped = np.asarray(cropped)
    if cropped.shape == tuple(frame_shape):
        return cropped
    (y_start, y_stop), (x_start, x_stop) = (
        (int(options["yrange"][0]), int(options["yrange"][-1])),
        (int(options["xrange"][0]), int(options["xrange"][-1])),
    )
    if cropped.shape != (y_stop - y_start, x_stop - x_start):
        raise InvalidInputError(
            f"suite2p image of shape {cropped.shape} does not match the crop yrange={[y_start, y_stop]}, "
            f"xrange={[x_start, x_stop]} in ops.npy; the ops.npy does not belong to this plane's output."
        )
    image = np.zeros(frame_shape, dtype=cropped.dtype)
    image[y_start:y_stop, x_start:x_stop] = cropped
    return image


def _add_cropped_images(extractor: SegmentationExtractor, options: dict, frame_shape: tuple[int, int]) -> None:
    """Add ``correlation`` (Vcorr) and ``max_projection`` (max_proj), placed on the full frame."""
    if "Vcorr" in options:
        extractor._summary_images["correlation"] = _full_frame(options["Vcorr"], options, frame_shape)
    if "max_proj" in options:
        extractor._summary_images["max_projection"] = _full_frame(options["max_proj"], options, frame_shape)


def _set_pipeline_properties(extractor: SegmentationExtractor, plane_folder: Path, stat: np.ndarray) -> None:
    """Give every suite2p extractor the same acceptance and stat-derived properties."""
    roi_ids = extractor.get_roi_ids()
    # The cell decision lives in iscell.npy for both channels; roiextractors' own "iscell"
    # property holds redcell.npy's column instead when chan2 is read.
    classifiers = (
        ("iscell.npy", "accepted", "Whether suite2p classified the ROI as a cell (iscell.npy column 0)",
         "cell_probability", "suite2p classifier probability that the ROI is a cell (iscell.npy column 1)"),
        ("redcell.npy", "redcell", "suite2p red-cell decision (redcell.npy column 0)",
         "redcell_probability", "suite2p red-cell probability (redcell.npy column 1)"),
    )
    for file_name, decision, decision_text, probability, probability_text in classifiers:
        path = plane_folder / file_name
        if not path.is_file():
            continue
        columns = np.load(path)
        extractor.set_property(decision, columns[:, 0].astype(bool), roi_ids, description=decision_text)
        if columns.ndim == 2 and columns.shape[1] > 1:
            extractor.set_property(
                probability, columns[:, 1].astype(np.float64), roi_ids, description=probability_text
            )
    for key, description in STAT_PROPERTIES.items():
        if not any(key in entry for entry in stat):
            continue
        # Fields differ between suite2p versions; a ROI without the field gets NaN
        # rather than dropping the property for every ROI.
        values = np.asarray([float(np.asarray(entry.get(key, np.nan))) for entry in stat], dtype=np.float64)
        extractor.set_property(key, values, roi_ids, description=description)


class Suite2pPlaneSegmentationExtractor(Suite2pSegmentationExtractor):
    """roiextractors' suite2p reader plus what segdb archives on top of it.

    Adds the ``max_projection`` image, places ``correlation`` on suite2p's registration
    crop (roiextractors 0.10 flips the row offsets when the crop is asymmetric), and sets
    the ``accepted``, ``cell_probability`` and stat-derived properties.
    """

    extractor_name = "Suite2pPlaneSegmentationExtractor"
    #: What :func:`check_suite2p_plane` found, set by :func:`suite2p_extractor`.
    plane_files: Suite2pPlaneFiles | None = None

    def __init__(self, plane: Suite2pPlane, *, sampling_frequency: float | None = None):
        """Open one plane and channel of a suite2p folder that has ``ops.npy``.

        Parameters
        ----------
        plane : Suite2pPlane
            The plane and channel, as listed by :func:`find_suite2p_planes`.
        sampling_frequency : float, optional
            Overrides ``ops["fs"]``: suite2p defaults it to 10 Hz when the user did not
            set it, so the stored rate is often wrong.
        """
        super().__init__(folder_path=plane.suite2p_folder, channel_name=plane.channel_name, plane_name=plane.plane_name)
        self.plane = plane
        if sampling_frequency is not None:
            self._sampling_frequency = float(sampling_frequency)
        _add_cropped_images(self, self.options, self._image_shape)
        _set_pipeline_properties(self, plane.path, self.stat)


class Suite2pFilesSegmentationExtractor(SegmentationExtractor):
    """A suite2p plane built from its files directly, for what roiextractors cannot open.

    Used when ``ops.npy`` is missing (it is large and often deleted), or when the plane
    folder does not have the layout roiextractors' reader assumes (a plane folder not
    named ``plane<N>``, or planes that differ in their channels). Holds the same traces,
    masks and properties as :class:`Suite2pPlaneSegmentationExtractor`; summary images
    only when ``options`` (the plane's ``ops.npy``) is given, as suite2p keeps them there.
    """

    extractor_name = "Suite2pFilesSegmentationExtractor"
    #: What :func:`check_suite2p_plane` found, set by :func:`suite2p_extractor`.
    plane_files: Suite2pPlaneFiles | None = None

    def __init__(
        self,
        plane: Suite2pPlane,
        *,
        frame_shape: tuple[int, int],
        sampling_frequency: float,
        options: dict | None = None,
    ):
        """Open one plane and channel of a suite2p folder from stat/F/Fneu/spks/iscell.

        Parameters
        ----------
        plane : Suite2pPlane
            The plane and channel.
        frame_shape : tuple[int, int]
            (height, width) of the imaged field (suite2p's ``Ly``, ``Lx``).
        sampling_frequency : float
            Per-plane frame rate in Hz.
        options : dict, optional
            The plane's ``ops.npy`` content, for its summary images.
        """
        super().__init__()
        self.plane = plane
        self._image_shape = frame_shape
        self._sampling_frequency = float(sampling_frequency)
        self.stat = _load_pickled(plane.path / "stat.npy")

        suffix = "" if plane.channel_name == "chan1" else "_chan2"
        cell_ids = list(range(self.stat.size))
        self._roi_ids = cell_ids
        self._num_frames = None
        # Same names and order as roiextractors' reader; memory-mapped and transposed to
        # (num_samples, num_rois) so nothing is read until a trace is asked for.
        trace_files = [("raw", f"F{suffix}.npy"), ("neuropil", f"Fneu{suffix}.npy")]
        if plane.channel_name == "chan1":
            trace_files.append(("deconvolved", "spks.npy"))
        for response_type, file_name in trace_files:
            file_path = plane.path / file_name
            if not file_path.is_file():
                continue
            traces = np.load(file_path, mmap_mode="r").T
            if traces.shape[1] != len(cell_ids):
                raise InvalidInputError(
                    f"{file_path} holds {traces.shape[1]} ROIs but stat.npy has {len(cell_ids)}; "
                    "the plane folder mixes files from different suite2p runs."
                )
            self._num_frames = traces.shape[0]
            self._roi_responses.append(_RoiResponse(response_type, traces, list(cell_ids)))

        iscell_name = (
            "redcell.npy" if plane.channel_name == "chan2" and (plane.path / "redcell.npy").is_file() else "iscell.npy"
        )
        if (plane.path / iscell_name).is_file():
            # Mirrors roiextractors so both readers expose the same "iscell" property.
            self.set_property(
                "iscell",
                np.load(plane.path / iscell_name)[:, 0],
                cell_ids,
                description="Binary cell classification from Suite2p",
            )

        pixel_masks = [np.column_stack([entry["ypix"], entry["xpix"], entry["lam"]]) for entry in self.stat]
        self._roi_masks = _ROIMasks(
            data=pixel_masks,
            mask_tpe="nwb-pixel_mask",
            field_of_view_shape=tuple(frame_shape),
            roi_id_map={roi_id: index for index, roi_id in enumerate(cell_ids)},
        )
        if options is not None:
            mean_key = "meanImg" if plane.channel_name == "chan1" else "meanImg_chan2"
            if mean_key in options:
                self._summary_images["mean"] = np.asarray(options[mean_key])
            _add_cropped_images(self, options, tuple(frame_shape))
        _set_pipeline_properties(self, plane.path, self.stat)

    def get_frame_shape(self) -> tuple[int, int]:
        return tuple(self._image_shape)

    def get_num_samples(self) -> int:
        return int(self._num_frames or 0)

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> None:
        # suite2p stores no timestamps; times follow from the rate.
        return None


def _check_frame_shape(frame_shape: Sequence[int], stat: np.ndarray, plane: Suite2pPlane) -> tuple[int, int]:
    try:
        height, width = (int(size) for size in frame_shape)
    except (TypeError, ValueError):
        raise InvalidInputError(f"frame_shape must be two integers (height, width), got {frame_shape!r}.") from None
    if height < 1 or width < 1:
        raise InvalidInputError(f"frame_shape must be positive (height, width), got {(height, width)}.")
    for index, entry in enumerate(stat):
        ypix, xpix = np.asarray(entry["ypix"]), np.asarray(entry["xpix"])
        if ypix.size and (ypix.min() < 0 or xpix.min() < 0 or ypix.max() >= height or xpix.max() >= width):
            raise InvalidInputError(
                f"frame_shape {(height, width)} does not cover ROI {index} of {plane.path / 'stat.npy'}: it has pixels "
                f"at rows {int(ypix.min())}..{int(ypix.max())} and columns {int(xpix.min())}..{int(xpix.max())}; "
                "pass the imaged field's full (height, width) (suite2p's Ly, Lx)."
            )
    return height, width


def _roiextractors_can_open(plane: Suite2pPlane) -> bool:
    """Whether roiextractors' reader finds this plane and channel where it looks for them.

    It lists planes by globbing ``plane*`` in the parent folder and takes the channels of
    the first plane listed for every plane, so a renamed plane folder or planes that differ
    in their channels must be read another way.
    """
    if not _PLANE_FOLDER.fullmatch(plane.path.name):
        return False
    plane_names = Suite2pSegmentationExtractor.get_available_planes(plane.suite2p_folder)
    if plane.plane_name not in plane_names:
        return False
    return plane.channel_name in _channels_of(plane.suite2p_folder / plane_names[0])


def suite2p_extractor(
    plane: Suite2pPlane,
    *,
    frame_shape: tuple[int, int] | None = None,
    sampling_frequency: float | None = None,
    require: Collection[str] = (),
) -> SegmentationExtractor:
    """Open one plane and channel of suite2p output as a segmentation extractor.

    Every file of the plane is checked first (:func:`check_suite2p_plane`); what it finds
    missing is said in a ``UserWarning`` and kept in the extractor's ``plane_files``.

    Parameters
    ----------
    plane : Suite2pPlane
        From :func:`find_suite2p_planes`.
    frame_shape : tuple[int, int], optional
        (height, width). Required when ``ops.npy`` is missing; when it is present it must
        agree with ``ops["Ly"], ops["Lx"]``.
    sampling_frequency : float, optional
        Frame rate in Hz. Required when ``ops.npy`` is missing; when present it overrides
        ``ops["fs"]``.
    require : collection of str
        ``"raw"`` and/or ``"iscell"``: make a missing ``F.npy`` or ``iscell.npy`` an error
        instead of a warning.

    Returns
    -------
    SegmentationExtractor
        Traces ``raw``, ``neuropil`` and (chan1) ``deconvolved``; pixel masks; images
        ``mean``, ``correlation`` and ``max_projection`` when ``ops.npy`` has them;
        properties ``iscell`` (as roiextractors sets it), ``accepted`` (bool),
        ``cell_probability`` and the stat fields in :data:`STAT_PROPERTIES`.

    Raises
    ------
    InvalidInputError
        If a file of the plane is damaged or disagrees with another, if a required file is
        missing, if ``ops.npy`` is missing and the frame shape or rate was not given, or if
        the frame shape does not cover every ROI pixel.
    """
    if sampling_frequency is not None and not float(sampling_frequency) > 0:
        raise InvalidInputError(f"sampling_frequency must be a positive rate in Hz, got {sampling_frequency}.")
    files = check_suite2p_plane(plane, require=require)
    for note in files.warnings:
        warnings.warn(f"{note} (--require raw,iscell makes this an error)", UserWarning, stacklevel=2)
    try:
        extractor = _open_plane(plane, files, frame_shape=frame_shape, sampling_frequency=sampling_frequency)
    except SegDBError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, OSError, EOFError, pickle.UnpicklingError) as error:
        raise InvalidInputError(
            f"the suite2p plane {plane.path} cannot be read ({type(error).__name__}: {error}); "
            f"its files are damaged or come from different runs: {_COPIED}"
        ) from None
    extractor.plane_files = files
    return extractor


def _open_plane(
    plane: Suite2pPlane,
    files: Suite2pPlaneFiles,
    *,
    frame_shape: tuple[int, int] | None,
    sampling_frequency: float | None,
) -> SegmentationExtractor:
    ops_path = plane.path / "ops.npy"
    if ops_path.is_file() and _roiextractors_can_open(plane):
        extractor = Suite2pPlaneSegmentationExtractor(plane, sampling_frequency=sampling_frequency)
        if frame_shape is not None and tuple(int(size) for size in frame_shape) != tuple(extractor.get_frame_shape()):
            raise InvalidInputError(
                f"frame_shape {tuple(frame_shape)} disagrees with {ops_path} (Ly, Lx) = "
                f"{tuple(extractor.get_frame_shape())}; leave frame_shape out when ops.npy is present."
            )
        return extractor

    options = files.options
    if options is not None:
        frame_shape = frame_shape if frame_shape is not None else (options["Ly"], options["Lx"])
        sampling_frequency = sampling_frequency if sampling_frequency is not None else options["fs"]
    missing = [
        name
        for name, value in (("frame shape", frame_shape), ("sampling frequency", sampling_frequency))
        if value is None
    ]
    if missing:
        raise InvalidInputError(
            f"ops.npy is missing in {plane.path}, so the {' and '.join(missing)} cannot be read from it. "
            "Pass them: `--frame-shape H W` and `--rate HZ` on the command line, or "
            "frame_shape=(H, W) and sampling_frequency=HZ in Python."
        )
    stat = _load_pickled(plane.path / "stat.npy")
    checked_shape = _check_frame_shape(frame_shape, stat, plane)
    return Suite2pFilesSegmentationExtractor(
        plane, frame_shape=checked_shape, sampling_frequency=float(sampling_frequency), options=options
    )


__all__ = [
    "REQUIRABLE",
    "STAT_PROPERTIES",
    "Suite2pPlane",
    "Suite2pPlaneFiles",
    "check_suite2p_plane",
    "suite2p_settings",
    "Suite2pPlaneSegmentationExtractor",
    "Suite2pFilesSegmentationExtractor",
    "find_suite2p_planes",
    "suite2p_extractor",
]
