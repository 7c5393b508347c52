"""Zones blanches: uncovered cells dissolved into contiguous zones.

Uses the test grid of tests/data/carreaux (official layout, synthetic values on real
coordinates, see SOURCE.md there) and the real outlines of La Sentinelle and Valenciennes. The
"uncovered" patterns, times and the QPV are synthetic and labelled as such. A property test
compares the zones with scipy.ndimage's 8-connectivity labelling on random synthetic grids.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from shapely.geometry import box

from zonesblanches.coverage.zones import zones_blanches
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.carreaux import load_carreaux
from zonesblanches.writers import write_gpkg

DATA = Path(__file__).parent / "data" / "carreaux"
X0, Y0 = 3857600, 3046800

# Synthetic "uncovered" pattern, rows north → south (file order), columns west → east.
PATTERN = [
    [1, 0, 0, 0, 1],
    [1, 0, 0, 1, 0],  # (r2, c3) meets (r3, c4) at a corner only
    [0, 0, 0, 0, 0],
    [0, 1, 1, 0, 0],
]
VOITURE = [[5, 6, 7, 8, 9], [6, 7, 8, 9, 10], [12, 14, 16, 18, 20], [20, 22, 25, 30, math.inf]]


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    cells = load_carreaux(DATA / "carreaux_200m_test.csv", progress=False)
    units = cells[["idcar", "ind", "men_pauv", "communes_insee", "geometry"]].rename(
        columns={"ind": "population"}
    )
    units["non_couvert"] = np.array(PATTERN, dtype=bool).ravel()
    units["temps"] = np.array(VOITURE, dtype=float).ravel()
    return units


@pytest.fixture(scope="module")
def communes() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "communes_valenciennes_la_sentinelle.geojson")


def test_zones_by_hand(grid, communes):
    # synthetic QPV over the two north-eastern cells
    qpv = gpd.GeoDataFrame(
        {"code_qp": ["TEST-A"]},
        geometry=[box(X0 + 600, Y0 + 400, X0 + 1000, Y0 + 800)],
        crs="EPSG:3035",
    ).to_crs(WGS84)
    zones = zones_blanches(
        grid, uncovered_col="non_couvert", time_col="temps", qpv=qpv, communes=communes
    )
    assert zones.crs == grid.crs
    assert zones["zone_id"].tolist() == [1, 2, 3]
    # zone 1: (r3,c4) 260 + (r2,c3) 205, joined at a corner; zone 2: 40 + 25; zone 3: 14 + 22
    assert zones["population"].tolist() == [260 + 205, 40 + 25, 14 + 22]
    assert zones["men_pauv"].tolist() == [41 + 37, 2 + 1, 0.5 + 1]
    assert zones["n_unites"].tolist() == [2, 2, 2]
    assert zones["population"].sum() == grid.loc[grid["non_couvert"], "population"].sum()
    assert zones["men_pauv"].sum() == grid.loc[grid["non_couvert"], "men_pauv"].sum()
    assert zones["codes_qp"].tolist() == ["TEST-A", "", ""]
    assert zones["communes_insee"].tolist() == ["59606", "59564; 59606", "59564"]
    assert zones["nom_communes"].tolist() == [
        "Valenciennes",
        "La Sentinelle; Valenciennes",
        "La Sentinelle",
    ]
    assert zones["temps_min"].tolist() == [9, 5, 22]
    # weighted medians: zone 2 has 40 people at 5 min, 25 at 6; zone 3 14 at 22, 22 at 25
    assert zones["temps_median"].tolist() == [9, 5, 25]
    assert zones["surface_km2"].to_numpy() == pytest.approx([0.08, 0.08, 0.08], rel=1e-3)
    assert zones.is_valid.all()
    assert zones.geom_type.tolist()[0] == "MultiPolygon"  # two squares meeting at a corner
    assert set(zones.geom_type) <= {"Polygon", "MultiPolygon"}


def test_threshold_instead_of_column_and_codes_from_units(grid):
    zones = zones_blanches(grid, time_col="temps", threshold=15)
    # > 15 min: (r1, c2..c4) and the whole southern row, all connected
    uncovered = grid["temps"] > 15
    assert len(zones) == 1
    assert zones["population"].iloc[0] == grid.loc[uncovered, "population"].sum()
    assert zones["population"].iloc[0] == 30.5 + 60 + 150 + 8.5 + 14 + 22 + 45.5 + 70
    assert zones["temps_min"].iloc[0] == 16
    assert zones["communes_insee"].iloc[0] == "59564; 59606"  # from the cells' lcog_geo
    assert math.isinf(zones_blanches(grid, time_col="temps", threshold=30)["temps_min"].iloc[0])


def test_commune_polygons_as_units(communes):
    units = communes.assign(population=[1000.0, 2000.0], non_couvert=[True, True])
    zones = zones_blanches(units, uncovered_col="non_couvert", communes=communes)
    assert len(zones) == 1  # the two communes are neighbours
    assert zones["population"].iloc[0] == 3000
    assert zones["communes_insee"].iloc[0] == "59564; 59606"
    assert zones.is_valid.all()


def test_no_uncovered_unit_gives_an_empty_layer(grid, tmp_path):
    zones = zones_blanches(grid.assign(non_couvert=False), uncovered_col="non_couvert")
    assert len(zones) == 0 and "population" in zones.columns


def test_cell_centres_and_points(grid):
    centres = grid.copy()
    centres["geometry"] = grid.to_crs(2154).centroid.to_crs(WGS84)
    from_centres = zones_blanches(centres, uncovered_col="non_couvert", time_col="temps")
    from_squares = zones_blanches(grid, uncovered_col="non_couvert", time_col="temps")
    assert from_centres.drop(columns="geometry").equals(from_squares.drop(columns="geometry"))
    assert from_centres.geom_equals_exact(from_squares.geometry, tolerance=1e-9).all()
    with pytest.raises(ParameterError, match="polygones"):
        zones_blanches(centres.drop(columns="idcar"), uncovered_col="non_couvert")
    with pytest.raises(ParameterError, match="uncovered_col"):
        zones_blanches(grid)


def test_zones_gpkg_round_trip(grid, tmp_path):
    zones = zones_blanches(grid, uncovered_col="non_couvert", time_col="temps")
    path = write_gpkg({"zones_blanches": zones}, tmp_path / "zones.gpkg")
    write_gpkg({"autre": zones.head(1)}, path, keep_other_layers=True)
    back = gpd.read_file(path, layer="zones_blanches")
    assert back["population"].tolist() == zones["population"].tolist()
    assert back["communes_insee"].tolist() == zones["communes_insee"].tolist()
    assert back.is_valid.all()
    assert len(gpd.read_file(path, layer="autre")) == 1
    inf_zone = zones_blanches(grid, time_col="temps", threshold=30)
    write_gpkg({"inf": inf_zone}, path, keep_other_layers=True)
    assert math.isinf(gpd.read_file(path, layer="inf")["temps_min"].iloc[0])
    # Same zones, same bytes (GDAL's last-change dates are fixed), even a second later.
    first = tmp_path / "first.gpkg"
    write_gpkg({"zones_blanches": zones}, first)
    time.sleep(1.1)
    later = write_gpkg({"zones_blanches": zones}, tmp_path / "later.gpkg")
    assert later.read_bytes() == first.read_bytes()
    # Replacing a layer keeps the others.
    write_gpkg({"autre": zones.head(2)}, path, keep_other_layers=True)
    assert len(gpd.read_file(path, layer="autre")) == 2
    assert len(gpd.read_file(path, layer="zones_blanches")) == len(zones)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=5, max_size=5),
    st.lists(st.integers(0, 500), min_size=30, max_size=30),
)
def test_zones_match_8_connectivity_on_synthetic_grids(pattern, pops):
    """Synthetic grids (random patterns and populations, not real data)."""
    mask = np.array(pattern, dtype=bool)
    rows, cols = mask.shape
    geoms = [
        box(X0 + 200 * c, Y0 - 200 * r, X0 + 200 * (c + 1), Y0 - 200 * (r - 1))
        for r in range(rows)
        for c in range(cols)
    ]
    units = gpd.GeoDataFrame(
        {"population": np.array(pops, dtype=float) / 2, "non_couvert": mask.ravel()},
        geometry=geoms,
        crs="EPSG:3035",
    ).to_crs(WGS84)
    zones = zones_blanches(units, uncovered_col="non_couvert")
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    assert len(zones) == n
    expected = sorted(
        (units["population"].to_numpy()[labels.ravel() == k].sum() for k in range(1, n + 1)),
        reverse=True,
    )
    assert zones["population"].tolist() == expected  # halves: exact in binary
    assert zones["population"].sum() == units.loc[mask.ravel(), "population"].sum()
    assert zones["n_unites"].sum() == mask.sum()
    assert zones.is_valid.all()
    if n:
        total = shapely.area(shapely.union_all(zones.to_crs(3035).geometry.values))
        assert total == pytest.approx(mask.sum() * 200 * 200, rel=1e-6)


def test_zones_table_does_not_list_a_quasi_continuous_zone():
    """zones_blanches.csv: an indicator whose uncovered people sit for 80 % or more in one zone
    is one row « zone blanche quasi continue » (no zone number), as the map draws no outline for
    it; zones of comparable size are listed one per row; grid cells are always listed.
    (Synthetic populations on real-format frames, not places.)"""
    import pandas as pd

    from zonesblanches.api import zones_table

    def frame(pops):
        n = len(pops)
        return gpd.GeoDataFrame(
            {"zone_id": range(1, n + 1), "n_unites": [3] * n, "population": pops},
            geometry=[box(i, 0, i + 0.5, 1) for i in range(n)],
            crs=WGS84,
        )

    zones = {"a_voiture": frame([900.0, 60.0, 40.0]), "a_marche": frame([500.0, 450.0])}
    table = zones_table(zones, "commune")
    blob = table[table["indicateur"] == "a_voiture"]
    assert len(blob) == 1 and blob["nature"].iloc[0] == "zone blanche quasi continue"
    assert pd.isna(blob["zone_id"].iloc[0]) and blob["population"].iloc[0] == 900.0
    listed = table[table["indicateur"] == "a_marche"]
    assert list(listed["nature"]) == ["zone", "zone"] and list(listed["zone_id"]) == [1, 2]
    cells = zones_table(zones, "carreau")
    assert len(cells) == 5 and set(cells["nature"]) == {"zone"}


def test_large_territories_draw_the_principal_category_zones():
    """Above MAX_ZONE_UNITS units only one category's zones are dissolved: the principal
    indicator's (the one the map opens on), not whichever category comes first."""
    from zonesblanches import api

    result = api.diagnostic(None, {"voiture": 20})
    assert len(result.units) > api.MAX_ZONE_UNITS
    last = result.categories[-1]
    assert last != result.categories[0]
    zones = api.output_zones(result, None, principal=(last, "voiture"))
    assert list(zones) == [f"{last}_voiture"]
    assert list(api.output_zones(result, None)) == [f"{result.categories[0]}_voiture"]
