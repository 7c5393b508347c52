"""Coverage analysis with the straight-line model, checked against brute force."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.coverage.analysis import (
    blank_col,
    commune_demand,
    compute_coverage,
    service_col,
    time_col,
    weighted_median,
)
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.errors import ParameterError

# Hauts-de-France bounding box (lon/lat), from the bundled communes.
LON = st.floats(1.38, 4.25)
LAT = st.floats(48.84, 51.09)


def _points(coords):
    lon, lat = zip(*coords, strict=True) if coords else ((), ())
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326)


@settings(max_examples=60, deadline=None)
@given(
    origins=st.lists(st.tuples(LON, LAT), min_size=1, max_size=30),
    services=st.lists(st.tuples(LON, LAT), min_size=1, max_size=10),
    mode=st.sampled_from(["marche", "velo", "voiture"]),
)
def test_straight_line_matches_brute_force(origins, services, mode):
    model = StraightLineModel(mode)
    o, s = _points(origins), _points(services)
    res = model.nearest(o, s)
    ox, oy = o.to_crs(2154).x.to_numpy(), o.to_crs(2154).y.to_numpy()
    sx, sy = s.to_crs(2154).x.to_numpy(), s.to_crs(2154).y.to_numpy()
    d = np.hypot(ox[:, None] - sx[None, :], oy[:, None] - sy[None, :])
    expected = d.min(axis=1) * 1.3 / (model.speed_kmh * 1000 / 60)
    np.testing.assert_allclose(res.minutes, expected, rtol=1e-9, atol=1e-9)
    # The chosen service is at the minimum distance (ties allowed).
    chosen = d[np.arange(len(o)), res.nearest]
    np.testing.assert_allclose(chosen, d.min(axis=1), rtol=1e-9, atol=1e-6)


def test_straight_line_known_distance():
    # Valenciennes interior point to itself is 0; 10 km at 50 km/h with detour 1.3 is 15.6 min.
    model = StraightLineModel("voiture")
    assert model.minutes_for_metres(np.array([10_000.0]))[0] == pytest.approx(15.6)
    assert "vol d'oiseau" in model.description
    walk = StraightLineModel("walk", speed_kmh=4.0, detour=1.2)
    assert walk.mode == "marche"
    assert walk.minutes_for_metres(np.array([1000.0]))[0] == pytest.approx(18.0)


def test_straight_line_parameters_validated():
    with pytest.raises(ParameterError, match="vitesse"):
        StraightLineModel("voiture", speed_kmh=0)
    with pytest.raises(ParameterError, match="détour"):
        StraightLineModel("voiture", detour=0.5)
    with pytest.raises(ParameterError, match="Mode de déplacement inconnu"):
        StraightLineModel("trottinette")


def test_no_destination_means_unreachable():
    res = StraightLineModel("voiture").nearest(_points([(3.5, 50.3)]), _points([]))
    assert np.isinf(res.minutes[0]) and res.nearest[0] == -1


def test_weighted_median():
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1])) == 2.0
    assert weighted_median(np.array([1.0, 10.0]), np.array([1, 3])) == 10.0
    assert weighted_median(np.array([5.0, np.inf]), np.array([1, 2])) == np.inf
    assert np.isnan(weighted_median(np.array([1.0]), np.array([0])))


@pytest.fixture(scope="module")
def vm_result(communes, registry):
    vm = communes[communes["code_epci"] == "245901160"]
    return compute_coverage(
        commune_demand(vm),
        registry,
        {"voiture": 20, "marche": 30},
        territory="CA Valenciennes Métropole",
    )


def test_columns_and_flags(vm_result, registry):
    units = vm_result.units
    assert len(units) == 35
    for cat in vm_result.categories:
        for mode in ("voiture", "marche"):
            t, s, b = time_col(cat, mode), service_col(cat, mode), blank_col(cat, mode)
            assert (units[b] == (units[t] > vm_result.thresholds[mode])).all()
            assert set(units[s]) <= set(registry["service_id"])
    # Valenciennes hosts an auto-école sociale (registry row « La Clef du Permis »): time 0.
    vnc = units.set_index("code_insee").loc["59606"]
    assert vnc[time_col("auto_ecole_sociale", "voiture")] == 0.0
    assert not vnc[blank_col("auto_ecole_sociale", "marche")]


def test_summary_adds_up(vm_result):
    summary = vm_result.summary()
    assert set(summary["code_epci"]) == {"245901160"}
    total = vm_result.population
    for _, row in summary.iterrows():
        assert row["population"] == total
        assert row["population_couverte"] + row["population_zone_blanche"] == total
    overall = vm_result.summary(by=None)
    assert len(overall) == len(vm_result.categories) * 2
    # Same order as requested: categories, then modes voiture, marche.
    assert list(overall["mode"][:2]) == ["voiture", "marche"]


def test_uncovered_sorted_by_population(vm_result):
    unc = vm_result.uncovered("garage_solidaire", "voiture")
    assert unc["zone_blanche"].all()
    assert unc["population"].is_monotonic_decreasing


def test_thresholds_are_parameters(communes, registry):
    vm = commune_demand(communes[communes["code_epci"] == "245901160"])
    strict = compute_coverage(vm, registry, {"voiture": 1}, categories=["garage_solidaire"])
    loose = compute_coverage(vm, registry, {"voiture": 120}, categories=["garage_solidaire"])
    col = blank_col("garage_solidaire", "voiture")
    assert strict.units[col].sum() > loose.units[col].sum() == 0


@pytest.mark.parametrize(
    "thresholds", [{}, {"voiture": -5}, {"voiture": "abc"}, {"trottinette": 10}]
)
def test_invalid_thresholds(communes, registry, thresholds):
    with pytest.raises(ParameterError):
        compute_coverage(commune_demand(communes.head(3)), registry, thresholds)


def test_unknown_category(communes, registry):
    with pytest.raises(ParameterError, match="Catégorie inconnue"):
        compute_coverage(
            commune_demand(communes.head(3)), registry, {"voiture": 20}, categories=["pizzeria"]
        )


def test_missing_category_is_all_blank_with_note(communes, registry):
    res = compute_coverage(
        commune_demand(communes.head(5)),
        registry,
        {"voiture": 20},
        categories=["transport_solidaire"],
    )
    assert res.units[blank_col("transport_solidaire", "voiture")].all()
    assert any("Aucun service" in n for n in res.notes)


def test_notes_say_straight_line(vm_result):
    assert any("vol d'oiseau" in n for n in vm_result.notes)
    assert any("géocodé(s) à la commune" in n for n in vm_result.notes)
    assert "Diagnostic" in vm_result._repr_html_()
