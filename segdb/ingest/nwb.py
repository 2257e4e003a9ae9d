"""NWB ophys segmentations as roiextractors segmentation extractors.

An NWB 2 file keeps a segmentation in a processing module (usually, not always, named
``ophys``): an ``ImageSegmentation`` holding ``PlaneSegmentation`` tables (one row per
ROI, masks as ``image_mask`` or ``pixel_mask``), ``RoiResponseSeries`` inside
``Fluorescence`` and ``DfOverF`` whose ``rois`` region points at the table, and
``Images`` with summary images. Every module is searched; a file with several plane
segmentations (in one module or several) is asked which one, by name or ``module/name``.

Axis conventions differ and are converted here, at the boundary:

- NWB's ``pixel_mask`` rows are ``(x, y, weight)`` with x the **column** and y the
  **row**; roiextractors and segdb use ``[row, col, weight]``. Not every writer follows
  the spec, so which way round a file's pixel masks are is decided from the file's own
  evidence (the frame, image masks, summary images, the writer) by
  :mod:`segdb.ingest.pixel_mask_order`, whose docstring states the rule and its false
  positives; a transposed table is read with a warning that says why, and a table that
  cannot be decided is refused with a message naming ``pixel_mask_order=``
  (``--pixel-mask-order xy|rowcol``).
- NWB's ``image_mask`` is ``(n_rois, x, y)`` and images are ``(x, y)``, i.e. transposed
  relative to roiextractors' ``(height, width, n_rois)`` and ``(height, width)``
  (roiextractors' own NWB reader and NeuroConv's writer agree on this). suite2p's own
  export stores its images (height, width); they are read as stored.

Writers recognised, and what they get wrong:

- **NeuroConv** (every release up to 0.10.2, the newest known) writes roiextractors'
  ``[row, col, weight]`` straight into ``(x, y, weight)``, keeps the source's ROI ids in
  a ``roi_name`` column and numbers the table 0..n-1. Its tables are recognised by the
  descriptions it gives its own columns (``roi_name``, ``ROICentroids``, ``Accepted``),
  unless the file's ``source_script`` names another program; a NeuroConv version newer
  than 0.10.2 in ``source_script`` is not assumed to transpose.
- **suite2p**'s ``save_nwb`` stores ``(ypix, xpix, lam)`` as ``(x, y, weight)`` and its
  images (Ly, Lx); recognised by its ``Backgrounds_<plane>`` images and its two-column
  ``iscell``. Its traces are series named after the plane in containers named for the
  trace (``Fluorescence``, ``Neuropil``, ``Deconvolved``). Its multi-plane files hold
  voxel masks, which segdb does not archive.

ROI ids come from ``roi_name`` when the table has one (ints when every name is an int
written the usual way, else strings), else from the table's ids. The frame (height,
width) comes from, in this order: ``frame_shape=``; the image masks; the ImagingPlane's
(deprecated) ``manifold``, the only frame size an NWB 2 ImagingPlane can hold
(``grid_spacing`` is the pixel pitch, not a size); the data of a ``TwoPhotonSeries``
or ``OnePhotonSeries`` imaging the same plane, stored ``(frames, x, y)``; the summary
images. (A series' ``dimension`` is not used: NeuroConv and suite2p both write it
(height, width) where the spec says x, y.)

NWB 1 files (the Allen Brain Observatory's 1.0.5 files, for one), files that are not
HDF5 and truncated files are refused with one line saying what the file is and what to do.

roiextractors 0.10's ``NwbSegmentationExtractor`` reads only an ``image_mask`` column of a
table named ``PlaneSegmentation`` in ``ophys`` and series named
``RoiResponseSeries``/``Neuropil``/…, and the table ids; :func:`nwb_extractor` uses it for
such files without ``roi_name`` and segdb's :class:`NwbPlaneSegmentationExtractor` for
everything else (pixel masks, other names, several plane segmentations, ``roi_name``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from lazyslice import DatasetView
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import Images
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, PlaneSegmentation
from roiextractors import NwbSegmentationExtractor, SegmentationExtractor
from roiextractors.segmentationextractor import _ROIMasks, _RoiResponse

from segdb.conventions import NWB_DFOVERF_SERIES, NWB_FLUORESCENCE_SERIES
from segdb.errors import InvalidInputError, NotFoundError
from segdb.ingest.pixel_mask_order import (
    FrameShape,
    OrderVote,
    as_rows_cols,
    decide_pixel_mask_order,
    validate_pixel_mask_order,
)

# roiextractors' trace names and the NWB series names neuroconv and roiextractors use for
# them; DfOverF's "RoiResponseSeries" is dff, Fluorescence's is raw.
FLUORESCENCE_SERIES = NWB_FLUORESCENCE_SERIES
DFOVERF_SERIES = NWB_DFOVERF_SERIES
# suite2p's export names each series after its plane ("plane0") and puts each kind of trace
# in a container of its own, named for it.
SUITE2P_CONTAINERS = {
    "Fluorescence": "raw",
    "Neuropil": "neuropil",
    "Deconvolved": "deconvolved",
    "Fluorescence_chan2": "raw_chan2",
    "Neuropil_chan2": "neuropil_chan2",
}
_MASK_COLUMNS = {"image_mask", "pixel_mask", "voxel_mask"}
# Columns that become the uniform acceptance property rather than properties of their own.
_ACCEPTANCE_COLUMNS = {"Accepted", "accepted", "Rejected", "rejected", "iscell"}
# The column that holds the source's ROI ids in NeuroConv's (and segdb's) tables.
_ROI_NAME_COLUMN = "roi_name"

# NeuroConv's segmentation writer describes its own columns with these words; every
# release up to this one writes pixel masks (row, col, weight).
_NEUROCONV_COLUMN_DESCRIPTIONS = {
    "roi_name": "The unique identifier for each ROI.",
    "ROICentroids": "The x, y, (z) centroids of each ROI.",
    "Accepted": "1 if ROI was accepted or 0 if rejected as a cell during segmentation operation.",
}
_NEUROCONV_NEWEST_KNOWN = (0, 10, 2)
_NEUROCONV_VERSION = re.compile(r"(?:NeuroConv v|neuroconv_version:\s*)(\d+)\.(\d+)\.(\d+)", re.IGNORECASE)
_SUITE2P_IMAGES = re.compile(r"Backgrounds_\d+")
_SUITE2P_ISCELL_DESCRIPTION = "two columns - iscell & probcell"
_TRUNCATED = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")
# hdmf's ConstructError repeats the whole builder before saying what failed.
_CONSTRUCT_ERROR = re.compile(r"Could not construct (\w+) object due to: ([^'\"]+)")


# --- the file itself ---------------------------------------------------------------------


def _check_nwb_file(path: Path) -> None:
    """Refuse, in one line, anything that is not a whole NWB 2 HDF5 file."""
    if not path.exists():
        raise NotFoundError(f"NWB file '{path}' does not exist; pass the path of an .nwb file.")
    if path.is_dir():
        raise InvalidInputError(
            f"'{path}' is a folder; segdb reads NWB files stored as HDF5 (.nwb), not folders (NWB Zarr)."
        )
    if not h5py.is_hdf5(path):
        with path.open("rb") as file:
            start = file.read(8)
        what = "is empty" if not start else f"starts with {start!r}, not HDF5's signature"
        raise InvalidInputError(
            f"'{path}' is not an NWB file: NWB files are HDF5 and this one {what}; pass the path of an .nwb file."
        )
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        truncated = _TRUNCATED.search(str(error))
        if truncated:
            raise InvalidInputError(
                f"NWB file '{path}' is truncated: it has {int(truncated[1]):,} bytes of the {int(truncated[2]):,} "
                "its HDF5 header records; copy or download it again."
            ) from None
        raise InvalidInputError(
            f"NWB file '{path}' is a damaged HDF5 file ({_first_line(error)}); copy or download it again."
        ) from None
    with file:
        version = file.attrs.get("nwb_version")
        if version is None and isinstance(file.get("nwb_version"), h5py.Dataset):
            version = file["nwb_version"][()]
            allen = _allen_brain_observatory(file)
        else:
            allen = False
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    if version is None:
        raise InvalidInputError(
            f"'{path}' is an HDF5 file but not an NWB file (it has no nwb_version); pass the path of an .nwb file."
        )
    version = str(version)
    number = version.removeprefix("NWB-")
    if number.startswith("1."):
        advice = (
            "the Allen Brain Observatory's Visual Coding files are published converted to NWB 2 on DANDI "
            "(dandiset 000728, converted with catalystneuro/visual-coding-to-nwb-v2): ingest that file instead"
            if allen
            else "convert it to NWB 2 first, or ingest the pipeline's own output (segdb ingest suite2p|caiman …)"
        )
        raise InvalidInputError(
            f"NWB file '{path}' is NWB {number} (nwb_version {version!r}); segdb, like pynwb, reads NWB 2 files: "
            f"{advice}."
        )
    if not number.startswith("2."):
        raise InvalidInputError(
            f"NWB file '{path}' declares nwb_version {version!r}; segdb reads NWB 2 files (2.x)."
        )


def _allen_brain_observatory(file: h5py.File) -> bool:
    """Whether an NWB 1 file is one of the Allen Brain Observatory's (its identifier and institution say so)."""
    words = []
    for name in ("identifier", "general/institution"):
        item = file.get(name)
        if isinstance(item, h5py.Dataset):
            value = item[()]
            words.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    text = " ".join(words)
    return "Brain Observatory" in text or "Allen Institute" in text


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _open_nwb(path: Path) -> tuple[NWBHDF5IO, NWBFile]:
    """The file checked, opened and read with pynwb; the caller closes the io."""
    _check_nwb_file(path)
    io = NWBHDF5IO(str(path), "r")
    try:
        nwbfile = io.read()
    except Exception as error:  # noqa: BLE001 - pynwb and hdmf raise many types for files they cannot build
        # The user needs one line naming the file, not a traceback.
        io.close()
        construct = _CONSTRUCT_ERROR.search(str(error))
        reason = (
            f"pynwb could not build its {construct[1]}: {construct[2]}"
            if construct
            else f"{type(error).__name__}: {_first_line(error)}"
        )
        raise InvalidInputError(
            f"NWB file '{path}' could not be read with pynwb ({reason}); the file is damaged or its writer broke "
            "NWB's rules (nwbinspector names the problem)."
        ) from None
    return io, nwbfile


# --- which table -------------------------------------------------------------------------


def _plane_segmentations(nwbfile: NWBFile, path: Path) -> dict[tuple[str, str], PlaneSegmentation]:
    """Every ``PlaneSegmentation`` in every processing module, by (module, table name)."""
    tables: dict[tuple[str, str], PlaneSegmentation] = {}
    for module_name, module in nwbfile.processing.items():
        for interface in module.data_interfaces.values():
            if isinstance(interface, ImageSegmentation):
                for table_name, table in interface.plane_segmentations.items():
                    tables[(module_name, table_name)] = table
    if not tables:
        modules = sorted(nwbfile.processing)
        raise InvalidInputError(
            f"NWB file '{path}' has no ImageSegmentation with a PlaneSegmentation in any processing module "
            f"(its modules: {modules if modules else 'none'}); it holds no ROIs to read."
        )
    return tables


def _choose_table(
    tables: dict[tuple[str, str], PlaneSegmentation], name: str | None, path: Path
) -> tuple[str, str]:
    """The (module, table) named ``name`` (``table`` or ``module/table``), or the only one."""
    listed = ", ".join(f"{module}/{table}" for module, table in sorted(tables))
    if name is None:
        # A table's background components (Background<name>) go with it; they are not a choice of their own.
        tables = {
            (module, table): found for (module, table), found in tables.items()
            if not (table.startswith("Background") and (module, table.removeprefix("Background")) in tables)
        }
        if len(tables) > 1:
            raise InvalidInputError(
                f"NWB file '{path}' has {len(tables)} plane segmentations ({listed}); pass "
                "plane_segmentation_name= (CLI: --plane-segmentation NAME) to pick one."
            )
        return next(iter(tables))
    if "/" in name:
        module, _, table = name.rpartition("/")
        matches = [key for key in tables if key == (module, table)]
    else:
        matches = [key for key in tables if key[1] == name]
    if not matches:
        raise NotFoundError(f"Plane segmentation '{name}' is not in NWB file '{path}' (it has {listed}).")
    if len(matches) > 1:
        raise InvalidInputError(
            f"NWB file '{path}' has a plane segmentation '{name}' in several modules "
            f"({', '.join(f'{module}/{table}' for module, table in sorted(matches))}); name it as module/{name}."
        )
    return matches[0]


# --- who wrote it ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Writer:
    """The program that wrote a table, when its fingerprints say so."""

    name: str | None = None
    vote: OrderVote | None = None
    images_as_stored: bool = False


def _column_description(table: PlaneSegmentation, name: str) -> str | None:
    if name not in table.colnames:
        return None
    return getattr(table[name], "description", None)


def _writer_of(nwbfile: NWBFile, module, table: PlaneSegmentation) -> _Writer:
    source_script = nwbfile.source_script or ""
    generated_by = [str(entry[0]).lower() for entry in (getattr(nwbfile, "was_generated_by", None) or ()) if len(entry)]
    if "segdb" in generated_by:
        return _Writer(
            "segdb",
            OrderVote("xy", "the file was written by segdb's NWB export, which stores (x = column, y = row, weight)"),
        )
    neuroconv_columns = [
        name
        for name, description in _NEUROCONV_COLUMN_DESCRIPTIONS.items()
        if _column_description(table, name) == description
    ]
    mentions_neuroconv = "neuroconv" in source_script.lower()
    if neuroconv_columns and (mentions_neuroconv or not source_script):
        found = _NEUROCONV_VERSION.search(source_script)
        version = tuple(int(part) for part in found.groups()) if found else None
        if version is not None and version > _NEUROCONV_NEWEST_KNOWN:
            return _Writer("NeuroConv")
        release = "NeuroConv " + ".".join(map(str, version)) if version else "NeuroConv"
        columns = ", ".join(f"'{name}'" for name in neuroconv_columns)
        return _Writer(
            "NeuroConv",
            OrderVote(
                "rowcol",
                f"the table was written by {release} (its {columns} column as NeuroConv describes it), whose "
                "segmentation writer stores roiextractors' [row, col, weight] as (x, y, weight) in every release "
                "up to 0.10.2",
            ),
        )
    suite2p_images = [
        name
        for name, interface in module.data_interfaces.items()
        if isinstance(interface, Images) and _SUITE2P_IMAGES.fullmatch(name) and "meanImg" in interface.images
    ]
    if suite2p_images and _column_description(table, "iscell") == _SUITE2P_ISCELL_DESCRIPTION:
        return _Writer(
            "suite2p",
            OrderVote(
                "rowcol",
                f"the table was written by suite2p's NWB export (its '{suite2p_images[0]}' images and two-column "
                "'iscell'), which stores (ypix, xpix, lam), i.e. (row, col, weight), and its images (Ly, Lx)",
            ),
            images_as_stored=True,
        )
    return _Writer()


# --- ROI ids and properties --------------------------------------------------------------


def _roi_ids(table: PlaneSegmentation, where: str) -> list[int | str]:
    """The source's ROI ids: ``roi_name`` when present and unique, else the table's ids."""
    table_ids = [int(roi_id) for roi_id in table.id.data[:]]
    if _ROI_NAME_COLUMN not in table.colnames:
        return table_ids
    names = [name.decode("utf-8") if isinstance(name, bytes) else str(name) for name in table[_ROI_NAME_COLUMN].data[:]]
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})[:3]
        warnings.warn(
            f"The 'roi_name' column of {where} repeats names ({repeated}); using the table's ids as ROI ids instead.",
            UserWarning,
            stacklevel=4,
        )
        return table_ids
    if all(re.fullmatch(r"-?(0|[1-9][0-9]*)", name) for name in names):
        return [int(name) for name in names]
    return names


def _acceptance(plane_segmentation: PlaneSegmentation) -> np.ndarray | None:
    """The pipeline's accept decision per ROI from whichever column the writer used.

    ``Accepted``/``accepted`` (neuroconv, roiextractors), else the negation of
    ``Rejected``/``rejected``, else column 0 of suite2p's own ``iscell`` column.
    """
    columns = set(plane_segmentation.colnames)
    for name in ("Accepted", "accepted"):
        if name in columns:
            return np.asarray(plane_segmentation[name].data[:]).astype(bool)
    for name in ("Rejected", "rejected"):
        if name in columns:
            return ~np.asarray(plane_segmentation[name].data[:]).astype(bool)
    if "iscell" in columns:
        iscell = np.asarray(plane_segmentation["iscell"].data[:])
        return (iscell[:, 0] if iscell.ndim == 2 else iscell).astype(bool)
    return None


def _set_table_properties(extractor: SegmentationExtractor, plane_segmentation: PlaneSegmentation) -> None:
    """Set ``accepted`` and every other one-value-per-ROI numeric or bool column as a property."""
    roi_ids = extractor.get_roi_ids()
    accepted = _acceptance(plane_segmentation)
    if accepted is not None:
        extractor.set_property(
            "accepted", accepted, roi_ids, description="Whether the pipeline accepted the ROI (from the NWB table)"
        )
    for name in plane_segmentation.colnames:
        if (
            name in _MASK_COLUMNS
            or name in _ACCEPTANCE_COLUMNS
            or name == _ROI_NAME_COLUMN
            or name in extractor.get_property_keys()
        ):
            continue
        column = plane_segmentation[name]
        # Ragged columns (a VectorIndex) and multi-dimensional ones are not one value per ROI.
        if type(column).__name__ == "VectorIndex":
            continue
        values = np.asarray(column.data[:])
        if values.ndim == 1 and values.dtype.kind in "biuf" and values.shape[0] == len(roi_ids):
            extractor.set_property(name, values, roi_ids, description=getattr(column, "description", "") or "")


# --- the frame ---------------------------------------------------------------------------


def _manifold_frame(table: PlaneSegmentation) -> tuple[int, int] | None:
    """(height, width) of the ImagingPlane's manifold, the only size an NWB 2 ImagingPlane holds."""
    manifold = getattr(table.imaging_plane, "manifold", None)
    shape = getattr(manifold, "shape", None)
    if shape is None or len(shape) < 3 or shape[0] < 2 or shape[1] < 2:
        return None
    return int(shape[0]), int(shape[1])


def _series_frame(nwbfile: NWBFile, table: PlaneSegmentation) -> tuple[tuple[int, int], str] | None:
    """(height, width) from the stored data (frames, x, y) of a photon series imaging the table's plane."""
    containers = [nwbfile.acquisition] + [module.data_interfaces for module in nwbfile.processing.values()]
    for container in containers:
        for name, series in container.items():
            if type(series).__name__ not in ("TwoPhotonSeries", "OnePhotonSeries"):
                continue
            if getattr(series, "imaging_plane", None) is not table.imaging_plane:
                continue
            shape = getattr(series.data, "shape", None)
            if shape is not None and len(shape) == 3 and shape[1] > 1 and shape[2] > 1:
                return (int(shape[2]), int(shape[1])), f"the data of {type(series).__name__} '{name}'"
    return None


class NwbPlaneSegmentationExtractor(NwbSegmentationExtractor):
    """One ``PlaneSegmentation`` of an NWB file, with pixel or image masks.

    Inherits roiextractors' NWB reader's accessors (images, frame shape, timestamps, file
    closing) and replaces its constructor, which in roiextractors 0.10 reads only image
    masks of a table named ``PlaneSegmentation``. Traces are the ``RoiResponseSeries``
    (in any module) whose ``rois`` point at this table.
    """

    extractor_name = "NwbPlaneSegmentationExtractor"

    def __init__(
        self,
        file_path: str | Path,
        *,
        plane_segmentation_name: str | None = None,
        frame_shape: tuple[int, int] | None = None,
        pixel_mask_order: str | None = None,
    ):
        """Open one plane segmentation of an NWB file.

        Parameters
        ----------
        file_path : str or Path
            The ``.nwb`` file.
        plane_segmentation_name : str, optional
            Which ``PlaneSegmentation`` (its name, or ``module/name``); required when the
            file has more than one.
        frame_shape : tuple[int, int], optional
            (height, width). Pixel masks do not record it; without this it is taken from
            the image masks, the imaging plane, a photon series or a summary image, and
            refused if none exists.
        pixel_mask_order : {"xy", "rowcol"}, optional
            How the table's ``pixel_mask`` is written: ``"xy"`` as NWB says (x the column),
            ``"rowcol"`` as NeuroConv and suite2p write it. Without it the file's evidence
            decides (see :mod:`segdb.ingest.pixel_mask_order`).
        """
        SegmentationExtractor.__init__(self)
        file_path = Path(file_path)
        self.file_path = file_path
        self._roi_locs = None
        self._segmentation_images = None
        self._io = None
        validate_pixel_mask_order(pixel_mask_order)
        self._io, self.nwbfile = _open_nwb(file_path)
        try:
            self._load(plane_segmentation_name, frame_shape, pixel_mask_order)
        except BaseException:
            # A refused file must not stay open until garbage collection.
            self._io.close()
            self._io = None
            raise

    def _load(
        self, plane_segmentation_name: str | None, frame_shape: tuple[int, int] | None, pixel_mask_order: str | None
    ) -> None:
        file_path = self.file_path
        module_name, table_name = _choose_table(
            _plane_segmentations(self.nwbfile, file_path), plane_segmentation_name, file_path
        )
        module = self.nwbfile.processing[module_name]
        table = module[_image_segmentation_of(module, table_name)].plane_segmentations[table_name]
        self.plane_segmentation = table
        self.plane_segmentation_path = f"{module_name}/{table_name}"
        where = f"'{module_name}/{table_name}' in '{file_path}'"
        self._roi_ids = _roi_ids(table, where)
        writer = _writer_of(self.nwbfile, module, table)
        self.writer = writer.name

        # Summary images, stored (x, y) in NWB (suite2p's export stores them (height, width)). A
        # multi-plane file's plane has its own container (SegmentationImagesPlane0), found by the
        # table's suffix; otherwise every Images container of the module.
        suffix = plane_suffix_of(table.name)
        own = [interface for name, interface in module.data_interfaces.items()
               if isinstance(interface, Images) and suffix and name.endswith(suffix)]
        images: dict[str, np.ndarray] = {}
        for interface in own or module.data_interfaces.values():
            if isinstance(interface, Images):
                for name, image in interface.images.items():
                    data = np.asarray(image.data[:])
                    if data.ndim == 2:
                        images.setdefault(name, data if writer.images_as_stored else data.T)

        columns = set(table.colnames)
        if "voxel_mask" in columns and not columns & {"pixel_mask", "image_mask"}:
            raise InvalidInputError(
                f"Plane segmentation {where} has only voxel masks; segdb archives planar (2-D) segmentations."
            )
        if not columns & {"pixel_mask", "image_mask"}:
            raise InvalidInputError(
                f"Plane segmentation {where} has neither pixel_mask nor image_mask; it stores no ROI masks."
            )
        image_masks = None
        if "image_mask" in columns:
            image_masks = DatasetView(table["image_mask"].data).lazy_transpose([2, 1, 0])
        frame = self._resolve_frame_shape(frame_shape, image_masks, images, table, where)
        self._image_shape = frame.shape
        self._summary_images.update(self._images_in_frame(images, frame, where))

        if "pixel_mask" in columns:
            stored = self._read_pixel_masks(table)
            order, votes = decide_pixel_mask_order(
                stored,
                frame,
                where=where,
                stated=pixel_mask_order,
                image_mask=None if image_masks is None else (lambda index: np.asarray(image_masks[:, :, index])),
                images=self._summary_images,
                writer=writer.vote,
            )
            if order == "rowcol" and votes:
                warnings.warn(
                    f"The pixel masks of {where} are stored (row, col, weight), not NWB's (x, y, weight): "
                    + "; ".join(vote.reason for vote in votes)
                    + ". They are read as (row, col); pass pixel_mask_order='xy' (CLI: --pixel-mask-order xy) "
                    "to read them as NWB says (and frame_shape=(H, W) if it is the file's images that are stored "
                    "the other way round).",
                    UserWarning,
                    stacklevel=3,
                )
            self.pixel_mask_order = order
            mask_data, mask_type = as_rows_cols(stored, order), "nwb-pixel_mask"
        else:
            self.pixel_mask_order = None
            mask_data, mask_type = image_masks, "nwb-image_mask"
        roi_id_map = {roi_id: index for index, roi_id in enumerate(self._roi_ids)}
        self._background_table, self._background_ids = None, []
        background = _background_table_of(module, table)
        if background is not None and mask_type == "nwb-pixel_mask":
            # Background components (CaImAn's b, in segdb's and NeuroConv's BackgroundPlaneSegmentation):
            # roiextractors 0.10 tells them from cells by ids that start with "background".
            self._background_table = background
            self._background_ids = _background_ids(background)
            mask_data = list(mask_data) + self._background_masks(background, self.pixel_mask_order)
            roi_id_map.update({key: len(self._roi_ids) + i for i, key in enumerate(self._background_ids)})
        self._roi_masks = _ROIMasks(
            data=mask_data,
            mask_tpe=mask_type,
            field_of_view_shape=self._image_shape,
            roi_id_map=roi_id_map,
        )

        self._read_traces(table, suite2p=writer.name == "suite2p")
        channels = [channel.name for channel in table.imaging_plane.optical_channel]
        if channels:
            self._channel_names = channels
        _set_table_properties(self, table)

    @staticmethod
    def _read_pixel_masks(table: PlaneSegmentation) -> list[np.ndarray]:
        """Every ROI's pixel mask as stored, (x, y, weight) rows, read in one pass over the column."""
        column = table["pixel_mask"]
        pixels = np.asarray(column.target.data[:])
        ends = np.asarray(column.data[:], dtype=np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        stacked = (
            np.column_stack(
                [pixels["x"].astype(np.float64), pixels["y"].astype(np.float64), pixels["weight"].astype(np.float64)]
            )
            if pixels.size
            else np.zeros((0, 3))
        )
        return [stacked[start:end] for start, end in zip(starts, ends, strict=True)]

    def _resolve_frame_shape(
        self,
        frame_shape: tuple[int, int] | None,
        image_masks,
        images: dict[str, np.ndarray],
        table: PlaneSegmentation,
        where: str,
    ) -> FrameShape:
        """The frame from the caller, else the file's own sources, which must agree with each other."""
        sources: list[tuple[tuple[int, int], str]] = []
        if image_masks is not None:
            sources.append((tuple(int(size) for size in image_masks.shape[:2]), "the table's image masks"))
        manifold = _manifold_frame(table)
        if manifold is not None:
            sources.append((manifold, f"the manifold of ImagingPlane '{table.imaging_plane.name}'"))
        series = _series_frame(self.nwbfile, table)
        if series is not None:
            sources.append(series)
        if frame_shape is not None:
            given = tuple(int(size) for size in frame_shape)
            if len(given) != 2 or min(given) < 1:
                raise InvalidInputError(f"frame_shape must be (height, width) of positive sizes, got {frame_shape!r}.")
            if image_masks is not None and given != sources[0][0]:
                raise InvalidInputError(
                    f"frame_shape {given} disagrees with the image masks of {where}, which are {sources[0][0]}; "
                    "leave frame_shape out."
                )
            return FrameShape(given, f"frame_shape={given} as given", given_by_caller=True)
        shapes = {shape for shape, _ in sources}
        if len(shapes) > 1:
            listed = ", ".join(f"{shape} from {source}" for shape, source in sources)
            raise InvalidInputError(
                f"The file's own sources disagree on the frame of {where} ({listed}); pass frame_shape=(H, W) "
                "(CLI: --frame-shape H W)."
            )
        if sources:
            return FrameShape(*sources[0])
        image_shapes = {tuple(image.shape) for image in images.values()}
        if len(image_shapes) == 1:
            shape = image_shapes.pop()
            return FrameShape(shape, f"the summary images, {', '.join(repr(name) for name in sorted(images))}")
        found = f"summary images of shapes {sorted(image_shapes)}" if image_shapes else "no summary image"
        raise InvalidInputError(
            f"Cannot tell the frame shape of {where}: pixel masks do not record it and the file has {found}, no image "
            "masks, no ImagingPlane manifold and no photon series with data for the plane. "
            "Pass frame_shape=(H, W) (Python) or --frame-shape H W (CLI)."
        )

    @staticmethod
    def _images_in_frame(images: dict[str, np.ndarray], frame: FrameShape, where: str) -> dict[str, np.ndarray]:
        """The summary images of the frame's shape; one stored the other way round is read as stored."""
        kept = {}
        height, width = frame.shape
        for name, image in images.items():
            if tuple(image.shape) == frame.shape:
                kept[name] = image
            elif tuple(image.shape) == (width, height):
                warnings.warn(
                    f"Summary image '{name}' of {where} is stored (height, width) against NWB's (x, y) "
                    f"(it is {image.shape[::-1]} as stored, and the frame is {frame.shape} from {frame.source}); "
                    "it is read as stored.",
                    UserWarning,
                    stacklevel=4,
                )
                kept[name] = image.T
            else:
                warnings.warn(
                    f"Summary image '{name}' of {where} is {image.shape}, not the frame {frame.shape} "
                    f"({frame.source}); it is left out.",
                    UserWarning,
                    stacklevel=4,
                )
        return kept

    def _read_traces(self, table: PlaneSegmentation, *, suite2p: bool = False) -> None:
        num_rois = len(self._roi_ids)
        self._roi_response_series = None
        # A multi-plane file names each plane's objects with one suffix (NeuroConv and segdb's
        # export: PlaneSegmentationPlane0, RoiResponseSeriesPlane0, NeuropilPlane0).
        suffix = plane_suffix_of(table.name)
        for module in self.nwbfile.processing.values():
            for container_name, interface in module.data_interfaces.items():
                if isinstance(interface, Fluorescence):
                    names, prefix = FLUORESCENCE_SERIES, ""
                elif isinstance(interface, DfOverF):
                    names, prefix = DFOVERF_SERIES, "dff_"
                else:
                    continue
                for series_name, series in interface.roi_response_series.items():
                    if self._background_table is not None and series.rois.table is self._background_table:
                        self._add_background_series(series_name.removesuffix(suffix) if suffix else series_name,
                                                    series)
                        continue
                    if series.rois.table is not table:
                        continue
                    if suite2p and container_name in SUITE2P_CONTAINERS:
                        trace_name = SUITE2P_CONTAINERS[container_name]
                    else:
                        base_name = series_name.removesuffix(suffix) if suffix else series_name
                        trace_name = names.get(base_name, prefix + base_name)
                    self._add_series(series_name, series, trace_name, num_rois, table)
        if self._roi_response_series is None:
            raise InvalidInputError(
                f"'{self.file_path}' has no RoiResponseSeries (in Fluorescence or DfOverF) for "
                f"'{self.plane_segmentation_path}'; segdb needs the traces along with the masks."
            )

    def _add_series(self, series_name: str, series, trace_name: str, num_rois: int, table: PlaneSegmentation) -> None:
        rows = np.asarray(series.rois.data[:], dtype=np.int64)
        data = series.data
        shape = tuple(data.shape)
        if not (len(shape) == 2 and shape[1] == rows.size) and not (len(shape) == 1 and rows.size == 1):
            transposed = len(shape) == 2 and shape[0] == rows.size
            raise InvalidInputError(
                f"Series '{series_name}' in '{self.file_path}' holds data of shape {shape} for {rows.size} ROIs; "
                f"NWB stores it as (samples, rois){', and it looks transposed' if transposed else ''}: "
                "the file is damaged or its writer broke NWB's layout (nwbinspector names the problem)."
            )
        if self._roi_responses and shape[0] != self._roi_responses[0].data.shape[0]:
            first = self._roi_responses[0]
            raise InvalidInputError(
                f"Series '{series_name}' in '{self.file_path}' has {shape[0]} samples but trace "
                f"'{first.response_type}' of '{table.name}' has {first.data.shape[0]}; every series of a plane "
                "segmentation must cover the same samples: the file is damaged or was written incompletely."
            )
        if data.ndim == 1:
            data = np.asarray(data[:])[:, None]
        elif hasattr(data, "id"):
            data = DatasetView(data)
        if np.array_equal(rows, np.arange(num_rois)):
            traces = data
        elif sorted(rows.tolist()) == list(range(num_rois)):
            # Columns follow the region's row order; put them in table order.
            traces = np.asarray(data[:])[:, np.argsort(rows)]
        else:
            raise InvalidInputError(
                f"Series '{series_name}' in '{self.file_path}' covers {rows.size} of the {num_rois} ROIs of "
                f"'{table.name}'; segdb needs a trace for every ROI of a plane segmentation."
            )
        if any(response.response_type == trace_name for response in self._roi_responses):
            raise InvalidInputError(
                f"'{self.file_path}' has two series that map to trace '{trace_name}' for '{table.name}'; "
                "rename one of them."
            )
        self._roi_responses.append(_RoiResponse(trace_name, traces, list(self._roi_ids)))
        if self._roi_response_series is None:
            self._roi_response_series = series
            self._sampling_frequency = series.rate if series.rate is not None else self._rate_from(series)

    def _background_masks(self, background: PlaneSegmentation, order: str | None) -> list[np.ndarray]:
        if "pixel_mask" in background.colnames:
            return as_rows_cols(self._read_pixel_masks(background), order or "xy")
        masks = []
        for image in background["image_mask"].data[:]:
            rows, cols = np.nonzero(np.asarray(image).T)
            masks.append(np.column_stack([rows, cols, np.asarray(image).T[rows, cols]]).astype(np.float64))
        return masks

    def _add_background_series(self, series_name: str, series) -> None:
        """A background table's series: 'Background' is roiextractors' background trace, 'BackgroundX' is x."""
        rest = series_name.removeprefix("Background")
        trace_name = "background" if not rest else rest[:1].lower() + rest[1:]
        rows = np.asarray(series.rois.data[:], dtype=np.int64)
        if sorted(rows.tolist()) != list(range(len(self._background_ids))):
            raise InvalidInputError(
                f"Series '{series_name}' in '{self.file_path}' covers {rows.size} of the "
                f"{len(self._background_ids)} background components of '{self._background_table.name}'; "
                "segdb needs a trace for every component."
            )
        traces = np.asarray(series.data[:]).reshape(series.data.shape[0], -1)[:, np.argsort(rows)]
        self._roi_responses.append(_RoiResponse(trace_name, traces, list(self._background_ids)))

    @staticmethod
    def _rate_from(series) -> float | None:
        timestamps = np.asarray(series.timestamps[:])
        if timestamps.size < 2:
            return None
        return float(1.0 / np.median(np.diff(timestamps)))

    def __del__(self):
        """Close the NWB file (also when the constructor failed before opening it)."""
        if getattr(self, "_io", None) is not None:
            self._io.close()

    def get_frame_shape(self) -> tuple[int, int]:
        return self._image_shape

    def get_image_shape(self) -> tuple[int, int]:
        return self._image_shape


def _image_segmentation_of(module, table_name: str) -> str:
    """The name of the ImageSegmentation in ``module`` that holds ``table_name``."""
    for name, interface in module.data_interfaces.items():
        if isinstance(interface, ImageSegmentation) and table_name in interface.plane_segmentations:
            return name
    raise NotFoundError(f"No ImageSegmentation in module '{module.name}' holds '{table_name}'.")


def _background_table_of(module, table: PlaneSegmentation) -> PlaneSegmentation | None:
    """The table of background components that goes with ``table`` (Background<table name>), if any."""
    for interface in module.data_interfaces.values():
        if isinstance(interface, ImageSegmentation):
            found = interface.plane_segmentations.get(f"Background{table.name}")
            if found is not None and found is not table and len(found) and set(found.colnames) & {"pixel_mask",
                                                                                               "image_mask"}:
                return found
    return None


def _background_ids(background: PlaneSegmentation) -> list[str]:
    names = [str(name) for name in background["roi_name"][:]] if "roi_name" in background.colnames else []
    if names and all(name.startswith("background") for name in names) and len(set(names)) == len(names):
        return names
    return [f"background{index}" for index in range(len(background))]


def plane_suffix_of(table_name: str) -> str:
    """The suffix a multi-plane file gives one plane's objects, read off its table's name ('' for one plane)."""
    return table_name.removeprefix("PlaneSegmentation") if table_name.startswith("PlaneSegmentation") else ""


def _roiextractors_can_open(nwbfile: NWBFile) -> bool:
    """Whether roiextractors 0.10's NWB reader reads this file's segmentation fully."""
    ophys = nwbfile.processing.get("ophys")
    segmentation = ophys.data_interfaces.get("ImageSegmentation") if ophys is not None else None
    if segmentation is None or list(segmentation.plane_segmentations) != ["PlaneSegmentation"]:
        return False
    columns = set(segmentation.plane_segmentations["PlaneSegmentation"].colnames)
    # It reads only image masks, and the table ids where roi_name holds the source's ids.
    if "image_mask" not in columns or "pixel_mask" in columns or _ROI_NAME_COLUMN in columns:
        return False
    containers = [ophys.data_interfaces.get(name) for name in ("Fluorescence", "DfOverF")]
    return any(
        container is not None and "RoiResponseSeries" in container.roi_response_series for container in containers
    )


def nwb_extractor(
    path: str | Path,
    *,
    plane_segmentation_name: str | None = None,
    frame_shape: tuple[int, int] | None = None,
    pixel_mask_order: str | None = None,
) -> SegmentationExtractor:
    """Open the segmentation in an NWB file as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    plane_segmentation_name : str, optional
        Which ``PlaneSegmentation`` (its name, or ``module/name``); required when the file
        has several.
    frame_shape : tuple[int, int], optional
        (height, width) for pixel masks in a file that does not record the frame.
    pixel_mask_order : {"xy", "rowcol"}, optional
        How the ``pixel_mask`` is written when the file's own evidence cannot tell
        (``"xy"``: NWB's (x, y, weight), x the column; ``"rowcol"``: (row, col, weight)).

    Returns
    -------
    SegmentationExtractor
        roiextractors' ``NwbSegmentationExtractor`` when it can read the file (one table
        named ``PlaneSegmentation`` in ``ophys`` with image masks and no ``roi_name``), else
        :class:`NwbPlaneSegmentationExtractor`. Either way with a bool ``accepted``
        property when the table has ``Accepted``/``Rejected`` (or suite2p's ``iscell``).

    Raises
    ------
    NotFoundError
        If the file or the named plane segmentation does not exist.
    InvalidInputError
        If the file is not a whole NWB 2 file, holds no usable segmentation, or its pixel
        masks' order cannot be decided.
    """
    path = Path(path)
    validate_pixel_mask_order(pixel_mask_order)
    io, nwbfile = _open_nwb(path)
    with io:
        chosen = _choose_table(_plane_segmentations(nwbfile, path), plane_segmentation_name, path)
        use_roiextractors = chosen == ("ophys", "PlaneSegmentation") and _roiextractors_can_open(nwbfile)
    if use_roiextractors and frame_shape is None:
        extractor = NwbSegmentationExtractor(file_path=path)
        _set_table_properties(
            extractor, extractor.nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        )
        return extractor
    return NwbPlaneSegmentationExtractor(
        path,
        plane_segmentation_name=plane_segmentation_name,
        frame_shape=frame_shape,
        pixel_mask_order=pixel_mask_order,
    )


__all__ = [
    "NwbPlaneSegmentationExtractor",
    "nwb_extractor",
]
