"""Simulated fields of view shared by the tracking tests (simulating and registering cost seconds)."""

from __future__ import annotations

import pytest

from segdb.synthetic import SimulatedFov, simulate_fov
from segdb.tracking import Registration, register_sessions


@pytest.fixture(scope="session")
def default_fov() -> SimulatedFov:
    """The simulator at its default settings: the case the issue sets the 0.95 bar on."""
    return simulate_fov(seed=0)


@pytest.fixture(scope="session")
def default_registrations(default_fov: SimulatedFov) -> list[Registration]:
    """Every session of ``default_fov`` registered to session 0 (rigid, the default)."""
    return register_sessions(default_fov.mean_images())
