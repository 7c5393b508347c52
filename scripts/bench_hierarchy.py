"""Contraction hierarchy: when does it pay? Break-even of the hierarchy against Dijkstra.

For each network (real OSM fixtures of the tests; optionally a regional extract, e.g. the
synthetic one of ``scripts/make_region_pbf.py``; optionally a synthetic grid), in one run:

- the preprocessing (processor time, summed over threads, is less sensitive to the other
  processes of a shared machine; wall time too, the contraction by rounds being parallel), its
  rise of resident memory, and its cost in full Dijkstra passes on the same matrix, beside the
  cost the automatic choice of :class:`~zonesblanches.coverage.network.NetworkModel` predicts
  (:func:`~zonesblanches.coverage.hierarchy.build_cost`, from the network's size and density);
- nearest-service queries (diagnostic, scenario): PHAST against one multi-source Dijkstra, and
  the number of queries from which building the hierarchy pays;
- reach (suggerer: many candidate sites × many demand units within a threshold): the
  many-to-many bucket query against one bounded Dijkstra per candidate, the fixed cost of a
  bounded search (searches bounded at 0 s), the number of candidates from which the hierarchy
  pays (measured), and the one the automatic rule predicts
  (:func:`~zonesblanches.coverage.hierarchy.reach_break_even`), with their ratio.

Every ratio compares two methods measured in the same run on the same machine.

Usage::

    python scripts/bench_hierarchy.py [--region-pbf FILE] [--grille 250 500 1000] [--minutes 20]
        [--comparer]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_engine import build_hierarchy, graphml_network, grid_network  # noqa: E402

from zonesblanches.coverage.graph import multi_source_times, prepare_graph  # noqa: E402
from zonesblanches.coverage.hierarchy import (  # noqa: E402
    ContractionHierarchy,
    build_cost,
    dijkstra_fixed,
    nearest_break_even,
    reach_break_even,
)

OSM = ROOT / "tests" / "data" / "osm"


def cpu(fn, repeat: int = 3) -> tuple[float, object]:
    """Median processor time of ``fn()`` and its last result."""
    times, out = [], None
    for _ in range(repeat):
        c0 = time.process_time()
        out = fn()
        times.append(time.process_time() - c0)
    return float(np.median(times)), out


def bench(name: str, graph: sp.csr_matrix, minutes: float, n_sources: int, n_targets: int):
    n = graph.shape[0]
    rng = np.random.default_rng(0)
    print(f"\n== {name} : {n:_} nœuds, {graph.nnz:_} arcs".replace("_", " "))
    t_full, _ = cpu(lambda: dijkstra(graph, indices=[int(rng.integers(n))]))
    ch, wall, build, rise = build_hierarchy(graph)
    rise = float("nan") if rise is None else rise
    cost = build / t_full
    print(
        f"prétraitement : {build:.2f} s processeur ({wall:.1f} s réel), {ch.n_shortcuts:_} "
        f"raccourcis, cœur non contracté de {ch.n_core:_} nœuds, +{rise:.0f} Mo ; "
        f"= {cost:.1f} passes de Dijkstra complètes "
        "(règle du code : ".replace("_", " ")
        + f"{build_cost(n, graph.nnz):.1f})"
    )
    # Nearest-service query (one per category and mode, before/after in a scenario).
    src = rng.choice(n, 50, replace=False)
    t_phast, (a, _) = cpu(lambda: ch.nearest(src))
    t_dij, (b, _) = cpu(lambda: multi_source_times(graph, src))
    fin = np.isfinite(b)
    assert np.array_equal(np.isfinite(a), fin) and np.allclose(a[fin], b[fin], atol=1e-6)
    gain = t_dij - t_phast
    q_even = build / gain if gain > 0 else float("inf")
    print(
        f"requête « service le plus proche » : hiérarchie {t_phast * 1e3:.1f} ms, Dijkstra "
        f"{t_dij * 1e3:.1f} ms ({t_dij / t_phast:.1f}×) ; rentable dès {q_even:.0f} requêtes "
        f"(règle automatique : {nearest_break_even(n, graph.nnz):.0f}, prédit / mesuré = "
        f"{nearest_break_even(n, graph.nnz) / q_even:.2f})"
    )
    # Reach: candidates × units within the threshold.
    limit = minutes * 60.0
    cand = rng.choice(n, n_sources, replace=False)
    units = np.unique(rng.choice(n, min(n_targets, n), replace=False))

    def by_dijkstra(sites, bound):
        # 20 candidates at a time: scipy returns a dense row of every node per candidate
        # (200 rows on the 853,583-node regional network were 1.4 GB, most of this script's
        # memory peak).
        pairs, reached = 0, 0
        for lo in range(0, len(sites), 20):
            dist = dijkstra(graph, indices=sites[lo : lo + 20], limit=bound)
            pairs += int(np.isfinite(dist[:, units]).sum())
            reached += int(np.isfinite(dist).sum())
            del dist
        return pairs, reached / len(sites)

    # The fixed cost of a bounded search (what it costs whatever it reaches): the same
    # searches bounded at 0 s, which reach their own node only.
    t_0, _ = cpu(lambda: by_dijkstra(cand[:40], 0.0))
    t_d, (pairs_d, reached) = cpu(lambda: by_dijkstra(cand, limit), repeat=1)
    t_b, (i, _, _) = cpu(lambda: ch.pairs(cand, units, limit), repeat=1)
    assert len(i) == pairs_d, (len(i), pairs_d)
    per_d, per_b = t_d / len(cand), t_b / len(cand)
    k_even = build / (per_d - per_b) if per_d > per_b else float("inf")
    k_rule = reach_break_even(n, graph.nnz, reached)
    fixed = t_0 / 40 / t_full
    print(
        f"accessibilité {len(cand)} sites × {len(units)} nœuds d'unités, {minutes:g} min "
        f"({pairs_d:_} couples ; {reached:.0f} nœuds atteints par recherche) : Dijkstra borné "
        f"{per_d * 1e3:.2f} ms/site, seaux {per_b * 1e3:.2f} ms/site "
        f"({per_d / per_b:.1f}×)".replace("_", " ")
    )
    print(
        f"  coût fixe d'une recherche bornée : {fixed:.4f} passe (code : "
        f"{dijkstra_fixed(n):.4f}) ; prétraitement {cost:.1f} passes (code : "
        f"{build_cost(n, graph.nnz):.1f})"
    )
    measured = (
        f"{k_even:_.0f} sites mesurés".replace("_", " ")
        if np.isfinite(k_even)
        else "jamais (seaux pas plus rapides que Dijkstra borné)"
    )
    print(
        f"  seuil de rentabilité : {measured}, {k_rule:_.0f} prédits par la règle automatique "
        f"(prédit / mesuré = {k_rule / k_even:.2f})".replace("_", " ")
    )
    return build, rise


def compare_builds(graph: sp.csr_matrix) -> None:
    """The contraction by rounds (every thread, one thread) against one node at a time, in
    the same run: processor and wall time, shortcuts, core, nearest-service query."""
    n = graph.shape[0]
    src = np.random.default_rng(0).choice(n, 50, replace=False)
    ref = None
    for label, kw in (
        ("un nœud à la fois", {"rounds": False}),
        ("par tours, 1 fil", {"threads": 1}),
        ("par tours, tous les fils", {}),
    ):
        t0, c0 = time.perf_counter(), time.process_time()
        ch = ContractionHierarchy(graph, **kw)
        wall, build = time.perf_counter() - t0, time.process_time() - c0
        t_q, (sec, _) = cpu(lambda ch=ch: ch.nearest(src))
        if ref is None:
            ref = (build, wall, sec)
        fin = np.isfinite(ref[2])
        assert np.array_equal(np.isfinite(sec), fin) and np.allclose(sec[fin], ref[2][fin])
        print(
            f"  {label} : {build:.2f} s processeur ({build / ref[0]:.2f}×), {wall:.2f} s réel "
            f"({wall / ref[1]:.2f}×), {ch.n_shortcuts:_} raccourcis, cœur {ch.n_core:_} nœuds, "
            f"requête {t_q * 1e3:.1f} ms".replace("_", " ")
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--region-pbf", type=Path, help="extrait régional (PBF), réseau voiture")
    parser.add_argument(
        "--grille", type=int, nargs="*", default=[], help="côté(s) de grilles synthétiques"
    )
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--unites", type=int, default=4000)
    parser.add_argument(
        "--comparer",
        action="store_true",
        help="construit aussi la hiérarchie un nœud à la fois et par tours sur un fil",
    )
    args = parser.parse_args(argv)
    print(
        f"{os.cpu_count()} cœur(s), charge moyenne {os.getloadavg()[0]:.1f} : temps processeur "
        "(médianes), rapports mesurés dans cette exécution"
    )
    tiny = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    ContractionHierarchy(tiny).pairs([0], [1], 5.0)  # numba kernels loaded, not counted
    from zonesblanches.geodata.osm import load_network

    nets = [
        ("réel : saint-germain-en-laye (voiture)", lambda: graphml_network(
            OSM / "saint-germain-en-laye.graphml.gz")),
        ("réel : andorra.osm.pbf (voiture)", lambda: load_network(
            OSM / "andorra.osm.pbf", "voiture", cache=False, progress=False)),
    ]  # fmt: skip
    for side in args.grille:
        nets.append((f"grille synthétique {side}²", lambda side=side: grid_network(side)))
    if args.region_pbf:
        nets.append((f"extrait {args.region_pbf.name} (synthétique, voiture)", lambda: load_network(
            args.region_pbf, "voiture", cache=False, progress=False)))  # fmt: skip
    for name, make in nets:
        net = make()
        graph = prepare_graph(net)
        del net
        bench(name, graph, args.minutes, min(args.sites, graph.shape[0]), args.unites)
        if args.comparer:
            compare_builds(graph)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nMémoire résidente maximale du processus : {peak:.0f} Mo")
    print(f"Charge moyenne en fin de mesure : {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
