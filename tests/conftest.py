"""Shared fixtures. Tests never touch the network (only localhost servers they start)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache folder, so no test sees another's downloads or builds."""
    monkeypatch.setenv("ZONESBLANCHES_CACHE", str(tmp_path_factory.mktemp("cache")))
    # No test may reach the Internet: the demo's download attempt is switched off.
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    yield


@pytest.fixture(scope="session")
def communes():
    from zonesblanches.geodata.reference import load_communes

    return load_communes()


@pytest.fixture(scope="session")
def registry():
    from zonesblanches.geodata.reference import load_registry

    return load_registry()


def pytest_configure(config):
    # Matplotlib must never try to open a window in tests.
    os.environ.setdefault("MPLBACKEND", "Agg")
