"""Start-up time of the `segdb` command and of ``segdb.open``, against importing segdb's own dependencies.

    python benchmarks/bench_startup.py            # 15 rounds (about a minute)
    python benchmarks/bench_startup.py --small    # 5 rounds

Each of these runs as a fresh Python process, N times, interleaved round by round so
that all of them see the same load on a shared machine:

* baseline: ``python -c "import sqlalchemy, h5py, numpy"``, what any catalog + HDF5 tool pays;
* floor: the baseline plus ``sqlalchemy.orm`` and declaring segdb's models, which every
  command that reads the catalog needs (shown to say how much of the rest is segdb's own);
* ``segdb --help``;
* ``segdb ls subjects --archive EMPTY`` on a freshly created, empty archive;
* ``python -c "import segdb; segdb.open(EMPTY)"``.

The commands run as ``python -m segdb.cli`` with the segdb this script imports first
on the path, so ``PYTHONPATH=/other/checkout python benchmarks/bench_startup.py``
measures that checkout. Printed: median and min in seconds, and each as a ratio to the
baseline's. Target: ``segdb ls`` on an empty archive within 1.5x of the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import segdb

TARGET_RATIO = 1.5


def _commands(empty: Path) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "baseline: import sqlalchemy, h5py, numpy": [python, "-c", "import sqlalchemy, h5py, numpy"],
        # What any SQLAlchemy-ORM catalog pays before it runs a query: the ORM and its models declared.
        "floor: + sqlalchemy.orm and segdb's models": [
            python, "-c", "import sqlalchemy, h5py, numpy, sqlalchemy.orm, segdb.catalog.models",
        ],
        "segdb --help": [python, "-m", "segdb.cli", "--help"],
        "segdb ls subjects (empty archive)": [python, "-m", "segdb.cli", "ls", "subjects", "--archive", str(empty)],
        "import segdb; segdb.open(empty)": [python, "-c", f"import segdb; segdb.open({str(empty)!r}).close()"],
    }


def _run_once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_startup(rounds: int) -> dict[str, dict[str, float]]:
    # The children import the segdb this process imported, whatever the working directory holds.
    source_root = str(Path(segdb.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])))
    env.pop("SEGDB_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty-archive"
        segdb.open(empty).close()
        commands = _commands(empty)
        for argv in commands.values():  # one untimed run each: bytecode caches and page cache warm
            _run_once(argv, env, Path(tmp))
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                times[name].append(_run_once(argv, env, Path(tmp)))
    return {name: {"median_s": statistics.median(t), "min_s": min(t)} for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="quick pass with fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="how many times to run each (default 15, 5 small)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.small else 15)

    print(f"== start-up, fresh process each, {rounds} rounds (segdb from {Path(segdb.__file__).parent})")
    results = bench_startup(rounds)
    baseline = next(iter(results.values()))
    print(f"  {'':<42} {'median':>8} {'min':>8}   {'median':>6} {'min':>6} (x baseline)")
    for name, result in results.items():
        print(f"  {name:<42} {result['median_s']:>7.3f}s {result['min_s']:>7.3f}s   "
              f"{result['median_s'] / baseline['median_s']:>5.2f}x {result['min_s'] / baseline['min_s']:>5.2f}x")
    ls = results["segdb ls subjects (empty archive)"]
    ratio = ls["median_s"] / baseline["median_s"]
    verdict = "met" if ratio <= TARGET_RATIO else "not met"
    print(f"  segdb ls on an empty archive: {ratio:.2f}x the baseline (target <= {TARGET_RATIO}x: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
