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


@pytest.fixture(scope="module")
def client():
    """A Dask ``LocalCluster`` of two single-threaded worker processes on 127.0.0.1 and its
    client, for the whole test module (starting them costs seconds)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        host="127.0.0.1",
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="session")
def communes():
    from zonesblanches.geodata.reference import load_communes

    return load_communes()


@pytest.fixture(scope="session")
def registry():
    from zonesblanches.geodata.reference import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def grid_result():
    """Filosofi grid cells of tests/data/carreaux as units (official layout and real coordinates
    at Valenciennes, synthetic populations: see SOURCE.md there); returns the result and the
    territory's communes."""
    from pathlib import Path

    from zonesblanches.coverage.analysis import compute_coverage
    from zonesblanches.geodata import reference
    from zonesblanches.geodata.carreaux import carreaux_demand, load_carreaux
    from zonesblanches.geodata.territory import select_territory

    territory = select_territory("valenciennes")
    grid = Path(__file__).parent / "data" / "carreaux" / "carreaux_200m_test.csv"
    cells = load_carreaux(grid, mask=territory.geometry, progress=False)
    result = compute_coverage(
        carreaux_demand(cells, territory.communes),
        reference.load_registry(),
        {"marche": 30},
        categories=["garage_solidaire"],
        territory=territory.label,
        unit_kind="carreau",
    )
    return result, territory.communes


def pytest_configure(config):
    # Matplotlib must never try to open a window in tests.
    os.environ.setdefault("MPLBACKEND", "Agg")
