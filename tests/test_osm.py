"""Road networks from OpenStreetMap: files, download (local fake Overpass), rules, cache.

Fixtures are real OSM data copied in ``tests/data/osm`` (see ``SOURCE_osm_loaders.md``).
Every test is offline: the download path talks to an HTTP server started here on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box

from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.osm import (
    MAX_DOWNLOAD_AREA_KM2,
    check_overpass,
    download_network,
    download_networks,
    load_network,
    load_networks,
)
from zonesblanches.geodata.osm_rules import (
    HIGHWAY_TABLE,
    NetworkRules,
    car_speed_kmh,
    evaluate_ways,
    parse_maxspeed,
)

DATA = Path(__file__).parent / "data" / "osm"
PBF = DATA / "andorra.osm.pbf"
MONACO = DATA / "monaco.osm.gz"
GRAPHML = DATA / "maisons-laffitte-osmnx122.graphml"
DOCS = Path(__file__).parents[1] / "docs" / "reseau.md"
MODES = ("marche", "velo", "voiture")

# A box over central Monaco (Monte-Carlo / La Condamine); the ways come from monaco.osm.gz.
MONACO_BOX = box(7.415, 43.728, 7.428, 43.740)


# ------------------------------------------------------------------------------------------
# helpers and module fixtures
# ------------------------------------------------------------------------------------------


def edge_set(net: RoadNetwork) -> set[tuple[int, int]]:
    """Directed edges as pairs of OSM node ids."""
    return set(zip(net.node_id[net.tail].tolist(), net.node_id[net.head].tolist(), strict=True))


def edge_table(net: RoadNetwork) -> pd.DataFrame:
    """Edges by OSM ids, sorted, for comparing networks built from different sources."""
    df = pd.DataFrame(
        {
            "u": net.node_id[net.tail],
            "v": net.node_id[net.head],
            "length_m": net.length_m,
            "time_s": net.time_s,
        }
    )
    return df.sort_values(["u", "v", "length_m", "time_s"]).reset_index(drop=True)


def assert_same_network(a: RoadNetwork, b: RoadNetwork) -> None:
    assert a.mode == b.mode
    order_a, order_b = np.argsort(a.node_id), np.argsort(b.node_id)
    np.testing.assert_array_equal(a.node_id[order_a], b.node_id[order_b])
    np.testing.assert_allclose(a.x[order_a], b.x[order_b], atol=1e-6)
    np.testing.assert_allclose(a.y[order_a], b.y[order_b], atol=1e-6)
    ta, tb = edge_table(a), edge_table(b)
    assert len(ta) == len(tb)
    np.testing.assert_array_equal(ta[["u", "v"]].to_numpy(), tb[["u", "v"]].to_numpy())
    np.testing.assert_allclose(ta["length_m"], tb["length_m"], rtol=1e-9)
    np.testing.assert_allclose(ta["time_s"], tb["time_s"], rtol=1e-9)


def read_ways(path: Path) -> tuple[dict[int, tuple[float, float, dict]], list[tuple]]:
    """Independent reading of a file with pyosmium: nodes (lon, lat, tags) and highway ways."""
    nodes: dict[int, tuple[float, float, dict]] = {}
    ways: list[tuple[int, list[int], dict]] = []
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        if obj.is_node():
            nodes[obj.id] = (obj.location.lon, obj.location.lat, dict(obj.tags))
        elif "highway" in obj.tags:
            ways.append((obj.id, [n.ref for n in obj.nodes], dict(obj.tags)))
    return nodes, ways


def unique_segments(ways) -> dict[tuple[int, int], tuple[int, dict]]:
    """Segments (u, v) in way order that belong to a single way, with that way's tags."""
    count: Counter = Counter()
    owner: dict[tuple[int, int], tuple[int, dict]] = {}
    for way_id, refs, tags in ways:
        for u, v in zip(refs[:-1], refs[1:], strict=True):
            key = (min(u, v), max(u, v))
            count[key] += 1
            owner[(u, v)] = (way_id, tags)
    return {k: o for k, o in owner.items() if count[(min(k), max(k))] == 1 and k[0] != k[1]}


@pytest.fixture(scope="module")
def andorra() -> dict[str, RoadNetwork]:
    return load_networks(PBF, MODES, cache=False, progress=False)


@pytest.fixture(scope="module")
def andorra_osm():
    return read_ways(PBF)


@pytest.fixture(scope="module")
def monaco_osm():
    return read_ways(MONACO)


# ------------------------------------------------------------------------------------------
# maxspeed parsing and the rules table
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        (" 90 ", 90.0),
        ("50 km/h", 50.0),
        ("50 kmh", 50.0),
        ("30 mph", 30 * 1.609344),
        ("20 knots", 20 * 1.852),
        ("7,5", 7.5),
        ("FR:urban", 50.0),
        ("fr:urban", 50.0),
        ("FR:rural", 80.0),
        ("FR:trunk", 110.0),
        ("FR:motorway", 130.0),
        ("FR:zone30", 30.0),
        ("FR:30", 30.0),
        ("FR:living_street", 20.0),
        ("DE:rural", 90.0),
        ("IT:motorway", 130.0),
        ("walk", 6.0),
        ("50;30", 30.0),
        ("none;70", 70.0),
        ("none", math.nan),
        ("signals", math.nan),
        ("variable", math.nan),
        ("0", math.nan),
        ("999", math.nan),
        ("fast", math.nan),
        ("", math.nan),
        (None, math.nan),
    ],
)
def test_parse_maxspeed(value, expected):
    got = parse_maxspeed(value)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected)


def _rules_on(tags: dict, mode: str):
    acc = evaluate_ways(pd.DataFrame([tags]), mode)
    return bool(acc.forward[0]), bool(acc.backward[0]), acc.forward_kmh[0], acc.backward_kmh[0]


# Tag combinations as found on real OSM ways (not a dataset: one way per case).
@pytest.mark.parametrize(
    ("tags", "mode", "forward", "backward"),
    [
        ({"highway": "residential", "oneway": "yes"}, "voiture", True, False),
        ({"highway": "residential", "oneway": "yes"}, "marche", True, True),
        ({"highway": "residential", "oneway": "yes"}, "velo", True, False),
        ({"highway": "residential", "oneway": "-1"}, "voiture", False, True),
        ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, "velo", True, True),
        # oneway:bicycle imposes its own direction: exactly one stays open (issue 16)
        ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "-1"}, "velo", False, True),
        ({"highway": "residential", "oneway": "-1", "oneway:bicycle": "yes"}, "velo", True, False),
        (
            {"highway": "residential", "junction": "roundabout", "oneway:bicycle": "-1"},
            "velo",
            False,
            True,
        ),
        (
            {"highway": "residential", "oneway": "yes", "oneway:bicycle": "-1"},
            "voiture",
            True,
            False,
        ),
        (
            {"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"},
            "velo",
            True,
            True,
        ),
        (
            {"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"},
            "voiture",
            True,
            False,
        ),
        ({"highway": "primary", "junction": "roundabout"}, "voiture", True, False),
        ({"highway": "primary", "junction": "roundabout"}, "marche", True, True),
        ({"highway": "motorway"}, "voiture", True, False),
        ({"highway": "motorway", "oneway": "no"}, "voiture", True, True),
        ({"highway": "motorway"}, "marche", False, False),
        ({"highway": "footway"}, "voiture", False, False),
        ({"highway": "footway"}, "velo", False, False),
        ({"highway": "footway", "bicycle": "yes"}, "velo", True, True),
        ({"highway": "cycleway"}, "marche", False, False),
        ({"highway": "cycleway", "foot": "designated"}, "marche", True, True),
        ({"highway": "service", "access": "private"}, "voiture", False, False),
        ({"highway": "service", "access": "private", "foot": "yes"}, "marche", True, True),
        ({"highway": "service", "access": "destination"}, "voiture", True, True),
        ({"highway": "residential", "motor_vehicle": "no"}, "voiture", False, False),
        ({"highway": "residential", "motor_vehicle": "no"}, "velo", True, True),
        ({"highway": "track"}, "voiture", False, False),
        ({"highway": "track", "motor_vehicle": "yes"}, "voiture", True, True),
        ({"highway": "trunk", "motorroad": "yes"}, "velo", False, False),
        ({"highway": "trunk", "motorroad": "yes"}, "voiture", True, True),
        ({"highway": "residential", "oneway": "reversible"}, "voiture", False, False),
        ({"highway": "service", "service": "emergency_access"}, "voiture", False, False),
        ({"highway": "pedestrian", "area": "yes"}, "marche", False, False),
        ({"highway": "construction"}, "marche", False, False),
    ],
)
def test_mode_rules(tags, mode, forward, backward):
    got = _rules_on(tags, mode)
    assert got[:2] == (forward, backward)


def test_speeds_follow_the_documented_formula():
    rules = NetworkRules()
    # posted limits: factor 0.8, and 0.75 more at or below 50 km/h
    assert _rules_on({"highway": "primary", "maxspeed": "90"}, "voiture")[2] == pytest.approx(72)
    assert _rules_on({"highway": "primary", "maxspeed": "50"}, "voiture")[2] == pytest.approx(30)
    # class default when no maxspeed, direction-specific limits
    assert _rules_on({"highway": "motorway"}, "voiture")[2] == pytest.approx(130 * 0.8)
    fwd, bwd = _rules_on(
        {"highway": "secondary", "maxspeed:forward": "30", "maxspeed": "70"}, "voiture"
    )[2:]
    assert (fwd, bwd) == (pytest.approx(30 * 0.8 * 0.75), pytest.approx(70 * 0.8))
    # source:maxspeed used when maxspeed is absent
    got = _rules_on({"highway": "tertiary", "source:maxspeed": "FR:urban"}, "voiture")[2]
    assert got == pytest.approx(30)
    # bike pushed in a pedestrian street, walking constant everywhere
    assert _rules_on({"highway": "pedestrian"}, "velo")[2] == rules.walk_kmh
    assert _rules_on({"highway": "cycleway"}, "velo")[2] == rules.bike_kmh
    assert _rules_on({"highway": "primary"}, "marche")[2] == rules.walk_kmh
    np.testing.assert_allclose(car_speed_kmh([50, 51], rules), [30, 51 * 0.8])


def test_rules_parameters_are_validated():
    with pytest.raises(ParameterError, match="compris entre 0"):
        NetworkRules(car_speed_factor=1.5)
    with pytest.raises(ParameterError, match="positif"):
        NetworkRules(walk_kmh=0)


def test_docs_table_matches_code():
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("<!-- debut-table-classes -->")[1].split("<!-- fin-table-classes -->")[0]
    rows = [r for r in table.splitlines() if r.startswith("| `")]
    parsed = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        parsed[cells[0].strip("`")] = cells[1:]
    assert list(parsed) == list(HIGHWAY_TABLE)
    bike = {"oui": "oui", "non": "non", "pied": "vélo poussé"}
    for key, rule in HIGHWAY_TABLE.items():
        walk, cycle, car, kmh, source = parsed[key]
        assert walk == ("oui" if rule.walk else "non"), key
        assert cycle == bike[rule.bike], key
        assert car == ("oui" if rule.car else "non"), key
        assert kmh == ("—" if rule.car_kmh is None else f"{rule.car_kmh:g}"), key
        assert source == rule.source, key


# ------------------------------------------------------------------------------------------
# PBF / XML
# ------------------------------------------------------------------------------------------


def test_networks_are_consistent(andorra, andorra_osm):
    nodes, _ = andorra_osm
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    geod = Geod(ellps="WGS84")
    for mode, net in andorra.items():
        assert net.mode == mode
        assert net.n_nodes > 1000 and net.n_edges > net.n_nodes
        assert net.node_id.dtype == np.int64 and len(np.unique(net.node_id)) == net.n_nodes
        assert (net.time_s > 0).all() and (net.length_m >= 0).all()
        assert net.tail.min() >= 0 and net.head.max() < net.n_nodes
        # every node has an edge
        assert len(np.unique(np.r_[net.tail, net.head])) == net.n_nodes
        assert "OpenStreetMap" in net.source and "andorra.osm.pbf" in net.source
        # node positions: Lambert-93 of the OSM coordinates
        sample = net.node_id[:: max(1, net.n_nodes // 50)]
        lon = np.array([nodes[i][0] for i in sample])
        lat = np.array([nodes[i][1] for i in sample])
        x, y = to_l93.transform(lon, lat)
        pos = np.searchsorted(net.node_id, sample) if np.all(np.diff(net.node_id) > 0) else None
        assert pos is not None  # nodes are sorted by OSM id
        np.testing.assert_allclose(net.x[pos], x, atol=1e-3)
        np.testing.assert_allclose(net.y[pos], y, atol=1e-3)
        # lengths: great circle, within 0.5 % of the WGS84 ellipsoid distance
        k = np.arange(0, net.n_edges, max(1, net.n_edges // 200))
        u, v = net.node_id[net.tail[k]], net.node_id[net.head[k]]
        lon1 = [nodes[i][0] for i in u]
        lat1 = [nodes[i][1] for i in u]
        lon2 = [nodes[i][0] for i in v]
        lat2 = [nodes[i][1] for i in v]
        _, _, ellipsoid = geod.inv(lon1, lat1, lon2, lat2)
        np.testing.assert_allclose(net.length_m[k], ellipsoid, rtol=5e-3, atol=1e-6)
    # the car network is a strict part of the walking network's nodes in Andorra
    assert andorra["voiture"].n_nodes < andorra["marche"].n_nodes


def test_one_way_streets_and_footways(andorra, andorra_osm):
    _, ways = andorra_osm
    segments = unique_segments(ways)
    car, walk, bike = (edge_set(andorra[m]) for m in ("voiture", "marche", "velo"))
    oneway = [
        (u, v)
        for (u, v), (_, t) in segments.items()
        if t.get("oneway") == "yes"
        and t["highway"] in ("primary", "secondary", "residential", "tertiary", "unclassified")
        and not set(t)
        & {"access", "motor_vehicle", "motorcar", "vehicle", "oneway:bicycle", "cycleway", "area"}
    ]
    assert len(oneway) > 50
    for u, v in oneway:
        assert (u, v) in car and (v, u) not in car
        assert (u, v) in walk and (v, u) in walk
        assert (u, v) in bike and (v, u) not in bike
    footway = [
        (u, v)
        for (u, v), (_, t) in segments.items()
        if t["highway"] == "footway"
        and not set(t) & {"bicycle", "foot", "access", "area", "motor_vehicle"}
    ]
    assert len(footway) > 10
    for u, v in footway:
        assert (u, v) not in car and (v, u) not in car
        assert (u, v) not in bike and (v, u) not in bike
        assert (u, v) in walk and (v, u) in walk


def test_walking_network_is_symmetric(andorra):
    walk = edge_set(andorra["marche"])
    assert walk == {(v, u) for u, v in walk}


def test_pbf_and_xml_give_the_same_network(tmp_path, andorra):
    xml = tmp_path / "andorra.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(PBF)):
            writer.add(obj)
    from_xml = load_networks(xml, MODES, cache=False, progress=False)
    for mode in MODES:
        assert_same_network(from_xml[mode], andorra[mode])


def test_xml_gz_bz2_and_pbf_of_monaco_agree(tmp_path):
    pbf, bz2 = tmp_path / "monaco.osm.pbf", tmp_path / "monaco.osm.bz2"
    for target in (pbf, bz2):
        with osmium.SimpleWriter(str(target)) as writer:
            for obj in osmium.FileProcessor(str(MONACO)):
                writer.add(obj)
    ref = load_networks(MONACO, MODES, cache=False, progress=False)
    for other in (pbf, bz2):
        nets = load_networks(other, MODES, cache=False, progress=False)
        for mode in MODES:
            assert_same_network(nets[mode], ref[mode])


def test_ways_with_missing_nodes_keep_their_complete_segments(tmp_path):
    # an extract cut without complete ways: some nodes of the ways are not in the file
    cut = tmp_path / "monaco-incomplet.osm"
    with osmium.SimpleWriter(str(cut)) as writer:
        for obj in osmium.FileProcessor(str(MONACO), osmium.osm.NODE | osmium.osm.WAY):
            if not (obj.is_node() and obj.id % 7 == 0):
                writer.add(obj)
    net = load_network(cut, "marche", cache=False, progress=False)
    full = load_network(MONACO, "marche", cache=False, progress=False)
    assert 0 < net.n_edges < full.n_edges
    assert not (net.node_id % 7 == 0).any()
    assert edge_set(net) <= edge_set(full)


def test_travel_times_match_a_plain_networkx_build(monaco_osm):
    """Oracle: the vectorised build gives the same shortest times as a per-segment networkx
    graph made from the same ways and the same rules."""
    import networkx as nx
    from scipy.sparse.csgraph import dijkstra

    nodes, ways = monaco_osm
    tags = pd.DataFrame.from_records([t for _, _, t in ways])

    def great_circle(a, b):
        (lon1, lat1, _), (lon2, lat2, _) = nodes[a], nodes[b]
        p1, p2 = math.radians(lat1), math.radians(lat2)
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
        )
        return 2 * 6_371_009 * math.asin(math.sqrt(h))

    for mode in MODES:
        acc = evaluate_ways(tags, mode)
        graph = nx.DiGraph()
        for i, (_, refs, _) in enumerate(ways):
            for u, v in zip(refs[:-1], refs[1:], strict=True):
                if u == v:
                    continue
                length = great_circle(u, v)
                for ok, a, b, kmh in (
                    (acc.forward[i], u, v, acc.forward_kmh[i]),
                    (acc.backward[i], v, u, acc.backward_kmh[i]),
                ):
                    if ok:
                        t = max(length / (kmh / 3.6), 0.01)
                        if not graph.has_edge(a, b) or graph[a][b]["t"] > t:
                            graph.add_edge(a, b, t=t)
        net = load_network(MONACO, mode, cache=False, progress=False)
        assert set(graph.nodes) == set(net.node_id.tolist())
        assert graph.number_of_edges() == net.to_csr().nnz
        sources = net.node_id[:: max(1, net.n_nodes // 5)][:5]
        times = dijkstra(net.to_csr(), indices=np.searchsorted(net.node_id, sources))
        for row, src in zip(times, sources, strict=True):
            oracle = nx.single_source_dijkstra_path_length(graph, int(src), weight="t")
            reached = np.isfinite(row)
            assert reached.sum() == len(oracle)
            got = dict(zip(net.node_id[reached].tolist(), row[reached], strict=True))
            assert got.keys() == oracle.keys()
            np.testing.assert_allclose([got[k] for k in oracle], list(oracle.values()), rtol=1e-9)


def test_load_network_single_mode_and_alias():
    net = load_network(MONACO, "walk", cache=False, progress=False)
    assert net.mode == "marche"
    assert net.meta["format"] == "osm.gz"


# ------------------------------------------------------------------------------------------
# GraphML
# ------------------------------------------------------------------------------------------


def test_graphml_applies_the_rules_to_edge_attributes():
    import osmnx as ox

    graph = ox.load_graphml(GRAPHML)
    # A simplified OSMnx graph carrying access tags: the tool says the tags may be wrong.
    with pytest.warns(UserWarning, match="simplifié par OSMnx"):
        nets = load_networks(GRAPHML, MODES, cache=False, progress=False)
    car, walk = edge_set(nets["voiture"]), edge_set(nets["marche"])
    assert walk == {(v, u) for u, v in walk}
    pairs = Counter((u, v) for u, v in graph.edges())
    footways = [
        (u, v, d.get("access"))
        for u, v, d in graph.edges(data=True)
        if d.get("highway") == "footway" and pairs[(u, v)] == 1
    ]
    assert len(footways) > 50
    assert not any((u, v) in car for u, v, _ in footways)
    assert all(((u, v) in walk) == (access != "no") for u, v, access in footways)
    assert any(access == "no" for _, _, access in footways)  # access=no closes them
    oneway = [
        (u, v)
        for u, v, d in graph.edges(data=True)
        if d.get("oneway") is True
        and d.get("highway") == "residential"
        and not graph.has_edge(v, u)
    ]
    assert len(oneway) > 5
    for u, v in oneway:
        assert (u, v) in car and (v, u) not in car and (v, u) in walk
    # lengths are OSMnx's own
    lengths = {(u, v): d["length"] for u, v, d in graph.edges(data=True) if pairs[(u, v)] == 1}
    net = nets["voiture"]
    for t, h, length in zip(
        net.node_id[net.tail], net.node_id[net.head], net.length_m, strict=True
    ):
        if (t, h) in lengths:
            assert length == pytest.approx(lengths[(t, h)])
    assert "GraphML" in net.meta["limitations"]


def test_gzip_compressed_graphml_reads_as_the_graphml(tmp_path):
    """A ``.graphml.gz`` (the real Maisons-Laffitte OSMnx export, gzip as shipped) gives the
    networks of the same file decompressed; a truncated one, a French error."""
    import gzip
    import warnings

    source = DATA / "maisons-laffitte.graphml.gz"
    plain = tmp_path / "maisons-laffitte.graphml"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # simplified with access tags: warned
        packed = load_networks(source, MODES, cache=False, progress=False)
        unpacked = load_networks(plain, MODES, cache=False, progress=False)
    for mode in MODES:
        a, b = packed[mode], unpacked[mode]
        assert a.n_nodes > 500 and a.meta["format"] == "graphml"
        assert edge_set(a) == edge_set(b)
        np.testing.assert_array_equal(a.node_id, b.node_id)
        np.testing.assert_array_equal(a.length_m, b.length_m)
        np.testing.assert_array_equal(a.time_s, b.time_s)
        assert "GraphML" in a.meta["limitations"]
    truncated = tmp_path / "tronque.graphml.gz"
    truncated.write_bytes(source.read_bytes()[:20_000])
    with pytest.raises(DataError, match="Impossible de lire le fichier GraphML « tronque"):
        load_network(truncated, "voiture", cache=False, progress=False)


# ------------------------------------------------------------------------------------------
# clipping to a territory
# ------------------------------------------------------------------------------------------


def test_polygon_clips_with_neighbours(andorra):
    # Andorra la Vella and Escaldes-Engordany, as a box in WGS84
    territory = box(1.51, 42.50, 1.55, 42.52)
    net = load_network(PBF, "voiture", polygon=territory, margin_m=0, cache=False, progress=False)
    full = andorra["voiture"]
    assert 0 < net.n_nodes < full.n_nodes
    assert set(net.node_id) <= set(full.node_id)
    to_wgs = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(net.x, net.y)
    inside = shapely.intersects_xy(territory, lon, lat)
    assert inside.sum() > 100
    # every node outside is the neighbour of a node inside
    touching = inside[net.tail] | inside[net.head]
    near = np.zeros(net.n_nodes, dtype=bool)
    near[net.tail[touching]] = True
    near[net.head[touching]] = True
    assert (inside | near).all()
    # every edge of the full network between two inside nodes is kept
    full_lon, full_lat = to_wgs.transform(full.x, full.y)
    full_inside = shapely.intersects_xy(territory, full_lon, full_lat)
    both = full_inside[full.tail] & full_inside[full.head]
    kept = edge_set(net)
    assert all(
        (a, b) in kept
        for a, b in zip(full.node_id[full.tail[both]], full.node_id[full.head[both]], strict=True)
    )
    # a margin widens the network; a GeoDataFrame in Lambert-93 is accepted
    import geopandas as gpd

    frame = gpd.GeoDataFrame(geometry=[territory], crs="EPSG:4326").to_crs("EPSG:2154")
    wider = load_network(PBF, "voiture", polygon=frame, margin_m=1000, cache=False, progress=False)
    assert wider.n_nodes > net.n_nodes
    assert wider.meta["margin_m"] == 1000


def test_invalid_inputs_raise_french_errors(tmp_path):
    with pytest.raises(ParameterError, match="Format de fichier non reconnu"):
        load_network(tmp_path / "reseau.shp", "voiture")
    with pytest.raises(DataError, match="introuvable"):
        load_network(tmp_path / "absent.osm.pbf", "voiture")
    with pytest.raises(ParameterError, match="Mode de déplacement inconnu"):
        load_network(PBF, "avion", cache=False)
    with pytest.raises(ParameterError, match="WGS84"):
        load_network(
            PBF, "voiture", polygon=box(700_000, 7_000_000, 710_000, 7_010_000), cache=False
        )
    with pytest.raises(ParameterError, match="marge"):
        load_network(PBF, "voiture", polygon=box(1.5, 42.5, 1.55, 42.52), margin_m=-1, cache=False)
    broken = tmp_path / "tronque.osm.pbf"
    broken.write_bytes(PBF.read_bytes()[:1000])
    with pytest.raises(DataError):
        load_network(broken, "voiture", cache=False, progress=False)
    far = box(1.0, 42.0, 1.01, 42.01)  # no Andorran way there
    with pytest.raises(DataError, match="Aucune voie utilisable"):
        load_network(PBF, "voiture", polygon=far, margin_m=0, cache=False, progress=False)


# ------------------------------------------------------------------------------------------
# cache
# ------------------------------------------------------------------------------------------


def test_cache_hit_corruption_and_parameter_change(tmp_path):
    cache_root = tmp_path / "cache"
    first = load_network(MONACO, "voiture", cache_dir=cache_root, progress=False)
    assert first.meta["from_cache"] is False
    files = sorted((cache_root / "reseaux").glob("voiture-*.npz"))
    assert len(files) == 1
    npz = files[0]
    mtime = npz.stat().st_mtime_ns

    hit = load_network(MONACO, "voiture", cache_dir=cache_root, progress=False)
    assert hit.meta["from_cache"] is True
    assert npz.stat().st_mtime_ns == mtime
    assert_same_network(hit, first)

    # truncated cache file: warning in French, rebuilt and rewritten
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    with pytest.warns(RuntimeWarning, match="illisible"):
        rebuilt = load_network(MONACO, "voiture", cache_dir=cache_root, progress=False)
    assert rebuilt.meta["from_cache"] is False
    assert_same_network(rebuilt, first)
    assert (
        load_network(MONACO, "voiture", cache_dir=cache_root, progress=False).meta["from_cache"]
        is True
    )

    # corrupt metadata: same
    meta_file = npz.with_suffix(".json")
    meta_file.write_text("{pas du json", encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="illisible"):
        again = load_network(MONACO, "voiture", cache_dir=cache_root, progress=False)
    assert again.meta["from_cache"] is False
    json.loads(meta_file.read_text(encoding="utf-8"))

    # a valid npz with the wrong arrays (e.g. written by another version): rebuilt
    np.savez(npz, node_id=np.arange(3))
    with pytest.warns(RuntimeWarning, match="illisible"):
        assert (
            load_network(MONACO, "voiture", cache_dir=cache_root, progress=False).meta["from_cache"]
            is False
        )

    # another parameter: another key, a new build next to the old one
    slower = load_network(
        MONACO,
        "voiture",
        cache_dir=cache_root,
        progress=False,
        rules=NetworkRules(car_urban_slowdown=0.5),
    )
    assert slower.meta["from_cache"] is False
    assert len(list((cache_root / "reseaux").glob("voiture-*.npz"))) == 2
    assert slower.time_s.sum() > first.time_s.sum()
    # a territory is cut from the same cache file (no polygon in the key), same as a fresh build
    clipped = load_network(
        MONACO, "voiture", cache_dir=cache_root, progress=False, polygon=MONACO_BOX, margin_m=0
    )
    assert clipped.meta["from_cache"] is True and clipped.n_nodes < first.n_nodes
    assert len(list((cache_root / "reseaux").glob("voiture-*.npz"))) == 2
    fresh = load_network(
        MONACO, "voiture", cache=False, progress=False, polygon=MONACO_BOX, margin_m=0
    )
    assert_same_network(clipped, fresh)


def test_cache_follows_the_file_content(tmp_path, monaco_osm):
    cache_root = tmp_path / "cache"
    path = tmp_path / "extrait.osm.bz2"
    with osmium.SimpleWriter(str(path)) as writer:
        for obj in osmium.FileProcessor(str(MONACO)):
            writer.add(obj)
    whole = load_network(path, "marche", cache_dir=cache_root, progress=False)
    assert whole.meta["from_cache"] is False
    # the same bytes under another name: the key is the content, so a cache hit
    shutil.copy(path, tmp_path / "copie.osm.bz2")
    copy = load_network(tmp_path / "copie.osm.bz2", "marche", cache_dir=cache_root, progress=False)
    assert copy.meta["from_cache"] is True
    # the file is replaced by a trimmed extract of the same real data: rebuilt
    _, ways = monaco_osm
    keep = {w[0] for w in ways[: len(ways) // 2]}
    path.unlink()
    with osmium.SimpleWriter(str(path)) as writer:
        for obj in osmium.FileProcessor(str(MONACO), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node() or obj.id in keep:
                writer.add(obj)
    trimmed = load_network(path, "marche", cache_dir=cache_root, progress=False)
    assert trimmed.meta["from_cache"] is False
    assert trimmed.n_edges < whole.n_edges


def test_several_modes_share_one_parse_and_cache_each(tmp_path):
    cache_root = tmp_path / "cache"
    load_networks(MONACO, ["voiture"], cache_dir=cache_root, progress=False)
    nets = load_networks(MONACO, MODES, cache_dir=cache_root, progress=False)
    assert [nets[m].meta["from_cache"] for m in MODES] == [False, False, True]
    assert len(list((cache_root / "reseaux").glob("*.npz"))) == 3


# ------------------------------------------------------------------------------------------
# download through a local fake Overpass server
# ------------------------------------------------------------------------------------------

# Real /status text of overpass-api.de (shared/formats/04_overpass_json_osmnx.md).
STATUS_TEXT = (
    "Connected as: 843828827\n"
    "Current time: 2026-10-04T12:18:14Z\n"
    "Announced endpoint: gall.openstreetmap.de/\n"
    "Rate limit: 2\n"
    "2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)


class FakeOverpass:
    """Answers Overpass ``way[filters](poly:'…');>;);out;`` queries from real OSM data."""

    def __init__(self, nodes, ways):
        self.nodes = nodes
        self.ways = ways
        self.queries: list[str] = []
        self.failure: str | None = None  # "remark" (server timeout) or "http400"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, query: str) -> dict:
        poly_match = re.search(r"poly:'([^']*)'", query)
        numbers = [float(t) for t in poly_match.group(1).split()]
        polygon = Polygon(list(zip(numbers[1::2], numbers[0::2], strict=True)))
        highway = re.search(r'\["highway"~"([^"]*)"\]', query).group(1)
        no_area = '["area"!~"yes"]' in query
        selected, used = [], set()
        for way_id, refs, tags in self.ways:
            if not re.search(highway, tags.get("highway", "")):
                continue
            if no_area and re.search("yes", tags.get("area", "")):
                continue
            lon = [self.nodes[r][0] for r in refs]
            lat = [self.nodes[r][1] for r in refs]
            if shapely.intersects_xy(polygon, lon, lat).any():
                selected.append({"type": "way", "id": way_id, "nodes": refs, "tags": tags})
                used.update(refs)
        elements = []
        for node_id in sorted(used):
            lon, lat, tags = self.nodes[node_id]
            element = {"type": "node", "id": node_id, "lat": lat, "lon": lon}
            if tags:
                element["tags"] = tags
            elements.append(element)
        elements.extend(sorted(selected, key=lambda e: e["id"]))
        return {
            "version": 0.6,
            "generator": "Overpass API 0.7.62.1 084b4234",
            "osm3s": {
                "timestamp_osm_base": "2024-07-07T08:48:16Z",
                "copyright": "The data included in this document is from "
                "www.openstreetmap.org. The data is made available under ODbL.",
            },
            "elements": elements,
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _send(self, body: bytes, content_type: str, status: int = 200):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/") == "/api/status":
                    self._send(STATUS_TEXT.encode(), "text/plain")
                else:
                    self._send(b"not found", "text/plain", 404)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                query = form["data"][0]
                fake.queries.append(query)
                if fake.failure == "http400":
                    self._send(b"<p>Error: line 1: parse error</p>", "text/html", 400)
                    return
                answer = fake.answer(query)
                if fake.failure == "remark":  # how Overpass reports a timeout (HTTP 200)
                    answer["elements"] = []
                    answer["remark"] = (
                        'runtime error: Query timed out in "query" at line 1 after 181 seconds.'
                    )
                self._send(json.dumps(answer).encode(), "application/json")

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def overpass(monaco_osm):
    nodes, ways = monaco_osm
    with FakeOverpass(nodes, ways) as server:
        yield server


def test_download_matches_the_same_data_read_from_file(overpass, tmp_path):
    before = len(overpass.queries)
    nets = download_networks(
        MONACO_BOX, MODES, margin_m=0, overpass_url=overpass.url, cache_dir=tmp_path, progress=False
    )
    assert len(overpass.queries) == before + 1  # one query for all modes
    import osmnx as ox

    assert ox.settings.all_oneway is False  # OSMnx settings are restored
    query = overpass.queries[-1]
    assert query.startswith("[out:json]") and "(poly:'" in query and query.endswith("out;")
    from_file = load_networks(
        MONACO, MODES, polygon=MONACO_BOX, margin_m=0, cache=False, progress=False
    )
    for mode in MODES:
        assert nets[mode].n_nodes > 300
        assert_same_network(nets[mode], from_file[mode])
        assert "Overpass" in nets[mode].source
        assert nets[mode].meta["from_cache"] is False
    # second call: served from the cache, no new query
    again = download_network(
        MONACO_BOX, "car", margin_m=0, overpass_url=overpass.url, cache_dir=tmp_path, progress=False
    )
    assert again.meta["from_cache"] is True
    assert len(overpass.queries) == before + 1
    assert_same_network(again, nets["voiture"])


def test_download_with_margins_per_mode(overpass):
    small = box(7.418, 43.730, 7.422, 43.733)
    nets = download_networks(
        small,
        ["marche", "voiture"],
        margin_m=None,
        overpass_url=overpass.url,
        cache=False,
        progress=False,
    )
    # margins (2 km walking, 10 km driving) reach the whole of Monaco in the fixture
    assert nets["voiture"].meta["margin_m"] == 10_000
    from_file = load_networks(
        MONACO, ["marche", "voiture"], polygon=small, cache=False, progress=False
    )
    for mode in ("marche", "voiture"):
        assert_same_network(nets[mode], from_file[mode])


@pytest.mark.parametrize(
    ("failure", "error", "words"),
    [
        ("remark", DataError, "aucune voie"),
        ("http400", NetworkUnavailableError, "a répondu par une erreur"),
    ],
)
def test_download_server_errors_are_explained_in_french(overpass, failure, error, words):
    overpass.failure = failure
    try:
        with pytest.raises(error, match=words):
            download_network(
                MONACO_BOX,
                "voiture",
                margin_m=0,
                overpass_url=overpass.url,
                cache=False,
                progress=False,
            )
    finally:
        overpass.failure = None


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def test_offline_raises_a_french_network_error(tmp_path):
    url = _closed_port_url()
    with pytest.raises(NetworkUnavailableError, match="Impossible de joindre le service Overpass"):
        check_overpass(url, timeout=2)
    with pytest.raises(NetworkUnavailableError) as err:
        download_network(
            MONACO_BOX, "voiture", overpass_url=url, cache_dir=tmp_path, progress=False
        )
    message = str(err.value)
    assert "connexion Internet" in message and ".osm.pbf" in message and "vol d'oiseau" in message


def test_download_refuses_areas_larger_than_an_epci():
    # 0.6° × 0.4° around Lille: about 1,950 km², more than MAX_DOWNLOAD_AREA_KM2
    too_big = box(2.8, 50.4, 3.4, 50.8)
    with pytest.raises(ParameterError, match="Geofabrik") as err:
        download_network(too_big, "voiture", overpass_url=_closed_port_url(), progress=False)
    assert f"{MAX_DOWNLOAD_AREA_KM2:,.0f}".replace(",", "\u202f") in str(err.value)
    assert ".osm.pbf" in str(err.value)
