"""`segdb serve` benchmarks, with an HTTP client against the real server (`segdb serve` in its own process).

    python benchmarks/bench_serve.py [--small] [--postgres URL]

1. A segmentation page of 2,000 ROIs over a 512 x 512 image: the page (its HTML holds every ROI's
   outline, label and properties) and its image, cold and warm (target: ready in under 1 s), as a
   ratio to fetching a static file of the same server.
2. Label round trips with 8 curators labelling at once (each its own ROIs): POST the label (target:
   p95 under 50 ms on loopback; 0 lost, 0 failed), then, as the page does, ask what changed since
   its version.
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
from _common import MemorySegmentation, postgres_archive, square_masks

import segdb

CURATORS = 8
# A curator pressing a, r or u four times a second: faster than anyone looks at a ROI and its trace.
PACE = 0.25


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


def bench_labels(base: str, archive, seg: int, keys: list, per_curator: int, pace: float | None) -> None:
    """8 curators, each on its own page: label a ROI (the POST; the page draws the answer and puts the
    stored event on top of the ROI's history), then do what the page does next: ask what changed since
    its version.
    Each curator labels every ``pace`` seconds (None: as fast as the server answers)."""
    token = httpx.get(f"{base}/segmentations/{seg}", timeout=30).text.split("window.SEGDB_TOKEN = ")[1]
    token = token.split(";")[0].strip('"')
    revisions = {status.roi: status.revision for status in archive.curation_status(seg)}
    plane = f"{base}/api/segmentations/{seg}/planes/plane0"
    latencies: list[float] = []
    follow_ups: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CURATORS)

    def curator(number: int) -> None:
        mine = keys[number * per_curator:(number + 1) * per_curator]
        with httpx.Client(timeout=30) as client:
            version = client.get(f"{plane}/state").json()["version"]
            barrier.wait()
            # Curators do not press keys in step: each starts at its own moment within the first pace.
            due = time.perf_counter() + (pace or 0) * number / CURATORS
            for _, key in mine:
                if pace:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    due += pace
                start = time.perf_counter()
                response = client.post(f"{plane}/labels",
                                       json={"key": key, "label": "rejected", "revision": revisions[key]},
                                       headers={"X-SegDB-Token": token})
                stored = time.perf_counter()
                version = client.get(f"{plane}/state", params={"version": version}).json()["version"]
                done = time.perf_counter()
                with lock:
                    latencies.append(stored - start)
                    follow_ups.append(done - start)
                    if response.status_code != 200:
                        failures.append(response.text[:200])

    threads = [threading.Thread(target=curator, args=(n,)) for n in range(CURATORS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    labelled = {key for _, key in keys}
    stored = sum(1 for s in archive.curation_status(seg) if s.roi in labelled and s.by_curator.get("bench") == "rejected")
    expected = CURATORS * per_curator
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    how = f"each one label every {pace * 1000:.0f} ms" if pace else "each as fast as the server answers"
    print(f"  {CURATORS} curators x {per_curator} labels, {how}: click -> stored -> shown (the POST; the page "
          f"draws its answer) p50 {p50:.1f} ms, p95 {p95:.1f} ms; {expected - stored} lost, {len(failures)} failed"
          + (f"; target p95 < 50 ms: {'met' if p95 < 50 else 'NOT met'}" if pace else ""))
    f50, f95 = np.percentile(follow_ups, [50, 95]) * 1000
    print(f"  with what the page asks next (others' labels since its version): "
          f"p50 {f50:.0f} ms, p95 {f95:.0f} ms; {expected / wall:.0f} labels/s in all")
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
                keys = list(enumerate(archive.plane_handle(page, "plane0").roi_keys))
                half = len(keys) // 2
                bench_labels(base, archive, page, keys[:half], per_curator, PACE)
                bench_labels(base, archive, page, keys[half:], per_curator, None)
                bench_trace(client, base, archive, long, rounds)


if __name__ == "__main__":
    main()
