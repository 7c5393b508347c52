"""Why coverage/graph.py keeps two ways of building the travel-time matrix.

``prepare_graph`` sorts edges given in any order (``_sort_graph``) but counts edges already
sorted by (tail, head), as the OSM loaders give them (``_sorted_graph``). This prints, on
random networks (fixed seed), the time of each path against the single path that could
replace both:

- unsorted edges: ``_sort_graph`` against sorting the edges then ``_sorted_graph``;
- sorted edges: ``_sorted_graph`` against ``_sort_graph``.

A ratio above 1 means the single path is slower. Both give the same matrix (checked here, and
in tests/test_memory.py).

Usage::

    python scripts/bench_graph_paths.py [--noeuds 2000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from zonesblanches.coverage import graph


def _sorted_after_sort(n, tail, head, w, reverse):
    order = np.argsort(tail * n + head, kind="stable")
    return graph._sorted_graph(n, tail[order], head[order], w[order], reverse)


def _best(f, *args, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f(*args)
        times.append(time.perf_counter() - t)
    return min(times), out


def _same(a, b) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in ((a.indptr, b.indptr), (a.indices, b.indices), (a.data, b.data))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noeuds", type=int, default=2_000_000, help="nodes (3 edges each)")
    n = parser.parse_args().noeuds
    m = 3 * n
    rng = np.random.default_rng(0)
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    tail, head = np.concatenate([tail, tail[: m // 20]]), np.concatenate([head, head[: m // 20]])
    w = rng.uniform(1.0, 100.0, len(tail))  # 5 % parallel edges
    print(f"{n} nœuds, {len(tail)} tronçons")
    for reverse in (False, True):
        t_sort, a = _best(graph._sort_graph, n, tail, head, w, reverse)
        t_one, b = _best(_sorted_after_sort, n, tail, head, w, reverse)
        print(
            f"non triés, reverse={reverse}: _sort_graph {t_sort:.3f} s, tri puis "
            f"_sorted_graph {t_one:.3f} s, ratio {t_one / t_sort:.2f} (même matrice : "
            f"{_same(a, b)})"
        )
    order = np.lexsort((head, tail))
    tail, head, w = tail[order], head[order], w[order]
    for reverse in (False, True):
        t_sorted, a = _best(graph._sorted_graph, n, tail, head, w, reverse)
        t_sort, b = _best(graph._sort_graph, n, tail, head, w, reverse)
        print(
            f"triés, reverse={reverse}: _sorted_graph {t_sorted:.3f} s, _sort_graph "
            f"{t_sort:.3f} s, ratio {t_sort / t_sorted:.2f} (même matrice : {_same(a, b)})"
        )


if __name__ == "__main__":
    main()
