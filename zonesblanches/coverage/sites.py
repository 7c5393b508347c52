"""Where to open the next service: maximal covering site selection.

The question of an intercommunalité: « si nous finançons *k* garages solidaires de plus, où les
installer pour toucher le plus d'habitants à moins de 20 minutes ? ». Existing services are kept;
a demand unit already within the threshold of one of them counts for nothing; each candidate site
serves the units within the threshold of it (its *reach*, :mod:`zonesblanches.coverage.reach`).
Choosing *k* sites to maximise the weight of newly served units is the *maximal covering location
problem* (Church and ReVelle, 1974).

Two solvers:

- **Greedy with lazy evaluation** (default): pick the site that serves the most people not yet
  served, *k* times. The objective is monotone and submodular, so the greedy choice is within a
  factor ``1 − (1 − 1/k)^k ≥ 1 − 1/e ≈ 63.2 %`` of the best possible (Nemhauser, Wolsey and
  Fisher, 1978); marginal gains only shrink, so a stale gain kept in a priority queue is an upper
  bound and only the top of the queue needs recomputing (Minoux, 1978). Besides the a-priori
  factor, the data give a sharper a-posteriori bound: for any selection ``S``, the best value is
  at most ``f(S)`` plus the *k* largest marginal gains given ``S`` (computed at the start and at
  the end).
- **Exact** (mixed-integer programme solved by CBC through PuLP) when the instance, after merging
  units reached by the same set of candidates, is small enough:
  ``max Σ w_j y_j`` subject to ``y_j ≤ Σ_{i reaches j} x_i``, ``Σ x_i ≤ k``, ``x`` binary,
  ``0 ≤ y ≤ 1``. The greedy gap ``(exact − greedy) / exact`` is then reported.

Weights: ``population`` (default), ``qpv`` (residents of QPV: needs grid cells and QPV
perimeters, or a ``population_qpv`` column), ``men_pauv`` (poor households of the Filosofi grid),
or a dict mixing them, e.g. ``{"population": 1, "qpv": 2}``.
"""

from __future__ import annotations

import heapq
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from zonesblanches._text import fr_int as _fr_int
from zonesblanches._text import fr_num
from zonesblanches._text import fr_pct as _fr_pct
from zonesblanches.coverage.analysis import CoverageResult, compute_coverage, time_col
from zonesblanches.coverage.reach import ReachMatrix, reach_matrix
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.categories import CATEGORIES, category_code, category_label
from zonesblanches.modes import mode_code

METHODS = ("greedy", "exact", "both")
"""Accepted values of ``method``: greedy only, exact only, or both (with the gap)."""

WEIGHTS = {
    "population": "habitants",
    "qpv": "habitants des QPV",
    "men_pauv": "ménages pauvres",
}
"""Weight names and their French label (unit counted)."""

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
    # A-posteriori bound at the start: the k best single sites, added up.
    bound = float(np.sort(gains0)[::-1][:k].sum())
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
    if picks:
        # A-posteriori bound at the end: f(S) + the k best marginal gains given S.
        final = _row_sums(m, remaining)
        bound = min(bound, value + float(np.sort(final)[::-1][:k].sum()))
    factor = greedy_bound_factor(max(k, 1))
    bound = min(bound, value / factor) if value > 0 else bound
    bound = max(bound, value)
    return Selection(
        "greedy",
        picks,
        gains,
        value,
        seconds=time.perf_counter() - start,
        status="glouton",
        upper_bound=bound,
        evaluations=evaluations,
    )


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


# --------------------------------------------------------------------------------------------
# Weights of the demand units
# --------------------------------------------------------------------------------------------


def qpv_links(
    units: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame | None, unit_kind: str | None = None
) -> pd.DataFrame | None:
    """Share of each unit's people living in each QPV, or ``None`` when it cannot be known.

    Delegates to the equity module, so that suggestions, scenarios and equity tables count QPV
    residents the same way: grid cells (squares, or centres with their ``idcar``) by the share
    of their area in the QPV, centres without ``idcar`` by the QPV holding the centre. Commune
    units: ``None`` — a commune's centre says nothing of where its QPV residents live.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Demand units.
    qpv : geopandas.GeoDataFrame or None
        QPV perimeters (``code_qp``).
    unit_kind : {"commune", "carreau"}, optional
        As in the coverage result; guessed from the units otherwise (``idcar`` or polygons:
        cells).

    Returns
    -------
    pandas.DataFrame or None
        ``unite`` (row position), ``code_qp``, ``part`` (0–1).
    """
    if qpv is None or len(qpv) == 0 or len(units) == 0:
        return None
    from zonesblanches.coverage import equity

    if equity.unit_kind(units, unit_kind) != "carreau":
        return None
    links, _method = equity._cell_links(units, qpv, "area")
    return links


def qpv_residents(
    units: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame | None = None,
    unit_kind: str | None = None,
) -> np.ndarray | None:
    """QPV residents of each unit, or ``None`` when they are not known.

    Known from a ``population_qpv`` column, or a ``part_qpv`` column (share 0–1 of the unit's
    population), or from QPV perimeters when units are grid cells (:func:`qpv_links`). Commune
    points do not tell where QPV residents live: ``None``.
    """
    pop = units["population"].to_numpy(dtype=float)
    if "population_qpv" in units:
        return np.nan_to_num(units["population_qpv"].to_numpy(dtype=float))
    if "part_qpv" in units:
        return pop * np.clip(np.nan_to_num(units["part_qpv"].to_numpy(dtype=float)), 0, 1)
    links = qpv_links(units, qpv, unit_kind)
    if links is None:
        return None
    share = np.zeros(len(units))
    if len(links):
        sums = links.groupby("unite")["part"].sum()
        share[sums.index.to_numpy()] = np.minimum(sums.to_numpy(), 1.0)
    return pop * share


def unit_weights(
    units: gpd.GeoDataFrame,
    weights: str | Mapping[str, float] = "population",
    *,
    qpv: gpd.GeoDataFrame | None = None,
    unit_kind: str | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """Objective weight of every unit, the known components, and a French label.

    Returns
    -------
    objective : numpy.ndarray
        Weight of each unit in the objective.
    components : dict
        ``population`` always; ``qpv`` and ``men_pauv`` when known.
    label : str
        French description of the objective, e.g. « habitants » or « 1 × habitants + 2 ×
        habitants des QPV ».
    """
    components = {"population": np.nan_to_num(units["population"].to_numpy(dtype=float))}
    residents = qpv_residents(units, qpv, unit_kind)
    if residents is not None:
        components["qpv"] = residents
    if "men_pauv" in units:
        components["men_pauv"] = np.nan_to_num(units["men_pauv"].to_numpy(dtype=float))
    if isinstance(weights, str):
        mix = {weights.strip().lower(): 1.0}
    elif isinstance(weights, Mapping):
        mix = {str(k).strip().lower(): v for k, v in weights.items()}
    else:
        raise ParameterError(
            "Pondération invalide : « population », « qpv », « men_pauv » ou un mélange "
            "{nom: coefficient}."
        )
    unknown = [k for k in mix if k not in WEIGHTS]
    if unknown:
        raise ParameterError(
            f"Pondération inconnue : {', '.join(unknown)}. Pondérations possibles : "
            + ", ".join(WEIGHTS)
            + "."
        )
    coeffs: dict[str, float] = {}
    for name, value in mix.items():
        try:
            c = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"Coefficient illisible pour « {name} » : {value}.") from None
        if not (math.isfinite(c) and c >= 0):
            raise ParameterError(f"Le coefficient de « {name} » doit être positif ou nul.")
        coeffs[name] = c
    if not any(c > 0 for c in coeffs.values()):
        raise ParameterError("Au moins un coefficient de pondération doit être positif.")
    for name in coeffs:
        if name not in components:
            if name == "qpv":
                raise ParameterError(
                    "Les habitants des QPV ne sont pas connus pour ces unités : il faut le "
                    "carroyage INSEE (--carreaux FICHIER) et les périmètres des QPV (--qpv "
                    "FICHIER). Avec un point par commune, on ne sait pas où vivent les habitants "
                    "des quartiers."
                )
            raise ParameterError(
                "Le nombre de ménages pauvres (men_pauv) n'est pas connu pour ces unités : il "
                "faut le carroyage INSEE Filosofi (--carreaux FICHIER)."
            )
    objective = sum(c * components[name] for name, c in coeffs.items() if c > 0)
    if len(coeffs) == 1 and next(iter(coeffs.values())) == 1.0:
        label = WEIGHTS[next(iter(coeffs))]
    else:
        label = " + ".join(f"{_fr_num(c, 2)} × {WEIGHTS[n]}" for n, c in coeffs.items() if c > 0)
    return np.asarray(objective, dtype=float), components, label


def parse_weights(text: str) -> str | dict[str, float]:
    """The ``--ponderation`` option: ``"qpv"`` or a mix ``"population:1+qpv:2"``.

    Terms are separated by ``+`` (or ``;``); coefficients accept a decimal comma.

    >>> parse_weights("population:1+qpv:2,5")
    {'population': 1.0, 'qpv': 2.5}
    """
    t = str(text).strip().lower()
    if ":" not in t and "+" not in t:
        return t
    mix: dict[str, float] = {}
    for part in t.replace(";", "+").split("+"):
        if not part.strip():
            continue
        name, _, value = part.partition(":")
        try:
            coeff = float(value.strip().replace(",", ".")) if value.strip() else 1.0
        except ValueError:
            raise ParameterError(
                f"Pondération illisible : « {text} » (exemple : population:1+qpv:2)."
            ) from None
        mix[name.strip()] = coeff
    return mix


# --------------------------------------------------------------------------------------------
# The suggestion
# --------------------------------------------------------------------------------------------


@dataclass
class SiteSuggestion:
    """Sites suggested for one category and mode, with their figures and the solver's proof.

    Attributes
    ----------
    table : pandas.DataFrame
        Ranked picks of the main method (exact when asked for and solved, else greedy), French
        columns: ``rang``, ``candidate_id``, ``origine``, ``libelle``, ``code_insee``, ``nom``
        (commune), ``code_epci``, ``nom_epci``, ``population_gagnee``, ``habitants_qpv_gagnes``
        (only when QPV residents are known), ``menages_pauvres_gagnes`` (when known),
        ``valeur_gagnee`` (the objective, when it is not the population), ``unites_gagnees``,
        ``couverture_cumulee`` (people within the threshold after this pick, existing services
        included), ``part_couverte_cumulee`` (0–1).
    sites : geopandas.GeoDataFrame
        The same rows as points: the map layer of the suggested sites.
    catchments : geopandas.GeoDataFrame
        Units newly within the threshold, each attributed to the first pick that reaches it:
        ``rang``, ``candidate_id``, unit keys, ``population``, ``temps_min`` (to that site) and
        the unit's geometry: the map layer of the new catchments.
    greedy, exact : Selection or None
        The solvers' selections (``None`` when not run).
    gap : float or None
        ``(exact − greedy) / exact`` when both ran (0 when both are 0).
    notes : list of str
        French notes to print with the table.
    coverage : CoverageResult or None
        The coverage with the existing services the suggestion started from (drawn under the
        suggested sites by :func:`zonesblanches.maps.suggestion_map`).
    """

    table: pd.DataFrame
    sites: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    categorie: str
    mode: str
    threshold: float
    k: int
    weights_label: str
    population: float
    covered_before: float
    n_candidates: int
    greedy: Selection | None = None
    exact: Selection | None = None
    gap: float | None = None
    territory: str = ""
    method_description: str = ""
    exact_table: pd.DataFrame | None = None
    greedy_table: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    coverage: CoverageResult | None = field(default=None, repr=False)

    @property
    def main(self) -> Selection:
        """The selection shown in :attr:`table`."""
        if self.exact is not None and self.exact.status == "optimal":
            return self.exact
        return self.greedy if self.greedy is not None else self.exact  # type: ignore[return-value]

    def bound_text(self) -> str:
        """French sentence stating the greedy guarantee (empty if greedy did not run)."""
        g = self.greedy
        if g is None:
            return ""
        factor = greedy_bound_factor(max(self.k, 1))
        text = (
            f"Garantie de la sélection gloutonne : au moins {_fr_pct(factor)} du meilleur choix "
            f"possible pour {self.k} site(s) (1 − (1 − 1/k)^k, jamais moins de 1 − 1/e ≈ 63,2 %)."
        )
        if math.isfinite(g.upper_bound) and g.upper_bound > 0:
            text += (
                f" Sur ces données, le meilleur choix ne peut pas dépasser "
                f"{_fr_int(g.upper_bound)} {self.weights_label} gagnés : la sélection gloutonne "
                f"en atteint au moins {_fr_pct(g.value / g.upper_bound)}."
            )
        return text

    def __repr__(self) -> str:
        return (
            f"SiteSuggestion(categorie={self.categorie!r}, mode={self.mode!r}, "
            f"threshold={self.threshold}, k={self.k}, picks={list(self.table['candidate_id'])})"
        )


def _fr_num(value: float, digits: int = 1) -> str:
    return fr_num(value, digits, trim=True)


def _as_result(result_or_inputs: CoverageResult | Mapping) -> CoverageResult:
    if isinstance(result_or_inputs, CoverageResult):
        return result_or_inputs
    if isinstance(result_or_inputs, Mapping):
        inputs = dict(result_or_inputs)
        missing = [k for k in ("demand", "services", "thresholds") if k not in inputs]
        if missing:
            raise ParameterError(
                "Entrées incomplètes pour la suggestion de sites : il manque "
                + ", ".join(missing)
                + " (ou passez directement un résultat de compute_coverage)."
            )
        return compute_coverage(
            inputs["demand"],
            inputs["services"],
            inputs["thresholds"],
            categories=inputs.get("categories"),
            models=inputs.get("models"),
            territory=inputs.get("territory", ""),
            unit_kind=inputs.get("unit_kind", "commune"),
        )
    raise ParameterError(
        "suggest_sites attend un résultat de compute_coverage ou un dictionnaire "
        "{demand, services, thresholds, models}."
    )


def _check_category(categorie: str) -> str:
    code = categorie if categorie in CATEGORIES else category_code(categorie)
    if code is None:
        raise ParameterError(
            f"Catégorie inconnue : « {categorie} ». Catégories possibles : "
            + ", ".join(CATEGORIES)
            + "."
        )
    return code


def _default_candidates(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    from zonesblanches.coverage.candidates import commune_candidates
    from zonesblanches.geodata.reference import load_communes

    if "code_insee" not in units:
        raise ParameterError(
            "Indiquez les sites candidats (candidates=...) : les unités n'ont pas de code commune."
        )
    communes = load_communes()
    communes = communes[communes["code_insee"].isin(set(units["code_insee"].astype(str)))]
    return commune_candidates(communes.reset_index(drop=True))


def _selection_table(
    selection: Selection,
    candidates: gpd.GeoDataFrame,
    reach: ReachMatrix,
    open_units: np.ndarray,
    components: dict[str, np.ndarray],
    objective: np.ndarray,
    weights_is_population: bool,
    population: float,
    covered_before: float,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Ranked table of a selection, and for each open unit the rank that first reaches it."""
    m = reach.matrix
    first_rank = np.zeros(m.shape[1], dtype=np.int64)  # 0: not reached
    first_time = np.full(m.shape[1], np.nan)
    rows = []
    cumulative = covered_before
    for rank, i in enumerate(selection.picks, start=1):
        cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
        times = m.data[m.indptr[i] : m.indptr[i + 1]]
        new = first_rank[cols] == 0
        cols, times = cols[new], times[new]
        first_rank[cols] = rank
        first_time[cols] = times
        units = open_units[cols]
        pop = float(components["population"][units].sum())
        cumulative += pop
        cand = candidates.iloc[i]
        row = {
            "rang": rank,
            "candidate_id": cand["candidate_id"],
            "origine": cand.get("origine", ""),
            "libelle": cand.get("libelle", ""),
            "code_insee": cand.get("code_insee", ""),
            "nom": cand.get("nom", ""),
            "code_epci": cand.get("code_epci", ""),
            "nom_epci": cand.get("nom_epci", ""),
            "population_gagnee": pop,
        }
        if "qpv" in components:
            row["habitants_qpv_gagnes"] = float(components["qpv"][units].sum())
        if "men_pauv" in components:
            row["menages_pauvres_gagnes"] = float(components["men_pauv"][units].sum())
        if not weights_is_population:
            row["valeur_gagnee"] = float(objective[units].sum())
        row["unites_gagnees"] = len(units)
        row["couverture_cumulee"] = cumulative
        row["part_couverte_cumulee"] = cumulative / population if population > 0 else np.nan
        rows.append(row)
    columns = [
        "rang",
        "candidate_id",
        "origine",
        "libelle",
        "code_insee",
        "nom",
        "code_epci",
        "nom_epci",
        "population_gagnee",
        *(["habitants_qpv_gagnes"] if "qpv" in components else []),
        *(["menages_pauvres_gagnes"] if "men_pauv" in components else []),
        *([] if weights_is_population else ["valeur_gagnee"]),
        "unites_gagnees",
        "couverture_cumulee",
        "part_couverte_cumulee",
    ]
    return pd.DataFrame(rows, columns=columns), first_rank, first_time


def suggest_sites(
    result_or_inputs: CoverageResult | Mapping,
    categorie: str,
    mode: str,
    k: int,
    *,
    candidates: gpd.GeoDataFrame | None = None,
    weights: str | Mapping[str, float] = "population",
    method: str = "greedy",
    threshold: float | None = None,
    model=None,
    qpv: gpd.GeoDataFrame | None = None,
    reach: ReachMatrix | None = None,
    exact_max_pairs: int | None = EXACT_MAX_PAIRS,
    time_limit_s: float = 120.0,
    progress: bool = True,
) -> SiteSuggestion:
    """Choose ``k`` new sites for a category to serve the most people not yet served.

    Parameters
    ----------
    result_or_inputs : CoverageResult or mapping
        The coverage of the territory with the existing services (kept), or the inputs of
        :func:`~zonesblanches.coverage.analysis.compute_coverage` as a dict (``demand``,
        ``services``, ``thresholds``, optional ``models``).
    categorie : str
        Category code (or a label, e.g. « garage solidaire »).
    mode : str
        Travel mode; must be one of the result's modes.
    k : int
        Number of new sites (1 or more).
    candidates : geopandas.GeoDataFrame, optional
        Candidate sites (:mod:`zonesblanches.coverage.candidates`); default: one per commune of
        the demand units.
    weights : str or dict
        ``population``, ``qpv``, ``men_pauv`` or a mix ``{"population": 1, "qpv": 2}``.
    method : {"greedy", "exact", "both"}
        Greedy only (default), exact only, or both with the greedy gap.
    threshold : float, optional
        Minutes; default the result's threshold for ``mode``.
    model : TravelTimeModel, optional
        Default: the result's model for ``mode``.
    qpv : geopandas.GeoDataFrame, optional
        QPV perimeters, to count QPV residents of grid cells.
    reach : ReachMatrix, optional
        A precomputed reach over all the result's units (skips its computation).
    exact_max_pairs : int, optional
        Larger reduced instances are not solved exactly (a note says so).
    time_limit_s : float
        Time limit of the exact solver.
    progress : bool
        Progress bars.

    Returns
    -------
    SiteSuggestion
    """
    result = _as_result(result_or_inputs)
    categorie = _check_category(categorie)
    if categorie not in result.categories:
        raise ParameterError(
            f"La catégorie « {category_label(categorie)} » n'a pas été analysée dans ce "
            "résultat : relancez l'analyse avec cette catégorie."
        )
    mode = mode_code(mode)
    if mode not in result.thresholds:
        raise ParameterError(
            f"Le mode « {mode} » n'a pas été analysé dans ce résultat (modes analysés : "
            + ", ".join(result.thresholds)
            + ")."
        )
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise ParameterError(f"Nombre de sites illisible : « {k} ».") from None
    if k < 1:
        raise ParameterError(f"Le nombre de sites à proposer doit être au moins 1 (reçu {k}).")
    if method not in METHODS:
        raise ParameterError(
            f"Méthode inconnue : « {method} ». Méthodes possibles : greedy (gloutonne), "
            "exact (exacte), both (les deux)."
        )
    threshold = float(result.thresholds[mode] if threshold is None else threshold)
    if not (math.isfinite(threshold) and threshold > 0):
        raise ParameterError(f"Le seuil doit être un nombre de minutes positif (reçu {threshold}).")
    model = model or result.models[mode]
    units = result.units
    if candidates is None:
        candidates = _default_candidates(units)
    if not isinstance(candidates, gpd.GeoDataFrame) or "candidate_id" not in candidates:
        raise ParameterError(
            "Les sites candidats doivent être un GeoDataFrame avec une colonne « candidate_id » "
            "(voir zonesblanches.coverage.candidates)."
        )
    if len(candidates) == 0:
        raise DataError("Aucun site candidat : rien à proposer.")
    candidates = candidates.reset_index(drop=True)

    objective, components, label = unit_weights(units, weights, qpv=qpv, unit_kind=result.unit_kind)
    weights_is_population = label == WEIGHTS["population"]
    population = float(components["population"].sum())
    times = units[time_col(categorie, mode)].to_numpy(dtype=float)
    covered = times <= threshold
    covered_before = float(components["population"][covered].sum())
    open_units = np.flatnonzero(~covered & ((objective > 0) | (components["population"] > 0)))

    notes: list[str] = []
    if reach is None:
        r = reach_matrix(model, candidates, units.iloc[open_units], threshold, progress=progress)
    else:
        if reach.shape != (len(candidates), len(units)):
            raise ParameterError(
                "La matrice d'accessibilité fournie ne correspond pas aux candidats et aux unités."
            )
        sub = reach.matrix[:, open_units].tocsr()
        r = ReachMatrix(sp.csr_matrix(sub), threshold, reach.mode, reach.method)
    w_open = objective[open_units]

    greedy = exact = None
    if method in ("greedy", "both"):
        greedy = greedy_max_cover(r, w_open, k)
        if len(greedy.picks) < k:
            notes.append(
                f"Seuls {len(greedy.picks)} site(s) apportent des {label} supplémentaires : "
                "les autres candidats ne touchent personne de plus."
            )
    if method in ("exact", "both"):
        try:
            exact = exact_max_cover(
                r,
                w_open,
                k,
                time_limit_s=time_limit_s,
                warm_start=greedy.picks if greedy is not None else None,
                max_pairs=exact_max_pairs,
            )
        except ParameterError as err:
            notes.append(f"{err} Résultat glouton seul.")
            if greedy is None:
                greedy = greedy_max_cover(r, w_open, k)
        else:
            if exact.status != "optimal":
                notes.append(
                    f"Résolution exacte arrêtée avant la preuve d'optimalité (statut CBC : "
                    f"{exact.status}, limite {_fr_num(time_limit_s, 0)} s) : sa valeur est la "
                    "meilleure trouvée, pas forcément l'optimum."
                )
    gap = None
    if greedy is not None and exact is not None and exact.status == "optimal":
        gap = 0.0 if exact.value <= 0 else max(0.0, (exact.value - greedy.value) / exact.value)

    tables = {}
    ranks = {}
    for sel in (greedy, exact):
        if sel is not None:
            tables[sel.method] = _selection_table(
                sel,
                candidates,
                r,
                open_units,
                components,
                objective,
                weights_is_population,
                population,
                covered_before,
            )
    main = "exact" if exact is not None and exact.status == "optimal" else "greedy"
    if main not in tables:
        main = "exact"
    table, first_rank, first_time = tables[main]
    ranks = first_rank

    sites = gpd.GeoDataFrame(
        table.copy(),
        geometry=candidates.geometry.iloc[
            [int(i) for i in (exact if main == "exact" else greedy).picks]
        ].to_numpy(),
        crs=candidates.crs,
    )
    reached = np.flatnonzero(ranks > 0)
    keys = [c for c in ("unit_id", "code_insee", "nom", "code_epci", "population") if c in units]
    catch = units.iloc[open_units[reached]][[*keys, units.geometry.name]].copy()
    pick_ids = table.set_index("rang")["candidate_id"]
    catch.insert(0, "rang", ranks[reached])
    catch.insert(1, "candidate_id", pick_ids.reindex(ranks[reached]).to_numpy())
    catch["temps_min"] = first_time[reached]
    catch = gpd.GeoDataFrame(
        catch.sort_values(["rang", "population"], ascending=[True, False]).reset_index(drop=True),
        geometry=units.geometry.name,
        crs=units.crs,
    )

    if "qpv" not in components:
        notes.append(
            "Habitants des QPV non comptés : il faut le carroyage INSEE et les périmètres des "
            "QPV (avec un point par commune, on ne sait pas où vivent les habitants des "
            "quartiers)."
            if result.unit_kind == "commune"
            else "Habitants des QPV non comptés : passez les périmètres des QPV (--qpv FICHIER) "
            "pour les compter."
        )
    if result.unit_kind == "commune":
        notes.append(
            "Population rattachée au point intérieur de chaque commune : une commune entière "
            "est gagnée ou non."
        )
    model_desc = getattr(model, "description", "")
    if model_desc:
        notes.append(model_desc)
    solver = {
        "greedy": "sélection gloutonne (évaluation paresseuse)",
        "exact": "programme linéaire en nombres entiers (CBC)",
    }
    described = " et ".join(solver[s.method] for s in (greedy, exact) if s is not None)
    return SiteSuggestion(
        table=table,
        sites=sites,
        catchments=catch,
        categorie=categorie,
        mode=mode,
        threshold=threshold,
        k=k,
        weights_label=label,
        population=population,
        covered_before=covered_before,
        n_candidates=len(candidates),
        greedy=greedy,
        exact=exact,
        gap=gap,
        territory=result.territory,
        method_description=described,
        exact_table=tables["exact"][0] if "exact" in tables else None,
        greedy_table=tables["greedy"][0] if "greedy" in tables else None,
        notes=list(dict.fromkeys(notes)),
        coverage=result,
    )


__all__ = [
    "EXACT_MAX_PAIRS",
    "METHODS",
    "WEIGHTS",
    "Selection",
    "SiteSuggestion",
    "covered_value",
    "exact_max_cover",
    "greedy_bound_factor",
    "greedy_max_cover",
    "parse_weights",
    "qpv_links",
    "qpv_residents",
    "reduce_instance",
    "suggest_sites",
    "unit_weights",
]
