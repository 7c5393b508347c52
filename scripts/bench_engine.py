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
- with ``--region-pbf PATH``, the car network of a regional extract (e.g. the synthetic one
  written by ``scripts/make_region_pbf.py --scale 1``: 2.38 M nodes), engines only;
- synthetic grids (labelled as such: not real places) of 316 × 316 ≈ 100,000 and
  1,000 × 1,000 = 1,000,000 nodes, every street two-way, edge times drawn uniformly in
  [5, 60] s with a fixed seed.

Methods:

- ``moteur Dijkstra``: :func:`zonesblanches.coverage.network.multi_source_times` on the matrix
  prepared once by :func:`~zonesblanches.coverage.network.prepare_graph` (its cost is printed
  apart);
- ``moteur hiérarchie``: :meth:`zonesblanches.coverage.hierarchy.ContractionHierarchy.nearest`
  (PHAST on a contraction hierarchy) on the same matrix; the preprocessing is printed apart with
  the number of queries from which it pays off against ``moteur Dijkstra``;
- ``networkx``: ``multi_source_dijkstra_path_length`` on the same reversed graph and weights
  (graph construction not timed, printed apart);
- ``ego_graph``: the common OSMnx isochrone recipe, one ``networkx.ego_graph(radius=R)`` per
  service and the union of their nodes; it answers « which nodes are within R », so it is
  compared with the engines run with ``limit=R`` (``limité``), default R = 15 min;
- ``pandana`` (if installed: ``pip install pandana``): contraction hierarchies,
  ``nearest_pois(maxdist=R)``; its preprocessing is printed apart.

Each time is the median of ``--repeat`` batches (networkx and pandana: fewer, see the output); a
call shorter than 0.2 s is repeated within a batch, as :mod:`timeit` does, and the time is per
call (column ``passes``: batches × calls per batch). The
two ratio columns divide a method's time by each engine's time on the same question (full or
limited).
Memory: peak of traced Python/numpy allocations (``tracemalloc``, one extra run) and, where
Linux allows resetting it, the rise of the process's resident-memory high-water mark during the
call (``VmHWM``, counts C/C++ allocations too).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import math
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
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zonesblanches.coverage.hierarchy import ContractionHierarchy  # noqa: E402
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
    runs: str
    traced_mb: float | None
    rss_mb: float | None
    result: object


MIN_BATCH_S = 0.2
"""A timed batch repeats a fast call until it lasts this long (as :mod:`timeit` does)."""


def measure(fn: Callable[[], object], repeat: int, *, memory: bool = True) -> Measure:
    """Median time per call over ``repeat`` batches, then one traced call for memory.

    The first call sets the batch size: calls shorter than :data:`MIN_BATCH_S` are repeated
    within a batch so that the clock and the garbage collection between batches do not
    dominate (the same rule for every method); a call of that length or more is its own batch,
    and the first call counts as the first batch.
    """
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    number = 1 if first >= MIN_BATCH_S else min(10_000, math.ceil(MIN_BATCH_S / max(first, 1e-7)))
    times = [first] if number == 1 else []
    while len(times) < repeat:
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(number):
            result = fn()
        times.append((time.perf_counter() - t0) / number)
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
    runs = str(repeat) if number == 1 else f"{repeat}×{number}"
    return Measure(statistics.median(times), runs, traced, rss, result)


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
    if x < 0.01:
        return f"{x:.6f}".replace(".", ",")
    return f"{x:.4f}".replace(".", ",") if x < 10 else f"{x:.1f}".replace(".", ",")


def fmt_mb(x: float | None) -> str:
    return "n.d." if x is None else f"{x:.0f}"


def fmt_ratio(x: float | None) -> str:
    return (
        "—"
        if x is None
        else f"{x:,.0f}×".replace(",", " ")
        if x >= 10
        else f"{x:.1f}×".replace(".", ",")
    )


class Table:
    def __init__(self):
        self.rows: list[tuple[str, ...]] = []

    def add(self, case, method, m: Measure | None, ratios=(None, None), note=""):
        if m is None:
            self.rows.append((case, method, "—", "—", "—", "—", "—", "—", note))
            return
        self.rows.append(
            (
                case,
                method,
                fmt_s(m.median_s),
                str(m.runs),
                fmt_ratio(ratios[0]),
                fmt_ratio(ratios[1]),
                fmt_mb(m.traced_mb),
                fmt_mb(m.rss_mb),
                note,
            )
        )
        print(f"  {method:<26} médiane {fmt_s(m.median_s)} s ({m.runs} passe(s)) {note}")

    def print(self):
        head = (
            "réseau",
            "méthode",
            "médiane (s)",
            "passes",
            "× Dijkstra",
            "× hiérarchie",
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


def compare(ref: np.ndarray, got: np.ndarray) -> str:
    """Largest time difference and whether the unreached nodes are the same."""
    same_inf = np.array_equal(np.isinf(ref), np.isinf(got))
    fin = np.isfinite(ref) & np.isfinite(got)
    diff = float(np.max(np.abs(ref[fin] - got[fin]))) if fin.any() else 0.0
    return f"écart max {diff:.1e} s{'' if same_inf else ' ; NON ATTEINTS DIFFÉRENTS'}"


def build_hierarchy(graph) -> tuple[ContractionHierarchy, float, float, float | None]:
    """Build once; wall time, processor time (less sensitive to the other processes of a
    shared machine; summed over the threads of a parallel build) and rise of the resident-memory high-water
    mark (MB)."""
    gc.collect()
    base = _rss_kb("VmRSS")
    hwm_ok = _reset_hwm() and base is not None
    t0, c0 = time.perf_counter(), time.process_time()
    hierarchy = ContractionHierarchy(graph)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = max(0, (_rss_kb("VmHWM") or 0) - base) / 1024 if hwm_ok else None
    return hierarchy, elapsed, cpu, rss


def bench_case(
    name, net, args, table, summary, *, with_nx, with_ego, with_pandana, nx_repeat, with_ch=True
):
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
    eng_lim = measure(lambda: multi_source_times(graph, sources, limit=radius)[0], args.repeat)
    times = eng.result
    ch = ch_lim = None
    if with_ch is True:
        hier, build_s, build_cpu, build_rss = build_hierarchy(graph)
        print(
            f"  hiérarchie de contraction (une fois par réseau) : {fmt_s(build_s)} s "
            f"(processeur {fmt_s(build_cpu)} s), {hier.n_shortcuts:_} raccourcis, pic RSS "
            f"{fmt_mb(build_rss)} Mo".replace("_", " ")
        )
        ch = measure(lambda: hier.nearest(sources)[0], args.repeat)
        ch_lim = measure(lambda: hier.nearest(sources, limit=radius)[0], args.repeat)
        gain = eng.median_s - ch.median_s
        pays = f"rentable dès {int(np.ceil(build_s / gain))} requêtes" if gain > 0 else "jamais"
        summary.append(
            (name, build_s, build_cpu, hier.n_shortcuts, ch.median_s, eng.median_s, pays)
        )
        del hier

    def ratios(m: Measure, limited: bool = False):
        d, h = (eng_lim, ch_lim) if limited else (eng, ch)
        return (m.median_s / d.median_s, None if h is None else m.median_s / h.median_s)

    table.add(name, "moteur Dijkstra", eng, ratios(eng), "temps au plus proche, tous les nœuds")
    table.add(name, "moteur Dijkstra limité", eng_lim, ratios(eng_lim, True),
              f"limit = {args.radius_min:g} min")  # fmt: skip
    if ch is not None:
        table.add(name, "moteur hiérarchie", ch, ratios(ch),
                  f"{compare(times, ch.result)} vs Dijkstra ; prétraitement {fmt_s(build_s)} s, {pays}")  # fmt: skip
        table.add(name, "moteur hiérarchie limité", ch_lim, ratios(ch_lim, True),
                  compare(eng_lim.result, ch_lim.result) + " vs Dijkstra limité")  # fmt: skip
    else:
        table.add(name, "moteur hiérarchie", None, note=with_ch or "")

    g = None
    if with_nx or with_ego:
        t0 = time.perf_counter()
        g = networkx_graph(graph)
        print(
            f"  construction du graphe networkx (non chronométrée) : {fmt_s(time.perf_counter() - t0)} s"
        )
    if with_nx:
        m = measure(lambda: nx_nearest(g, sources, net.n_nodes), nx_repeat)
        table.add(name, "networkx", m, ratios(m), compare(times, m.result))
    else:
        table.add(name, "networkx", None, note=with_nx_reason(args))
    if with_ego:
        m = measure(lambda: ego_union(g, sources, radius), 1 if nx_repeat == 1 else 3)
        same = m.result == set(np.flatnonzero(eng_lim.result <= radius).tolist())
        table.add(
            name,
            "ego_graph ×50 + union",
            m,
            ratios(m, True),
            f"vs moteurs limités ; mêmes nœuds : {'oui' if same else 'NON'}",
        )
    else:
        table.add(name, "ego_graph ×50 + union", None, note=with_nx_reason(args))
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
            ratios(m, True),
            f"vs moteurs limités ; prétraitement {fmt_s(prep)} s ; écart max {diff:.1e} s "
            f"(float32) ; atteints identiques {agree:.2%}",
        )
        del pnet
    else:
        table.add(name, "pandana", None, note=with_pandana or "")
    return eng, ch


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
        "--region-pbf",
        type=Path,
        default=None,
        help="extrait régional (ex. écrit par scripts/make_region_pbf.py --scale 1, synthétique) : "
        "réseau voiture mesuré avec les seuls moteurs",
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

    t0 = time.perf_counter()
    tiny = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    ContractionHierarchy(tiny).nearest(np.array([0]))
    print(
        "Noyaux numba de la hiérarchie chargés (compilés au premier usage, puis en cache) en "
        f"{fmt_s(time.perf_counter() - t0)} s, non compté"
    )
    table = Table()
    summary: list[tuple] = []
    real = graphml_network(args.graphml)
    bench_case(
        f"réel : {args.graphml.name.split('.')[0]}", real, args, table, summary,
        with_nx=True, with_ego=True, with_pandana=have_pandana, nx_repeat=args.repeat,
    )  # fmt: skip
    try:
        from zonesblanches.geodata.osm import load_network

        pbf = load_network(args.pbf, "voiture", cache=False, progress=False)
    except ImportError as exc:
        print(f"\nExtrait PBF ignoré : {exc}")
    else:
        bench_case(
            f"réel : {args.pbf.name.split('.')[0]} (voiture)", pbf, args, table, summary,
            with_nx=True, with_ego=True, with_pandana=have_pandana, nx_repeat=args.repeat,
        )  # fmt: skip
        if args.region_pbf is not None:
            region = load_network(args.region_pbf, "voiture", cache=False, progress=False)
            bench_case(
                f"extrait régional {args.region_pbf.name.split('.')[0]} (voiture)", region, args,
                table, summary, with_nx=False, with_ego=False,
                with_pandana="ignoré (extrait régional)", nx_repeat=1,
            )  # fmt: skip
            del region
    big_pandana = have_pandana
    if have_pandana is True and args.quick:
        big_pandana = "ignoré en --quick (prétraitement ≈ 1 min sur 100 000 nœuds)"
    bench_case(
        "grille synthétique 100 k", grid_network(316), args, table, summary,
        with_nx=True, with_ego=True, with_pandana=big_pandana, nx_repeat=3,
    )  # fmt: skip
    nx_1m = not (args.quick or args.sans_networkx_1m)
    pandana_1m = (
        "ignoré : prétraitement (hiérarchies de contraction) estimé à plus de 10 min"
        if have_pandana is True
        else have_pandana
    )
    ch_1m = "ignoré en --quick (prétraitement ≈ 2 min)" if args.quick else True
    e_1m, ch_1m = bench_case(
        "grille synthétique 1 M", grid_network(1000), args, table, summary,
        with_nx=nx_1m, with_ego=nx_1m, with_pandana=pandana_1m, nx_repeat=1, with_ch=ch_1m,
    )  # fmt: skip

    print(
        "\nRésultats (médianes ; « × Dijkstra », « × hiérarchie » = temps de la méthode / temps "
        "du moteur sur la même question)"
    )
    table.print()
    print(f"\nCharge moyenne en fin de mesure : {os.getloadavg()[0]:.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Mémoire résidente maximale du processus : {peak:.0f} Mo")
    if summary:
        print("\nPrétraitement de la hiérarchie de contraction (une fois par réseau) :")
        for name, build_s, build_cpu, shortcuts, t_ch, t_d, pays in summary:
            print(
                f"  {name} : {fmt_s(build_s)} s (processeur {fmt_s(build_cpu)} s), "
                f"{shortcuts:_} raccourcis ; requête "
                f"{fmt_s(t_ch)} s contre {fmt_s(t_d)} s (Dijkstra) ; {pays}".replace("_", " ")
            )
    best = e_1m.median_s if ch_1m is None else min(e_1m.median_s, ch_1m.median_s)
    print(
        "\nObjectif < 1 s sur la grille de 1 M nœuds : "
        + ("atteint" if best < 1 else "NON atteint")
        + f" (Dijkstra {fmt_s(e_1m.median_s)} s"
        + ("" if ch_1m is None else f", hiérarchie {fmt_s(ch_1m.median_s)} s")
        + ")"
    )
    for r in table.rows:
        if r[1] == "networkx" and r[2] != "—":
            best_ratio = r[5] if r[5] != "—" else r[4]
            ok = float(best_ratio.rstrip("×").replace(" ", "").replace(",", ".")) >= 100
            print(
                f"networkx sur {r[0]} : {r[4]} le moteur Dijkstra, {r[5]} le moteur hiérarchie "
                f"(objectif ≥ 100× : {'atteint' if ok else 'NON atteint'})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
