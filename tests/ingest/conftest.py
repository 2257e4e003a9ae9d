"""Fixtures shared by the format front-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# The repository's sibling folder shared/data holds real pipeline output; it is not
# part of the repository, so tests that need it skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
REAL_SUITE2P = SHARED_DATA / "suite2p-fissa-example" / "suite2p"


@pytest.fixture
def real_suite2p_folder() -> Path:
    """The real suite2p output in shared/data, or a skip saying where it was looked for."""
    if not (REAL_SUITE2P / "plane0" / "stat.npy").is_file():
        pytest.skip(f"real suite2p example not found at {REAL_SUITE2P.resolve()} (shared/data is not checked out here)")
    return REAL_SUITE2P
