#!/usr/bin/env python
"""Benchmark of the travel-time engine against networkx, the OSMnx ego-graph recipe and pandana.

Run from the project root::

    .venv/bin/python scripts/bench_engine.py            # full run (a few minutes)
    .venv/bin/python scripts/bench_engine.py --quick    # skips the slowest baselines

Question asked on each network: the time from every node to the nearest of 50 services (home →
service, directed), in seconds.

Networks (all in one process):

- the real fixtures: the OSM street graph of Saint-Germain-en-Laye
  (``tests/data/osm/saint-germain-en-laye.graphml.gz``, or ``--graphml PATH``), car network with
  a simple per-class speed rule, and the largest one, the car network that
  :mod:`zonesblanches.geodata.osm` builds from ``tests/data/osm/andorra.osm.pbf`` (or
  ``--pbf PATH``);
- synthetic grids (labelled as such: not real places) of 316 × 316 ≈ 100,000 and
  1,000 × 1,000 = 1,000,000 nodes, every street two-way, edge times drawn uniformly in
  [5, 60] s with a fixed seed.

Methods:

- ``moteur``: :func:`zonesblanches.coverage.network.multi_source_times` on the matrix prepared
  once by :func:`~zonesblanches.coverage.network.prepare_graph` (its cost is printed apart);
- ``networkx``: ``multi_source_dijkstra_path_length`` on the same reversed graph and weights
  (graph construction not timed, printed apart);
- ``ego_graph``: the common OSMnx isochrone recipe, one ``networkx.ego_graph(radius=R)`` per
  service and the union of their nodes; it answers « which nodes are within R », so it is
  compared with ``moteur`` run with ``limit=R`` (``moteur limité``), default R = 15 min;
- ``pandana`` (if installed: ``pip install pandana``): contraction hierarchies,
  ``nearest_pois(maxdist=R)``; its preprocessing is printed apart.

Each time is the median of ``--repeat`` runs (networkx and pandana: fewer, see the output).
Memory: peak of traced Python/numpy allocations (``tracemalloc``, one extra run) and, where
Linux allows resetting it, the rise of the process's resident-memory high-water mark during the
call (``VmHWM``, counts C/C++ allocations too).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zonesblanches.coverage.network import multi_source_times, prepare_graph  # noqa: E402
from zonesblanches.crs import LAMBERT93  # noqa: E402
from zonesblanches.geodata.network import RoadNetwork  # noqa: E402

N_SERVICES = 50
CAR_KMH = {
    "motorway": 110, "trunk": 90, "primary": 70, "secondary": 60, "tertiary": 50,
    "unclassified": 40, "residential": 30, "living_street": 20, "service": 20,
}  # fmt: skip


# --- Networks ------------------------------------------------------------------------------


def _first(value):
    if value is None:
        return None
    return str(ast.literal_eval(value)[0]) if value.startswith("[") else value


def graphml_network(path: Path) -> RoadNetwork:
    """Car network of an OSMnx GraphML export (one-way streets kept, speed per class)."""
    from pyproj import Transformer

    g = nx.read_graphml(path, force_multigraph=True)
    nodes = list(g.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    x, y = Transformer.from_crs("EPSG:4326", LAMBERT93, always_xy=True).transform(
        np.array([float(g.nodes[n]["x"]) for n in nodes]),
        np.array([float(g.nodes[n]["y"]) for n in nodes]),
    )
    rows = []
    for u, v, d in g.edges(data=True):
        kind = (_first(d.get("highway")) or "").removesuffix("_link")
        if kind in CAR_KMH:
            limit = _first(d.get("maxspeed"))
            kmh = float(limit) if limit and limit.isdigit() else CAR_KMH[kind]
            rows.append((pos[u], pos[v], float(d["length"]), kmh))
    tail, head, length, kmh = (np.array(c) for c in zip(*rows, strict=True))
    return RoadNetwork(
        "voiture", np.arange(len(nodes)), np.asarray(x), np.asarray(y),
        tail.astype(np.int64), head.astype(np.int64), length, length / (kmh / 3.6),
        source=f"OpenStreetMap, {path.name}",
    )  # fmt: skip


def grid_network(side: int, seed: int = 0) -> RoadNetwork:
    """Synthetic square grid (not a real place): two-way streets, random times in [5, 60] s."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = rng.uniform(5.0, 60.0, len(a))
    xs, ys = np.meshgrid(np.arange(side) * 100.0, np.arange(side) * 100.0)
    return RoadNetwork(
        "voiture", idx.ravel(), xs.ravel(), ys.ravel(),
        np.concatenate([a, b]), np.concatenate([b, a]),
        np.full(2 * len(a), 100.0), np.concatenate([w, w]),
        source=f"grille synthétique {side}×{side}",
    )  # fmt: skip


# --- Measuring -----------------------------------------------------------------------------


def _rss_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class Measure:
    median_s: float
    runs: int
    traced_mb: float | None
    rss_mb: float | None
    result: object


def measure(fn: Callable[[], object], repeat: int, *, memory: bool = True) -> Measure:
    """Median wall time of ``repeat`` runs, then one traced run for memory."""
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    traced = rss = None
    if memory:
        result = None
        gc.collect()
        base = _rss_kb("VmRSS")
        hwm_ok = _reset_hwm() and base is not None
        tracemalloc.start()
        result = fn()
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        if hwm_ok:
            rss = max(0, (_rss_kb("VmHWM") or 0) - base) / 1024
    return Measure(statistics.median(times), repeat, traced, rss, result)


@contextlib.contextmanager
def quiet_stdout():
    """Silence C/C++ output written straight to file descriptor 1 (pandana prints progress)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


# --- Methods -------------------------------------------------------------------------------


def networkx_graph(graph) -> nx.DiGraph:
    """The engine's reversed matrix as a networkx DiGraph (same edges, same weights)."""
    return nx.from_scipy_sparse_array(graph, create_using=nx.DiGraph, edge_attribute="w")


def nx_nearest(g: nx.DiGraph, sources: np.ndarray, n: int) -> np.ndarray:
    lengths = nx.multi_source_dijkstra_path_length(g, set(sources.tolist()), weight="w")
    out = np.full(n, np.inf)
    out[np.fromiter(lengths.keys(), dtype=np.int64)] = np.fromiter(lengths.values(), float)
    return out


def ego_union(g: nx.DiGraph, sources: np.ndarray, radius: float) -> set:
    reached: set = set()
    for s in sources.tolist():
        reached |= set(nx.ego_graph(g, s, radius=radius, distance="w").nodes)
    return reached


def pandana_network(net: RoadNetwork):
    import pandana
    import pandas as pd

    graph = prepare_graph(net, reverse=False).tocoo()
    return pandana.Network(
        pd.Series(net.x),
        pd.Series(net.y),
        pd.Series(graph.row.astype(np.int64)),
        pd.Series(graph.col.astype(np.int64)),
        pd.DataFrame({"w": graph.data}),
        twoway=False,
    )


def pandana_nearest(pnet, net: RoadNetwork, sources: np.ndarray, radius: float) -> np.ndarray:
    import pandas as pd

    pnet.set_pois("services", radius, 1, pd.Series(net.x[sources]), pd.Series(net.y[sources]))
    res = pnet.nearest_pois(radius, "services", num_pois=1)
    out = res[1].to_numpy(dtype=float, copy=True)
    out[out >= radius] = np.inf
    return out


# --- Report --------------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    return f"{x:.4f}".replace(".", ",") if x < 10 else f"{x:.1f}".replace(".", ",")


def fmt_mb(x: float | None) -> str:
    return "n.d." if x is None else f"{x:.0f}"


class Table:
    def __init__(self):
        self.rows: list[tuple[str, ...]] = []

    def add(self, case, method, m: Measure | None, ratio, note=""):
        if m is None:
            self.rows.append((case, method, "—", "—", "—", "—", "—", note))
            return
        self.rows.append(
            (
                case,
                method,
                fmt_s(m.median_s),
                str(m.runs),
                "—" if ratio is None else f"{ratio:,.0f}×".replace(",", " "),
                fmt_mb(m.traced_mb),
                fmt_mb(m.rss_mb),
                note,
            )
        )
        print(f"  {method:<22} médiane {fmt_s(m.median_s)} s ({m.runs} passe(s)) {note}")

    def print(self):
        head = (
            "réseau",
            "méthode",
            "médiane (s)",
            "passes",
            "× moteur",
            "pic tracé (Mo)",
            "pic RSS (Mo)",
            "remarque",
        )
        rows = [head, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for j, r in enumerate(rows):
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if j == 0:
                print("  ".join("-" * w for w in widths))


def bench_case(name, net, args, table, *, with_nx, with_ego, with_pandana, nx_repeat):
    rng = np.random.default_rng(42)
    print(f"\n{name} : {net.n_nodes:,} nœuds, {net.n_edges:,} tronçons orientés".replace(",", " "))
    t0 = time.perf_counter()
    graph = prepare_graph(net, reverse=True)
    print(
        f"  préparation de la matrice (une fois par réseau) : {fmt_s(time.perf_counter() - t0)} s"
    )
    sources = rng.choice(net.n_nodes, N_SERVICES, replace=False)
    radius = args.radius_min * 60.0

    eng = measure(lambda: multi_source_times(graph, sources)[0], args.repeat)
    table.add(name, "moteur", eng, 1.0, "temps au plus proche, tous les nœuds")
    eng_lim = measure(lambda: multi_source_times(graph, sources, limit=radius)[0], args.repeat)
    table.add(name, "moteur limité", eng_lim, 1.0, f"limit = {args.radius_min:g} min")
    times = eng.result

    g = None
    if with_nx or with_ego:
        t0 = time.perf_counter()
        g = networkx_graph(graph)
        print(
            f"  construction du graphe networkx (non chronométrée) : {fmt_s(time.perf_counter() - t0)} s"
        )
    if with_nx:
        m = measure(lambda: nx_nearest(g, sources, net.n_nodes), nx_repeat)
        same_inf = np.array_equal(np.isinf(times), np.isinf(m.result))
        fin = np.isfinite(times) & np.isfinite(m.result)
        diff = float(np.max(np.abs(times[fin] - m.result[fin]))) if fin.any() else 0.0
        table.add(
            name,
            "networkx",
            m,
            m.median_s / eng.median_s,
            f"écart max {diff:.1e} s{'' if same_inf else ' ; NON ATTEINTS DIFFÉRENTS'}",
        )
    else:
        table.add(name, "networkx", None, None, with_nx_reason(args))
    if with_ego:
        m = measure(lambda: ego_union(g, sources, radius), 1 if nx_repeat == 1 else 3)
        same = m.result == set(np.flatnonzero(eng_lim.result <= radius).tolist())
        table.add(
            name,
            "ego_graph ×50 + union",
            m,
            m.median_s / eng_lim.median_s,
            f"vs moteur limité ; mêmes nœuds : {'oui' if same else 'NON'}",
        )
    else:
        table.add(name, "ego_graph ×50 + union", None, None, with_nx_reason(args))
    g = None  # free the networkx graph before the next method
    gc.collect()

    if with_pandana is True:
        t0 = time.perf_counter()
        with quiet_stdout():
            pnet = pandana_network(net)
        prep = time.perf_counter() - t0
        with quiet_stdout():
            m = measure(lambda: pandana_nearest(pnet, net, sources, radius), 3)
        ref = np.where(eng_lim.result <= radius, eng_lim.result, np.inf)
        both = np.isfinite(ref) & np.isfinite(m.result)
        diff = float(np.max(np.abs(ref[both] - m.result[both]))) if both.any() else 0.0
        agree = np.mean(np.isfinite(ref) == np.isfinite(m.result))
        table.add(
            name,
            "pandana",
            m,
            m.median_s / eng_lim.median_s,
            f"vs moteur limité ; prétraitement {fmt_s(prep)} s ; écart max {diff:.1e} s "
            f"(float32) ; atteints identiques {agree:.2%}",
        )
        del pnet
    else:
        table.add(name, "pandana", None, None, with_pandana or "")
    return eng


def with_nx_reason(args) -> str:
    return "ignoré (--quick ou --sans-networkx-1m) : plusieurs minutes et Go"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare le moteur de temps de parcours à networkx, ego_graph et pandana."
    )
    parser.add_argument("--quick", action="store_true", help="version rapide (moins de bases)")
    parser.add_argument(
        "--graphml",
        type=Path,
        default=ROOT / "tests" / "data" / "osm" / "saint-germain-en-laye.graphml.gz",
        help="graphe réel OSMnx (GraphML, éventuellement .gz)",
    )
    parser.add_argument(
        "--pbf",
        type=Path,
        default=ROOT / "tests" / "data" / "osm" / "andorra.osm.pbf",
        help="extrait OSM réel (réseau voiture construit par zonesblanches.geodata.osm)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="passes par mesure (5 ; 3 en --quick)"
    )
    parser.add_argument("--radius-min", type=float, default=15.0, help="rayon des isochrones (min)")
    parser.add_argument(
        "--sans-networkx-1m", action="store_true", help="ne pas lancer networkx sur 1 M"
    )
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (3 if args.quick else 5)

    try:
        import pandana  # noqa: F401

        have_pandana: bool | str = True
    except ImportError:
        have_pandana = "non installé (pip install pandana)"
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cœur(s), charge moyenne "
        f"{os.getloadavg()[0]:.1f} (les autres processus ralentissent toutes les méthodes)"
    )
    print(f"{N_SERVICES} services tirés au hasard (graine fixe) ; sens logement → service")

    table = Table()
    real = graphml_network(args.graphml)
    e_real = bench_case(
        f"réel : {args.graphml.name.split('.')[0]}", real, args, table,
        with_nx=True, with_ego=True, with_pandana=have_pandana, nx_repeat=args.repeat,
    )  # fmt: skip
    try:
        from zonesblanches.geodata.osm import load_network

        pbf = load_network(args.pbf, "voiture", cache=False, progress=False)
    except ImportError as exc:
        print(f"\nExtrait PBF ignoré : {exc}")
    else:
        bench_case(
            f"réel : {args.pbf.name.split('.')[0]} (voiture)", pbf, args, table,
            with_nx=True, with_ego=True, with_pandana=have_pandana, nx_repeat=args.repeat,
        )  # fmt: skip
    big_pandana = have_pandana
    if have_pandana is True and args.quick:
        big_pandana = "ignoré en --quick (prétraitement ≈ 1 min sur 100 000 nœuds)"
    e_100k = bench_case(
        "grille synthétique 100 k", grid_network(316), args, table,
        with_nx=True, with_ego=True, with_pandana=big_pandana, nx_repeat=3,
    )  # fmt: skip
    nx_1m = not (args.quick or args.sans_networkx_1m)
    pandana_1m = (
        "ignoré : prétraitement (hiérarchies de contraction) estimé à plus de 10 min"
        if have_pandana is True
        else have_pandana
    )
    e_1m = bench_case(
        "grille synthétique 1 M", grid_network(1000), args, table,
        with_nx=nx_1m, with_ego=nx_1m, with_pandana=pandana_1m, nx_repeat=1,
    )  # fmt: skip

    print("\nRésultats (médianes ; « × moteur » = temps de la méthode / temps du moteur)")
    table.print()
    print(f"\nCharge moyenne en fin de mesure : {os.getloadavg()[0]:.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nMémoire résidente maximale du processus : {peak:.0f} Mo")
    print(
        "Objectif < 1 s sur la grille de 1 M nœuds : "
        + ("atteint" if e_1m.median_s < 1 else "NON atteint")
        + f" ({fmt_s(e_1m.median_s)} s)"
    )
    ratios = [r for r in table.rows if r[1] == "networkx" and r[4] != "—"]
    for r in ratios:
        print(f"networkx / moteur sur {r[0]} : {r[4]}")
    del e_real, e_100k
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
