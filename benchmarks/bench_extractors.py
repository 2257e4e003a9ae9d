"""Extractor benchmarks on one plane of 1,000 ROIs x 100,000 samples (float32), side by side in one run.

    python benchmarks/bench_extractors.py            # full size (400 MB of traces)
    python benchmarks/bench_extractors.py --small    # 10,000 samples

1. get_traces of 10 random ROIs x 1,000 samples: ratio to the best plain h5py read of the same
   block from the same file (target: within 1.5x), and to roiextractors reading the same HDF5 data
   (CaImAn results file with the same traces; target: at least 50x faster).
2. get_roi_pixel_masks for all ROIs: ratio to reading the CSR arrays with plain h5py and splitting
   them (target: within 2x).
3. Peak memory (tracemalloc) of the small get_traces, for a short and the long series: target under
   2x the block returned plus the HDF5 chunk cache, independent of the series length.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
from _common import MemorySegmentation, square_masks
from roiextractors import CaimanSegmentationExtractor

import segdb
from segdb.arrays import close_all

N_ROIS = 1000
FRAME = (512, 512)


def _source(n_samples: int, seed: int = 0) -> MemorySegmentation:
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n_samples, N_ROIS), dtype=np.float32)
    source = MemorySegmentation({"raw": raw}, square_masks(rng, N_ROIS, FRAME, 10), FRAME)
    source.raw = raw
    return source


def _write_caiman(path: Path, raw: np.ndarray) -> None:
    """The same traces as a CaImAn results file, which roiextractors reads with CaimanSegmentationExtractor."""
    n_pixels = FRAME[0] * FRAME[1]
    with h5py.File(path, "w") as handle:
        est = handle.create_group("estimates")
        a = est.create_group("A")
        a["data"] = np.ones(N_ROIS, dtype=np.float32)
        a["indices"] = np.arange(N_ROIS, dtype=np.int64) * 7
        a["indptr"] = np.arange(N_ROIS + 1, dtype=np.int64)
        a["shape"] = np.array([n_pixels, N_ROIS])
        est["C"] = raw.T
        est["dims"] = np.array(FRAME)
        params = handle.create_group("params").create_group("data")
        params["fr"] = 30.0
        params["dims"] = np.array(FRAME)


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _best_plain_read(dataset: h5py.Dataset, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
    ordered = np.sort(columns)
    return dataset[start:stop, ordered]


def run(n_samples: int, repeats: int) -> None:
    rng = np.random.default_rng(7)
    source = _source(n_samples)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        archive = segdb.open(Path(tmp) / "archive")
        record = archive.ingest(source, subject="bench", session="s", progress=False)
        [plane] = archive.plane_handles(record)
        path = archive.storage_root / plane.masks.file.relative_path
        caiman_path = Path(tmp) / "caiman.hdf5"
        _write_caiman(caiman_path, source.raw)
        extractor = archive.extractor(record)

        windows = [(int(rng.integers(0, n_samples - 1000)), rng.choice(N_ROIS, 10, replace=False)) for _ in range(repeats)]
        with h5py.File(path, "r") as handle:
            dataset = handle["traces/raw"]
            # Each strategy reads every window once; the best (fastest) plain strategy is the baseline.
            strategies = {
                "h5py fancy (sorted columns)": lambda s, c: _best_plain_read(dataset, s, s + 1000, c),
                "h5py one slice per column": lambda s, c: np.column_stack([dataset[s : s + 1000, int(i)] for i in c]),
                "h5py column span then pick": lambda s, c: dataset[s : s + 1000, int(c.min()) : int(c.max()) + 1][
                    :, c - c.min()
                ],
            }
            plain = {}
            for name, read in strategies.items():
                plain[name] = _timed(lambda: [read(s, c) for s, c in windows], 3) / len(windows)
            ours = _timed(lambda: [extractor.get_traces(roi_ids=c.tolist(), start_frame=s, end_frame=s + 1000)
                                   for s, c in windows], 3) / len(windows)
            check_s, check_c = windows[0]
            np.testing.assert_array_equal(
                extractor.get_traces(roi_ids=check_c.tolist(), start_frame=check_s, end_frame=check_s + 1000),
                source.raw[check_s : check_s + 1000, check_c],
            )
        best_name = min(plain, key=plain.get)
        caiman = CaimanSegmentationExtractor(str(caiman_path))
        s, c = windows[0]
        # CaImAn's C is what roiextractors calls "denoised"; its base get_traces reads the whole series.
        np.testing.assert_array_equal(
            caiman.get_traces(roi_ids=c.tolist(), start_frame=s, end_frame=s + 1000, name="denoised"),
            source.raw[s : s + 1000, c],
        )
        reference = _timed(
            lambda: caiman.get_traces(roi_ids=c.tolist(), start_frame=s, end_frame=s + 1000, name="denoised"), 2
        )

        print(f"== get_traces, 10 random ROIs x 1,000 samples of {N_ROIS} x {n_samples}")
        for name, value in plain.items():
            print(f"  {name:30s}: {value * 1e3:8.3f} ms")
        print(f"  segdb get_traces              : {ours * 1e3:8.3f} ms")
        print(f"  roiextractors (CaImAn file)   : {reference * 1e3:8.3f} ms")
        print(f"  segdb / best plain h5py ({best_name}): {ours / plain[best_name]:.2f}x   (target <= 1.5x)")
        print(f"  roiextractors / segdb: {reference / ours:.0f}x faster   (target >= 50x)")

        def plain_masks(handle):
            indptr = handle["masks/indptr"][:]
            row, col, weight = handle["masks/row"][:], handle["masks/col"][:], handle["masks/weight"][:]
            return [np.column_stack([row[a:b], col[a:b], weight[a:b]]) for a, b in zip(indptr[:-1], indptr[1:])]

        def plain_cold():
            with h5py.File(path, "r") as handle:
                return plain_masks(handle)

        def ours_cold():
            close_all()
            return extractor.get_roi_pixel_masks()

        with h5py.File(path, "r") as handle:
            plain_warm = _timed(lambda: plain_masks(handle), 5)
        extractor.get_roi_pixel_masks()
        ours_warm = _timed(extractor.get_roi_pixel_masks, 5)
        plain_open, ours_open = _timed(plain_cold, 5), _timed(ours_cold, 5)
        print(f"== get_roi_pixel_masks for all {N_ROIS} ROIs")
        print(f"  file already open : plain h5py CSR + split {plain_warm * 1e3:6.2f} ms, segdb {ours_warm * 1e3:6.2f} ms"
              f" -> {ours_warm / plain_warm:.2f}x (target <= 2x)")
        print(f"  opening the file  : plain h5py CSR + split {plain_open * 1e3:6.2f} ms, segdb {ours_open * 1e3:6.2f} ms"
              f" -> {ours_open / plain_open:.2f}x (target <= 2x)")
        archive.close()


def peak_memory(lengths: list[int]) -> None:
    print("== peak memory of get_traces(10 ROIs x 1,000 samples)")
    block_bytes = 10 * 1000 * 4
    chunk_cache = 1024 * 1024  # h5py's default raw-data chunk cache per dataset
    for n_samples in lengths:
        source = _source(n_samples, seed=1)
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            archive = segdb.open(Path(tmp) / "archive")
            record = archive.ingest(source, subject="bench", session="s", progress=False)
            del source
            extractor = archive.extractor(record)
            extractor.get_traces(roi_ids=[1], start_frame=0, end_frame=10)  # open the file first
            tracemalloc.start()
            extractor.get_traces(roi_ids=list(range(500, 510)), start_frame=n_samples // 2, end_frame=n_samples // 2 + 1000)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            archive.close()
            close_all()
        print(f"  series of {n_samples:>7} samples: peak {peak / 1e3:8.1f} kB; block {block_bytes / 1e3:.0f} kB; "
              f"ratio to block {peak / block_bytes:.2f}x (target < 2x block + {chunk_cache / 1e6:.0f} MB chunk cache)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args(argv)
    n_samples = 10_000 if args.small else 100_000
    run(n_samples, repeats=20)
    peak_memory([10_000, n_samples] if not args.small else [5_000, 10_000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
