"""The growth benchmark's small size runs in CI (10^4 ROIs, on SQLite and, where configured, PostgreSQL), so
the script that measured 10^7 ROIs keeps working as the archive changes. Its figures are not checked here:
benchmarks report ratios, tests never hold a wall clock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_growth_benchmark_runs_at_its_small_size(tmp_path):
    options = ["--postgres", os.environ["SEGDB_TEST_POSTGRES_URL"]] if os.environ.get("SEGDB_TEST_POSTGRES_URL") else []
    result = subprocess.run([sys.executable, str(BENCHMARKS / "bench_growth.py"), "--small", "--work", str(tmp_path),
                             *options], capture_output=True, text=True, timeout=900, cwd=BENCHMARKS)
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = ["sqlite", "postgresql"] if options else ["sqlite"]
    for kind in kinds:
        assert f"== {kind}: 10 sessions x 1,000 ROIs = 10,000 ROIs" in result.stdout
        summary = result.stdout.split(f"== {kind}: 10,000 ROIs | growth per step")[1]
        for figure in ("A fixed count", "B columns", "segdb ls segmentations --limit 20", "catalog bytes per ROI"):
            assert figure in summary, (figure, summary)
    assert list(tmp_path.iterdir()) == []  # each size's archive is deleted after it is measured
