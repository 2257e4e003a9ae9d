"""Archive benchmarks: ingest throughput against plain h5py, and open + list ROIs as the archive grows.

    python benchmarks/bench_archive.py            # full sizes (a few minutes)
    python benchmarks/bench_archive.py --small    # quick pass

1. Ingest of R ROIs x S samples x 3 trace series (float32) through ``Archive.ingest``
   (validation, masks, compression, checksums, fsync, sha256, catalog rows), as a ratio of
   throughput to writing the same three arrays with plain h5py (contiguous, no filters).
   Target: at least 0.5x.
2. ``segdb.open`` + ``archive.rois(one segmentation)`` in archives of N segmentations x 500
   ROIs, for a small and a large N. Target: the time does not grow with N.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from _common import MemorySegmentation, square_masks

import segdb


def _source(n_rois: int, n_samples: int, frame_shape=(512, 512), seed: int = 0) -> MemorySegmentation:
    rng = np.random.default_rng(seed)
    traces = {}
    for name in ("raw", "neuropil", "deconvolved"):
        data = rng.standard_normal((n_samples, n_rois), dtype=np.float32)
        data += np.float32(100.0)
        traces[name] = data
    return MemorySegmentation(traces, square_masks(rng, n_rois, frame_shape, 8), frame_shape)


def _plain_h5py_write(path: Path, source: MemorySegmentation) -> None:
    with h5py.File(path, "w") as handle:
        for name, data in source.get_traces_dict().items():
            if data is not None:
                handle.create_dataset(name, data=data)


def bench_ingest(n_rois: int, n_samples: int, repeats: int) -> dict:
    source = _source(n_rois, n_samples)
    nbytes = sum(d.nbytes for d in source.get_traces_dict().values() if d is not None)
    plain, ours = [], []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        archive = segdb.open(Path(tmp) / "archive")
        for attempt in range(repeats):
            start = time.perf_counter()
            _plain_h5py_write(Path(tmp) / f"plain{attempt}.h5", source)
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            archive.ingest(source, subject="bench", session=f"s{attempt}", progress=False)
            ours.append(time.perf_counter() - start)
        archive.close()
    best_plain, best_ours = min(plain), min(ours)
    return {
        "size": f"{n_rois} ROIs x {n_samples} samples x 3 series ({nbytes / 1e6:.0f} MB)",
        "plain_h5py_s": best_plain,
        "segdb_s": best_ours,
        "plain_MBps": nbytes / best_plain / 1e6,
        "segdb_MBps": nbytes / best_ours / 1e6,
        "ratio": best_plain / best_ours,
    }


def _fill_archive(folder: Path, n_segmentations: int, n_rois: int) -> int:
    archive = segdb.open(folder)
    source = _source(n_rois, 10, frame_shape=(256, 256))
    middle = None
    for index in range(n_segmentations):
        record = archive.ingest(source, subject=f"m{index % 20}", session=f"s{index}", progress=False)
        if index == n_segmentations // 2:
            middle = record.segmentation_id
        if n_segmentations >= 100 and index % 100 == 99:
            print(f"    ... {index + 1}/{n_segmentations} segmentations", file=sys.stderr)
    archive.close()
    return middle


def _time_open_and_list(folder: Path, seg_id: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        archive = segdb.open(folder, create=False)
        rois = archive.rois(seg_id)
        times.append(time.perf_counter() - start)
        archive.close()
        assert len(rois) == 500
    return statistics.median(times)


def bench_listing(sizes: tuple[int, int], repeats: int) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for n in sizes:
            print(f"  building an archive of {n} segmentations x 500 ROIs", file=sys.stderr)
            start = time.perf_counter()
            seg_id = _fill_archive(Path(tmp) / f"a{n}", n, 500)
            build = time.perf_counter() - start
            results[n] = (_time_open_and_list(Path(tmp) / f"a{n}", seg_id, repeats), build)
    small, large = sizes
    return {
        "sizes": sizes,
        "median_s": {n: results[n][0] for n in sizes},
        "build_s": {n: results[n][1] for n in sizes},
        "growth": results[large][0] / results[small][0],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="quick pass with smaller sizes")
    args = parser.parse_args(argv)
    n_samples = 10_000 if args.small else 100_000
    sizes = (10, 100) if args.small else (10, 1000)

    print("== ingest throughput vs plain h5py (target ratio >= 0.5)")
    ingest = bench_ingest(500, n_samples, repeats=2)
    print(f"  {ingest['size']}")
    print(f"  plain h5py : {ingest['plain_h5py_s']:.2f} s ({ingest['plain_MBps']:.0f} MB/s)")
    print(f"  segdb      : {ingest['segdb_s']:.2f} s ({ingest['segdb_MBps']:.0f} MB/s)")
    print(f"  ratio (segdb throughput / plain h5py): {ingest['ratio']:.2f}x")

    print("== open archive + list the ROIs of one segmentation (target: flat in N)")
    listing = bench_listing(sizes, repeats=30)
    for n in sizes:
        print(f"  N={n:>5} segmentations: {listing['median_s'][n] * 1e3:.1f} ms median "
              f"(archive built in {listing['build_s'][n]:.0f} s)")
    print(f"  growth from N={sizes[0]} to N={sizes[1]}: {listing['growth']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
