"""`segdb serve` benchmarks, with an HTTP client against the real server (`segdb serve` in its own process).

    python benchmarks/bench_serve.py [--small] [--postgres URL]

1. A segmentation page of 2,000 ROIs over a 512 x 512 image: the page (its HTML holds every ROI's
   outline, label and properties) and its image, cold and warm (target: ready in under 1 s), as a
   ratio to fetching a static file of the same server.
2. Label round trips with 8 curators labelling at once (each its own ROIs): POST the label, then
   fetch the plane's state as the page does (target: p95 under 50 ms on loopback; 0 lost, 0 failed).
3. A 100,000-sample trace decimated on the server for a 1,000-pixel-wide plot: bytes sent and time,
   against sending the whole series.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

import segdb
from _common import MemorySegmentation, postgres_archive, square_masks

CURATORS = 8


def _archive(url: str | None, folder: Path):
    if url:
        return postgres_archive(url, folder / "arrays")
    return contextlib.nullcontext(segdb.open(folder / "archive"))


def _build(archive, n_rois: int, frame: int, long_samples: int) -> tuple[int, int]:
    rng = np.random.default_rng(0)
    masks = square_masks(rng, n_rois, (frame, frame), 7)
    traces = {"raw": rng.normal(size=(2000, n_rois)).astype(np.float32),
              "neuropil": rng.normal(size=(2000, n_rois)).astype(np.float32)}
    source = MemorySegmentation(traces, masks, (frame, frame),
                                properties={"snr": rng.uniform(0, 10, n_rois), "skew": rng.normal(size=n_rois)})
    source._summary_images = {"mean": rng.uniform(size=(frame, frame)), "correlation": rng.uniform(size=(frame, frame))}
    page = archive.ingest(source, subject="m1", session="s1", name="page", progress=False).segmentation_id
    long = MemorySegmentation({"raw": rng.normal(size=(long_samples, 20)).astype(np.float32)},
                              square_masks(rng, 20, (64, 64), 5), (64, 64))
    trace = archive.ingest(long, subject="m1", session="s2", name="long", progress=False).segmentation_id
    return page, trace


@contextlib.contextmanager
def _server(url: str, storage_root: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "segdb.cli", "serve", "-a", url, "--storage-root", str(storage_root),
         "--port", str(port), "--curator", "bench"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/static/segdb.css", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"segdb serve did not start: {process.stdout.read() if process.stdout else ''}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _timed(function, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def bench_page(client: httpx.Client, base: str, seg: int, rounds: int) -> None:
    def page():
        html = client.get(f"{base}/segmentations/{seg}")
        html.raise_for_status()
        client.get(f"{base}/api/segmentations/{seg}/planes/plane0/images/correlation.png").raise_for_status()
        return len(html.content)

    start = time.perf_counter()
    size = page()
    cold = time.perf_counter() - start
    warm = statistics.median(_timed(page, rounds))
    static = statistics.median(_timed(lambda: client.get(f"{base}/static/segmentation.js").raise_for_status(),
                                      rounds))
    print(f"  page of 2,000 ROIs + its 512 x 512 image: first {cold * 1000:.0f} ms, then {warm * 1000:.0f} ms "
          f"(HTML {size / 1e6:.2f} MB); a static file {static * 1000:.1f} ms (x{warm / static:.0f}); "
          f"target < 1000 ms: {'met' if max(cold, warm) < 1 else 'NOT met'}")


def bench_labels(base: str, archive, seg: int, per_curator: int) -> None:
    token = httpx.get(f"{base}/segmentations/{seg}", timeout=30).text.split("window.SEGDB_TOKEN = ")[1]
    token = token.split(";")[0].strip('"')
    revisions = {status.roi: status.revision for status in archive.curation_status(seg)}
    keys = list(archive.plane_handle(seg, "plane0").roi_keys)
    latencies: list[float] = []
    polls: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CURATORS)

    def curator(number: int) -> None:
        mine = keys[number * per_curator:(number + 1) * per_curator]
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            for key in mine:
                start = time.perf_counter()
                response = client.post(f"{base}/api/segmentations/{seg}/planes/plane0/labels",
                                       json={"key": key, "label": "rejected", "revision": revisions[key]},
                                       headers={"X-SegDB-Token": token})
                elapsed = time.perf_counter() - start
                # As an open page does between labels: ask whether anything changed.
                version = client.get(f"{base}/api/segmentations/{seg}/planes/plane0/state",
                                     params={"version": "seen"}).json()["version"]
                start = time.perf_counter()
                client.get(f"{base}/api/segmentations/{seg}/planes/plane0/state", params={"version": version})
                with lock:
                    polls.append(time.perf_counter() - start)
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures.append(response.text[:200])

    threads = [threading.Thread(target=curator, args=(n,)) for n in range(CURATORS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    stored = sum(1 for s in archive.curation_status(seg) if s.by_curator.get("bench") == "rejected")
    expected = CURATORS * per_curator
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    print(f"  {CURATORS} curators x {per_curator} labels, click -> stored -> shown (the POST; the page draws its "
          f"answer): p50 {p50:.0f} ms, p95 {p95:.0f} ms; {expected - stored} lost, {len(failures)} failed; "
          f"target p95 < 50 ms: {'met' if p95 < 50 else 'NOT met'}")
    print(f"  meanwhile, an open page's poll when nothing changed: p50 {np.percentile(polls, 50) * 1000:.0f} ms, "
          f"p95 {np.percentile(polls, 95) * 1000:.0f} ms; all of it, {wall:.1f} s")
    if failures:
        print(f"    first failure: {failures[0]}")


def bench_trace(client: httpx.Client, base: str, archive, seg: int, rounds: int) -> None:
    url = f"{base}/api/segmentations/{seg}/planes/plane0/rois/3/trace"
    decimated = client.get(url, params={"width": 1000})
    full = archive.extractor(seg).get_traces(roi_ids=[3])[:, 0]
    times = _timed(lambda: client.get(url, params={"width": 1000}).raise_for_status(), rounds)
    whole = _timed(lambda: client.get(url, params={"width": 10_000}).raise_for_status(), rounds)
    print(f"  trace of {full.size:,} samples for a 1,000-px plot: {len(decimated.content) / 1e3:.0f} kB in "
          f"{statistics.median(times) * 1000:.0f} ms (the series as JSON would be ~{full.size * 18 / 1e6:.1f} MB; "
          f"10,000 columns: {statistics.median(whole) * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a quick pass with fewer rounds")
    parser.add_argument("--postgres", default=os.environ.get("SEGDB_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    rounds, per_curator = (3, 10) if args.small else (10, 50)
    backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    for label, url in backends:
        with tempfile.TemporaryDirectory() as folder, _archive(url, Path(folder)) as archive:
            page, long = _build(archive, 2000, 512, 100_000)
            print(f"{label}:")
            with _server(archive.catalog.url, archive.storage_root) as base, httpx.Client(timeout=60) as client:
                bench_page(client, base, page, rounds)
                bench_labels(base, archive, page, per_curator)
                bench_trace(client, base, archive, long, rounds)


if __name__ == "__main__":
    main()
