"""`segdb ingest suite2p|caiman|nwb|cnmfe|extract|minian|inscopix|sima|numpy`: archive a pipeline's output."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from segdb.cli.arguments import add_archive_option, open_archive

FORMATS = (("suite2p", "suite2p output folder"), ("caiman", "CaImAn results HDF5 file"), ("nwb", "NWB file"))


def add_ingest(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="archive a pipeline's output")
    formats = ingest.add_subparsers(dest="format", required=True, metavar="FORMAT", help="the pipeline that wrote it")
    for fmt, noun in FORMATS:
        sub = formats.add_parser(fmt, help=f"ingest a {noun}")
        _add_common_options(sub, noun)
        if fmt == "suite2p":
            sub.add_argument("--frame-shape", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                             help="frame shape, needed only when ops.npy is missing")
            sub.add_argument("--rate", type=float, default=None, help="frame rate in Hz, needed only without ops.npy")
            sub.add_argument("--require", type=_requirements, default=(), metavar="raw,iscell",
                             help="make a plane without F.npy (raw) or iscell.npy (iscell) an error, not a warning")
        else:
            sub.add_argument("--plane", default="plane0", help="plane name (default plane0)")
        if fmt == "nwb":
            sub.add_argument("--frame-shape", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                             help="frame shape, needed only when the file records none (pixel masks alone)")
            sub.add_argument("--plane-segmentation", default=None, metavar="NAME",
                             help="which PlaneSegmentation (NAME or MODULE/NAME), when the file has several")
            sub.add_argument("--pixel-mask-order", choices=("xy", "rowcol"), default=None,
                             help="how pixel_mask is written: xy as NWB says (x = column) or rowcol (as NeuroConv "
                                  "and suite2p write it); needed only when the file cannot tell")
        sub.set_defaults(handler=run_ingest)
    add_reader_formats(formats)


def _requirements(text: str) -> tuple[str, ...]:
    """``--require raw,iscell`` as ("raw", "iscell"); an unknown name is an argparse error listing the known ones."""
    from segdb.ingest.suite2p import REQUIRABLE

    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in REQUIRABLE]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: pass a comma-separated list of {', '.join(REQUIRABLE)}, e.g. --require raw,iscell"
        )
    return names


def _add_common_options(sub: argparse.ArgumentParser, noun: str) -> None:
    """What every `segdb ingest FORMAT` takes: the input, the archive, where it goes, and how it was imaged."""
    sub.add_argument("path", help=noun)
    add_archive_option(sub)
    sub.add_argument("--subject", required=True, help="the animal, e.g. m12 (created if new)")
    sub.add_argument("--session", required=True, help="the imaging session, e.g. 2026-03-01 (created if new)")
    sub.add_argument("--name", default=None, help="segmentation name (default: the format)")
    sub.add_argument("--session-start", default=None, help="when imaging started, ISO date/time")
    sub.add_argument("--field-of-view", default=None, help="field of view the planes belong to")
    sub.add_argument("--pixel-size", type=float, default=None,
                     help="µm per pixel (default: what the file records, else 1)")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")


def _common_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "subject": args.subject,
        "session": args.session,
        "name": args.name,
        "session_start": args.session_start,
        "field_of_view": args.field_of_view,
        "pixel_size_um": args.pixel_size,
        "progress": False if args.no_progress else None,
    }


def _print_ingested(records: list) -> None:
    for record in records:
        print(
            f"ingested segmentation {record.segmentation_id} {record.subject}/{record.session}/{record.name}: "
            f"{record.num_rois} ROIs on {len(record.planes)} plane(s), {record.num_samples} samples"
        )


def run_ingest(args: argparse.Namespace) -> int:
    from segdb.ingest.frontends import ingest_path

    with open_archive(args) as archive:
        records = ingest_path(
            archive,
            args.format,
            Path(args.path),
            plane=getattr(args, "plane", None),
            frame_shape=getattr(args, "frame_shape", None),
            sampling_frequency=getattr(args, "rate", None),
            plane_segmentation=getattr(args, "plane_segmentation", None),
            pixel_mask_order=getattr(args, "pixel_mask_order", None),
            require=getattr(args, "require", ()),
            **_common_options(args),
        )
        _print_ingested(records)
    return 0


#: The formats read by one roiextractors reader each: name, what PATH is, and what --rate does.
READER_FORMATS = (
    ("cnmfe", "a CNMF-E results .mat file (CIAtah's cnmfeAnalysisOutput, MATLAB v7.3)",
     "frame rate in Hz (default: samples / time.totalTime from the file)"),
    ("extract", "an EXTRACT results .mat file (MATLAB v7.3)",
     "frame rate in Hz (required for EXTRACT 1.0+, which does not record it)"),
    ("minian", "a Minian output folder (A.zarr, C.zarr, ... as save_minian writes them)",
     "frame rate in Hz (needed when the folder has no timeStamps.csv)"),
    ("inscopix", "an Inscopix cell set (.isxd)", None),
    ("sima", "a SIMA dataset folder (.sima)", "frame rate in Hz (SIMA does not record it)"),
    ("numpy", "a folder of .npy files", "frame rate in Hz (needed without timestamps.npy)"),
)

NUMPY_FOLDER_HELP = """\
The folder holds arrays saved with numpy.save under these names (image_masks.npy and one
trace file are required; any other .npy file is refused):

  image_masks.npy   (height, width, n_rois)  each ROI's weights over the frame
  raw.npy           (n_samples, n_rois)      fluorescence
  dff.npy           (n_samples, n_rois)      dF/F
  neuropil.npy      (n_samples, n_rois)      neuropil fluorescence
  deconvolved.npy   (n_samples, n_rois)      deconvolved activity
  mean.npy          (height, width)          mean image
  correlation.npy   (height, width)          correlation image
  roi_ids.npy       (n_rois,) int or str     ROI ids (default 0..n_rois-1)
  accepted.npy      (n_rois,) bool           the pipeline's accept decision
  timestamps.npy    (n_samples,) float       each sample's time in seconds
"""


def add_reader_formats(formats: Any) -> None:
    """The `segdb ingest` subcommands of :data:`READER_FORMATS`, each one single-plane segmentation."""
    for fmt, noun, rate_help in READER_FORMATS:
        extra = {"description": NUMPY_FOLDER_HELP, "formatter_class": argparse.RawDescriptionHelpFormatter}
        sub = formats.add_parser(fmt, help=f"ingest {noun}", **(extra if fmt == "numpy" else {}))
        _add_common_options(sub, noun)
        sub.add_argument("--plane", default="plane0", help="plane name (default plane0)")
        if rate_help is not None:
            sub.add_argument("--rate", type=float, default=None, help=rate_help)
        if fmt == "extract":
            sub.add_argument("--output-struct", dest="output_struct_name", default=None, metavar="NAME",
                             help="the struct holding EXTRACT's results (default: output, else extractAnalysisOutput)")
        elif fmt == "minian":
            sub.add_argument("--timestamps", dest="timestamps_path", default=None, metavar="CSV",
                             help="Miniscope's timeStamps.csv (default: timeStamps.csv in the folder, if there)")
        elif fmt == "sima":
            sub.add_argument("--label", dest="segmentation_label", default=None,
                             help="which ROI set to read when the dataset has several (default auto_ROIs)")
        sub.set_defaults(handler=run_reader_ingest)


def run_reader_ingest(args: argparse.Namespace) -> int:
    from segdb.ingest.frontends import ingest_reader

    reader_options = {
        option: getattr(args, option)
        for option in ("output_struct_name", "timestamps_path", "segmentation_label")
        if getattr(args, option, None) is not None
    }
    with open_archive(args) as archive:
        records = ingest_reader(
            archive,
            args.format,
            Path(args.path),
            plane=args.plane,
            sampling_frequency=getattr(args, "rate", None),
            reader_options=reader_options,
            **_common_options(args),
        )
        _print_ingested(records)
    return 0
