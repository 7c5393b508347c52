"""The communes and QPV a zone meets, computed from the units near each (issue 17: one
intersection with a zone of 3,500 communes took 1.8 s), are those the former intersection with
the whole zone gave, and the zones from the units' graph shared by the indicators are those
computed alone: on real communes and coverage, and on random grids whose cells overlap their
neighbours or leave slivers (hypothesis)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import real_coverage
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.columns import blank_col
from zonesblanches.coverage import zones
from zonesblanches.crs import LAMBERT93, WGS84


def _former_touched(zones_geom, others, code_col, name_col, members=None, layer=None):
    """Before issue 17: each zone intersected with each of ``others`` as a whole."""
    return _REAL_TOUCHED(zones_geom, others, code_col, name_col)


_REAL_TOUCHED = zones._touched


def _both(units, **kwargs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The zones computed now (checked the same with and without the units' graph shared by
    the indicators, :func:`zones.unit_graph`), and as before issue 17."""
    new = zones.zones_blanches(units, **kwargs)
    shared = zones.zones_blanches(units, graph=zones.unit_graph(units), **kwargs)
    pd.testing.assert_frame_equal(new, shared)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zones, "_touched", _former_touched)
        former = zones.zones_blanches(units, **kwargs)
    return new, former


def test_real_communes_of_the_nord():
    """The Nord's 648 communes, the registry's services, walking 30 min and car 20 min (the
    real coverage): every zone lists the same communes, with the same names."""
    result, nord = real_coverage.nord()
    polygons = nord.set_index("code_insee").geometry
    units = gpd.GeoDataFrame(
        result.units.drop(columns=result.units.geometry.name),
        geometry=result.units["code_insee"].map(polygons).values,
        crs=nord.crs,
    )
    listed = 0
    for cat in result.categories:
        for mode in result.modes:
            new, former = _both(units, uncovered_col=blank_col(cat, mode), communes=nord)
            pd.testing.assert_frame_equal(new, former)
            listed += int(new["communes_insee"].str.len().gt(0).sum())
    assert listed > 0


def _grid(n: int, jitter: np.ndarray, shifts: dict) -> np.ndarray:
    """n × n cells of 1 km on a lattice whose nodes are moved by ``jitter`` (shared by the
    cells meeting there: a clean coverage), then some cells moved by ``shifts`` (overlaps and
    slivers with their neighbours, as commune outlines have)."""
    xs = np.arange(n + 1) * 1000.0 + 700_000
    ys = np.arange(n + 1) * 1000.0 + 6_600_000
    nodes = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1) + jitter
    cells = []
    for i in range(n):
        for j in range(n):
            ring = [nodes[i, j], nodes[i + 1, j], nodes[i + 1, j + 1], nodes[i, j + 1]]
            cell = shapely.Polygon(ring)
            dx, dy = shifts.get(i * n + j, (0.0, 0.0))
            cells.append(shapely.affinity.translate(cell, dx, dy))
    return np.array(cells, dtype=object)


N = 6
CELL_MASK = st.lists(st.booleans(), min_size=N * N, max_size=N * N)
"""Which of the N × N cells are taken (blank units, a zone's members)."""
JITTER = st.lists(st.floats(-300, 300), min_size=(N + 1) ** 2 * 2, max_size=(N + 1) ** 2 * 2)
"""The lattice nodes' moves, for :func:`_grid`."""
SHIFTS = st.dictionaries(
    st.integers(0, N * N - 1), st.tuples(st.floats(-3, 3), st.floats(-3, 3)), max_size=6
)
"""A few cells moved off the lattice (overlaps and slivers), for :func:`_grid`."""


@settings(max_examples=40, deadline=None)
@given(
    blank=CELL_MASK,
    jitter=JITTER,
    shifts=SHIFTS,
    qpv=st.lists(
        st.tuples(
            st.floats(0, N * 1000), st.floats(0, N * 1000), st.floats(1, 1500), st.floats(1, 1500)
        ),
        max_size=5,
    ),
)
def test_random_grids(blank, jitter, shifts, qpv):
    cells = _grid(N, np.array(jitter).reshape(N + 1, N + 1, 2), shifts)
    cells = zones.valid_array(cells)
    units = gpd.GeoDataFrame(
        {
            "code_insee": [f"{k:05d}" for k in range(N * N)],
            "population": np.arange(N * N, dtype=float) + 1,
            "blanc": blank,
        },
        geometry=cells,
        crs=LAMBERT93,
    )
    communes = units[["code_insee", "geometry"]].assign(nom=units["code_insee"] + " nom")
    qpv_frame = gpd.GeoDataFrame(
        {"code_qp": [f"QN{k:03d}" for k in range(len(qpv))]},
        geometry=[
            shapely.box(700_000 + x, 6_600_000 + y, 700_000 + x + w, 6_600_000 + y + h)
            for x, y, w, h in qpv
        ],
        crs=LAMBERT93,
    )
    new, former = _both(units, uncovered_col="blanc", communes=communes, qpv=qpv_frame)
    pd.testing.assert_frame_equal(new, former)


def test_shared_areas_of_a_member_and_a_neighbour():
    """A unit of the zone counts with its own area; a neighbour sharing an edge, none; a
    neighbour overlapping the zone by 2 m × 1000 m, 2,000 m²: all but the last shared."""
    a, b = shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)
    c = shapely.box(1998, 0, 3000, 1000)  # overlaps b by 2 m
    d = shapely.box(3000, 0, 4000, 1000)  # touches c only
    units = np.array([a, b], dtype=object)
    labels = np.array([0, 0])
    others = np.array([a, c, d], dtype=object)
    shared = zones._shared_areas(np.array([0, 0, 0]), np.array([0, 1, 2]), others, units, labels)
    assert shared.tolist() == [True, True, False]


def test_shared_areas_bracketed_then_union():
    """Two units of a zone each overlap a neighbour by 0.6 m²: 1.2 m² in all, shared (each
    pair alone is below the 1 m² threshold, the sum above, so the union decides). When the two
    units overlap each other there, the zone covers the same 0.6 m² twice: not shared. A
    unit of another zone, or of none (-1), does not count."""
    neighbour = shapely.box(0, 0, 100, 100)
    a = shapely.box(-50, 99.4, 1, 200)  # 1 m × 0.6 m into the neighbour
    b = shapely.box(50, 99.4, 51, 200)  # another 0.6 m², elsewhere
    b_over_a = shapely.box(-10, 99.4, 1, 210)  # the same 0.6 m² as a
    other_zone = shapely.box(20, 99.0, 30, 150)  # 10 m² of overlap, in zone 1
    for second, expected in ((b, True), (b_over_a, False)):
        units = np.array([a, second, other_zone], dtype=object)
        for third in (1, -1):
            labels = np.array([0, 0, third])
            shared = zones._shared_areas(
                np.array([0]), np.array([0]), np.array([neighbour]), units, labels
            )
            assert shared.tolist() == [expected]


def test_graph_of_another_tolerance_or_other_units_is_not_used():
    """A graph made with another tolerance, or of other units, is ignored (zones computed
    alone)."""
    cells = [shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(4)]
    units = gpd.GeoDataFrame(
        {"population": [1.0, 2.0, 3.0, 4.0], "blanc": [True, True, False, True]},
        geometry=cells,
        crs=LAMBERT93,
    )
    alone = zones.zones_blanches(units, uncovered_col="blanc")
    assert len(alone) == 2
    apart = units.set_geometry([shapely.box(i * 20, 0, i * 20 + 10, 10) for i in range(4)])
    others = (
        zones.unit_graph(units, tolerance=15.0),
        zones.unit_graph(units.iloc[:3]),
        # as many units, other polygons: used, its lack of pairs split a zone in two
        zones.unit_graph(apart),
        # the same units in another order: used, the zones took the wrong cells' polygons
        zones.unit_graph(units.iloc[::-1]),
        zones.unit_graph(units.to_crs(WGS84)),  # the same cells, in another CRS
    )
    for graph in others:
        pd.testing.assert_frame_equal(
            zones.zones_blanches(units, uncovered_col="blanc", graph=graph), alone
        )
    assert len(zones.zones_blanches(apart, uncovered_col="blanc")) == 3
    # a copy of the same units (another frame, same polygons) still shares the graph
    assert zones.unit_graph(units).matches(units.copy(), 1.0)
