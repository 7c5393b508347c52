"""Reach matrices: which demand units each candidate site would serve within a time threshold.

The matrix has one row per candidate site and one column per demand unit; entry ``(i, j)`` is
present when unit ``j`` is within ``threshold`` minutes of site ``i`` (travelling from the unit
to the site, as in the coverage analysis) and holds that time in minutes. It is stored as a
:class:`scipy.sparse.csr_matrix` whose *structure* is the reach (an entry may hold 0 minutes: a
site on the unit's own point; use :attr:`ReachMatrix.covers` for the boolean matrix, never
``matrix != 0``).

How it is computed
------------------
Each model answers through its own ``reach`` method (part of the travel-time model protocol,
see :class:`~zonesblanches.coverage.traveltime.TravelTimeModel`); a model without one gets the
generic fallback.

- **Straight-line model** (:class:`~zonesblanches.coverage.traveltime.StraightLineModel`): the
  threshold becomes a radius in metres, and two k-d trees give every pair within it in one call
  (:meth:`scipy.spatial.cKDTree.sparse_distance_matrix`); times are then computed exactly as the
  model computes them, so a pair is kept if and only if the model says it is within the
  threshold.
- **Road-network model** (:class:`~zonesblanches.coverage.network.NetworkModel`): candidates and units are snapped
  with the model's own :meth:`snap`, then a *bounded* Dijkstra (``limit``) runs from each
  distinct candidate node on the model's reversed graph, in chunks whose dense output stays under
  ``max_chunk_bytes`` — or, when many candidates make it pay (``engine="auto"``), one
  many-to-many bucket query on the model's contraction hierarchy. The time of a pair is the unit's walking leg + the network time + the
  site's walking leg, as in :meth:`NetworkModel.nearest`.
- **Any other** ``TravelTimeModel`` (no ``reach`` method): one ``nearest`` call per candidate
  (correct, slower).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError

DEFAULT_CHUNK_BYTES = 256 * 2**20
"""Largest dense Dijkstra output held at once (bytes) when chunking over candidates."""


@dataclass
class ReachMatrix:
    """Candidates × demand units within a threshold, with the travel time of each pair.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Shape ``(n_candidates, n_units)``, float minutes; the sparsity structure is the reach
        (explicit zeros are meaningful: a time of 0 minutes).
    threshold : float
        Threshold in minutes.
    mode : str
        Mode code of the model used.
    method : str
        Method code of the model (``vol_d_oiseau``, ``reseau``…).
    """

    matrix: sp.csr_matrix
    threshold: float
    mode: str = ""
    method: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_candidates, n_units)``."""
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        """Number of (candidate, unit) pairs within the threshold."""
        return int(self.matrix.indptr[-1])

    @property
    def covers(self) -> sp.csr_matrix:
        """Boolean matrix: ``True`` where the unit is within the threshold of the candidate."""
        m = self.matrix
        return sp.csr_matrix(
            (np.ones(len(m.indices), dtype=bool), m.indices, m.indptr), shape=m.shape
        )

    def units_of(self, candidate: int) -> np.ndarray:
        """Positions of the units within the threshold of one candidate (sorted)."""
        m = self.matrix
        return m.indices[m.indptr[candidate] : m.indptr[candidate + 1]]

    def times_of(self, candidate: int) -> np.ndarray:
        """Minutes from the units of :meth:`units_of` to the candidate, same order."""
        m = self.matrix
        return m.data[m.indptr[candidate] : m.indptr[candidate + 1]]


def _xy(points: gpd.GeoSeries) -> np.ndarray:
    """Lambert-93 coordinates of points (centroids for polygons such as grid cells)."""
    if points.crs is None:
        raise ParameterError("Les points n'ont pas de système de coordonnées (CRS) déclaré.")
    geoms = np.asarray(points.to_crs(LAMBERT93).values)
    if len(geoms) == 0:
        return np.zeros((0, 2))
    non_point = shapely.get_type_id(geoms) != 0
    if non_point.any():
        geoms = geoms.copy()
        geoms[non_point] = shapely.centroid(geoms[non_point])
    xy = np.full((len(geoms), 2), np.nan)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xy[ok] = shapely.get_coordinates(geoms[ok])
    return xy


def as_points(units: gpd.GeoSeries) -> gpd.GeoSeries:
    """Points standing for units: the points themselves, or the centroids of polygons."""
    xy = _xy(units)
    return gpd.GeoSeries(shapely.points(xy), index=units.index, crs=LAMBERT93).to_crs(units.crs)


def _row_order(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Stable order grouping ``rows`` (LSD radix sort on 16-bit digits: linear time)."""
    if n_rows <= 2**16:
        return np.argsort(rows.astype(np.uint16), kind="stable")
    order = np.arange(len(rows))
    shift = 0
    while (n_rows - 1) >> shift:
        digit = ((rows[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def _csr_from_pairs(
    rows: np.ndarray, cols: np.ndarray, minutes: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix keeping explicit zeros (``csr_matrix((data, (i, j)))`` may drop them later).

    Pairs must be distinct. Column indices are not sorted within a row.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = _row_order(rows, shape[0])
    cols, minutes = np.asarray(cols)[order], np.asarray(minutes, dtype=float)[order]
    counts = np.bincount(rows, minlength=shape[0])
    index_type = np.int32 if max(shape[1], len(cols)) < 2**31 else np.int64
    indptr = np.zeros(shape[0] + 1, dtype=index_type)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((minutes, cols.astype(index_type), indptr), shape=shape)


def straight_line_reach(
    model, candidates: gpd.GeoSeries, units: gpd.GeoSeries, threshold: float
) -> sp.csr_matrix:
    """Reach with a straight-line model (see the module docstring)."""
    cxy, uxy = _xy(candidates), _xy(units)
    shape = (len(cxy), len(uxy))
    cok, uok = np.flatnonzero(np.isfinite(cxy).all(1)), np.flatnonzero(np.isfinite(uxy).all(1))
    if len(cok) == 0 or len(uok) == 0:
        return _csr_from_pairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0), shape)
    metres_per_minute = 1.0 / float(model.minutes_for_metres(np.array([1.0]))[0])
    radius = threshold * metres_per_minute * (1 + 1e-9) + 1e-6
    pairs = cKDTree(cxy[cok]).sparse_distance_matrix(
        cKDTree(uxy[uok]), radius, output_type="ndarray"
    )
    minutes = model.minutes_for_metres(pairs["v"])
    keep = minutes <= threshold  # the model's own rule, exactly as in the coverage analysis
    return _csr_from_pairs(cok[pairs["i"][keep]], uok[pairs["j"][keep]], minutes[keep], shape)


def _dijkstra_pairs(graph, nodes: np.ndarray, limits: np.ndarray, targets: np.ndarray):
    """Bounded Dijkstra from each of ``nodes`` (one call): pairs (row, target position, s)."""
    dist = dijkstra(graph, directed=True, indices=nodes, limit=float(limits.max()))
    sub = dist[:, targets]
    ci, uj = np.nonzero(sub <= limits[:, None])
    return ci, uj, sub[ci, uj], np.isfinite(dist).sum() / max(len(nodes), 1)


def network_reach(
    model,
    candidates: gpd.GeoSeries,
    units: gpd.GeoSeries,
    threshold: float,
    *,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = True,
    engine: str | None = None,
) -> sp.csr_matrix:
    """Reach with a road-network model: bounded Dijkstra per candidate node, or the hierarchy.

    ``model`` must offer ``graph`` (the reversed travel-time matrix, seconds), ``snap(points)``
    returning ``node`` and ``distance_m`` arrays, and ``walk_speed_ms``, as
    :class:`~zonesblanches.coverage.network.NetworkModel` does; for the hierarchy, a
    ``hierarchy`` attribute (a
    :class:`~zonesblanches.coverage.hierarchy.ContractionHierarchy` of ``graph``, built on
    first access).

    ``engine`` (default: the model's ``engine``, else ``"dijkstra"``): ``"dijkstra"``, chunks
    of bounded Dijkstra; ``"hierarchie"``, one many-to-many bucket query
    (:meth:`~zonesblanches.coverage.hierarchy.ContractionHierarchy.pairs`); ``"auto"``, the
    hierarchy if the model already has one, else Dijkstra on a first chunk, then the hierarchy
    if the candidates left are more than
    :func:`~zonesblanches.coverage.hierarchy.reach_break_even` predicts from the network's
    size and the nodes a search reached on the first chunk. Same pairs either way (times
    equal within float rounding). The choice is recorded in the model's ``engine_log`` when it
    has one.
    """
    from zonesblanches.coverage.hierarchy import EngineUse, reach_break_even

    engine = getattr(model, "engine", "dijkstra") if engine is None else engine
    graph = model.graph
    n_nodes = graph.shape[0]
    walk = float(model.walk_speed_ms)
    csnap, usnap = model.snap(as_points(candidates)), model.snap(as_points(units))
    shape = (len(candidates), len(units))
    limit_s = threshold * 60.0
    cok = np.flatnonzero(csnap.node >= 0)
    uok = np.flatnonzero(usnap.node >= 0)
    c_off = csnap.distance_m / walk  # seconds from the site's node to the site
    u_off = usnap.distance_m / walk  # seconds from the unit to its node
    cok = cok[c_off[cok] <= limit_s]
    uok = uok[u_off[uok] <= limit_s]
    empty = _csr_from_pairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0), shape)
    if len(cok) == 0 or len(uok) == 0:
        return empty
    # Units grouped by node: the network times are read at these nodes only.
    unode, uinv = np.unique(usnap.node[uok], return_inverse=True)
    uinv = uinv.ravel()
    order_u = np.argsort(uinv, kind="stable")
    ustart = np.searchsorted(uinv[order_u], np.arange(len(unode) + 1))
    # Candidates grouped by node: one search per distinct node.
    cnode, cinv = np.unique(csnap.node[cok], return_inverse=True)
    cinv = cinv.ravel()
    node_limit = np.full(len(cnode), -np.inf)
    np.maximum.at(node_limit, cinv, limit_s - c_off[cok])
    chunk = max(1, int(max_chunk_bytes // (8 * max(n_nodes, 1))))
    # Read once: the Dijkstra chunks below never build it, model.hierarchy (after them) may.
    had_hierarchy = getattr(model, "_hierarchy", None) is not None
    use_hierarchy = engine == "hierarchie" or (engine == "auto" and had_hierarchy)
    pieces = []
    bar = tqdm(
        total=len(cnode),
        desc="Zones desservies par les sites candidats",
        unit="site",
        disable=not progress or None,
    )
    done = 0
    reached = 0.0
    while done < len(cnode) and not use_hierarchy:
        sl = slice(done, min(done + chunk, len(cnode)))
        ci, uj, net_s, reached = _dijkstra_pairs(graph, cnode[sl], node_limit[sl], unode)
        pieces.append((ci + done, uj, net_s))
        done = sl.stop
        bar.update(sl.stop - sl.start)
        # The Dijkstra work left against the hierarchy's preprocessing.
        use_hierarchy = engine == "auto" and len(cnode) - done > reach_break_even(
            n_nodes, graph.nnz, reached
        )
    if done < len(cnode):
        ci, uj, net_s = model.hierarchy.pairs(cnode[done:], unode, node_limit[done:])
        pieces.append((ci + done, uj, net_s))
        bar.update(len(cnode) - done)
    bar.close()
    log = getattr(model, "engine_log", None)
    if log is not None:
        even = reach_break_even(n_nodes, graph.nnz, reached) if done else float("nan")
        use = EngineUse("reach", len(cnode), len(cnode) - done, even, n_nodes, reached)
        if not had_hierarchy and done < len(cnode):
            use.build_seconds = model.hierarchy.build_seconds
        log.append(use)
    by_node = np.argsort(cinv, kind="stable")
    cstart = np.searchsorted(cinv[by_node], np.arange(len(cnode) + 1))
    rows_out, cols_out, min_out = [], [], []
    for ci, uj, net_s in pieces:
        # Expand unit nodes to their units, then candidate nodes to their candidates.
        pair, member = _expand(ustart, uj)
        units_idx = uok[order_u[member]]
        secs = net_s[pair] + u_off[units_idx]
        pair2, member2 = _expand(cstart, ci[pair])
        cand = cok[by_node[member2]]
        units_idx = units_idx[pair2]
        total_min = (secs[pair2] + c_off[cand]) / 60.0
        keep = total_min <= threshold
        rows_out.append(cand[keep])
        cols_out.append(units_idx[keep])
        min_out.append(total_min[keep])
    if not rows_out:
        return empty
    return _csr_from_pairs(
        np.concatenate(rows_out), np.concatenate(cols_out), np.concatenate(min_out), shape
    )


def _expand(starts: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand group ids to their members without a Python loop.

    Members of group ``g`` are the positions ``starts[g]:starts[g + 1]`` of a sorted order.
    Returns, for every (input position, member) pair, the input position and the member.
    """
    first = starts[groups]
    counts = starts[groups + 1] - first
    pos = np.repeat(np.arange(len(groups)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return pos, first[pos] + within


def _generic_reach(
    model, candidates: gpd.GeoSeries, units: gpd.GeoSeries, threshold: float, progress: bool
) -> sp.csr_matrix:
    rows, cols, mins = [], [], []
    for i in tqdm(
        range(len(candidates)),
        desc="Zones desservies par les sites candidats",
        unit="site",
        disable=not progress or None,
    ):
        res = model.nearest(units, candidates.iloc[[i]])
        keep = np.flatnonzero(res.minutes <= threshold)
        rows.append(np.full(len(keep), i, dtype=np.int64))
        cols.append(keep)
        mins.append(res.minutes[keep])
    shape = (len(candidates), len(units))
    if not rows:
        return _csr_from_pairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0), shape)
    return _csr_from_pairs(np.concatenate(rows), np.concatenate(cols), np.concatenate(mins), shape)


def reach_matrix(
    model,
    candidates: gpd.GeoSeries | gpd.GeoDataFrame,
    units: gpd.GeoSeries | gpd.GeoDataFrame,
    threshold: float,
    *,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = True,
) -> ReachMatrix:
    """Which units each candidate would serve within ``threshold`` minutes.

    Parameters
    ----------
    model : TravelTimeModel
        The model of the mode: straight-line, road network, or any other (slower path).
    candidates : geopandas.GeoSeries or GeoDataFrame
        Candidate sites (points, any CRS).
    units : geopandas.GeoSeries or GeoDataFrame
        Demand units (points, or polygons taken at their centroid).
    threshold : float
        Minutes.
    max_chunk_bytes : int
        Memory bound of one chunk of Dijkstra output (network model only).
    progress : bool
        Show a progress bar (network and generic models; disabled when not in a terminal).

    Returns
    -------
    ReachMatrix
    """
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ParameterError(f"Seuil invalide : « {threshold} » (minutes).") from None
    if not (math.isfinite(threshold) and threshold > 0):
        raise ParameterError(f"Le seuil doit être un nombre de minutes positif (reçu {threshold}).")
    cand = candidates.geometry if isinstance(candidates, gpd.GeoDataFrame) else candidates
    unit = units.geometry if isinstance(units, gpd.GeoDataFrame) else units
    if callable(getattr(model, "reach", None)):
        matrix = model.reach(
            cand, unit, threshold, max_chunk_bytes=max_chunk_bytes, progress=progress
        )
    else:
        matrix = _generic_reach(model, cand, unit, threshold, progress)
    return ReachMatrix(
        matrix, threshold, str(getattr(model, "mode", "")), str(getattr(model, "method", ""))
    )


__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ReachMatrix",
    "as_points",
    "network_reach",
    "reach_matrix",
    "straight_line_reach",
]
