"""The automatic engine choice (Dijkstra or contraction hierarchy): its predicted costs, the log
of what a model did, the printed break-even, and the threads setting of the build."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zonesblanches.coverage import hierarchy as ch
from zonesblanches.coverage.hierarchy import (
    ContractionHierarchy,
    EngineUse,
    build_cost,
    nearest_break_even,
    reach_break_even,
)
from zonesblanches.errors import ParameterError
from zonesblanches.settings import CH_THREADS_VAR, hierarchy_threads
from zonesblanches.summaries import format_engine


def test_build_cost_is_the_reference_cost_on_the_reference_network():
    n = ch.BUILD_REF_NODES
    assert build_cost(n, round(n * ch.BUILD_REF_DEGREE)) == pytest.approx(ch.BUILD_COST, rel=1e-3)


def test_build_cost_grows_on_smaller_and_denser_networks():
    """In full passes: a small network's pass is cheap (caches), a dense one (a grid without a
    hierarchy of roads) is slow to contract."""
    road = build_cost(1_000_000, 1_940_000)
    assert build_cost(10_000, 19_400) > road
    assert build_cost(1_000_000, 4_000_000) > road


def test_nearest_break_even_is_the_build_over_the_passes_a_query_saves():
    n, m = 2_000_000, 3_900_000
    assert nearest_break_even(n, m) == pytest.approx(build_cost(n, m) / ch.NEAREST_SAVING)


def test_reach_break_even_falls_as_searches_reach_more_nodes():
    n, m = 1_000_000, 2_000_000
    few, many = reach_break_even(n, m, 5_000), reach_break_even(n, m, 50_000)
    assert math.isfinite(few) and many < few
    # the bucket query is no faster than a search reaching this few nodes: never pays
    assert reach_break_even(1_000, 2_000, 1.0) == math.inf


def test_hierarchy_threads_setting(monkeypatch):
    monkeypatch.delenv(CH_THREADS_VAR, raising=False)
    assert hierarchy_threads() is None
    monkeypatch.setenv(CH_THREADS_VAR, " 1 ")
    assert hierarchy_threads() == 1
    import scipy.sparse as sp

    graph = sp.csr_matrix(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 2.0], [0.0, 2.0, 0.0]]))
    seconds, _ = ContractionHierarchy(graph).nearest(np.array([0]))
    np.testing.assert_allclose(seconds, [0.0, 1.0, 3.0])
    for bad in ("0", "deux", "-1"):
        monkeypatch.setenv(CH_THREADS_VAR, bad)
        with pytest.raises(ParameterError, match=CH_THREADS_VAR):
            hierarchy_threads()
        with pytest.raises(ParameterError, match=CH_THREADS_VAR):
            ContractionHierarchy(graph)


class _Model:
    def __init__(self, log):
        self.engine_log = log


def test_format_engine_prints_the_break_even():
    quiet = _Model([EngineUse("nearest", 4, 0, 28.4, 2_380_000)])
    built = _Model([EngineUse("reach", 7456, 7442, 1734.0, 2_380_000, 13961.0, 42.61)])
    few = _Model([EngineUse("reach", 12, 0, 3456.0, 2_380_000, 9000.0)])
    lines = format_engine({"voiture": quiet, "marche": built, "velo": few, "autre": object()})
    text = "\n".join(lines)
    assert lines[0].startswith("Moteur de temps")
    assert "4 requêtes « service le plus proche », toutes par Dijkstra" in text
    assert "rentable à partir d'environ 28 requêtes" in text
    assert "7\u202f456 sites candidats par la hiérarchie de contraction" in text
    assert "environ 1\u202f700 sites" in text and text.count("construite en 42,6 s") == 1
    assert "par Dijkstra borné" in text and "environ 3\u202f500 sites" in text
    assert format_engine({"voiture": object()}) == []
