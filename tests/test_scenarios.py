"""Before/after scenarios: the real Lens → Wingles move, additions, removals, and their balance."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.coverage.analysis import commune_demand, weighted_median
from zonesblanches.coverage.scenarios import (
    GAIN,
    LOSS,
    SAME,
    _grouped_weighted_median,
    apply_changes,
    format_scenario,
    parse_add,
    parse_move,
    run_scenario,
    scenario_for_territory,
)
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.reference import load_communes
from zonesblanches.geodata.territory import select_territory

DATA = Path(__file__).parent / "data" / "sites"


@pytest.fixture(scope="module")
def lens_wingles():
    """The real case of the bundled data: HDF-002 moves from Lens (62498) to Wingles (62895)."""
    return scenario_for_territory(None, deplacer="HDF-002:62895")


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
        add=[f"garage_solidaire:{hdf.geometry.x},{hdf.geometry.y}"],
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
        add=[extra, "auto-école sociale:80021"],  # Amiens, by label
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
        apply_changes(registry, move="HDF-02:62895")
    with pytest.raises(ParameterError, match="Commune inconnue"):
        apply_changes(registry, move="HDF-002:99999")
    with pytest.raises(ParameterError, match="à la fois retiré et déplacé"):
        apply_changes(registry, remove="HDF-002", move="HDF-002:62895")
    with pytest.raises(ParameterError, match="ne change rien"):
        apply_changes(registry)


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
        add=f"atelier_velo:{lonlat.x},{lonlat.y}",
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


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.one_of(st.floats(0, 100), st.just(np.inf)),
            st.floats(0, 1000),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_grouped_weighted_median_matches_the_analysis_one(rows):
    """Synthetic values and weights: the vectorised median equals the reference, per group."""
    g = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    w = np.array([r[2] for r in rows])
    groups, inverse = np.unique(g, return_inverse=True)
    got = _grouped_weighted_median(pd.Series(v), w, inverse.ravel(), len(groups))
    for i, code in enumerate(groups):
        expected = weighted_median(v[g == code], w[g == code])
        assert (np.isnan(got[i]) and np.isnan(expected)) or got[i] == expected
