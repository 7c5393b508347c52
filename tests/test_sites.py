"""Site suggestion: exact solver against brute force, greedy against exact, figures re-derived.

The random instances of the first tests are synthetic (random boolean reach matrices and integer
weights), labelled as such; the other tests use the bundled Hauts-de-France data.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.api import suggest
from zonesblanches.coverage.analysis import commune_demand, compute_coverage, time_col
from zonesblanches.coverage.candidates import commune_candidates
from zonesblanches.coverage.equity import qpv_residents
from zonesblanches.coverage.maxcover import (
    covered_value,
    exact_max_cover,
    greedy_bound_factor,
    greedy_max_cover,
    reduce_instance,
)
from zonesblanches.coverage.reach import reach_matrix
from zonesblanches.coverage.sites import suggest_sites
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.territory import select_territory
from zonesblanches.summaries import format_suggestion

DATA = Path(__file__).parent / "data" / "sites"


# --------------------------------------------------------------------------------------------
# Synthetic random instances: solvers against brute-force enumeration
# --------------------------------------------------------------------------------------------


def _brute_force(m: sp.csr_matrix, w: np.ndarray, k: int) -> float:
    n = m.shape[0]
    return max(covered_value(m, w, list(c)) for c in itertools.combinations(range(n), min(k, n)))


def _plain_greedy(dense: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    """Textbook greedy (no lazy evaluation), lowest index on ties."""
    left = w.astype(float).copy()
    picks = []
    for _ in range(k):
        gains = dense.astype(float) @ left
        gains[picks] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        picks.append(best)
        left[dense[best]] = 0
    return picks


@st.composite
def instances(draw):
    """Synthetic covering instance: a random boolean reach matrix and integer weights."""
    n = draw(st.integers(2, 8))
    m = draw(st.integers(1, 16))
    density = draw(st.floats(0.05, 0.6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)) < density
    w = rng.integers(0, 60, size=m).astype(float)
    k = draw(st.integers(1, 4))
    return dense, w, k


@settings(max_examples=40, deadline=None)
@given(instances())
def test_exact_equals_brute_force_and_greedy_never_beats_it(instance):
    dense, w, k = instance
    m = sp.csr_matrix(dense)
    best = _brute_force(m, w, k)
    exact = exact_max_cover(m, w, k)
    greedy = greedy_max_cover(m, w, k)
    assert exact.status == "optimal"
    assert exact.value == pytest.approx(best)
    assert covered_value(m, w, exact.picks) == pytest.approx(exact.value)
    assert len(exact.picks) <= k
    # Greedy: never above the optimum, never below its guarantee, bound is a true bound.
    assert greedy.value <= best + 1e-9
    assert greedy.value >= greedy_bound_factor(k) * best - 1e-9
    assert greedy.upper_bound >= best - 1e-9
    assert covered_value(m, w, greedy.picks) == pytest.approx(greedy.value)
    # Lazy evaluation changes the cost, not the answer.
    assert greedy.picks == _plain_greedy(dense, w, k)
    # Marginal gains add up and are non-increasing (submodularity).
    assert sum(greedy.gains) == pytest.approx(greedy.value)
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(greedy.gains))


@settings(max_examples=40, deadline=None)
@given(instances())
def test_reduction_keeps_the_optimum(instance):
    dense, w, k = instance
    m = sp.csr_matrix(dense)
    red, gw, group = reduce_instance(m, w)
    assert red.shape[1] <= m.shape[1]
    assert gw.sum() == pytest.approx(w[(w > 0) & dense.any(axis=0)].sum())
    assert (group[(w <= 0) | ~dense.any(axis=0)] == -1).all()
    assert _brute_force(red.tocsr(), gw, k) == pytest.approx(_brute_force(m, w, k))


def test_greedy_gap_on_a_known_bad_case_for_greedy():
    """Synthetic textbook case where greedy is suboptimal: the reported gap is the true gap."""
    # Site 0 covers the middle of two groups; sites 1 and 2 each cover one whole group.
    dense = np.array(
        [
            [1, 1, 1, 1, 0, 0],  # 12: greedy's first pick, then only 2 more
            [1, 1, 0, 0, 1, 0],  # 8
            [0, 0, 1, 1, 0, 1],  # 8, and with site 1: 16
        ],
        dtype=bool,
    )
    w = np.array([3, 3, 3, 3, 2, 2], dtype=float)
    m = sp.csr_matrix(dense)
    greedy = greedy_max_cover(m, w, 2)
    exact = exact_max_cover(m, w, 2)
    best = _brute_force(m, w, 2)
    assert exact.value == best
    assert greedy.value < best
    gap = (exact.value - greedy.value) / exact.value
    assert gap == pytest.approx((best - covered_value(m, w, greedy.picks)) / best)


def test_exact_refuses_instances_over_the_limit():
    dense = np.eye(5, dtype=bool)
    with pytest.raises(ParameterError, match="trop grande"):
        exact_max_cover(sp.csr_matrix(dense), np.ones(5), 2, max_pairs=3)


# --------------------------------------------------------------------------------------------
# Real data: Hauts-de-France communes and the bundled services registry
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def somme_result(registry):
    territory = select_territory("80")
    demand = commune_demand(territory.communes)
    result = compute_coverage(
        demand,
        registry,
        {"voiture": 20, "marche": 30},
        categories=["garage_solidaire", "auto_ecole_sociale"],
        territory=territory.label,
    )
    return territory, result


def _coverage_with(result, picks_frame, categorie, mode):
    """Covered population recomputed by the analysis with the picks added as services."""
    added = gpd.GeoDataFrame(
        {
            "service_id": ["SITE-" + c for c in picks_frame["candidate_id"]],
            "categorie": categorie,
        },
        geometry=list(picks_frame.geometry),
        crs=picks_frame.crs,
    )
    services = gpd.GeoDataFrame(
        pd.concat([result.services[["service_id", "categorie", "geometry"]], added]),
        crs=WGS84,
    )
    again = compute_coverage(
        result.units[["unit_id", "code_insee", "population", "geometry"]],
        services,
        {mode: result.thresholds[mode]},
        categories=[categorie],
    )
    return again.summary(by=None)["population_couverte"].iloc[0]


def test_suggestion_figures_are_those_of_the_analysis(somme_result):
    territory, result = somme_result
    candidates = commune_candidates(territory.communes)
    s = suggest_sites(
        result, "garage_solidaire", "voiture", 3, candidates=candidates, method="both"
    )
    before = result.summary(by=None).set_index(["categorie", "mode"])
    assert s.covered_before == before.loc[("garage_solidaire", "voiture"), "population_couverte"]
    for table in (s.greedy_table, s.exact_table):
        geoms = candidates.set_index("candidate_id").geometry.loc[table["candidate_id"]]
        frame = gpd.GeoDataFrame(table, geometry=geoms.to_numpy(), crs=candidates.crs)
        covered = _coverage_with(result, frame, "garage_solidaire", "voiture")
        assert table["couverture_cumulee"].iloc[-1] == pytest.approx(covered)
        assert table["population_gagnee"].sum() == pytest.approx(covered - s.covered_before)
    assert list(s.sites["candidate_id"]) == list(s.table["candidate_id"])
    # Greedy never beats exact; the reported gap is the relative difference.
    assert s.exact.status == "optimal"
    assert s.greedy.value <= s.exact.value + 1e-9
    assert s.gap == pytest.approx((s.exact.value - s.greedy.value) / s.exact.value)
    assert list(s.table["rang"]) == [1, 2, 3]
    assert s.table["part_couverte_cumulee"].is_monotonic_increasing


def test_exact_equals_brute_force_on_a_real_instance(somme_result):
    territory, result = somme_result
    units = result.units
    model = result.models["marche"]
    # Candidates: the 12 most populated communes of Abbeville's EPCI (real communes).
    communes = territory.communes
    epci = communes.loc[communes["code_insee"] == "80001", "code_epci"].iloc[0]
    mine = communes[communes["code_epci"] == epci].nlargest(12, "population")
    cands = commune_candidates(mine.reset_index(drop=True))
    reach = reach_matrix(model, cands, units, 30.0)
    w = units["population"].to_numpy(float) * (units[time_col("auto_ecole_sociale", "marche")] > 30)
    exact = exact_max_cover(reach, w.to_numpy(), 2)
    assert exact.value == pytest.approx(_brute_force(reach.covers, w.to_numpy(), 2))


def test_catchments_add_up_and_lie_within_the_threshold(somme_result):
    territory, result = somme_result
    s = suggest_sites(
        result,
        "auto_ecole_sociale",
        "voiture",
        4,
        candidates=commune_candidates(territory.communes),
    )
    per_rank = s.catchments.groupby("rang")["population"].sum()
    assert np.allclose(per_rank.reindex(s.table["rang"]).to_numpy(), s.table["population_gagnee"])
    assert (s.catchments["temps_min"] <= 20.0).all()
    assert s.catchments["unit_id"].is_unique
    was = result.units.set_index("unit_id")[time_col("auto_ecole_sociale", "voiture")]
    assert (was.loc[s.catchments["unit_id"]] > 20.0).all()
    # Each unit is attributed to the first pick that reaches it: the times are to that pick.
    model = StraightLineModel("voiture")
    sites = s.sites.set_index("rang").geometry
    for rang, grp in s.catchments.groupby("rang"):
        t = model.nearest(grp.geometry, gpd.GeoSeries([sites.loc[rang]], crs=s.sites.crs))
        assert np.allclose(t.minutes, grp["temps_min"])
    assert s.sites.crs == s.catchments.crs
    assert len(s.sites) == len(s.table)


def test_bound_and_notes_are_printed_in_french(somme_result):
    territory, result = somme_result
    s = suggest_sites(
        result,
        "garage solidaire",  # a label, not the code
        "car",  # an English alias
        2,
        candidates=commune_candidates(territory.communes),
        method="both",
    )
    text = format_suggestion(s)
    assert "Garantie de la sélection gloutonne" in text
    assert "63,2 %" in text
    assert "Solution exacte" in text
    assert "Habitants des QPV non comptés" in text
    assert "habitants_qpv_gagnes" not in s.table


def test_weight_mix_scales_the_objective(somme_result):
    territory, result = somme_result
    cands = commune_candidates(territory.communes)
    plain = suggest_sites(result, "garage_solidaire", "marche", 2, candidates=cands)
    mixed = suggest_sites(
        result, "garage_solidaire", "marche", 2, candidates=cands, weights={"population": 2}
    )
    assert list(plain.table["candidate_id"]) == list(mixed.table["candidate_id"])
    assert np.allclose(mixed.table["valeur_gagnee"], 2 * mixed.table["population_gagnee"])


def test_weights_that_are_not_known_are_refused(somme_result):
    territory, result = somme_result
    cands = commune_candidates(territory.communes)
    with pytest.raises(ParameterError, match="carroyage"):
        suggest_sites(result, "garage_solidaire", "voiture", 1, candidates=cands, weights="qpv")
    with pytest.raises(ParameterError, match="ménages pauvres"):
        suggest_sites(
            result, "garage_solidaire", "voiture", 1, candidates=cands, weights="men_pauv"
        )
    with pytest.raises(ParameterError, match="Pondération inconnue"):
        suggest_sites(result, "garage_solidaire", "voiture", 1, candidates=cands, weights="age")
    with pytest.raises(ParameterError, match="au moins 1"):
        suggest_sites(result, "garage_solidaire", "voiture", 0, candidates=cands)
    with pytest.raises(ParameterError, match="pas été analysé"):
        suggest_sites(result, "garage_solidaire", "velo", 1, candidates=cands)


def test_exact_skipped_with_a_note_when_too_large(somme_result):
    territory, result = somme_result
    s = suggest_sites(
        result,
        "garage_solidaire",
        "voiture",
        2,
        candidates=commune_candidates(territory.communes),
        method="both",
        exact_max_pairs=5,
    )
    assert s.exact is None and s.greedy is not None
    assert any("trop grande" in n for n in s.notes)


def test_greedy_stops_when_nobody_is_left(somme_result):
    territory, result = somme_result
    # Candidates: the communes of one small EPCI, far more sites asked than useful on foot.
    cands = commune_candidates(territory.communes).head(4)
    s = suggest_sites(result, "garage_solidaire", "marche", 10, candidates=cands)
    assert len(s.table) <= 4
    assert (s.table["population_gagnee"] > 0).all()


def test_suggest_runs_the_whole_chain():
    s = suggest(
        "245901160", "garage_solidaire", "voiture", 1, seuil=10, origins=["commune", "grille"]
    )
    assert s.territory == "CA Valenciennes Métropole"
    assert s.threshold == 10
    assert len(s.table) <= 1
    assert "Où installer 1 nouveau site" in format_suggestion(s)


# --------------------------------------------------------------------------------------------
# QPV residents (real QPV perimeters, synthetic population grid)
# --------------------------------------------------------------------------------------------


def test_qpv_residents_of_grid_cells_and_qpv_weighted_suggestion():
    from zonesblanches.geodata.qpv import load_qpv

    qpv = load_qpv(DATA / "qp2015_occitanie_extrait.geojson")
    qpv = qpv[qpv["communes_insee"] == "11262"].reset_index(drop=True)  # Narbonne's 3 QPV
    # Synthetic demand, labelled: 400 m cells over the QPV's extent, 100 inhabitants each.
    x0, y0, x1, y1 = qpv.to_crs(LAMBERT93).total_bounds
    size = 400.0
    xs = np.arange(np.floor(x0 / size) * size, x1, size)
    ys = np.arange(np.floor(y0 / size) * size, y1, size)
    cells = [shapely.box(x, y, x + size, y + size) for x in xs for y in ys]
    grid = gpd.GeoDataFrame(
        {"population": np.full(len(cells), 100.0)}, geometry=cells, crs=LAMBERT93
    ).to_crs(WGS84)
    residents = qpv_residents(grid, qpv)
    # Independent computation of the shares.
    zones = shapely.union_all(qpv.to_crs(LAMBERT93).geometry.to_numpy())
    share = shapely.area(shapely.intersection(np.asarray(cells), zones)) / size**2
    assert np.allclose(residents, 100.0 * share, atol=1e-6)
    assert residents.sum() > 0
    # Commune points do not say where QPV residents live.
    assert qpv_residents(grid.assign(geometry=grid.to_crs(LAMBERT93).centroid), qpv) is None

    # A QPV-weighted suggestion on cell centres (population_qpv carried as a column).
    points = grid.assign(
        geometry=grid.to_crs(LAMBERT93).centroid.to_crs(WGS84),
        population_qpv=residents,
        unit_id=[f"c{i}" for i in range(len(grid))],
    )
    none = gpd.GeoDataFrame(
        {"service_id": pd.Series(dtype=str), "categorie": pd.Series(dtype=str)},
        geometry=gpd.GeoSeries([], crs=WGS84),
    )
    result = compute_coverage(points, none, {"marche": 8}, categories=["atelier_velo"])
    cands = points[["unit_id", "geometry"]].rename(columns={"unit_id": "candidate_id"})
    s = suggest_sites(
        result, "atelier_velo", "marche", 2, candidates=cands, weights="qpv", method="both"
    )
    assert "habitants_qpv_gagnes" in s.table
    assert s.table["habitants_qpv_gagnes"].sum() == pytest.approx(s.exact.value)
    reach = reach_matrix(result.models["marche"], cands, points, 8)
    assert s.exact.value == pytest.approx(_brute_force(reach.covers, residents, 2))


def test_precomputed_reach_gives_the_same_suggestion(somme_result):
    territory, result = somme_result
    cands = commune_candidates(territory.communes)
    reach = reach_matrix(result.models["voiture"], cands, result.units, 20.0)
    a = suggest_sites(result, "auto_ecole_sociale", "voiture", 3, candidates=cands)
    b = suggest_sites(result, "auto_ecole_sociale", "voiture", 3, candidates=cands, reach=reach)
    pd.testing.assert_frame_equal(a.table, b.table)
    with pytest.raises(ParameterError, match="ne correspond pas"):
        suggest_sites(
            result, "auto_ecole_sociale", "voiture", 3, candidates=cands.head(5), reach=reach
        )


def test_parse_weights():
    from zonesblanches.api import parse_weights

    assert parse_weights("QPV") == "qpv"
    assert parse_weights("population:1+qpv:2") == {"population": 1.0, "qpv": 2.0}
    assert parse_weights("population:1,5; men_pauv") == {"population": 1.5, "men_pauv": 1.0}
    with pytest.raises(ParameterError, match="Pondération illisible"):
        parse_weights("population:beaucoup")


def test_suggestion_on_a_road_network_is_confirmed_by_the_engine():
    """Real street graph (Maisons-Laffitte, OSM), synthetic homes and services on its streets."""
    import networkx as nx
    from pyproj import Transformer

    from zonesblanches.coverage.network import NetworkModel
    from zonesblanches.geodata.network import RoadNetwork

    g = nx.read_graphml(DATA / "maisons-laffitte.graphml.gz")
    nodes = list(g.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    x, y = Transformer.from_crs(WGS84, LAMBERT93, always_xy=True).transform(
        [float(g.nodes[n]["x"]) for n in nodes], [float(g.nodes[n]["y"]) for n in nodes]
    )
    edges = [(pos[u], pos[v], max(float(d["length"]), 0.01)) for u, v, d in g.edges(data=True)]
    tail, head, length = (np.array(a) for a in zip(*edges, strict=True))
    network = RoadNetwork(
        "marche",
        np.arange(len(nodes)),
        np.asarray(x),
        np.asarray(y),
        tail,
        head,
        length,
        length / (4.5 / 3.6),
    )
    model = NetworkModel(network)
    rng = np.random.default_rng(5)
    e = rng.choice(network.n_edges, size=260, replace=False)
    pts = gpd.GeoSeries(
        gpd.points_from_xy(
            (network.x[tail[e]] + network.x[head[e]]) / 2,
            (network.y[tail[e]] + network.y[head[e]]) / 2,
        ),
        crs=LAMBERT93,
    ).to_crs(WGS84)
    homes = gpd.GeoDataFrame(
        {"unit_id": [f"h{i}" for i in range(200)], "population": rng.integers(1, 50, 200) * 1.0},
        geometry=pts.iloc[:200].to_numpy(),
        crs=WGS84,
    )
    services = gpd.GeoDataFrame(
        {"service_id": ["S1", "S2"], "categorie": "atelier_velo"},
        geometry=pts.iloc[200:202].to_numpy(),
        crs=WGS84,
    )
    cands = gpd.GeoDataFrame(
        {"candidate_id": [f"k{i}" for i in range(58)]},
        geometry=pts.iloc[202:].to_numpy(),
        crs=WGS84,
    )
    result = compute_coverage(
        homes, services, {"marche": 6}, categories=["atelier_velo"], models={"marche": model}
    )
    s = suggest_sites(result, "atelier_velo", "marche", 3, candidates=cands, method="both")
    assert s.exact.status == "optimal" and s.greedy.value <= s.exact.value + 1e-9
    assert len(s.table) == 3 and s.covered_before < result.population
    for table in (s.greedy_table, s.exact_table):
        geoms = cands.set_index("candidate_id").geometry.loc[table["candidate_id"]]
        added = gpd.GeoDataFrame(
            {"service_id": list(table["candidate_id"]), "categorie": "atelier_velo"},
            geometry=geoms.to_numpy(),
            crs=WGS84,
        )
        again = compute_coverage(
            homes,
            pd.concat([services, added], ignore_index=True),
            {"marche": 6},
            categories=["atelier_velo"],
            models={"marche": model},
        )
        covered = again.summary(by=None)["population_couverte"].iloc[0]
        assert table["couverture_cumulee"].iloc[-1] == pytest.approx(covered)
