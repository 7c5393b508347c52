"""A zone's outline by coverage union (:func:`zones.dissolve`, issue 17) is the point set the full
overlay (``shapely.union_all``) gives: on the region's real commune outlines (some of which
overlap their neighbours or miss their vertices), on random grids whose cells overlap or leave
slivers (hypothesis), and on inputs GEOS's edge check passes although they overlap."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import real_coverage
import shapely
from hypothesis import given, settings
from test_zones_touched import CELL_MASK, JITTER, SHIFTS, N, _grid

from zonesblanches.columns import blank_col
from zonesblanches.coverage import zones
from zonesblanches.crs import LAMBERT93


def _same_point_set(fast, full) -> None:
    """Same area within 1e-9, symmetric difference under 1e-9 of it (the tolerance the
    zones' documentation states), valid."""
    assert shapely.is_valid(fast)
    area = shapely.area(full)
    assert abs(shapely.area(fast) - area) <= 1e-9 * area
    assert shapely.area(shapely.symmetric_difference(fast, full)) <= 1e-9 * area


def test_real_communes_of_the_region():
    """Every zone of several communes of Hauts-de-France without a garage solidaire within
    30 minutes' walk or 20 minutes' drive (straight line, the registry's services): the
    bundled outlines are noded within each département, not along their borders (403 are
    not), and the union is the full overlay's."""
    result, communes = real_coverage.coverage_of(
        "code_region", "32", "Hauts-de-France", ["garage_solidaire"]
    )
    metric = zones.valid_array(communes.to_crs(LAMBERT93).geometry.values)
    assert (~zones.noded_units(metric)).sum() == 403
    position = {code: k for k, code in enumerate(communes["code_insee"])}
    units = result.units["code_insee"].map(position).to_numpy()
    mixed = 0
    for mode in result.modes:
        blank = units[result.units[blank_col("garage_solidaire", mode)].to_numpy(bool)]
        labels = zones._adjacency_labels(metric[blank], 1.0)
        for group in zones.group_indices(labels):
            if len(group) < 2:
                continue
            members = blank[group]
            noded = zones.noded_units(metric[members])
            mixed += bool(noded.any() and not noded.all())
            _same_point_set(
                zones.dissolve(metric[members], noded), shapely.union_all(metric[members])
            )
    assert mixed > 0


@settings(max_examples=40, deadline=None)
@given(mask=CELL_MASK, jitter=JITTER, shifts=SHIFTS)
def test_random_grids(mask, jitter, shifts):
    cells = zones.valid_array(_grid(N, np.array(jitter).reshape(N + 1, N + 1, 2), shifts))
    chosen = cells[np.array(mask)]
    if len(chosen) < 2:
        return
    fast = zones.dissolve(chosen, zones.noded_units(chosen))
    _same_point_set(fast, shapely.union_all(chosen))


def test_overlaps_the_edge_check_misses():
    """Two grids of 1 m cells, the second shifted by half a cell: GEOS passes the edges of
    some cells of each although they overlap; the union is still the full overlay's (the
    coverage union's area is checked against the cells')."""
    first = [shapely.box(i, j, i + 1, j + 1) for i in range(3) for j in range(3)]
    second = [shapely.box(i + 0.5, j + 0.5, i + 1.5, j + 1.5) for i in range(3) for j in range(3)]
    cells = np.array(first + second, dtype=object)
    noded = zones.noded_units(cells)
    assert noded[:9].any() and noded[9:].any()  # overlapping cells called noded
    _same_point_set(zones.dissolve(cells, noded), shapely.union_all(cells))


def test_a_clean_grid_needs_no_overlay():
    """Squares of a grid are all noded and their union is one coverage union (two squares
    meeting at a corner: two parts, as the full overlay gives)."""
    cells = np.array([shapely.box(i, j, i + 1, j + 1) for i in range(4) for j in range(4)])
    assert zones.noded_units(cells).all()
    corner = cells[[0, 5, 6]]  # (0,0) meets (1,1) at a corner; (1,1) and (1,2) share an edge
    fast = zones.dissolve(corner, zones.noded_units(corner))
    assert fast.geom_type == "MultiPolygon" and shapely.get_num_geometries(fast) == 2
    _same_point_set(fast, shapely.union_all(corner))


def test_not_polygons_go_to_the_overlay():
    """A line or an empty geometry is never noded; with fewer than two noded units, the
    union is the full overlay's."""
    geoms = np.array([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 1)]), None])
    geoms[2] = shapely.Polygon()
    assert zones.noded_units(geoms).tolist() == [True, False, False]
    assert zones.noded_units(np.array([], dtype=object)).tolist() == []
    pair = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    assert zones.dissolve(pair, np.array([True, False])).equals(shapely.union_all(pair))


def test_graph_keeps_each_layer_for_all_indicators():
    """The communes met by the zones are projected and paired with the units once for all
    the indicators sharing a :class:`zones.UnitGraph`; the zones are those computed alone."""
    result, nord = real_coverage.nord()
    polygons = nord.set_index("code_insee").geometry
    units = gpd.GeoDataFrame(
        result.units.drop(columns=result.units.geometry.name),
        geometry=result.units["code_insee"].map(polygons).values,
        crs=nord.crs,
    )
    graph = zones.unit_graph(units)
    for mode in result.modes:
        column = blank_col(result.categories[0], mode)
        shared = zones.zones_blanches(units, uncovered_col=column, communes=nord, graph=graph)
        alone = zones.zones_blanches(units, uncovered_col=column, communes=nord)
        assert shared.equals(alone)
    assert len(graph.layers) == 1
    layer = graph.layer(nord)
    assert layer is graph.layer(nord) and layer.pairs is layer.pairs
    assert np.isfinite(layer.pairs._area).any()  # the pairs' areas kept between indicators
