"""NWB export: speed and peak memory of `archive.export_nwb` against pynwb writing the same arrays by hand.

    python benchmarks/bench_export.py            # 500 ROIs x 36,000 samples x 3 series (216 MB of traces)
    python benchmarks/bench_export.py --small    # 200 ROIs x 6,000 samples x 3 series

One session is archived (pixel masks, raw / neuropil / deconvolved float32 traces, two
summary images) and its arrays also saved as suite2p-style .npy files. Then, each in a
fresh process, side by side:

* baseline: a lab's script with pynwb: ``np.load`` every array, build the PlaneSegmentation
  with ``add_roi`` and the RoiResponseSeries from the in-memory arrays, write;
* segdb: ``archive.export_nwb(segmentation, path)`` (traces copied from the chunk files
  block by block).

Printed: seconds (median of the rounds), peak memory above what the process held before it
started (the high-water RSS), and that peak as a fraction of the traces' size. Target: the
export never holds a session's traces (peak well under their size), at a speed comparable
to the by-hand write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

TRACE_NAMES = ("raw", "neuropil", "deconvolved")


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    # VmHWM is this process image's own high-water mark; getrusage's ru_maxrss would also count
    # the parent's memory at the fork that started this process.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def build(folder: Path, n_rois: int, n_samples: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import MemorySegmentation, square_masks

    import segdb

    rng = np.random.default_rng(0)
    frame = (512, 512)
    masks = square_masks(rng, n_rois, frame, 12)
    traces = {name: rng.normal(size=(n_samples, n_rois)).astype(np.float32) for name in TRACE_NAMES}
    extractor = MemorySegmentation(traces, masks, frame, sampling_frequency=30.0,
                                   properties={"snr": rng.uniform(0, 10, n_rois)})
    extractor._summary_images = {"mean": rng.uniform(size=frame), "max": rng.uniform(size=frame)}
    with segdb.open(folder / "archive") as archive:
        archive.ingest(extractor, subject="m12", session="2026-03-01", name="suite2p",
                       session_start="2026-03-01T10:00", progress=False)
        archive.set_subject("m12", species="Mus musculus", sex="F", age="P90D")
    npy = folder / "npy"
    npy.mkdir()
    for name, data in traces.items():
        np.save(npy / f"{name}.npy", data)
    np.save(npy / "masks.npy", np.array(masks, dtype=object), allow_pickle=True)
    for name, image in extractor._summary_images.items():
        np.save(npy / f"image_{name}.npy", image)


def child_segdb(folder: Path, out: Path) -> dict[str, float]:
    import segdb
    import segdb.export  # noqa: F401  (pynwb and hdmf, imported before the clock starts, as the baseline's are)

    archive = segdb.open(folder / "archive")
    before = _rss_mb()
    start = time.perf_counter()
    archive.export_nwb("m12/2026-03-01/suite2p", out, progress=False)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb() - before}


def child_pynwb(folder: Path, out: Path) -> dict[str, float]:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.base import Images
    from pynwb.file import Subject
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel

    before = _rss_mb()
    start = time.perf_counter()
    npy = folder / "npy"
    traces = {name: np.load(npy / f"{name}.npy") for name in TRACE_NAMES}
    masks = np.load(npy / "masks.npy", allow_pickle=True)
    nwbfile = NWBFile(session_description="by hand", identifier=str(uuid.uuid4()),
                      session_start_time=dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone.utc),
                      subject=Subject(subject_id="m12", species="Mus musculus", sex="F", age="P90D"))
    device = nwbfile.create_device(name="Microscope")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=OpticalChannel(name="OpticalChannel", description="green",
                                                            emission_lambda=510.0),
        description="plane0", device=device, excitation_lambda=920.0, indicator="GCaMP6s", location="VISp",
        imaging_rate=30.0,
    )
    ophys = nwbfile.create_processing_module(name="ophys", description="ophys")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="ROIs", imaging_plane=plane)
    for mask in masks:
        table.add_roi(pixel_mask=[(int(c), int(r), float(w)) for r, c, w in mask])
    region = table.create_roi_table_region(region=list(range(len(masks))), description="all")
    fluorescence = Fluorescence(name="Fluorescence")
    ophys.add(fluorescence)
    for name, series_name in zip(TRACE_NAMES, ("RoiResponseSeries", "Neuropil", "Deconvolved")):
        fluorescence.create_roi_response_series(name=series_name, data=traces[name], rois=region, unit="n.a.",
                                                rate=30.0)
    images = [GrayscaleImage(name=n, data=np.load(npy / f"image_{n}.npy").T) for n in ("mean", "max")]
    ophys.add(Images(name="SegmentationImages", images=images))
    with NWBHDF5IO(str(out), "w") as io:
        io.write(nwbfile)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb() - before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--child", choices=["segdb", "pynwb"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_segdb if args.child == "segdb" else child_pynwb
        out = args.folder / f"{args.child}-{uuid.uuid4().hex[:6]}.nwb"
        figures = run(args.folder, out)
        figures["file_mb"] = out.stat().st_size / 2**20
        out.unlink()
        print(json.dumps(figures))
        return 0
    n_rois, n_samples = (200, 6_000) if args.small else (500, 36_000)
    rounds = args.rounds or (2 if args.small else 3)
    traces_mb = n_rois * n_samples * 4 * len(TRACE_NAMES) / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build(folder, n_rois, n_samples)
        results: dict[str, list[dict[str, float]]] = {"pynwb": [], "segdb": []}
        for _ in range(rounds):
            for name in results:
                output = subprocess.run([sys.executable, __file__, "--child", name, "--folder", str(folder)],
                                        check=True, capture_output=True, text=True).stdout
                results[name].append(json.loads(output.strip().splitlines()[-1]))
    print(f"NWB export of one session: {n_rois} ROIs x {n_samples} samples x {len(TRACE_NAMES)} float32 series "
          f"({traces_mb:.0f} MB of traces), {rounds} round(s), each in a fresh process")
    median = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
              for name, runs in results.items()}
    print(f"{'':34}{'seconds':>9}{'peak MB':>10}{'peak / traces':>15}{'file MB':>9}")
    for label, name in (("baseline: pynwb by hand (np.load)", "pynwb"), ("segdb export_nwb", "segdb")):
        row = median[name]
        print(f"{label:34}{row['seconds']:9.2f}{row['peak_mb']:10.0f}{row['peak_mb'] / traces_mb:15.2f}"
              f"{row['file_mb']:9.0f}")
    print(f"segdb / baseline: time {median['segdb']['seconds'] / median['pynwb']['seconds']:.2f}x, "
          f"peak memory {median['segdb']['peak_mb'] / median['pynwb']['peak_mb']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
