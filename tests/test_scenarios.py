"""Before/after scenarios: the real Lens → Wingles move, additions, removals, and their balance."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.api import parse_add, parse_move, scenario
from zonesblanches.coverage.analysis import commune_demand, weighted_median
from zonesblanches.coverage.scenarios import (
    GAIN,
    LOSS,
    SAME,
    apply_changes,
    run_scenario,
)
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.reference import load_communes
from zonesblanches.geodata.territory import select_territory
from zonesblanches.summaries import format_scenario

DATA = Path(__file__).parent / "data" / "sites"


@pytest.fixture(scope="module")
def lens_wingles():
    """The real case of the bundled data: HDF-002 moves from Lens (62498) to Wingles (62895)."""
    return scenario(None, move="HDF-002:62895")


def _covered(result, categorie, mode):
    s = result.summary(by=None).set_index(["categorie", "mode"])
    return s.loc[(categorie, mode), "population_couverte"]


def test_lens_wingles_gains_minus_losses_is_the_change_in_coverage(lens_wingles):
    res = lens_wingles
    assert res.categories == ["garage_solidaire"]
    assert res.modes == ["voiture", "marche"]
    for mode in res.modes:
        d = res.diff[res.diff["mode"] == mode]
        gained = d.loc[d["evolution"] == GAIN, "population"].sum()
        lost = d.loc[d["evolution"] == LOSS, "population"].sum()
        delta = _covered(res.after, "garage_solidaire", mode) - _covered(
            res.before, "garage_solidaire", mode
        )
        assert gained - lost == pytest.approx(delta, abs=1e-6)
    bal = res.balance()
    assert bal["coherent"].all()
    assert (bal["gains_moins_pertes"] == bal["variation"]).all()
    # The move changes something (on foot Lens loses its garage, Wingles gets one).
    assert (res.diff["evolution"] != SAME).any()


def test_lens_wingles_moves_the_service_to_the_commune_point(lens_wingles):
    res = lens_wingles
    change = res.changes.iloc[0]
    assert len(res.changes) == 1
    assert change["action"] == "deplacement"
    assert (change["code_insee_avant"], change["code_insee_apres"]) == ("62498", "62895")
    assert change["commune_apres"] == "Wingles"
    wingles = load_communes().set_index("code_insee").loc["62895"]
    moved = res.after.services.set_index("service_id").loc["HDF-002"]
    assert (moved.geometry.x, moved.geometry.y) == (wingles["lon"], wingles["lat"])
    assert moved["code_insee"] == "62895"
    before = res.before.services.set_index("service_id").loc["HDF-002"]
    assert before["code_insee"] == "62498"  # the input is not modified
    # Units served by HDF-002 after the move: their time is the time to Wingles.
    units = res.after.units
    served = units["service_garage_solidaire_voiture"] == "HDF-002"
    assert served.any()
    to_wingles = StraightLineModel("voiture").nearest(
        units.geometry[served], gpd.GeoSeries([moved.geometry], crs=WGS84)
    )
    assert np.allclose(units.loc[served, "temps_garage_solidaire_voiture"], to_wingles.minutes)


def test_evolution_follows_the_times(lens_wingles):
    d = lens_wingles.diff
    before = d["temps_avant"] <= d["seuil_min"]
    after = d["temps_apres"] <= d["seuil_min"]
    assert ((d["evolution"] == GAIN) == (~before & after)).all()
    assert ((d["evolution"] == LOSS) == (before & ~after)).all()
    assert (d["couvert_avant"] == before).all() and (d["couvert_apres"] == after).all()
    # Only units whose nearest service was or becomes HDF-002 can change.
    changed = d["temps_avant"] != d["temps_apres"]
    involved = (d["service_avant"] == "HDF-002") | (d["service_apres"] == "HDF-002")
    assert not (changed & ~involved).any()


def test_aggregates_add_up_to_the_territory(lens_wingles):
    res = lens_wingles
    total = res.summary(by=None).set_index(["categorie", "mode"])
    for table in (res.by_epci(), res.by_commune()):
        sums = table.groupby(["categorie", "mode"])[
            ["population", "variation", "population_gagnante", "population_perdante"]
        ].sum()
        for col in sums.columns:
            assert np.allclose(sums[col], total.loc[sums.index, col])
    communes = res.by_commune()
    assert len(communes) == 3782 * 2  # one row per commune × mode
    assert "nom" in communes.columns
    assert res.by_qpv().empty and "QPV" in res.by_qpv().attrs["note"]


def test_diff_layer_and_french_report(lens_wingles):
    layer = lens_wingles.diff_layer("garage_solidaire", "marche")
    assert len(layer) == 3782
    assert set(layer["evolution"]) <= {GAIN, LOSS, SAME}
    assert layer.crs == lens_wingles.before.units.crs
    text = format_scenario(lens_wingles)
    assert "déplacement" in text
    assert "Lens (62498) → Wingles (62895)" in text
    assert "habitants à portée" in text


def test_removing_then_adding_back_changes_nothing(registry):
    demand = commune_demand(select_territory("62").communes)
    hdf = registry.set_index("service_id").loc["HDF-015"]
    res = run_scenario(
        registry,
        remove="HDF-015",
        add=[parse_add(f"garage_solidaire:{hdf.geometry.x},{hdf.geometry.y}")],
        demand=demand,
        thresholds={"voiture": 20, "marche": 30},
    )
    assert list(res.changes["action"]) == ["retrait", "ajout"]
    assert (res.diff["evolution"] == SAME).all()
    assert np.allclose(res.diff["temps_avant"], res.diff["temps_apres"])
    assert res.balance()["variation"].eq(0).all()


def test_removing_every_garage_loses_everyone_covered(registry):
    demand = commune_demand(select_territory("59").communes)
    garages = list(registry.loc[registry["categorie"] == "garage_solidaire", "service_id"])
    res = run_scenario(registry, remove=garages, demand=demand, thresholds={"voiture": 20})
    d = res.diff
    assert d.loc[d["evolution"] == LOSS, "population"].sum() == pytest.approx(
        _covered(res.before, "garage_solidaire", "voiture")
    )
    assert (d["evolution"] != GAIN).all()
    assert _covered(res.after, "garage_solidaire", "voiture") == 0


def test_adding_services_from_a_frame_and_by_label(registry):
    demand = commune_demand(select_territory("80").communes)
    extra = registry[registry["service_id"] == "HDF-009"].assign(service_id="HDF-009")
    res = run_scenario(
        registry,
        add=[extra, parse_add("auto-école sociale:80021")],  # Amiens, by label
        demand=demand,
        thresholds={"marche": 30},
    )
    added = res.changes[res.changes["action"] == "ajout"]
    assert len(added) == 2
    assert added["service_id"].is_unique
    assert not set(added["service_id"]) & set(registry["service_id"])  # id clash renamed
    assert set(added["categorie"]) == {"auto_ecole_sociale"}
    assert (res.diff["evolution"] != LOSS).all()  # adding never loses anyone
    assert res.balance()["coherent"].all()


def test_parsing_and_errors_are_french(registry):
    assert parse_move("HDF-002:62895") == ("HDF-002", "62895")
    assert parse_move("HDF-002:2.8961,50.4928") == ("HDF-002", (2.8961, 50.4928))
    assert parse_add("garage solidaire:2691") == ("garage_solidaire", "02691")
    with pytest.raises(ParameterError, match="Déplacement illisible"):
        parse_move("HDF-002")
    with pytest.raises(ParameterError, match="Catégorie inconnue"):
        parse_add("pizzeria:62895")
    with pytest.raises(ParameterError, match="Coordonnées hors limites"):
        parse_move("HDF-002:250,50")
    with pytest.raises(ParameterError, match="Vouliez-vous dire :.*HDF-002"):
        apply_changes(registry, move=parse_move("HDF-02:62895"))
    with pytest.raises(ParameterError, match="Commune inconnue"):
        apply_changes(registry, move=parse_move("HDF-002:99999"))
    with pytest.raises(ParameterError, match="à la fois retiré et déplacé"):
        apply_changes(registry, remove="HDF-002", move=[("HDF-002", "62895")])
    with pytest.raises(ParameterError, match="ne change rien"):
        apply_changes(registry)
    # The computation layer takes data: command-line text is parsed by the api first.
    with pytest.raises(ParameterError, match="parse_move"):
        apply_changes(registry, move="HDF-002:62895")
    with pytest.raises(ParameterError, match="parse_add"):
        apply_changes(registry, add=["garage_solidaire:62895"])


def test_move_to_coordinates(registry):
    after, changes = apply_changes(registry, move={"HDF-002": (2.8961, 50.4928)})
    moved = after.set_index("service_id").loc["HDF-002"]
    assert (moved.geometry.x, moved.geometry.y) == (2.8961, 50.4928)
    assert moved["precision"] == "coordonnees"
    assert len(after) == len(registry)


def test_qpv_aggregates_with_grid_cells():
    """Real QPV perimeters (Narbonne), synthetic population grid (labelled as such)."""
    from zonesblanches.geodata.qpv import load_qpv

    qpv = load_qpv(DATA / "qp2015_occitanie_extrait.geojson")
    qpv = qpv[qpv["communes_insee"] == "11262"].reset_index(drop=True)
    x0, y0, x1, y1 = qpv.to_crs(LAMBERT93).total_bounds
    size = 200.0
    xs = np.arange(np.floor(x0 / size) * size, x1, size) + size / 2
    ys = np.arange(np.floor(y0 / size) * size, y1, size) + size / 2
    centres = gpd.GeoSeries(
        gpd.points_from_xy(*[a.ravel() for a in np.meshgrid(xs, ys)]), crs=LAMBERT93
    )
    # Synthetic: 50 inhabitants per 200 m cell centre.
    demand = gpd.GeoDataFrame(
        {"unit_id": [f"c{i}" for i in range(len(centres))], "population": 50.0},
        geometry=centres.to_crs(WGS84),
    )
    none = gpd.GeoDataFrame(
        {"service_id": pd.Series(dtype=str), "categorie": pd.Series(dtype=str)},
        geometry=gpd.GeoSeries([], crs=WGS84),
    )
    target = qpv.to_crs(LAMBERT93).geometry.iloc[0].representative_point()
    lonlat = gpd.GeoSeries([target], crs=LAMBERT93).to_crs(WGS84).iloc[0]
    res = run_scenario(
        none,
        add=("atelier_velo", (lonlat.x, lonlat.y)),
        demand=demand,
        thresholds={"marche": 10},
        unit_kind="carreau",
        qpv=qpv,
    )
    table = res.by_qpv()
    assert set(table["code_qp"]) <= set(qpv["code_qp"])
    # Independent count: cell centres inside a QPV that gain access.
    zones = shapely.union_all(qpv.to_crs(LAMBERT93).geometry.to_numpy())
    in_qpv = shapely.within(centres.to_numpy(), zones)
    gains = (res.diff["evolution"] == GAIN).to_numpy()
    assert table["habitants_gagnants"].sum() == pytest.approx(50.0 * (in_qpv & gains).sum())
    assert table["habitants_qpv"].sum() == pytest.approx(50.0 * in_qpv.sum())
    assert table["habitants_gagnants"].sum() > 0
    assert table["habitants_perdants"].sum() == 0


def _assert_medians_are_weighted_median(res, by):
    """Each group's ``temps_median_avant`` / ``_apres`` of ``res.summary(by)`` is, bit for bit,
    :func:`weighted_median` of the group's rows of ``res.diff``."""
    table = res.summary(by=by)
    keys = ["categorie", "mode"] if by is None else [by, "categorie", "mode"]
    groups = res.diff.groupby(keys, sort=False, dropna=False)
    assert len(table) == groups.ngroups
    for row in table.itertuples(index=False):
        rows = groups.get_group(tuple(getattr(row, k) for k in keys))
        for when in ("avant", "apres"):
            expected = weighted_median(rows[f"temps_{when}"], rows["population"])
            np.testing.assert_array_equal(getattr(row, f"temps_median_{when}"), expected)


@pytest.mark.parametrize("by", [None, "code_epci"])
def test_scenario_medians_are_weighted_median_per_group(lens_wingles, by):
    """Real case: the scenario's medians per territory and per EPCI are those of
    :func:`~zonesblanches.coverage.analysis.weighted_median` (the definition the diagnostic
    uses), not a re-implementation that could differ in the last bit."""
    _assert_medians_are_weighted_median(lens_wingles, by)


# SYNTHETIC weights below (not real populations): with weights 0.1, 0.2 and 0.3, running sums
# round and often land next to half the total, where a compensated grouped cumsum (pandas, the
# former scenario code) and weighted_median's np.cumsum pick different medians (about 1 draw
# in 4 of 12 rows did).
DECIMAL_WEIGHTS = st.sampled_from([0.1, 0.2, 0.3])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_scenario_medians_with_decimal_weights(lens_wingles, data):
    """The real Lens → Wingles diff rows of the walking garage indicator in three EPCI, with
    synthetic decimal weights in place of their populations."""
    d = lens_wingles.diff
    d = d[(d["mode"] == "marche") & d["code_epci"].isin(sorted(set(d["code_epci"]))[:3])]
    d = d.groupby("code_epci").head(12).reset_index(drop=True)
    weights = data.draw(st.lists(DECIMAL_WEIGHTS, min_size=len(d), max_size=len(d)))
    res = dataclasses.replace(lens_wingles, diff=d.assign(population=weights))
    _assert_medians_are_weighted_median(res, "code_epci")
    _assert_medians_are_weighted_median(res, None)
