"""Fixtures shared by the format front-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def real_suite2p_folder(real_suite2p_dir: Path) -> Path:
    """The real suite2p output in shared/data (tests/conftest.py finds it, or skips saying where it looked)."""
    return real_suite2p_dir
