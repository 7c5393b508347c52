"""Maximal covering: choose *k* sites to serve the most weight, greedy or exact.

The solvers of :mod:`zonesblanches.coverage.sites`, on arrays: a reach structure (which units
each candidate serves, a sparse matrix or a :class:`~zonesblanches.coverage.reach.ReachMatrix`)
and the weight of each unit.

- :func:`greedy_max_cover`: greedy with lazy evaluation (Minoux, 1978), within
  ``1 − (1 − 1/k)^k`` of the optimum (Nemhauser, Wolsey and Fisher, 1978), with an a-posteriori
  bound from the data;
- :func:`reduce_instance`: units reached by the same set of candidates merged into one;
- :func:`exact_max_cover`: the mixed-integer programme, solved by CBC through PuLP.
"""

from __future__ import annotations

import heapq
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from zonesblanches.coverage.reach import ReachMatrix
from zonesblanches.errors import DataError, ParameterError

EXACT_MAX_PAIRS = 1_000_000
"""Largest reduced instance (candidate × unit-group pairs) sent to the exact solver by default."""


# --------------------------------------------------------------------------------------------
# Solvers on arrays (a boolean reach structure and unit weights)
# --------------------------------------------------------------------------------------------


@dataclass
class Selection:
    """Sites chosen by one solver.

    Attributes
    ----------
    method : str
        ``greedy`` or ``exact``.
    picks : list of int
        Candidate positions in rank order (for the exact solver: ordered greedily among
        themselves, so that cumulative figures read like the greedy ones).
    gains : list of float
        Marginal objective gain of each pick, in rank order.
    value : float
        Objective value of the selection (sum of the weights of the newly served units).
    seconds : float
        Wall-clock solving time.
    status : str
        ``optimal``, ``glouton``, or the solver's status when it stopped early.
    upper_bound : float
        Proven upper bound on the best possible value (``value`` itself when optimal).
    evaluations : int
        Marginal-gain evaluations done (greedy; the cost lazy evaluation saves).
    """

    method: str
    picks: list[int]
    gains: list[float]
    value: float
    seconds: float = 0.0
    status: str = ""
    upper_bound: float = math.inf
    evaluations: int = 0


def _structure(reach: sp.spmatrix | ReachMatrix) -> sp.csr_matrix:
    if isinstance(reach, ReachMatrix):
        return reach.covers
    m = sp.csr_matrix(reach)
    return sp.csr_matrix((np.ones(len(m.indices), dtype=bool), m.indices, m.indptr), shape=m.shape)


def _row_sums(m: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return np.bincount(rows, weights=w[m.indices], minlength=m.shape[0])


def greedy_bound_factor(k: int) -> float:
    """A-priori guarantee of the greedy choice of ``k`` sites: ``1 − (1 − 1/k)^k``."""
    if k < 1:
        return 1.0
    return 1.0 - (1.0 - 1.0 / k) ** k


def covered_value(reach: sp.spmatrix | ReachMatrix, weights: np.ndarray, picks: Sequence[int]):
    """Total weight of the units reached by at least one of ``picks``."""
    m = _structure(reach)
    w = np.asarray(weights, dtype=float)
    if len(picks) == 0:
        return 0.0
    hit = np.zeros(m.shape[1], dtype=bool)
    for i in picks:
        hit[m.indices[m.indptr[i] : m.indptr[i + 1]]] = True
    return float(w[hit].sum())


def greedy_max_cover(reach: sp.spmatrix | ReachMatrix, weights: np.ndarray, k: int) -> Selection:
    """Greedy maximal covering with lazy evaluation (CELF).

    Parameters
    ----------
    reach : scipy.sparse matrix or ReachMatrix
        Candidates × units; the structure is the reach.
    weights : numpy.ndarray
        Non-negative weight of each unit (already-served units must have weight 0).
    k : int
        Number of sites.

    Returns
    -------
    Selection
        Picks in order; fewer than ``k`` when no remaining candidate adds anything. Ties are
        broken by the lowest candidate position, as a plain greedy would.
    """
    start = time.perf_counter()
    m = _structure(reach)
    remaining = np.array(weights, dtype=float, copy=True)
    if remaining.shape != (m.shape[1],):
        raise ParameterError("Un poids par unité de demande est attendu.")
    gains0 = _row_sums(m, remaining)
    heap = [(-g, i) for i, g in enumerate(gains0) if g > 0]
    heapq.heapify(heap)
    stamp = np.zeros(m.shape[0], dtype=np.int64)
    picks: list[int] = []
    gains: list[float] = []
    evaluations = m.shape[0]
    for it in range(k):
        chosen = None
        while heap:
            neg, i = heapq.heappop(heap)
            if stamp[i] == it:
                chosen = (i, -neg)
                break
            g = float(remaining[m.indices[m.indptr[i] : m.indptr[i + 1]]].sum())
            evaluations += 1
            stamp[i] = it
            if g > 0:
                heapq.heappush(heap, (-g, i))
        if chosen is None:
            break
        i, g = chosen
        picks.append(int(i))
        gains.append(float(g))
        remaining[m.indices[m.indptr[i] : m.indptr[i + 1]]] = 0.0
        stamp[i] = -1  # never again
    value = float(np.sum(gains))
    return Selection(
        "greedy",
        picks,
        gains,
        value,
        seconds=time.perf_counter() - start,
        status="glouton",
        upper_bound=_greedy_bound(m, gains0, remaining, value, len(picks), k),
        evaluations=evaluations,
    )


def _greedy_bound(
    m: sp.csr_matrix, gains0: np.ndarray, remaining: np.ndarray, value: float, n: int, k: int
) -> float:
    """Upper bound on the best value of ``k`` sites, from a greedy choice of ``n`` sites worth
    ``value`` that left the unit weights ``remaining``."""
    # A-posteriori bound at the start: the k best single sites, added up.
    bound = float(np.sort(gains0)[::-1][:k].sum())
    if n:
        # A-posteriori bound at the end: f(S) + the k best marginal gains given S.
        final = _row_sums(m, remaining)
        bound = min(bound, value + float(np.sort(final)[::-1][:k].sum()))
    factor = greedy_bound_factor(max(k, 1))
    bound = min(bound, value / factor) if value > 0 else bound
    return max(bound, value)


def greedy_prefix(
    selection: Selection, reach: sp.spmatrix | ReachMatrix, weights: np.ndarray, k: int
) -> Selection:
    """The greedy choice of ``k`` sites, read off a greedy ``selection`` of more sites.

    The greedy order is nested: its first ``k`` picks are exactly what
    :func:`greedy_max_cover` returns for ``k`` (same tie-breaking, nothing in the loop depends
    on ``k``), so one run to 10 sites gives both the suggestion of 3 sites and the gain curve
    k = 1…10. The bound is recomputed for ``k`` as :func:`greedy_max_cover` computes it;
    ``seconds`` and ``evaluations`` stay those of the whole run (the work done).
    """
    if selection.method != "greedy":
        raise ParameterError("Seule une sélection gloutonne se tronque (ordre emboîté).")
    m = _structure(reach)
    w = np.asarray(weights, dtype=float)
    picks, gains = list(selection.picks[:k]), list(selection.gains[:k])
    value = float(np.sum(gains))
    remaining = w.copy()
    for i in picks:
        remaining[m.indices[m.indptr[i] : m.indptr[i + 1]]] = 0.0
    bound = _greedy_bound(m, _row_sums(m, w), remaining, value, len(picks), k)
    return replace(selection, picks=picks, gains=gains, value=value, upper_bound=bound)


def reduce_instance(
    reach: sp.spmatrix | ReachMatrix, weights: np.ndarray
) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """Shrink a maximal covering instance without changing its optimum.

    Units of zero weight or reached by no candidate are dropped, and units reached by exactly
    the same set of candidates are merged (their weights added up).

    Returns
    -------
    matrix : scipy.sparse.csc_matrix
        Candidates × unit groups (boolean).
    group_weight : numpy.ndarray
        Weight of each group.
    group_of_unit : numpy.ndarray
        Group of each original unit, ``-1`` if dropped.
    """
    m = _structure(reach).tocsc()
    w = np.asarray(weights, dtype=float)
    nnz_col = np.diff(m.indptr)
    useful = np.flatnonzero((w > 0) & (nnz_col > 0))
    group_of_unit = np.full(m.shape[1], -1, dtype=np.int64)
    if len(useful) == 0:
        return sp.csc_matrix((m.shape[0], 0), dtype=bool), np.zeros(0), group_of_unit
    sub = m[:, useful]
    sub.sort_indices()
    # Two independent 64-bit hashes of each column's candidate set (wrap-around sums of random
    # keys), then an exact check that grouped columns have the same rows.
    rng = np.random.default_rng(20240601)
    keys = rng.integers(0, np.iinfo(np.uint64).max, size=(2, m.shape[0]), dtype=np.uint64)
    cols = np.repeat(np.arange(sub.shape[1]), np.diff(sub.indptr))
    h = np.zeros((2, sub.shape[1]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(2):
            np.add.at(h[r], cols, keys[r][sub.indices])
    nn = np.diff(sub.indptr).astype(np.uint64)
    table = np.column_stack([h[0], h[1], nn])
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    # Exact check: every column equals its group's representative column.
    rep = first[inverse]
    same = np.ones(sub.shape[1], dtype=bool)
    lengths = np.diff(sub.indptr)
    for j in np.flatnonzero(rep != np.arange(sub.shape[1])):
        a = sub.indices[sub.indptr[j] : sub.indptr[j] + lengths[j]]
        b = sub.indices[sub.indptr[rep[j]] : sub.indptr[rep[j]] + lengths[rep[j]]]
        same[j] = np.array_equal(a, b)
    if not same.all():  # pragma: no cover - 128-bit collision: fall back to no merging
        inverse = np.arange(sub.shape[1])
        first = inverse.copy()
    group_weight = np.bincount(inverse, weights=w[useful], minlength=len(first))
    group_of_unit[useful] = inverse
    matrix = sub[:, first].tocsc()
    return matrix, group_weight, group_of_unit


def _order_greedily(m: sp.csr_matrix, w: np.ndarray, picks: Sequence[int]) -> list[int]:
    """Order a set of picks so that each has the largest marginal gain given the previous."""
    if not picks:
        return []
    sub = m[list(picks)]
    sel = greedy_max_cover(sub, w, len(picks)).picks
    order = [list(picks)[i] for i in sel]
    return order + [p for p in picks if p not in order]


def _cbc_solver(time_limit_s: float, warm_start: bool, threads: int | None):
    """CBC through PuLP: the binary bundled in the PuLP wheel, else a CBC found on the PATH."""
    import pulp

    with warnings.catch_warnings():
        # PuLP 3.3 announces the removal of the bundled CBC in 4.0; COIN_CMD is the fallback.
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in ("PULP_CBC_CMD", "COIN_CMD"):
            cls = getattr(pulp, name, None)
            if cls is None:
                continue
            solver = cls(msg=False, timeLimit=time_limit_s, warmStart=warm_start, threads=threads)
            if solver.available():
                return solver
    raise DataError(
        "Solveur CBC introuvable pour la résolution exacte : installez PuLP avec son solveur "
        '(pip install "pulp[cbc]"), ou utilisez la méthode gloutonne.'
    )


def exact_max_cover(
    reach: sp.spmatrix | ReachMatrix,
    weights: np.ndarray,
    k: int,
    *,
    time_limit_s: float = 120.0,
    warm_start: Sequence[int] | None = None,
    max_pairs: int | None = EXACT_MAX_PAIRS,
    threads: int | None = None,
) -> Selection:
    """Optimal maximal covering by mixed-integer programming (PuLP + CBC).

    Parameters
    ----------
    reach, weights, k
        As for :func:`greedy_max_cover`.
    time_limit_s : float
        Time limit given to CBC; if reached, ``status`` says so and the value is the best found.
    warm_start : sequence of int, optional
        A known selection (e.g. the greedy one) given to CBC as a starting point.
    max_pairs : int, optional
        Refuse instances whose reduced matrix holds more pairs (``ParameterError``).
    threads : int, optional
        CBC threads.

    Returns
    -------
    Selection
        ``status`` is ``optimal`` when CBC proved optimality.
    """
    import pulp

    start = time.perf_counter()
    m = _structure(reach)
    w = np.asarray(weights, dtype=float)
    red, gw, _ = reduce_instance(m, w)
    cands = np.flatnonzero(np.diff(red.tocsr().indptr) > 0)
    if max_pairs is not None and red.nnz > max_pairs:
        raise ParameterError(
            f"Instance trop grande pour la résolution exacte : {red.nnz:,} couples "
            f"site × groupe d'unités (limite {max_pairs:,}).".replace(",", "\u202f")
        )
    if len(cands) == 0 or k < 1:
        return Selection("exact", [], [], 0.0, time.perf_counter() - start, "optimal", 0.0)
    prob = pulp.LpProblem("couverture_maximale", pulp.LpMaximize)
    new_var = getattr(prob, "add_variable", None)  # PuLP >= 3.3; LpVariable before
    if new_var is None:
        new_var = pulp.LpVariable
    x = {int(i): new_var(f"x_{i}", cat=pulp.LpBinary) for i in cands}
    y = [new_var(f"y_{j}", lowBound=0, upBound=1) for j in range(red.shape[1])]
    prob += pulp.LpAffineExpression([(y[j], float(gw[j])) for j in range(red.shape[1])])
    for j in range(red.shape[1]):
        rows = red.indices[red.indptr[j] : red.indptr[j + 1]]
        prob += pulp.LpAffineExpression([(x[int(i)], 1.0) for i in rows] + [(y[j], -1.0)]) >= 0
    prob += pulp.lpSum(x.values()) <= k
    if warm_start:
        chosen = {int(i) for i in warm_start}
        for i, var in x.items():
            var.setInitialValue(1 if i in chosen else 0)
        red_csr = red.tocsr()
        hit = np.zeros(red.shape[1], dtype=bool)
        for i in chosen:
            if i in x:
                hit[red_csr.indices[red_csr.indptr[i] : red_csr.indptr[i + 1]]] = True
        for j, var in enumerate(y):
            var.setInitialValue(1 if hit[j] else 0)
    prob.solve(_cbc_solver(time_limit_s, bool(warm_start), threads))
    picks = [i for i, var in x.items() if (var.value() or 0) > 0.5]
    ordered = _order_greedily(m, w, picks)
    hit = np.zeros(m.shape[1], dtype=bool)
    gains = []
    for i in ordered:
        cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
        gains.append(float(w[cols][~hit[cols]].sum()))
        hit[cols] = True
    value = float(np.sum(gains))
    optimal = prob.status == pulp.LpStatusOptimal and prob.sol_status == pulp.LpSolutionOptimal
    status = "optimal" if optimal else pulp.LpSolution.get(prob.sol_status, str(prob.sol_status))
    return Selection(
        "exact",
        ordered,
        gains,
        value,
        seconds=time.perf_counter() - start,
        status=status,
        upper_bound=value if optimal else math.inf,
    )


__all__ = [
    "EXACT_MAX_PAIRS",
    "Selection",
    "covered_value",
    "exact_max_cover",
    "greedy_bound_factor",
    "greedy_max_cover",
    "greedy_prefix",
    "reduce_instance",
]
