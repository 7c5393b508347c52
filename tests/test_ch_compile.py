"""The contraction hierarchy's witness-search kernels are compiled once each (numba).

numba compiles a jitted function again for every new tuple of argument types it is called
with from compiled code, and a literal constant (``True``, ``0``, ``1 << 30``) is a type of
its own: each extra specialisation of these kernels costs tens of seconds on a clean clone
(an empty numba cache), in the tests and in a user's first road-network run. The callers pass
typed values (int32 nodes, int64 counts, booleans), so the one-node-at-a-time contraction,
the contraction by rounds (serial and parallel) all share one compilation per kernel.

The check bites where the kernels are compiled in this process (a clean clone, as in CI): a
kernel whose callers were loaded from numba's disk cache shows no signature at all.
"""

from __future__ import annotations

import numpy as np

from zonesblanches.coverage.hierarchy import ContractionHierarchy
from zonesblanches.geodata.network import RoadNetwork


def test_the_witness_kernels_are_compiled_once_each():
    from zonesblanches.coverage import _ch_kernels, _ch_rounds

    rng = np.random.default_rng(1)
    n, m = 20, 60
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    time_s = rng.uniform(1.0, 100.0, m)
    net = RoadNetwork("voiture", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)
    by_rounds = ContractionHierarchy.from_network(net, settle_real=3, rounds=True)
    one_by_one = ContractionHierarchy.from_network(net, settle_real=3, rounds=False)
    src = np.array([0, 3])
    np.testing.assert_allclose(by_rounds.nearest(src)[0], one_by_one.nearest(src)[0], atol=1e-6)
    for kernel in (
        _ch_kernels._evaluate,
        _ch_rounds._evaluate_all,
        _ch_rounds._evaluate_some,
        _ch_rounds._evaluate_parallel,
    ):
        assert len(kernel.signatures) <= 1, (kernel.py_func.__name__, kernel.signatures)
