"""Cold compile time of the contraction hierarchy's numba kernels (a clean clone, a user's first
road-network run): build by rounds, nearest (PHAST), pairs (buckets), one-at-a-time build on a
20-node random graph (synthetic, the graph only makes numba compile), with numba's own compile
events: seconds per kernel and signature (nested compilations included in their caller's).

Run with an empty cache, and alternate with the tree to compare (same machine load)::

    rm -rf /tmp/nbc; NUMBA_CACHE_DIR=/tmp/nbc PYTHONPATH=. python scripts/bench_compile.py
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numba.core import event  # noqa: E402

from zonesblanches.coverage.hierarchy import ContractionHierarchy  # noqa: E402
from zonesblanches.geodata.network import RoadNetwork  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(1)
    n, m = 20, 60
    tail, head, t = rng.integers(0, n, m), rng.integers(0, n, m), rng.uniform(1, 100, m)
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, t, t)
    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
    steps = {
        "build_rounds": lambda: ContractionHierarchy.from_network(net, settle_real=3),
        "nearest": lambda: hierarchy.nearest(np.array([0, 3])),
        "pairs": lambda: hierarchy.pairs(np.array([0, 3]), np.array([1, 2, 5]), 500.0),
        "build_serial": lambda: ContractionHierarchy.from_network(net, settle_real=3, rounds=False),
    }
    hierarchy = None
    for name, step in steps.items():
        t0 = time.perf_counter()
        out = step()
        hierarchy = out if name == "build_rounds" else hierarchy
        print(f"{name}: {time.perf_counter() - t0:.1f} s")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"processor time of the process: {usage.ru_utime + usage.ru_stime:.1f} s")
    starts, done = {}, []
    for ts, e in recorder.buffer:
        key = id(e.data["dispatcher"]), str(e.data["args"])
        if e.is_start:
            starts[key] = ts
        else:
            done.append((ts - starts[key], e.data["dispatcher"].py_func.__name__, key[1][:90]))
    print(f"{len(done)} compilations, the longest:")
    for seconds, name, args in sorted(done, reverse=True)[:15]:
        print(f"  {seconds:6.1f} {name} {args}")


if __name__ == "__main__":
    main()
