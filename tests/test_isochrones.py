"""Isochrones on a real OSM street graph (Maisons-Laffitte, car, one-way streets kept).

Containment is checked against an independent computation: networkx times (home → service,
reversed graph) and, edge by edge in Python, the reachable stretch of every edge.

Tolerances, stated once:
- every node reached within the threshold, and every point of an edge reached within it, lies
  inside the polygon (to ``EPS_M`` = 1 cm, for the round trip through EPSG:4326);
- no point reached only beyond the threshold is inside, except within ``buffer_m`` (+ ``EPS_M``)
  of a stretch reached within it: the documented buffer is the only way out of the network.
"""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from zonesblanches.coverage.isochrones import COLUMNS, isochrones
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.network import RoadNetwork

DATA = Path(__file__).parent / "data" / "osm"
EPS_M = 0.01
BUFFER_M = 40.0
THRESHOLDS = [1.0, 2.5]

# Test-only car speeds (km/h) by highway class, as in test_engine.py.
_CAR_KMH = {
    "motorway": 110, "trunk": 90, "primary": 70, "secondary": 60, "tertiary": 50,
    "unclassified": 40, "residential": 30, "living_street": 20, "service": 20,
}  # fmt: skip


def _first(value):
    if value is None:
        return None
    return str(ast.literal_eval(value)[0]) if value.startswith("[") else value


@pytest.fixture(scope="module")
def car() -> RoadNetwork:
    g = nx.read_graphml(DATA / "maisons-laffitte.graphml.gz", force_multigraph=True)
    nodes = list(g.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    x, y = Transformer.from_crs("EPSG:4326", LAMBERT93, always_xy=True).transform(
        np.array([float(g.nodes[n]["x"]) for n in nodes]),
        np.array([float(g.nodes[n]["y"]) for n in nodes]),
    )
    rows = []
    for u, v, d in g.edges(data=True):
        kind = (_first(d.get("highway")) or "").removesuffix("_link")
        if kind in _CAR_KMH:
            limit = _first(d.get("maxspeed"))
            kmh = float(limit) if limit and limit.isdigit() else _CAR_KMH[kind]
            rows.append((pos[u], pos[v], float(d["length"]), kmh))
    tail, head, length, kmh = (np.array(c) for c in zip(*rows, strict=True))
    return RoadNetwork(
        "voiture", np.array([int(n) for n in nodes]), np.asarray(x), np.asarray(y),
        tail.astype(np.int64), head.astype(np.int64), length, length / (kmh / 3.6),
        source="OpenStreetMap, graphe maisons-laffitte",
    )  # fmt: skip


@pytest.fixture(scope="module")
def model(car):
    return NetworkModel(car)


@pytest.fixture(scope="module")
def services(model):
    """Three points 15 m east of real street nodes of the town (test points, not services)."""
    net = model.network
    nodes = np.random.default_rng(11).choice(model.snap_nodes, 3, replace=False)
    return gpd.GeoDataFrame(
        {
            "service_id": ["g1", "g2", "v1"],
            "categorie": ["garage_solidaire", "garage_solidaire", "atelier_velo"],
        },
        geometry=gpd.points_from_xy(net.x[nodes] + 15.0, net.y[nodes]),
        crs=LAMBERT93,
    ).to_crs(4326)


@pytest.fixture(scope="module")
def result(model, services):
    return isochrones(model, services, THRESHOLDS, buffer_m=BUFFER_M, progress=False)


def _oracle_times(model: NetworkModel, services: gpd.GeoDataFrame) -> list[np.ndarray]:
    """Seconds from every node to each service: brute-force snapping, networkx Dijkstra."""
    net = model.network
    g = nx.DiGraph()
    g.add_nodes_from(range(net.n_nodes))
    for u, v, w in zip(net.tail, net.head, net.time_s, strict=True):
        if not g.has_edge(v, u) or g[v][u]["w"] > w:
            g.add_edge(int(v), int(u), w=float(w))  # reversed: home → service
    xy = services.to_crs(LAMBERT93).get_coordinates().to_numpy()
    cand = model.snap_nodes
    times = []
    for px, py in xy:
        d = np.hypot(net.x[cand] - px, net.y[cand] - py)
        node, off = int(cand[d.argmin()]), d.min() / model.walk_speed_ms
        lengths = nx.single_source_dijkstra_path_length(g, node, weight="w")
        times.append(np.array([lengths.get(i, np.inf) + off for i in range(net.n_nodes)]))
    return times


def _reachable_geometry(net: RoadNetwork, t: np.ndarray, limit: float) -> shapely.Geometry:
    """Reachable stretches, edge by edge: the last (limit - t[head]) / w of each edge."""
    parts = []
    for u, v, w in zip(net.tail, net.head, net.time_s, strict=True):
        if t[v] <= limit:
            f = min((limit - t[v]) / w, 1.0)
            start = (net.x[v] + f * (net.x[u] - net.x[v]), net.y[v] + f * (net.y[u] - net.y[v]))
            parts.append(shapely.LineString([start, (net.x[v], net.y[v])]))
    parts += [shapely.Point(net.x[i], net.y[i]) for i in np.flatnonzero(t <= limit)]
    return shapely.GeometryCollection(parts)


def _edge_samples(net: RoadNetwork, t: np.ndarray):
    """Points on every edge at five fractions, with their time to the service via that edge."""
    f = np.array([0.05, 0.25, 0.5, 0.75, 0.95])[None, :]
    u, v, w = net.tail[:, None], net.head[:, None], net.time_s[:, None]
    x = net.x[u] + f * (net.x[v] - net.x[u])
    y = net.y[u] + f * (net.y[v] - net.y[u])
    return np.column_stack([x.ravel(), y.ravel()]), ((1 - f) * w + t[v]).ravel()


def test_result_layout(result, services):
    assert list(result.columns) == COLUMNS
    assert result.crs.to_epsg() == 4326
    assert len(result) == len(services) * len(THRESHOLDS) + 2 * len(THRESHOLDS)
    assert result.is_valid.all()
    assert set(result.geom_type) <= {"Polygon", "MultiPolygon"}
    assert (result["mode"] == "voiture").all()
    assert result["service_id"].isna().sum() == 2 * len(THRESHOLDS)
    assert (result["alerte"] == "").all()
    # Larger thresholds give larger areas.
    per = result.assign(area=result.to_crs(LAMBERT93).area)
    for _, grp in per.groupby(per["service_id"].fillna(per["categorie"])):
        assert grp.sort_values("seuil_min")["area"].is_monotonic_increasing


def test_isochrones_contain_reached_network_and_nothing_beyond_buffer(model, services, result):
    net = model.network
    rng = np.random.default_rng(12)
    box = rng.uniform([net.x.min(), net.y.min()], [net.x.max(), net.y.max()], size=(3000, 2))
    nodes_xy = np.column_stack([net.x, net.y])
    polys = result.to_crs(LAMBERT93)
    saw_partial = saw_hole = False
    for sid, t in zip(services["service_id"], _oracle_times(model, services), strict=True):
        samples_xy, samples_t = _edge_samples(net, t)
        for limit_min in THRESHOLDS:
            limit = limit_min * 60.0
            row = polys[(polys["service_id"] == sid) & (polys["seuil_min"] == limit_min)]
            poly = row.geometry.iloc[0]
            shapely.prepare(poly)
            # Every node and edge point reached within the threshold is inside.
            inside_nodes = shapely.dwithin(poly, shapely.points(nodes_xy), EPS_M)
            assert inside_nodes[t <= limit].all()
            on_edges = shapely.dwithin(poly, shapely.points(samples_xy), EPS_M)
            assert on_edges[samples_t <= limit].all()
            # Whatever is inside is within the buffer of what is reached within the threshold.
            reach = _reachable_geometry(net, t, limit)
            probe = np.vstack([nodes_xy, samples_xy, box])
            inside = shapely.contains_xy(poly, probe[:, 0], probe[:, 1])
            dist = shapely.distance(reach, shapely.points(probe[inside]))
            assert dist.max() <= BUFFER_M + EPS_M
            # The partial edges and the holes are really exercised by this data.
            saw_partial |= bool(np.any((samples_t > limit) & on_edges))
            hull = shapely.contains_xy(shapely.convex_hull(poly), box[:, 0], box[:, 1])
            saw_hole |= bool(np.any(hull & ~shapely.contains_xy(poly, box[:, 0], box[:, 1])))
    assert saw_partial and saw_hole


def test_union_rows_are_union_of_services(result):
    polys = result.to_crs(LAMBERT93)
    for (cat, limit), grp in polys.groupby(["categorie", "seuil_min"]):
        union_row = grp[grp["service_id"].isna()].geometry.iloc[0]
        members = shapely.union_all(grp[grp["service_id"].notna()].geometry.to_numpy())
        assert union_row.symmetric_difference(members).area <= 1e-6 * members.area, (cat, limit)


def test_far_and_missing_services_are_flagged_not_dropped(model):
    net = model.network
    far = (net.x.max() + 1200.0, net.y.max())
    svc = gpd.GeoDataFrame(
        {"service_id": ["loin", "sans"], "categorie": ["garage_solidaire"] * 2},
        geometry=[shapely.Point(far), None],
        crs=LAMBERT93,
    )
    out = isochrones(model, svc, [5, 30], union=False, progress=False)
    assert list(out["service_id"]) == ["loin", "loin", "sans", "sans"]
    assert "du réseau routier" in out["alerte"].iloc[0]
    assert "sans coordonnées" in out["alerte"].iloc[2]
    areas = out.to_crs(LAMBERT93).area.to_numpy()
    # ≥ 1200 m on foot is more than 5 minutes, and less than 30 with the drive after it.
    assert areas[0] == 0 and areas[1] > 0 and areas[2] == 0 and areas[3] == 0


def test_invalid_parameters(model, services):
    with pytest.raises(ParameterError, match="seuils"):
        isochrones(model, services, [10, -5], progress=False)
    with pytest.raises(ParameterError, match="au moins un seuil"):
        isochrones(model, services, [], progress=False)
    with pytest.raises(ParameterError, match="absente"):
        isochrones(model, services.drop(columns="categorie"), [10], progress=False)
