"""Benchmark the chunk shape and codec of trace datasets in segdb chunk files.

segdb stores traces as ``traces/<name>`` shaped (num_samples, num_rois), every
chunk checksummed with fletcher32. The layout has to serve three things at once:

* ingest: writing a chunk file, including fsync and sha256, should run at no less
  than 0.5x the speed of writing the same array with plain h5py (contiguous, no
  filter);
* windows: reading 10 random ROIs x 1,000 samples (random window) through
  ``read_trace_block`` should cost at most 1.5x the best plain-h5py read of the
  same block from a plain contiguous file;
* one ROI over all time should read few chunks.

For each layout the script writes the traces through segdb's own write path
(temp file, blockwise copy, fsync overlapped with sha256, link into place) and
reads them through segdb's own ``read_trace_block``, so the figures are those of
the shipped code. Reads are timed warm (the file in the page cache, as right
after ingest; every repetition uses fresh random windows so HDF5's chunk cache
cannot flatter a layout) and cold (the file's pages dropped with
posix_fadvise and the handle reopened). Each figure is the best of a few
repetitions, which is the most stable statistic on a shared machine.

Run::

    python benchmarks/bench_trace_layout.py            # 1,000 ROIs x 100,000 samples, ~6 min
    python benchmarks/bench_trace_layout.py --small    # 200 ROIs x 20,000 samples, ~30 s

The defaults chosen from its output are recorded in ``segdb/arrays/layout.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from scipy.signal import lfilter

import segdb.arrays.writer as writer
from segdb.arrays import (
    TRACE_CODEC,
    ArrayFile,
    ArrayRef,
    TraceCodec,
    close_all,
    read_trace_block,
    sha256_file,
    trace_chunk_shape,
)

CODECS = {
    "none": TraceCodec("none"),
    "lzf": TraceCodec("lzf", compression="lzf"),
    "gzip-1": TraceCodec("gzip-1", compression="gzip", compression_opts=1),
    "shuffle+lzf": TraceCodec("shuffle+lzf", compression="lzf", shuffle=True),
    "shuffle+gzip-1": TraceCodec("shuffle+gzip-1", compression="gzip", compression_opts=1, shuffle=True),
}

WINDOW_SAMPLES = 1000
WINDOW_ROIS = 10


@dataclass(frozen=True)
class Layout:
    chunks: tuple[int, int] | str  # (samples, rois), or "full" for one whole ROI per chunk
    codec: str = "none"
    fletcher32: bool = True
    libver: str | None = None  # h5py libver; None = HDF5's default (earliest)

    def label(self) -> str:
        chunks = "full column" if self.chunks == "full" else f"({self.chunks[0]},{self.chunks[1]})"
        return (
            f"{chunks:>12} {self.codec:>14} {'yes' if self.fletcher32 else 'no':>3} {self.libver or '-':>6}"
        )


def full_grid() -> list[Layout]:
    """Codecs at one middle shape, then shapes with the cheap codecs, then the newer file format."""
    grid = [Layout((2048, 8), codec, f32) for codec in CODECS for f32 in (False, True)]
    shapes = [
        (512, 8), (1024, 2), (1024, 4), (1024, 8), (1024, 16), (1024, 64), (2048, 4), (2048, 16),
        (2048, 128), (4096, 4), (4096, 8), (4096, 16), (8192, 8), (8192, 32), (16384, 8), "full",
    ]  # fmt: skip
    grid += [Layout(shape) for shape in shapes]
    grid += [Layout(shape, "shuffle+lzf") for shape in ((1024, 4), (4096, 8), (4096, 16))]
    grid += [
        Layout(shape, libver="latest") for shape in ((1024, 4), (2048, 4), (2048, 8), (4096, 4), (4096, 8))
    ]
    return grid


def small_grid() -> list[Layout]:
    grid = [Layout((2048, 8), codec) for codec in ("none", "shuffle+lzf", "gzip-1")]
    grid += [Layout(shape) for shape in ((1024, 4), (4096, 16), "full")]
    return grid + [Layout((1024, 4), libver="latest")]


# --------------------------------------------------------------------------- data


def realistic_traces(num_samples: int, num_rois: int, rng: np.random.Generator) -> np.ndarray:
    """Fluorescence-like traces (samples, rois) float32 at 30 Hz.

    Baseline F0 200..1500; slow drift (AR(1), time constant ~1 min) of ~5% F0;
    10% bleaching over the session; calcium transients at ~0.15 Hz decaying in
    1 s; Gaussian shot-like noise of ~3% F0.
    """
    out = np.empty((num_samples, num_rois), dtype=np.float32)
    time_axis = np.arange(num_samples) / max(num_samples - 1, 1)
    for start in range(0, num_rois, 100):
        count = min(100, num_rois - start)
        f0 = rng.uniform(200, 1500, size=(count, 1))
        drift = lfilter([1.0], [1.0, -0.9995], rng.standard_normal((count, num_samples)), axis=1)
        drift *= 0.05 * f0 / max(float(drift.std()), 1e-9)
        bleach = 1.0 - 0.1 * time_axis[None, :] * rng.uniform(0.5, 1.5, size=(count, 1))
        events = (rng.random((count, num_samples)) < 0.005) * rng.lognormal(-1.0, 0.5, (count, num_samples))
        transients = lfilter([1.0], [1.0, -np.exp(-1 / 30)], events, axis=1) * f0
        noise = rng.standard_normal((count, num_samples)) * 0.03 * f0
        out[:, start : start + count] = ((f0 + drift) * bleach + transients + noise).T
    return out


def noise_traces(num_samples: int, num_rois: int, rng: np.random.Generator) -> np.ndarray:
    """Pure white noise: the incompressible worst case."""
    return rng.standard_normal((num_samples, num_rois), dtype=np.float32)


# --------------------------------------------------------------------------- writing


def write_segdb(directory: Path, data: np.ndarray, layout: Layout) -> tuple[Path, float]:
    """Write through segdb's write-once path with the given layout; return the path and seconds."""
    num_samples, num_rois = data.shape
    if layout.chunks == "full":
        chunks = (num_samples, 1)
    else:
        chunks = (min(layout.chunks[0], num_samples), min(layout.chunks[1], num_rois))

    def fill(handle: h5py.File) -> dict:
        infos: dict = {}
        group = handle.create_group("traces")
        writer._write_trace(
            group,
            "raw",
            data,
            None,
            infos,
            chunks=chunks,
            codec=CODECS[layout.codec],
            fletcher32=layout.fletcher32,
        )
        return infos

    name = f"layout_{uuid.uuid4().hex[:8]}.h5"
    start = time.perf_counter()
    writer._write_once(directory, name, fill, libver=layout.libver)
    return directory / name, time.perf_counter() - start


def fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass
class PlainWrite:
    write_s: float
    fsync_s: float
    sha256_s: float


def write_plain(directory: Path, data: np.ndarray, repeats: int) -> tuple[Path, PlainWrite]:
    """The reference: plain h5py, contiguous, no filter (best of ``repeats``)."""
    best = PlainWrite(float("inf"), float("inf"), float("inf"))
    path = directory / "plain.h5"
    for _ in range(repeats):
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        with h5py.File(path, "w") as handle:
            handle.create_dataset("traces/raw", data=data)
        written = time.perf_counter()
        fsync_file(path)
        synced = time.perf_counter()
        sha256_file(path)
        hashed = time.perf_counter()
        best.write_s = min(best.write_s, written - start)
        best.fsync_s = min(best.fsync_s, synced - written)
        best.sha256_s = min(best.sha256_s, hashed - synced)
    return path, best


# --------------------------------------------------------------------------- reading


def drop_from_page_cache(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def warm_page_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as handle:
        while handle.read(16 * 2**20):
            pass


def plain_readers(dataset: h5py.Dataset) -> dict[str, Callable[[int, np.ndarray], np.ndarray]]:
    """Plain h5py ways to read samples start:start+1000 of some columns, in the given order."""

    def fancy(start: int, columns: np.ndarray) -> np.ndarray:
        order = np.argsort(columns)
        block = dataset[start : start + WINDOW_SAMPLES, columns[order]]
        return block[:, np.argsort(order)]

    def per_column(start: int, columns: np.ndarray) -> np.ndarray:
        return np.stack([dataset[start : start + WINDOW_SAMPLES, int(c)] for c in columns], axis=1)

    def bounding(start: int, columns: np.ndarray) -> np.ndarray:
        low, high = int(columns.min()), int(columns.max()) + 1
        return dataset[start : start + WINDOW_SAMPLES, low:high][:, columns - low]

    return {"fancy": fancy, "per-column": per_column, "bounding": bounding}


def random_windows(
    rng: np.random.Generator, count: int, shape: tuple[int, int]
) -> list[tuple[int, np.ndarray]]:
    num_samples, num_rois = shape
    return [
        (int(rng.integers(0, num_samples - WINDOW_SAMPLES)), rng.choice(num_rois, WINDOW_ROIS, replace=False))
        for _ in range(count)
    ]


def best_ms_per_call(
    read: Callable[[int, np.ndarray], Any],
    rng: np.random.Generator,
    shape: tuple[int, int],
    count: int,
    repeats: int,
) -> float:
    """Best over ``repeats`` passes of the mean time per call, each pass on fresh windows."""
    best = float("inf")
    for _ in range(repeats):
        windows = random_windows(rng, count, shape)
        start = time.perf_counter()
        for first, columns in windows:
            read(first, columns)
        best = min(best, (time.perf_counter() - start) / count)
    return 1000 * best


@dataclass
class Reads:
    segdb_ms: float
    plain_ms: dict[str, float]  # plain strategies on the same file
    cold_segdb_ms: float
    cold_plain_ms: float  # best plain strategy, same file, cold
    roi_segdb_ms: float
    roi_plain_ms: float
    roi_chunks: int


def bench_reads(path: Path, data: np.ndarray, seed: int, args: argparse.Namespace) -> Reads:
    shape = data.shape
    ref = ArrayRef(ArrayFile(path.parent, path.name), "traces/raw", shape, data.dtype.name)
    close_all()
    warm_page_cache(path)
    check_start, check_columns = random_windows(np.random.default_rng(seed), 1, shape)[0]
    expected = data[check_start : check_start + WINDOW_SAMPLES][:, check_columns]
    np.testing.assert_array_equal(
        read_trace_block(ref, check_start, check_start + WINDOW_SAMPLES, check_columns), expected
    )

    def segdb_window(first: int, columns: np.ndarray) -> np.ndarray:
        return read_trace_block(ref, first, first + WINDOW_SAMPLES, columns)

    # The same seed for every layout: each sees the same windows.
    segdb_ms = best_ms_per_call(segdb_window, np.random.default_rng(seed), shape, args.windows, args.repeats)
    rois = [int(r) for r in np.random.default_rng(seed + 1).choice(shape[1], 3, replace=False)]
    roi_segdb_ms = 1000 * min(
        _seconds(lambda roi=roi: read_trace_block(ref, 0, shape[0], [roi])) for roi in rois
    )
    plain_ms: dict[str, float] = {}
    close_all()  # plain reads get a handle of their own, with h5py's default settings
    with h5py.File(path, "r") as handle:
        dataset = handle["traces/raw"]
        chunks = dataset.chunks
        readers = plain_readers(dataset)
        for name, reader in readers.items():
            np.testing.assert_array_equal(reader(check_start, check_columns), expected)
            plain_ms[name] = best_ms_per_call(
                reader, np.random.default_rng(seed), shape, args.windows, args.repeats
            )
        roi_plain_ms = 1000 * min(_seconds(lambda roi=roi: dataset[:, roi]) for roi in rois[:1])
        best_plain = readers[min(plain_ms, key=plain_ms.__getitem__)]
        cold_windows = random_windows(np.random.default_rng(seed + 2), args.cold, shape)
        cold_plain = []
        for first, columns in cold_windows:
            drop_from_page_cache(path)
            cold_plain.append(_seconds(lambda: best_plain(first, columns)))  # noqa: B023
    cold_segdb = []
    for first, columns in cold_windows:
        close_all()
        drop_from_page_cache(path)
        cold_segdb.append(_seconds(lambda: segdb_window(first, columns)))  # noqa: B023
    close_all()
    return Reads(
        segdb_ms,
        plain_ms,
        1000 * float(np.median(cold_segdb)),
        1000 * float(np.median(cold_plain)),
        roi_segdb_ms,
        roi_plain_ms,
        1 if chunks is None else -(-shape[0] // chunks[0]),
    )


def _seconds(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- driver


def run_kind(
    kind: str, data: np.ndarray, grid: list[Layout], directory: Path, args: argparse.Namespace
) -> None:
    megabytes = data.nbytes / 1e6
    plain_path, plain = write_plain(directory, data, args.repeats)
    reference = bench_reads(plain_path, data, args.seed, args)
    best_plain_window = min(reference.plain_ms.values())
    plain_path.unlink()
    print(
        f"plain h5py contiguous write: {plain.write_s:.3f} s = {megabytes / plain.write_s:.0f} MB/s; "
        f"fsync {plain.fsync_s:.3f} s; sha256 {plain.sha256_s:.3f} s\n"
        f"plain h5py contiguous 10x1000 window reads (ms): "
        + ", ".join(f"{name} {ms:.3f}" for name, ms in reference.plain_ms.items())
        + f"; best {best_plain_window:.3f} ms; cold {reference.cold_plain_ms:.1f} ms; "
        f"one ROI over all samples {reference.roi_plain_ms:.1f} ms"
    )
    header = (
        f"{'chunks':>12} {'codec':>14} {'f32':>3} {'libver':>6} {'MB':>5} {'ratio':>5} {'write':>6} "
        f"{'xplain':>6} {'xsync':>5} {'xfull':>5} {'win ms':>6} {'xbest':>5} {'same':>5} {'cold':>5} "
        f"{'pcold':>5} {'roi ms':>6} {'chunks':>6}"
    )
    print(header)
    print("-" * len(header))
    for layout in grid:
        repeats = 1 if "gzip" in layout.codec else args.repeats
        best_s = float("inf")
        for attempt in range(repeats):
            path, seconds = write_segdb(directory, data, layout)
            best_s = min(best_s, seconds)
            size = path.stat().st_size
            if attempt < repeats - 1:
                path.unlink()
        reads = bench_reads(path, data, args.seed, args)
        path.unlink()
        print(
            f"{layout.label()} {size / 1e6:5.0f} {data.nbytes / size:5.2f} {megabytes / best_s:6.0f} "
            f"{plain.write_s / best_s:6.2f} {(plain.write_s + plain.fsync_s) / best_s:5.2f} "
            f"{(plain.write_s + plain.fsync_s + plain.sha256_s) / best_s:5.2f} "
            f"{reads.segdb_ms:6.3f} {reads.segdb_ms / best_plain_window:5.2f} "
            f"{min(reads.plain_ms.values()):5.2f} {reads.cold_segdb_ms:5.1f} {reads.cold_plain_ms:5.1f} "
            f"{reads.roi_segdb_ms:6.1f} {reads.roi_chunks:6d}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--small", action="store_true", help="200 ROIs x 20,000 samples, fewer layouts (~30 s)"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: the system temp dir)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only",
        default=None,
        help="compare only these uncompressed, checksummed chunk shapes, e.g. 1024x4,2048x8 "
        "(realistic traces only)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per figure (default 3)")
    args = parser.parse_args()
    num_rois, num_samples = (200, 20_000) if args.small else (1_000, 100_000)
    args.windows, repeats, args.cold = (30, 2, 5) if args.small else (60, 3, 9)
    args.repeats = args.repeats or repeats
    grid = small_grid() if args.small else full_grid()
    if args.only:
        grid = [Layout(tuple(int(n) for n in shape.split("x"))) for shape in args.only.split(",")]
    default = Layout(trace_chunk_shape(num_samples, num_rois), TRACE_CODEC.name)

    directory = Path(tempfile.mkdtemp(prefix="segdb_bench_", dir=args.dir))
    print(
        f"segdb trace layout benchmark: {num_rois} ROIs x {num_samples} samples float32 "
        f"({num_rois * num_samples * 4 / 1e6:.0f} MB); h5py {h5py.version.version}, HDF5 "
        f"{h5py.version.hdf5_version}, numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} cpus; "
        f"files in {directory}"
    )
    rng = np.random.default_rng(args.seed)
    try:
        kinds = [
            ("realistic", realistic_traces, grid + [default]),
            ("pure noise", noise_traces, [Layout((2048, 8), codec) for codec in CODECS] + [default]),
        ]
        for kind, make, layouts in kinds[:1] if args.only else kinds:
            started = time.perf_counter()
            data = make(num_samples, num_rois, rng)
            print(f"\n=== {kind} traces (generated in {time.perf_counter() - started:.1f} s) ===")
            run_kind(
                kind, data, layouts if not args.small or kind == "realistic" else layouts[:3], directory, args
            )
            del data
    finally:
        close_all()
        shutil.rmtree(directory, ignore_errors=True)
    print(
        "\nMB: file size (1e6 bytes); ratio: array bytes / file bytes; write: MB/s of segdb's whole "
        "write path (temp file, blockwise copy, fsync overlapped with sha256, link, directory fsync); "
        "xplain: plain contiguous h5py write time (no fsync, no hash) / segdb write time (>= 0.5 "
        "asked); xsync: the same with the plain write fsynced; xfull: with the plain write fsynced "
        "and hashed; win ms: read_trace_block of 10 random ROIs x 1000 samples, warm; xbest: win ms / "
        "best plain h5py read of the same block from the contiguous file (<= 1.5 asked); same: best "
        "plain h5py strategy on this file; cold/pcold: segdb / best plain on this file after "
        "posix_fadvise(DONTNEED), ms; roi ms: one ROI over all samples through segdb; chunks: chunks "
        "that read touches. The last row of each table is segdb's default layout."
    )


if __name__ == "__main__":
    main()
