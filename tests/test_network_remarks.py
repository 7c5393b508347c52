"""The ``remarque_<mode>`` column on a real walking network: every category's flags reach it.

The remark of a unit once held only the flags of the last category analysed: a garage
solidaire 1 km from the network (its walking leg counted in a straight line, the time inflated)
left no trace when the unit's nearest atelier vélo was on the network. The expected remarks are
derived independently: brute-force snapping to the largest strongly connected component, and
networkx for which service is nearest.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import points
from test_engine import _brute_snap, _largest_scc_nodes, load_fixture, nx_graph, oracle

from zonesblanches.coverage.analysis import compute_coverage
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.crs import LAMBERT93
from zonesblanches.modes import MODES

MAX_SNAP_M = 150.0


@pytest.fixture(scope="module")
def walk():
    return load_fixture("maisons-laffitte", "marche")


def _nearest_by_oracle(net, scc, g, services_xy, homes_xy) -> np.ndarray:
    """Position of each home's nearest service: networkx from each service in turn."""
    walk_ms = MODES["marche"].speed_kmh / 3.6
    s_node, s_dist = _brute_snap(net, scc, services_xy)
    h_node, h_dist = _brute_snap(net, scc, homes_xy)
    times = np.column_stack(
        [
            h_dist / walk_ms + oracle(g, net.n_nodes, [s_node[k]], [s_dist[k] / walk_ms])[h_node]
            for k in range(len(services_xy))
        ]
    )
    return times.argmin(axis=1)


def test_every_category_flags_reach_the_remark(walk):
    rng = np.random.default_rng(11)
    lo = np.array([walk.x.min(), walk.y.min()])
    hi = np.array([walk.x.max(), walk.y.max()])
    homes_xy = rng.uniform(lo, hi, size=(40, 2))
    # one garage 800 m east of the town's last street; three ateliers in the town
    garage_xy = np.array([[hi[0] + 800.0, (lo[1] + hi[1]) / 2]])
    ateliers_xy = rng.uniform(lo, hi, size=(3, 2))
    services = gpd.GeoDataFrame(
        {
            "service_id": ["G1", "A1", "A2", "A3"],
            "categorie": ["garage_solidaire"] + ["atelier_velo"] * 3,
        },
        geometry=points(np.vstack([garage_xy, ateliers_xy])),
        crs=LAMBERT93,
    )
    demand = gpd.GeoDataFrame(
        {"population": np.full(len(homes_xy), 100.0)}, geometry=points(homes_xy), crs=LAMBERT93
    )
    model = NetworkModel(walk, max_snap_m=MAX_SNAP_M)
    res = compute_coverage(demand, services, {"marche": 30}, models={"marche": model})
    remarks = res.units["remarque_marche"].to_numpy(dtype=object)

    scc = _largest_scc_nodes(walk)
    _, garage_dist = _brute_snap(walk, scc, garage_xy)
    _, atelier_dist = _brute_snap(walk, scc, ateliers_xy)
    _, home_dist = _brute_snap(walk, scc, homes_xy)
    assert garage_dist[0] > MAX_SNAP_M
    g = nx_graph(walk.tail, walk.head, walk.time_s, walk.n_nodes, reverse=True)
    atelier_far = atelier_dist[_nearest_by_oracle(walk, scc, g, ateliers_xy, homes_xy)] > MAX_SNAP_M
    home_far = home_dist > MAX_SNAP_M
    # the case the last category alone hid: atelier fine, home on the network
    assert (~atelier_far & ~home_far).any()
    garage_note = f"Destination la plus proche à {garage_dist[0]:.0f} m du réseau routier"
    for j, remark in enumerate(remarks):
        # the garage's far leg is said for every home, and said to be the garage's
        assert "Garage solidaire" in remark and garage_note in remark, (j, remark)
        # the atelier is named only where its own query flagged something
        assert ("Atelier vélo" in remark) == bool(atelier_far[j] or home_far[j]), (j, remark)
        assert ("trajet jusqu'au réseau compté à pied" in remark) == bool(home_far[j]), (j, remark)


def test_a_flag_common_to_every_category_is_kept_as_it_is(walk):
    # services on the network, one home 5 km out of town: the same flag from both queries,
    # written once and without a category in front of it (as before)
    hi = np.array([walk.x.max(), walk.y.max()])
    scc = _largest_scc_nodes(walk)[:2]
    on_network = np.column_stack([walk.x[scc], walk.y[scc]])
    services = gpd.GeoDataFrame(
        {"service_id": ["G1", "A1"], "categorie": ["garage_solidaire", "atelier_velo"]},
        geometry=points(on_network),
        crs=LAMBERT93,
    )
    demand = gpd.GeoDataFrame(
        {"population": [100.0]}, geometry=points([[hi[0] + 5000.0, hi[1]]]), crs=LAMBERT93
    )
    model = NetworkModel(walk, max_snap_m=MAX_SNAP_M)
    alone = model.nearest(demand.geometry, services.geometry[:1]).flags[0]
    res = compute_coverage(demand, services, {"marche": 30}, models={"marche": model})
    assert res.units["remarque_marche"].iloc[0] == alone
    assert alone.startswith("À ") and "Garage" not in alone


@pytest.fixture(scope="module")
def far_garage(walk):
    """Three homes on the network; the garage 800 m east of the network's box (its leg walked
    in a straight line beyond the limit), the atelier on the network. ``(result, distance of
    the garage to the network by brute force)``."""
    lo = np.array([walk.x.min(), walk.y.min()])
    hi = np.array([walk.x.max(), walk.y.max()])
    scc = _largest_scc_nodes(walk)
    home_xy = np.column_stack([walk.x[scc[:3]], walk.y[scc[:3]]])  # on the network
    garage_xy = np.array([[hi[0] + 800.0, (lo[1] + hi[1]) / 2]])
    atelier_xy = np.column_stack([walk.x[scc[-1:]], walk.y[scc[-1:]]])
    services = gpd.GeoDataFrame(
        {
            "service_id": ["G1", "A1"],
            "categorie": ["garage_solidaire", "atelier_velo"],
            "nom": ["Garage", "Atelier"],
            "commune": ["Maisons-Laffitte", "Maisons-Laffitte"],
        },
        geometry=points(np.vstack([garage_xy, atelier_xy])),
        crs=LAMBERT93,
    )
    demand = gpd.GeoDataFrame(
        {"population": [300.0, 200.0, 100.0], "nom": ["A", "B", "C"], "unit_id": ["a", "b", "c"]},
        geometry=points(home_xy),
        crs=LAMBERT93,
    )
    model = NetworkModel(walk, max_snap_m=MAX_SNAP_M)
    res = compute_coverage(
        demand, services, {"marche": 1}, models={"marche": model}, unit_kind="carreau"
    )
    _, garage_dist = _brute_snap(walk, scc, garage_xy)
    return res, garage_dist[0]


def test_report_marks_and_explains_the_far_legs(far_garage):
    """The report's tables mark « ⚠ » the times whose trip leaves the network for more than
    the limit, with the distance, category by category; the reliability box counts them."""
    from zonesblanches.maps import findings
    from zonesblanches.maps.report import _top_table

    res, garage_dist = far_garage
    far = f"service le plus proche à {garage_dist:.0f} m du réseau"
    top, note = _top_table(res, "garage_solidaire", "marche", 10)
    assert all(t.endswith(" ⚠") for t in top["temps"]), list(top["temps"])
    assert note.count(far) == 3 and "ligne droite" in note, note
    # the ateliers are on the network: nothing to mark
    top, note = _top_table(res, "atelier_velo", "marche", 10)
    assert not any("⚠" in t for t in top["temps"]) and note == ""
    box = " ".join(findings.reliability(res, example_registry=False))
    expected = "3 carreaux sur 3 dont le point ou le service le plus proche est à plus de 150 m"
    assert expected in box, box


def test_map_popups_explain_the_far_legs(far_garage):
    """The interactive map says it too: each unit's popup data index the note of its
    garage's leg (« service le plus proche à … m du réseau »), none for the ateliers; a map
    without such a leg has neither the notes nor their label (its bytes unchanged)."""
    import json
    import re
    from dataclasses import replace

    from zonesblanches.geodata import reference
    from zonesblanches.maps import coverage_map, render_map

    res, garage_dist = far_garage
    communes = reference.load_communes(None)
    communes = communes[communes["code_insee"] == "78358"]  # Maisons-Laffitte

    def data(result):
        page = render_map(coverage_map(result, communes))
        found = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
        return json.loads(found.group(1))

    payload = data(res)
    far = f"service le plus proche à {garage_dist:.0f} m du réseau"
    assert payload["off_network"] == [far]
    assert payload["text"]["off_network"] == "Hors du réseau routier"
    specs = [(x["categorie"], x["mode"]) for x in payload["layers"]]
    garage = specs.index(("garage_solidaire", "marche"))
    atelier = specs.index(("atelier_velo", "marche"))
    units = payload["units"]["features"]
    assert len(units) == 3
    for unit in units:
        assert unit["properties"]["w"][garage] == 0
        assert unit["properties"]["w"][atelier] == -1
    plain = data(replace(res, units=res.units.drop(columns="remarque_marche")))
    assert "off_network" not in plain and "off_network" not in plain["text"]
    assert not any("w" in u["properties"] for u in plain["units"]["features"])
