"""Reach matrices (candidates × demand units within a threshold) against independent oracles."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from pyproj import Transformer

from zonesblanches.coverage.analysis import commune_demand
from zonesblanches.coverage.hierarchy import EngineUse
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.coverage.reach import ReachMatrix, reach_matrix
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.territory import select_territory

DATA = Path(__file__).parent / "data" / "sites"
WALK_MS = 4.5 / 3.6


def _as_sets(reach: ReachMatrix) -> dict[tuple[int, int], float]:
    m = reach.matrix.tocoo()
    return {(int(i), int(j)): float(v) for i, j, v in zip(m.row, m.col, m.data, strict=True)}


# --------------------------------------------------------------------------------------------
# Straight line
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def somme():
    territory = select_territory("80")
    return commune_demand(territory.communes)


def test_straight_line_reach_equals_dense_computation(somme, registry):
    model = StraightLineModel("voiture")
    threshold = 12.0
    candidates = gpd.GeoDataFrame(
        geometry=gpd.GeoSeries(list(registry.geometry) + list(somme.geometry[::7]), crs=WGS84)
    )
    reach = reach_matrix(model, candidates, somme, threshold)
    c = candidates.geometry.to_crs(LAMBERT93)
    u = somme.geometry.to_crs(LAMBERT93)
    dist = np.hypot(
        c.x.to_numpy()[:, None] - u.x.to_numpy()[None, :],
        c.y.to_numpy()[:, None] - u.y.to_numpy()[None, :],
    )
    minutes = model.minutes_for_metres(dist)
    expected = minutes <= threshold
    got = reach.covers.toarray()
    assert reach.shape == expected.shape
    assert (got == expected).all()
    assert np.allclose(reach.matrix.toarray()[expected], minutes[expected])
    assert reach.nnz == int(expected.sum()) > 0


def test_straight_line_reach_agrees_with_the_coverage_rule(somme, registry):
    """Services as candidates: a unit is reached iff the model's nearest time is within."""
    model = StraightLineModel("marche")
    threshold = 30.0
    reach = reach_matrix(model, registry, somme, threshold)
    nearest = model.nearest(somme.geometry, registry.geometry).minutes
    reached = np.asarray(reach.covers.sum(axis=0)).ravel() > 0
    assert (reached == (nearest <= threshold)).all()
    # Time zero (a candidate on the unit's own point) stays in the matrix.
    same_point = reach_matrix(model, somme.iloc[:5], somme.iloc[:5], 1.0)
    assert (np.diag(same_point.covers.toarray())).all()
    assert np.allclose(same_point.matrix.diagonal(), 0.0)


class _OpaqueModel:
    """Wraps a model so that reach_matrix must use the generic path (one call per candidate)."""

    def __init__(self, inner):
        self._inner = inner
        self.mode = inner.mode
        self.method = inner.method

    def nearest(self, origins, destinations):
        return self._inner.nearest(origins, destinations)


def test_generic_model_path_matches_straight_line(somme, registry):
    model = StraightLineModel("velo")
    fast = reach_matrix(model, registry, somme, 25.0)
    slow = reach_matrix(_OpaqueModel(model), registry, somme, 25.0, progress=False)
    assert _as_sets(fast).keys() == _as_sets(slow).keys()
    assert np.allclose(
        [v for _, v in sorted(_as_sets(fast).items())],
        [v for _, v in sorted(_as_sets(slow).items())],
    )


def test_reach_matrix_rejects_bad_threshold(somme, registry):
    with pytest.raises(ParameterError, match="positif"):
        reach_matrix(StraightLineModel("voiture"), registry, somme, -5)


# --------------------------------------------------------------------------------------------
# Road network (real OSM street graph of Maisons-Laffitte)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def street_graph():
    g = nx.read_graphml(DATA / "maisons-laffitte.graphml.gz")
    nodes = list(g.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    to_l93 = Transformer.from_crs(WGS84, LAMBERT93, always_xy=True)
    lon = np.array([float(g.nodes[n]["x"]) for n in nodes])
    lat = np.array([float(g.nodes[n]["y"]) for n in nodes])
    x, y = to_l93.transform(lon, lat)
    tail, head, length = [], [], []
    for u, v, data in g.edges(data=True):
        tail.append(pos[u])
        head.append(pos[v])
        length.append(max(float(data["length"]), 0.01))
    length = np.array(length)
    network = RoadNetwork(
        mode="marche",
        node_id=np.arange(len(nodes), dtype=np.int64),
        x=np.asarray(x),
        y=np.asarray(y),
        tail=np.array(tail, dtype=np.int64),
        head=np.array(head, dtype=np.int64),
        length_m=length,
        time_s=length / WALK_MS,
        source="OpenStreetMap, Maisons-Laffitte (test)",
    )
    # The oracle: a networkx DiGraph with the same times (fastest parallel edge).
    oracle = nx.DiGraph()
    oracle.add_nodes_from(range(len(nodes)))
    for t, h, s in zip(network.tail, network.head, network.time_s, strict=True):
        if not oracle.has_edge(t, h) or oracle[t][h]["s"] > s:
            oracle.add_edge(int(t), int(h), s=float(s))
    return network, oracle


def _edge_midpoints(network: RoadNetwork, rng, n: int) -> gpd.GeoSeries:
    """Points half-way along randomly chosen real street segments (test points)."""
    e = rng.choice(network.n_edges, size=n, replace=False)
    x = (network.x[network.tail[e]] + network.x[network.head[e]]) / 2
    y = (network.y[network.tail[e]] + network.y[network.head[e]]) / 2
    return gpd.GeoSeries(gpd.points_from_xy(x, y), crs=LAMBERT93).to_crs(WGS84)


@pytest.mark.parametrize(
    ("chunk_bytes", "engine", "build_cost"),
    [
        (1, "dijkstra", None),
        (2**28, "dijkstra", None),
        (2**28, "hierarchie", None),
        # "auto" with a free hierarchy: Dijkstra on the first candidate node, then the
        # many-to-many bucket query on the others (both pieces merged).
        (1, "auto", 0.0),
    ],
)
def test_network_reach_matches_networkx(street_graph, chunk_bytes, engine, build_cost, monkeypatch):
    network, oracle = street_graph
    if build_cost is not None:
        monkeypatch.setattr("zonesblanches.coverage.hierarchy.BUILD_COST", build_cost)
        monkeypatch.setattr("zonesblanches.coverage.hierarchy.BUCKET_NODES", 0.0)
    model = NetworkModel(network, engine=engine)
    rng = np.random.default_rng(7)
    candidates = _edge_midpoints(network, rng, 20)
    units = _edge_midpoints(network, rng, 150)
    threshold = 8.0
    reach = reach_matrix(
        model, candidates, units, threshold, max_chunk_bytes=chunk_bytes, progress=False
    )
    csnap, usnap = model.snap(candidates), model.snap(units)
    reverse = oracle.reverse(copy=False)
    expected = {}
    for i in range(len(candidates)):
        to_site = nx.single_source_dijkstra_path_length(reverse, int(csnap.node[i]), weight="s")
        for j in range(len(units)):
            net = to_site.get(int(usnap.node[j]))
            if net is None:
                continue
            total = (usnap.distance_m[j] / WALK_MS + net + csnap.distance_m[i] / WALK_MS) / 60
            if total <= threshold:
                expected[(i, j)] = total
    got = _as_sets(reach)
    assert got.keys() == expected.keys()
    assert len(expected) > 0
    assert (model._hierarchy is not None) == (engine != "dijkstra")
    for key, minutes in expected.items():
        assert got[key] == pytest.approx(minutes, abs=1e-9)


def test_auto_engine_builds_the_hierarchy_only_when_it_pays(street_graph, monkeypatch):
    """``nearest`` on ``engine="auto"``: Dijkstra until the passes run reach the predicted
    build cost, then the hierarchy, with the same times; few candidates on a network keep the
    reach on Dijkstra. The engine log counts both. The break-even is computed once per model,
    not per query."""
    network, _ = street_graph
    rng = np.random.default_rng(5)
    units = _edge_midpoints(network, rng, 100)
    sites = _edge_midpoints(network, rng, 4)
    computed = []

    def break_even(n: int, m: int) -> float:
        computed.append((n, m))
        return 2.0

    monkeypatch.setattr("zonesblanches.coverage.network.nearest_break_even", break_even)
    auto, plain = NetworkModel(network), NetworkModel(network, engine="dijkstra")
    built = []
    for _ in range(4):
        before = auto._passes  # full Dijkstra passes spent so far
        np.testing.assert_allclose(
            auto.nearest(units, sites).minutes, plain.nearest(units, sites).minutes, atol=1e-9
        )
        built.append(auto._hierarchy is not None)
        assert built[-1] == (before >= 2.0)
    assert built[0] is False and built[-1] is True
    (use,) = auto.engine_log
    build_s = auto._hierarchy.build_seconds
    assert use == EngineUse("nearest", 4, sum(built), 2.0, network.n_nodes, 0.0, build_s)
    assert len(computed) == 2  # once for auto, once for plain: 8 queries in all
    fresh = NetworkModel(network)
    reach_matrix(fresh, sites, units, 5.0, progress=False)
    assert fresh._hierarchy is None
    (use,) = fresh.engine_log
    assert use.kind == "reach" and use.by_hierarchy == 0 and use.count <= len(sites)
    assert use.break_even > use.count and use.reached > 0


def test_network_reach_agrees_with_the_engine(street_graph):
    network, _ = street_graph
    model = NetworkModel(network)
    rng = np.random.default_rng(11)
    candidates = _edge_midpoints(network, rng, 12)
    units = _edge_midpoints(network, rng, 200)
    threshold = 6.0
    reach = reach_matrix(model, candidates, units, threshold, progress=False)
    nearest = model.nearest(units, candidates).minutes
    m = reach.matrix.tocsc()
    best = np.full(len(units), np.inf)
    for j in range(len(units)):
        col = m.data[m.indptr[j] : m.indptr[j + 1]]
        if len(col):
            best[j] = col.min()
    within = nearest <= threshold
    assert (np.isfinite(best) == within).all()
    assert np.allclose(best[within], nearest[within], rtol=0, atol=1e-9)


def test_row_grouping_beyond_16_bits():
    """Synthetic pairs over more than 65,536 rows: the CSR rows hold exactly their pairs."""
    from zonesblanches.coverage.reach import _csr_from_pairs

    rng = np.random.default_rng(3)
    n_rows, n_cols = 200_000, 50
    keys = rng.choice(n_rows * n_cols, size=30_000, replace=False)
    rows, cols = keys // n_cols, keys % n_cols
    minutes = rng.random(len(keys))
    m = _csr_from_pairs(rows, cols, minutes, (n_rows, n_cols))
    coo = m.tocoo()
    got = sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    want = sorted(zip(rows.tolist(), cols.tolist(), minutes.tolist(), strict=True))
    assert got == want
