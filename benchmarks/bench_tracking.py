"""Benchmark cross-session registration, matching and tracking on simulated fields of view.

Four tables, all on :func:`segdb.synthetic.simulate_fov` (frames sized so that the cell
density stays that of the default 200 ROIs on 256 x 256 pixels):

1. ``match_sessions`` between two sessions of 100 / 300 / 1,000 / 3,000 ROIs, with
   masks (centroid distance + IoU) and with centroids only: best of ``--repeats`` runs.
2. A track build over 5 / 10 / 20 sessions of 1,000 ROIs: rigid registration of every
   mean image to session 0, then ``build_tracks`` on the registered ROI sets, with the
   pairwise precision and recall of the tracks.
3. Precision and recall at default settings as drift grows (0-120 px per axis on the
   256-pixel frame), with the estimated registration and with none (every transform
   taken as the identity), and how many registrations were flagged unreliable.
4. The same as rotation grows (0-10 degrees), and as mask noise grows.

Run::

    python benchmarks/bench_tracking.py           # full tables (~3-5 min on 2 cores)
    python benchmarks/bench_tracking.py --small   # smaller sizes, one seed (~30 s)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable, Sequence

import numpy as np
import scipy

from segdb.synthetic import SimulatedFov, evaluate, simulate_fov
from segdb.tracking import Transform, build_tracks, match_sessions, register_sessions

# The default simulation's density: 200 ROIs on 256 x 256 pixels.
_PIXELS_PER_ROI = 256 * 256 / 200


def frame_for(n_rois: int) -> tuple[int, int]:
    """A square frame holding ``n_rois`` ROIs at the default density (a multiple of 16 pixels)."""
    side = round(math.sqrt(n_rois * _PIXELS_PER_ROI) / 16.0) * 16
    return side, side


def best_time(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def registered_accuracy(fov: SimulatedFov) -> tuple[float, float, float, int]:
    """Precision and recall of default tracking after estimated registration, the worst
    registration score, and how many registrations were flagged unreliable."""
    registrations = register_sessions(fov.mean_images())
    tracks = build_tracks(fov.roi_sets([r.transform for r in registrations]))
    accuracy = evaluate(tracks, fov)
    scores = [r.score for r in registrations if r.score is not None]
    unreliable = sum(not r.reliable for r in registrations)
    return accuracy.precision, accuracy.recall, min(scores), unreliable


def unregistered_accuracy(fov: SimulatedFov) -> tuple[float, float]:
    tracks = build_tracks(fov.roi_sets([Transform.identity()] * len(fov)))
    accuracy = evaluate(tracks, fov)
    return accuracy.precision, accuracy.recall


def table_matching(sizes: Sequence[int], repeats: int, seed: int) -> None:
    print("\n1. match_sessions, two sessions (true transforms), best of", repeats)
    print(f"  {'ROIs/session':>12} {'frame':>9} {'pairs':>6} {'masks+IoU ms':>13} {'centroids ms':>13} "
          f"{'pair precision':>15}")
    for n in sizes:
        fov = simulate_fov(n_sessions=2, n_cells=n, frame_shape=frame_for(n), seed=seed)
        a, b = fov.roi_sets()
        with_masks, pairs = best_time(lambda a=a, b=b: match_sessions(a, b), repeats)
        bare_a, bare_b = a.without_masks(), b.without_masks()
        centroids_only, _ = best_time(lambda a=bare_a, b=bare_b: match_sessions(a, b), repeats)
        truth = fov.identities()
        correct = sum(truth[(0, p.a_id)] == truth[(1, p.b_id)] for p in pairs)  # type: ignore[union-attr]
        rois = f"{len(a)}/{len(b)}"
        print(f"  {rois:>12} {fov.frame_shape[0]:>4}x{fov.frame_shape[1]:<4} {len(pairs):>6} "  # type: ignore[arg-type]
              f"{with_masks * 1e3:13.1f} {centroids_only * 1e3:13.1f} {correct / max(1, len(pairs)):15.4f}")  # type: ignore[arg-type]


def table_tracks(session_counts: Sequence[int], n_rois: int, seed: int) -> None:
    print(f"\n2. track build, {n_rois} ROIs per session: register to session 0, then build_tracks")
    print(f"  {'sessions':>8} {'ROIs':>7} {'simulate s':>10} {'register s':>10} {'build s':>8} {'tracks':>7} "
          f"{'precision':>9} {'recall':>7}")
    for count in session_counts:
        started = time.perf_counter()
        fov = simulate_fov(n_sessions=count, n_cells=n_rois, frame_shape=frame_for(n_rois), seed=seed)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        registrations = register_sessions(fov.mean_images())
        registered = time.perf_counter() - started
        sessions = fov.roi_sets([r.transform for r in registrations])
        started = time.perf_counter()
        tracks = build_tracks(sessions)
        built = time.perf_counter() - started
        accuracy = evaluate(tracks, fov)
        total = sum(len(s) for s in sessions)
        print(f"  {count:>8} {total:>7} {simulated:10.1f} {registered:10.1f} {built:8.2f} {len(tracks):>7} "
              f"{accuracy.precision:9.4f} {accuracy.recall:7.4f}")


def table_sweep(
    title: str, name: str, values: Sequence[float], seeds: Sequence[int], compare_unregistered: bool
) -> None:
    print(f"\n{title} (default simulation otherwise; mean over seeds {list(seeds)})")
    header = f"  {name:>14} {'precision':>9} {'recall':>7} {'worst reg. score':>16} {'unreliable':>10}"
    if compare_unregistered:
        header += f" {'unregistered P':>14} {'unregistered R':>14}"
    print(header)
    for value in values:
        rows = []
        for seed in seeds:
            fov = simulate_fov(seed=seed, **{name: value})
            row = list(registered_accuracy(fov))
            if compare_unregistered:
                row += list(unregistered_accuracy(fov))
            rows.append(row)
        mean = np.mean(rows, axis=0)
        worst_score = np.min(np.asarray(rows)[:, 2])
        unreliable = int(np.sum(np.asarray(rows)[:, 3]))
        total = len(seeds) * (int(fov.parameters["n_sessions"]) - 1)
        line = f"  {value:>14g} {mean[0]:9.4f} {mean[1]:7.4f} {worst_score:16.3f} {unreliable:>5d}/{total:<4d}"
        if compare_unregistered:
            line += f" {mean[4]:14.4f} {mean[5]:14.4f}"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smaller sizes and one seed (~30 s)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many matching runs (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"{os.cpu_count()} CPUs")
    defaults = simulate_fov(n_sessions=1).parameters
    print("simulation defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items() if k not in ("seed",)))

    if args.small:
        table_matching([100, 300, 1000], args.repeats, args.seed)
        table_tracks([5], 1000, args.seed)
        seeds: Sequence[int] = [args.seed]
        table_sweep("3. precision/recall vs drift", "drift_px", [0, 10, 40, 120], seeds, True)
        table_sweep("4a. precision/recall vs rotation", "rotation_deg", [0, 5, 10], seeds, True)
        table_sweep("4b. precision/recall vs mask noise", "mask_noise", [0.1, 0.3, 0.6], seeds, False)
    else:
        table_matching([100, 300, 1000, 3000], args.repeats, args.seed)
        table_tracks([5, 10, 20], 1000, args.seed)
        seeds = [args.seed + k for k in range(3)]
        table_sweep("3. precision/recall vs drift", "drift_px", [0, 5, 10, 20, 40, 80, 100, 120], seeds, True)
        table_sweep("4a. precision/recall vs rotation", "rotation_deg", [0, 2, 5, 10], seeds, True)
        table_sweep("4b. precision/recall vs mask noise", "mask_noise", [0.1, 0.3, 0.5, 0.7], seeds, False)


if __name__ == "__main__":
    main()
