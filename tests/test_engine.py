"""Road-network engine: times checked against networkx on real OSM graphs and random graphs.

networkx (``multi_source_dijkstra_path_length``, same weights) is the oracle. Offsets of the
sources (their off-network leg) are given to networkx as one extra virtual node per source,
with an edge weighted by the offset (networkx accepts zero weights).
"""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely import points

from zonesblanches.coverage.hierarchy import ContractionHierarchy
from zonesblanches.coverage.network import (
    NetworkModel,
    multi_source_times,
    nearest_source_times,
    prepare_graph,
)
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.modes import MODES

DATA = Path(__file__).parent / "data" / "osm"
TOL_S = 1e-6

# Test-only speed rule (km/h) for the car network of the GraphML fixtures: enough to give real
# streets realistic, varied weights; the project's own rules live in zonesblanches.geodata.
_CAR_KMH = {
    "motorway": 110, "trunk": 90, "primary": 70, "secondary": 60, "tertiary": 50,
    "unclassified": 40, "residential": 30, "living_street": 20, "service": 20,
}  # fmt: skip


def _first(value: str | None) -> str | None:
    """OSMnx writes merged tags as a list literal ("['30', '45']"): keep the first value."""
    if value is None:
        return None
    if value.startswith("["):
        return str(ast.literal_eval(value)[0])
    return value


def load_fixture(name: str, mode: str) -> RoadNetwork:
    """RoadNetwork of a GraphML fixture: car (one-ways kept) or walking (every way both ways)."""
    g = nx.read_graphml(DATA / f"{name}.graphml.gz", force_multigraph=True)
    nodes = list(g.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    to_l93 = Transformer.from_crs("EPSG:4326", LAMBERT93, always_xy=True)
    x, y = to_l93.transform(
        np.array([float(g.nodes[n]["x"]) for n in nodes]),
        np.array([float(g.nodes[n]["y"]) for n in nodes]),
    )
    tail, head, length, kmh = [], [], [], []
    for u, v, d in g.edges(data=True):
        if mode == "voiture":
            kind = (_first(d.get("highway")) or "").removesuffix("_link")
            if kind not in _CAR_KMH:
                continue
            limit = _first(d.get("maxspeed"))
            pairs = [(u, v)]
            speed = float(limit) if limit and limit.isdigit() else _CAR_KMH[kind]
        else:
            pairs = [(u, v), (v, u)]
            speed = MODES["marche"].speed_kmh
        for a, b in pairs:
            tail.append(pos[a])
            head.append(pos[b])
            length.append(float(d["length"]))
            kmh.append(speed)
    length = np.array(length)
    return RoadNetwork(
        mode=mode,
        node_id=np.array([int(n) for n in nodes], dtype=np.int64),
        x=np.asarray(x),
        y=np.asarray(y),
        tail=np.array(tail, dtype=np.int64),
        head=np.array(head, dtype=np.int64),
        length_m=length,
        time_s=length / (np.array(kmh) / 3.6),
        source=f"OpenStreetMap, graphe {name}",
    )


def nx_graph(tail, head, time_s, n: int, *, reverse: bool) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    pairs = zip(head, tail, strict=True) if reverse else zip(tail, head, strict=True)
    g.add_weighted_edges_from(
        ((int(a), int(b), float(w)) for (a, b), w in zip(pairs, time_s, strict=True)), weight="w"
    )
    return g


def oracle(g: nx.MultiDiGraph, n: int, sources, offsets) -> np.ndarray:
    """networkx times from the nearest source (offset included) to nodes 0..n-1."""
    g = g.copy()
    virtual = [("source", i) for i in range(len(sources))]
    for v, s, off in zip(virtual, sources, offsets, strict=True):
        g.add_edge(v, int(s), w=float(off))
    lengths = nx.multi_source_dijkstra_path_length(g, virtual, weight="w") if virtual else {}
    return np.array([lengths.get(i, np.inf) for i in range(n)])


def assert_matches_oracle(g, n, sources, offsets, seconds, index):
    expected = oracle(g, n, sources, offsets)
    reached = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(seconds), reached)
    np.testing.assert_allclose(seconds[reached], expected[reached], rtol=0, atol=TOL_S)
    np.testing.assert_array_equal(index[~reached], -1)
    # The returned source really achieves the minimum (ties may pick any of them).
    assert np.all((index[reached] >= 0) & (index[reached] < len(sources)))
    for i in np.unique(index[reached]):
        nodes = np.flatnonzero(index == i)
        cutoff = expected[nodes].max() - offsets[i] + 1e-3
        from_i = nx.single_source_dijkstra_path_length(
            g, int(sources[i]), cutoff=cutoff, weight="w"
        )
        via_i = np.array([from_i[v] for v in nodes]) + offsets[i]
        np.testing.assert_allclose(via_i, expected[nodes], rtol=0, atol=TOL_S)


# --- Random graphs (synthetic, generated by hypothesis) ------------------------------------


@st.composite
def random_problem(draw):
    """A synthetic directed multigraph with sources: parallel edges, self-loops, integer weights
    (many ties), several sources on one node, zero offsets, and often disconnected parts."""
    n = draw(st.integers(1, 25))
    m = draw(st.integers(0, 70))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    tail, head = draw(ends), draw(ends)
    weight = st.one_of(
        st.integers(1, 4).map(float), st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False)
    )
    time_s = draw(st.lists(weight, min_size=m, max_size=m))
    k = draw(st.integers(0, 6))
    sources = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))
    offset = st.one_of(st.just(0.0), st.integers(0, 3).map(float), st.floats(0, 500))
    offsets = draw(st.lists(offset, min_size=k, max_size=k))
    return n, np.array(tail, int), np.array(head, int), np.array(time_s), sources, offsets


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=random_problem(), reverse=st.booleans())
def test_random_graphs_match_networkx(problem, reverse):
    n, tail, head, time_s, sources, offsets = problem
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)
    seconds, index = nearest_source_times(
        net, np.array(sources, dtype=int), np.array(offsets), reverse=reverse
    )
    g = nx_graph(tail, head, time_s, n, reverse=reverse)
    assert_matches_oracle(g, n, sources, np.array(offsets), seconds, index)


# --- Real OSM graphs ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def car():
    return load_fixture("saint-germain-en-laye", "voiture")


@pytest.fixture(scope="module")
def walk():
    return load_fixture("maisons-laffitte", "marche")


@pytest.mark.parametrize("reverse", [True, False])
def test_real_car_network_matches_networkx(car, reverse):
    rng = np.random.default_rng(3)
    sources = rng.choice(car.n_nodes, 50, replace=False)
    sources[1] = sources[0]  # two services on the same node
    offsets = rng.uniform(0, 300, 50)
    offsets[:5] = 0.0
    seconds, index = nearest_source_times(car, sources, offsets, reverse=reverse)
    g = nx_graph(car.tail, car.head, car.time_s, car.n_nodes, reverse=reverse)
    assert_matches_oracle(g, car.n_nodes, sources, offsets, seconds, index)


def test_real_walk_network_matches_networkx(walk):
    sources = np.random.default_rng(4).choice(walk.n_nodes, 12, replace=False)
    offsets = np.zeros(len(sources))
    seconds, index = nearest_source_times(walk, sources)
    g = nx_graph(walk.tail, walk.head, walk.time_s, walk.n_nodes, reverse=True)
    assert_matches_oracle(g, walk.n_nodes, sources, offsets, seconds, index)


def test_one_way_streets_make_direction_matter(car):
    """On the real car graph, home → service and service → home differ for some nodes."""
    sources = np.random.default_rng(5).choice(car.n_nodes, 10, replace=False)
    to_service, _ = nearest_source_times(car, sources, reverse=True)
    from_service, _ = nearest_source_times(car, sources, reverse=False)
    both = np.isfinite(to_service) & np.isfinite(from_service)
    assert np.any(np.abs(to_service[both] - from_service[both]) > 1.0)


def test_one_way_loop_home_to_service():
    """Synthetic one-way loop a → b → c → a (1, 2 and 4 s): from home b to service a is
    b → c → a = 6 s, while a → b takes 1 s."""
    net = RoadNetwork(
        "voiture",
        np.arange(3),
        np.array([0.0, 10.0, 5.0]),
        np.array([0.0, 0.0, 10.0]),
        np.array([0, 1, 2]),
        np.array([1, 2, 0]),
        np.array([10.0, 10.0, 10.0]),
        np.array([1.0, 2.0, 4.0]),
    )
    home_to_service, _ = nearest_source_times(net, np.array([0]), reverse=True)
    service_to_home, _ = nearest_source_times(net, np.array([0]), reverse=False)
    np.testing.assert_allclose(home_to_service, [0.0, 6.0, 4.0])
    np.testing.assert_allclose(service_to_home, [0.0, 1.0, 3.0])
    model = NetworkModel(net)
    res = model.nearest(
        gpd.GeoSeries(points([[10.0, 0.0]]), crs=LAMBERT93),
        gpd.GeoSeries(points([[0.0, 0.0]]), crs=LAMBERT93),
    )
    np.testing.assert_allclose(res.minutes, [6.0 / 60])


def test_limit_stops_exploration(car):
    sources = np.random.default_rng(6).choice(car.n_nodes, 5, replace=False)
    graph = prepare_graph(car)
    full, full_index = multi_source_times(graph, sources)
    limited, limited_index = multi_source_times(graph, sources, limit=120.0)
    within = full <= 120.0
    assert within.any() and (~within).any()
    np.testing.assert_allclose(limited[within], full[within], rtol=0, atol=TOL_S)
    assert np.all(np.isinf(limited[~within]))
    np.testing.assert_array_equal(limited_index[~within], -1)


# --- NetworkModel: snapping, walking legs, flags, components --------------------------------


def _largest_scc_nodes(net: RoadNetwork) -> np.ndarray:
    g = nx_graph(net.tail, net.head, net.time_s, net.n_nodes, reverse=False)
    return np.array(sorted(max(nx.strongly_connected_components(g), key=len)))


def _brute_snap(net: RoadNetwork, candidates: np.ndarray, xy: np.ndarray):
    d = np.hypot(
        xy[:, 0, None] - net.x[candidates][None, :], xy[:, 1, None] - net.y[candidates][None, :]
    )
    j = d.argmin(axis=1)
    return candidates[j], d[np.arange(len(xy)), j]


def test_network_model_matches_networkx_with_walking_legs(car):
    rng = np.random.default_rng(7)
    model = NetworkModel(car, max_snap_m=150.0)
    assert isinstance(model, TravelTimeModel)
    assert model.method == "reseau"
    # Services and homes somewhere in the town (not on nodes), one home 5 km out of town.
    lo = np.array([car.x.min(), car.y.min()])
    hi = np.array([car.x.max(), car.y.max()])
    services_xy = rng.uniform(lo, hi, size=(15, 2))
    homes_xy = np.vstack([rng.uniform(lo, hi, size=(200, 2)), [[hi[0] + 5000, hi[1]]]])
    res = model.nearest(
        gpd.GeoSeries(points(homes_xy), crs=LAMBERT93),
        gpd.GeoSeries(points(services_xy), crs=LAMBERT93),
    )
    # Independent computation: brute-force snapping to the largest strongly connected
    # component, walking legs at 4.5 km/h, networkx between the nodes.
    walk_ms = MODES["marche"].speed_kmh / 3.6
    scc = _largest_scc_nodes(car)
    s_node, s_dist = _brute_snap(car, scc, services_xy)
    h_node, h_dist = _brute_snap(car, scc, homes_xy)
    g = nx_graph(car.tail, car.head, car.time_s, car.n_nodes, reverse=True)
    node_s = oracle(g, car.n_nodes, s_node, s_dist / walk_ms)
    expected_min = (h_dist / walk_ms + node_s[h_node]) / 60.0
    np.testing.assert_allclose(res.minutes, expected_min, rtol=0, atol=TOL_S / 60)
    # The nearest service reported achieves that time.
    for svc in np.unique(res.nearest):
        single = nx.single_source_dijkstra_path_length(g, int(s_node[svc]), weight="w")
        homes = np.flatnonzero(res.nearest == svc)
        network = np.array([single[h] for h in h_node[homes]])
        total = h_dist[homes] / walk_ms + network + s_dist[svc] / walk_ms
        np.testing.assert_allclose(total / 60.0, res.minutes[homes], rtol=0, atol=TOL_S / 60)
    # Flags: exactly the homes farther than 150 m from the network, and those whose nearest
    # service is (its walking leg is just as uncertain), in French, kept.
    far = h_dist > 150.0
    assert far[-1]
    far_service = s_dist[res.nearest] > 150.0
    assert (far_service & ~far).any()
    flagged = np.array([bool(f) for f in res.flags])
    np.testing.assert_array_equal(flagged, far | far_service)
    assert all("Destination la plus proche" in res.flags[i] for i in np.flatnonzero(far_service))
    assert "du réseau routier" in res.flags[-1]
    assert np.isfinite(res.minutes[-1])


def test_snap_accepts_wgs84_and_flags_missing_points(car):
    model = NetworkModel(car)
    node = model.snap_nodes[10]
    wgs = gpd.GeoSeries(points([[car.x[node], car.y[node]]]), crs=LAMBERT93).to_crs(4326)
    homes = gpd.GeoSeries([wgs.iloc[0], None], crs=4326)
    snap = model.snap(homes)
    assert snap.distance_m[0] < 1e-3
    res = model.nearest(homes, gpd.GeoSeries(points([[car.x[0], car.y[0]]]), crs=LAMBERT93))
    assert np.isfinite(res.minutes[0]) and res.nearest[0] == 0
    assert np.isinf(res.minutes[1]) and res.nearest[1] == -1
    assert "sans coordonnées" in res.flags[1]


def test_no_destination_gives_inf(car):
    model = NetworkModel(car)
    res = model.nearest(
        gpd.GeoSeries(points([[car.x[0], car.y[0]]]), crs=LAMBERT93),
        gpd.GeoSeries([], crs=LAMBERT93),
    )
    assert np.isinf(res.minutes).all() and (res.nearest == -1).all()


def test_components_all_vs_largest(car):
    """With component="all", nodes that cannot reach any service are inf / -1 (as networkx
    says); with the default, every point is tied to the main component and gets a time."""
    rng = np.random.default_rng(8)
    scc = _largest_scc_nodes(car)
    services = rng.choice(scc, 5, replace=False)
    homes_xy = np.column_stack([car.x, car.y])
    svc = gpd.GeoSeries(points(homes_xy[services]), crs=LAMBERT93)
    homes = gpd.GeoSeries(points(homes_xy), crs=LAMBERT93)
    g = nx_graph(car.tail, car.head, car.time_s, car.n_nodes, reverse=True)
    expected = oracle(g, car.n_nodes, services, np.zeros(5)) / 60.0
    assert np.isinf(expected).any(), "the fixture has nodes that cannot reach the main part"
    res_all = NetworkModel(car, component="all").nearest(homes, svc)
    np.testing.assert_array_equal(np.isinf(res_all.minutes), np.isinf(expected))
    ok = np.isfinite(expected)
    np.testing.assert_allclose(res_all.minutes[ok], expected[ok], rtol=0, atol=TOL_S / 60)
    np.testing.assert_array_equal(res_all.nearest[~ok], -1)
    res_largest = NetworkModel(car).nearest(homes, svc)
    assert np.isfinite(res_largest.minutes).all()
    np.testing.assert_allclose(res_largest.minutes[scc], expected[scc], rtol=0, atol=TOL_S / 60)


def test_description_is_french(car, walk):
    text = NetworkModel(car).description
    assert "réseau routier en voiture" in text and "4,5 km/h" in text and "1000 m" in text
    assert "à 4,5 km/h sur tout le réseau" in NetworkModel(walk).description


def test_invalid_inputs_raise_french_errors(car):
    bad = RoadNetwork(
        "marche", np.arange(2), np.zeros(2), np.zeros(2), np.array([0]), np.array([1]),
        np.array([1.0]), np.array([0.0]),
    )  # fmt: skip
    with pytest.raises(DataError, match="strictement positif"):
        prepare_graph(bad)
    graph = prepare_graph(car)
    with pytest.raises(ParameterError, match="un par source"):
        multi_source_times(graph, np.array([0, 1]), np.array([0.0]))
    with pytest.raises(ParameterError, match="positifs ou nuls"):
        multi_source_times(graph, np.array([0]), np.array([-1.0]))
    with pytest.raises(ParameterError, match="n'existe pas"):
        multi_source_times(graph, np.array([car.n_nodes]))
    with pytest.raises(ParameterError, match="Composante inconnue"):
        NetworkModel(car, component="aucune")
    with pytest.raises(ParameterError, match="CRS"):
        NetworkModel(car).snap(gpd.GeoSeries(points([[0.0, 0.0]])))


def test_network_built_from_andorra_pbf_matches_networkx():
    """The engine on the car network (one-way streets) that zonesblanches.geodata.osm builds
    from a real PBF extract."""
    from zonesblanches.geodata.osm import load_network

    net = load_network(DATA / "andorra.osm.pbf", "voiture", cache=False, progress=False)
    rng = np.random.default_rng(9)
    sources = rng.choice(net.n_nodes, 30, replace=False)
    offsets = rng.uniform(0, 120, 30)
    seconds, index = nearest_source_times(net, sources, offsets)
    g = nx_graph(net.tail, net.head, net.time_s, net.n_nodes, reverse=True)
    assert_matches_oracle(g, net.n_nodes, sources, offsets, seconds, index)


# --- Contraction hierarchy (same oracle) ---------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    problem=random_problem(),
    reverse=st.booleans(),
    settle=st.sampled_from([(1, 1, 1), (2, 3, 1), (20, 1000, 3), (50, 1000, 1 << 30)]),
    reorder=st.booleans(),
    limit=st.one_of(st.just(np.inf), st.floats(0, 2000)),
    core=st.sampled_from([(0, np.inf), (0, 8.0), (3, np.inf), (0, 1.2), (1 << 20, np.inf)]),
    rounds=st.booleans(),
)
def test_hierarchy_random_graphs_match_networkx(
    problem, reverse, settle, reorder, limit, core, rounds
):
    """Exact whatever the witness bounds (settled nodes, hops), the internal node order, the
    core left uncontracted (none, a few nodes, the dense end, every node) and the contraction
    (by rounds or one node at a time): tiny bounds only add shortcuts that are not needed."""
    n, tail, head, time_s, sources, offsets = problem
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)
    hierarchy = ContractionHierarchy.from_network(
        net,
        reverse=reverse,
        settle_sim=settle[0],
        settle_real=settle[1],
        hops_sim=settle[2],
        reorder=reorder,
        core_nodes=core[0],
        core_degree=core[1],
        rounds=rounds,
    )
    seconds, index = hierarchy.nearest(np.array(sources, dtype=int), np.array(offsets))
    g = nx_graph(tail, head, time_s, n, reverse=reverse)
    assert_matches_oracle(g, n, sources, np.array(offsets), seconds, index)
    # With a limit: the same times where within it (a margin avoids float ties at the bound).
    limited, limited_index = hierarchy.nearest(
        np.array(sources, dtype=int), np.array(offsets), limit=limit
    )
    clear = ~np.isclose(seconds, limit, rtol=0, atol=1e-6)
    inside = clear & (seconds <= limit)
    np.testing.assert_array_equal(limited[inside], seconds[inside])
    np.testing.assert_array_equal(limited_index[inside], index[inside])
    assert np.all(np.isinf(limited[clear & ~inside]))
    assert np.all(limited_index[clear & ~inside] == -1)


@pytest.mark.parametrize("rounds", [True, False])
@pytest.mark.parametrize("core_nodes", [0, 400])
@pytest.mark.parametrize("reverse", [True, False])
def test_hierarchy_real_car_network_matches_networkx(car, reverse, core_nodes, rounds):
    """Both directions, every node contracted or a core of 400 nodes (a tenth) left to
    Dijkstra, by rounds or one node at a time."""
    rng = np.random.default_rng(3)
    sources = rng.choice(car.n_nodes, 50, replace=False)
    sources[1] = sources[0]
    offsets = rng.uniform(0, 300, 50)
    offsets[:5] = 0.0
    hierarchy = ContractionHierarchy.from_network(
        car, reverse=reverse, core_nodes=core_nodes, rounds=rounds
    )
    assert hierarchy.n_nodes == car.n_nodes and hierarchy.n_shortcuts > 0
    assert hierarchy.n_core == core_nodes
    seconds, index = hierarchy.nearest(sources, offsets)
    g = nx_graph(car.tail, car.head, car.time_s, car.n_nodes, reverse=reverse)
    assert_matches_oracle(g, car.n_nodes, sources, offsets, seconds, index)
    # Many queries on one hierarchy, each equal to a fresh Dijkstra.
    graph = prepare_graph(car, reverse=reverse)
    for seed in range(5):
        src = np.random.default_rng(seed).choice(car.n_nodes, 1 + 7 * seed, replace=False)
        got, _ = hierarchy.nearest(src)
        ref, _ = multi_source_times(graph, src)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(got[fin], ref[fin], rtol=0, atol=TOL_S)


def test_hierarchy_real_walk_and_pbf_networks_match_networkx(walk):
    from zonesblanches.geodata.osm import load_network

    pbf_car = load_network(DATA / "andorra.osm.pbf", "voiture", cache=False, progress=False)
    for net, seed in ((walk, 4), (pbf_car, 9)):
        rng = np.random.default_rng(seed)
        sources = rng.choice(net.n_nodes, 30, replace=False)
        offsets = rng.uniform(0, 120, 30)
        seconds, index = ContractionHierarchy.from_network(net).nearest(sources, offsets)
        g = nx_graph(net.tail, net.head, net.time_s, net.n_nodes, reverse=True)
        assert_matches_oracle(g, net.n_nodes, sources, offsets, seconds, index)


def test_network_model_hierarchy_engine_gives_the_same_times(car):
    rng = np.random.default_rng(12)
    x, y = np.asarray(car.x), np.asarray(car.y)
    homes = gpd.GeoSeries(
        points(
            np.column_stack(
                [rng.uniform(x.min(), x.max(), 300), rng.uniform(y.min(), y.max(), 300)]
            )
        ),
        crs=LAMBERT93,
    )
    services = homes.iloc[:7].translate(35.0, -20.0)
    plain = NetworkModel(car).nearest(homes, services)
    model = NetworkModel(car, engine="hierarchie")
    fast = model.nearest(homes, services)
    assert model.hierarchy is model.hierarchy  # built once
    np.testing.assert_allclose(fast.minutes, plain.minutes, rtol=0, atol=TOL_S / 60)
    np.testing.assert_array_equal(fast.nearest, plain.nearest)
    assert "engine='hierarchie'" in repr(model)
    with pytest.raises(ParameterError, match="Moteur inconnu"):
        NetworkModel(car, engine="astar")


def test_hierarchy_invalid_inputs_raise_french_errors(car):
    import scipy.sparse as sp

    with pytest.raises(ParameterError, match="carrée"):
        ContractionHierarchy(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(ParameterError, match="strictement positifs"):
        ContractionHierarchy(sp.csr_matrix(np.array([[0.0, -1.0], [2.0, 0.0]])))
    for core in ({"core_nodes": -1}, {"core_degree": 0.0}, {"core_degree": np.nan}):
        with pytest.raises(ParameterError, match="cœur"):
            ContractionHierarchy(sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]])), **core)
    with pytest.raises(ParameterError, match="fils d'exécution"):
        ContractionHierarchy(sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]])), threads=0)
    hierarchy = ContractionHierarchy.from_network(car)
    with pytest.raises(ParameterError, match="n'existe pas"):
        hierarchy.nearest(np.array([car.n_nodes]))
    with pytest.raises(ParameterError, match="un par source"):
        hierarchy.nearest(np.array([0, 1]), np.array([0.0]))
    seconds, index = hierarchy.nearest(np.array([], dtype=int))
    assert np.all(np.isinf(seconds)) and np.all(index == -1)


def _grid(side, weights):
    """Synthetic two-way square grid (not a real place): tail, head, time."""
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = weights(len(a))
    return np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w])


def _hierarchy_arrays(h):
    return (h._up_ptr, h._up_to, h._up_w, h._dn_ptr, h._dn_from, h._dn_w, h._newid)


def test_hierarchy_by_rounds_is_the_same_whatever_the_threads(car):
    """The contraction by rounds gives the same hierarchy, edge for edge, on one or two threads
    and with more rows of work arrays than threads (the real Saint-Germain-en-Laye network, a
    synthetic grid); its answers equal the one-node-at-a-time hierarchy's."""
    from zonesblanches.coverage import _ch_rounds
    from zonesblanches.coverage.hierarchy import _csr

    tail, head, time_s = _grid(40, lambda k: np.random.default_rng(1).uniform(5.0, 60.0, k))
    n = 1600
    grid = RoadNetwork(
        "voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s
    )
    for net in (car, grid):
        built = [ContractionHierarchy.from_network(net, threads=t) for t in (1, 2)]
        for a, b in zip(*map(_hierarchy_arrays, built), strict=True):
            np.testing.assert_array_equal(a, b)
        graph = _csr(prepare_graph(net))
        args = (graph.indptr.astype(np.int64), graph.indices.astype(np.int32), graph.data,
                20, 1000, 3, 0, 10.0)  # fmt: skip
        # Threads for every round however small, or none; 1 to 3 rows of work arrays.
        kernel = [
            _ch_rounds.contract_rounds(*args, rows, small)
            for rows, small in ((1, 1), (2, 1), (3, 1), (2, 1 << 30))
        ]
        for other in kernel[1:]:
            for a, b in zip(kernel[0], other, strict=True):
                np.testing.assert_array_equal(a, b)
        one_by_one = ContractionHierarchy.from_network(net, rounds=False)
        src = np.random.default_rng(5).choice(net.n_nodes, 20, replace=False)
        got, _ = built[0].nearest(src)
        ref, _ = one_by_one.nearest(src)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(got[fin], ref[fin], rtol=0, atol=TOL_S)


@pytest.mark.parametrize("rounds", [True, False])
def test_hierarchy_exact_on_a_grid_of_equal_times(rounds):
    """A synthetic grid where every street takes 1 s (not a real place): most pairs have many
    shortest paths of the same length, through nodes contracted in the same round; a witness
    through one of them must be strictly shorter, or a path is lost."""
    tail, head, time_s = _grid(25, np.ones)
    n = 625
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)
    hierarchy = ContractionHierarchy.from_network(net, rounds=rounds, core_degree=np.inf)
    assert hierarchy.n_core == 0
    graph = prepare_graph(net)
    for seed in range(4):
        src = np.random.default_rng(seed).choice(n, 1 + 3 * seed, replace=False)
        got, _ = hierarchy.nearest(src)
        ref, _ = multi_source_times(graph, src)
        np.testing.assert_array_equal(got, ref)


def test_hierarchy_exact_when_shortcuts_outgrow_the_edge_arrays():
    """A synthetic 12 × 12 two-way grid (not a real place) with the tightest witness bounds adds
    more shortcuts than the initial edge arrays hold (2 m + 16), so they grow during the build."""
    side = 12
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = np.random.default_rng(0).uniform(5.0, 60.0, len(a))
    tail, head, time_s = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w])
    n = side * side
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)
    hierarchy = ContractionHierarchy.from_network(net, settle_sim=1, settle_real=1, hops_sim=1)
    assert hierarchy.n_edges > 2 * len(tail) + 16
    sources, offsets = np.array([0, 77, 143]), np.array([0.0, 12.5, 3.0])
    seconds, index = hierarchy.nearest(sources, offsets)
    g = nx_graph(tail, head, time_s, n, reverse=True)
    assert_matches_oracle(g, n, sources, offsets, seconds, index)
