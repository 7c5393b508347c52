"""Many-to-many queries on a contraction hierarchy (bucket algorithm) against networkx.

The oracle is networkx's single-source Dijkstra from each source on the same weighted graph
(synthetic hypothesis graphs, the real OSM car network of Saint-Germain-en-Laye).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine import TOL_S, load_fixture, nx_graph, random_problem

from zonesblanches.coverage.hierarchy import ContractionHierarchy
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.network import RoadNetwork


def oracle_pairs(g, sources, targets, limits) -> dict[tuple[int, int], float]:
    """(source position, target position) → shortest time, for the pairs within the limit."""
    out = {}
    for i, s in enumerate(sources):
        lengths = nx.single_source_dijkstra_path_length(g, int(s), weight="w")
        for j, t in enumerate(targets):
            d = lengths.get(int(t))
            if d is not None and d <= limits[i]:
                out[(i, j)] = d
    return out


def assert_pairs_match(hierarchy, g, sources, targets, limits, **kwargs):
    i, j, secs = hierarchy.pairs(sources, targets, limits, **kwargs)
    got = {(int(a), int(b)): float(s) for a, b, s in zip(i, j, secs, strict=True)}
    assert len(got) == len(i), "a pair is reported twice"
    expected = oracle_pairs(g, sources, targets, limits)
    # A pair within float rounding of its limit may fall either side.
    near = {
        k
        for k in set(got) ^ set(expected)
        if abs(got.get(k, expected.get(k)) - limits[k[0]]) < 1e-6
    }
    assert set(got) - near == set(expected) - near
    for k, d in expected.items():
        if k in got:
            assert got[k] == pytest.approx(d, abs=TOL_S)
    assert np.all(secs <= np.asarray(limits)[i])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    problem=random_problem(),
    reverse=st.booleans(),
    data=st.data(),
    max_entries=st.sampled_from([1, 5, 1 << 20]),
    core=st.sampled_from([(0, np.inf), (3, np.inf), (0, 1.2), (1 << 20, np.inf)]),
    rounds=st.booleans(),
)
def test_pairs_on_random_graphs_match_networkx(problem, reverse, data, max_entries, core, rounds):
    """Any sources and targets (repeats, the same node on both sides), any limits (none, zero,
    per source), the buckets emptied after every target or never, and any core left
    uncontracted (none, a few nodes, the dense end, every node), contracted by rounds or one
    node at a time."""
    n, tail, head, time_s, _, _ = problem
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)
    hierarchy = ContractionHierarchy.from_network(
        net, reverse=reverse, settle_real=3, core_nodes=core[0], core_degree=core[1],
        rounds=rounds,
    )  # fmt: skip
    nodes = st.lists(st.integers(0, n - 1), max_size=8)
    sources, targets = data.draw(nodes), data.draw(nodes)
    limit = st.one_of(st.just(np.inf), st.just(0.0), st.floats(0, 3000))
    limits = data.draw(st.lists(limit, min_size=len(sources), max_size=len(sources)))
    g = nx_graph(tail, head, time_s, n, reverse=reverse)
    assert_pairs_match(
        hierarchy, g, np.array(sources, int), np.array(targets, int), np.array(limits),
        max_entries=max_entries,
    )  # fmt: skip


def test_pairs_on_a_real_car_network_match_networkx():
    car = load_fixture("saint-germain-en-laye", "voiture")
    rng = np.random.default_rng(21)
    sources = rng.choice(car.n_nodes, 25, replace=False)
    targets = rng.choice(car.n_nodes, 300, replace=False)
    targets[:3] = sources[:3]  # a site on a unit's own node: 0 s
    limits = rng.uniform(60, 400, len(sources))
    limits[0] = np.inf
    hierarchy = ContractionHierarchy.from_network(car)
    g = nx_graph(car.tail, car.head, car.time_s, car.n_nodes, reverse=True)
    assert_pairs_match(hierarchy, g, sources, targets, limits)
    # A large core (a tenth of the nodes, searched by Dijkstra) gives the same pairs.
    cored = ContractionHierarchy.from_network(car, core_nodes=car.n_nodes // 10)
    assert cored.n_core == car.n_nodes // 10
    assert_pairs_match(cored, g, sources, targets, limits)
    # Batches of targets (small bucket memory) give the same pairs.
    whole = hierarchy.pairs(sources, targets, limits)
    batched = hierarchy.pairs(sources, targets, limits, max_entries=500)
    key = [np.lexsort((r[1], r[0])) for r in (whole, batched)]
    for a, b in zip(whole, batched, strict=True):
        np.testing.assert_array_equal(a[key[0]], b[key[1]])


def test_pairs_reject_nodes_outside_the_network():
    net = RoadNetwork("voiture", np.arange(2), np.zeros(2), np.zeros(2), [0], [1], [1.0], [1.0])
    hierarchy = ContractionHierarchy.from_network(net)
    with pytest.raises(ParameterError, match="hors du réseau"):
        hierarchy.pairs([0], [5], 10.0)
    i, j, secs = hierarchy.pairs([], [0, 1], 10.0)
    assert len(i) == len(j) == len(secs) == 0
