"""The pieces of a partitioned run's tasks (:mod:`zonesblanches.partitioned`): what a task
receives and the network a département computes on.

- :class:`_Units` and :class:`_Services`: a département's units and the run's services as
  Lambert-93 arrays (a GeoDataFrame of points costs a WKB round trip per point and task);
  :func:`_straight_line_columns` computes the straight-line columns with one k-d tree query
  per category for every mode, the trees kept by the worker;
- the cut network of a département (:func:`_network_part`), the model that snaps points as the
  whole run's model does (:class:`_CutNetworkModel`), and the whole network's node times of a
  category computed once per run in the cluster (:func:`_whole_node_times`).

Everything here must give the arrays of :func:`zonesblanches.coverage.analysis.compute_coverage`
bit for bit (tested by ``tests/test_partitioned.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.coverage.traveltime import StraightLineModel, _metric_xy
from zonesblanches.crs import LAMBERT93
from zonesblanches.geodata.network import RoadNetwork

DISTANCE_SAFETY = 1.02
"""Radius of a cut network over ``time × fastest speed``: Lambert-93 distances differ from the
great-circle edge lengths by less than 0.5 % in metropolitan France; 2 % covers it."""

DISTANCE_SLACK_M = 100.0
"""Metres added to every radius (rounding of coordinates)."""


def route_radius_m(minutes, speed_ms):
    """The radius (metres, Lambert-93) a route of ``minutes`` at ``speed_ms`` stays within,
    with :data:`DISTANCE_SAFETY` and :data:`DISTANCE_SLACK_M`; numbers or arrays."""
    return minutes * 60.0 * speed_ms * DISTANCE_SAFETY + DISTANCE_SLACK_M


def fastest_speed_ms(model: NetworkModel) -> float:
    """The fastest speed on ``model`` (m/s): its fastest edge (edges of zero length move
    nobody, read once by the model) or its off-network walking leg, whichever is faster."""
    return max(model.edge_speed_range[1], 0.0, model.walk_speed_ms)


# --------------------------------------------------------------------------------------------
# The cut network of a département
# --------------------------------------------------------------------------------------------


@dataclass
class _NetworkShare:
    """One mode's network of the whole run, as the driver prepares it for the cuts."""

    network: RoadNetwork
    snappable: np.ndarray  # bool per node: where the whole run's model snaps points
    service_node: np.ndarray  # node of each service of the run in the whole network (-1: none)
    speed_ms: float  # fastest way to move on it: its fastest edge, or the walking leg
    options: dict
    margin_m: float  # first radius tried around each unit
    # The whole run's model's own graph and k-d tree of snappable nodes, when the driver has
    # them: a worker computing on the whole network uses them instead of building its own
    # (1-1.5 s of processor per mode and worker for a region; a pickled k-d tree loads in a
    # tenth of its build time; :func:`_whole_share` sends its answers for the run's points
    # instead, a :class:`_SnapTable`). Same arrays, so the same times and snapped nodes.
    graph: object = None
    tree: object = None
    # osm=: what the command line prints about the network read (partition_osm.read_notes)
    notes: dict | None = None


def _share(model: NetworkModel, services: gpd.GeoDataFrame, minutes: float) -> _NetworkShare:
    """The whole run's network of one mode; the first radius tried is the reach of the
    threshold (``minutes``) at the fastest speed of the network."""
    net = model.require_network()
    snappable = np.zeros(net.n_nodes, dtype=bool)
    snappable[model.snap_nodes] = True
    speed = fastest_speed_ms(model)
    options = {
        "max_snap_m": model.max_snap_m,
        "walk_speed_kmh": model.walk_speed_kmh,
        "engine": model.engine,
    }
    exact = type(model) is NetworkModel  # its tree is over xy[snap_nodes], as a cut model's
    return _NetworkShare(
        net,
        snappable,
        model.snap(services.geometry).node,
        speed,
        options,
        route_radius_m(minutes, speed),
        model.graph if exact else None,
        getattr(model, "_tree", None) if exact else None,
    )


class _CutNetworkModel(NetworkModel):
    """A :class:`NetworkModel` on a cut of a larger network, snapping points where the larger
    network's model snaps them (its largest strongly connected component), not to the cut's
    own largest component."""

    def __init__(
        self,
        network: RoadNetwork,
        snappable: np.ndarray,
        memo: bool = False,
        *,
        graph: object = None,
        tree: object = None,
        **opts,
    ):
        # NetworkModel's attributes (options checked by the whole run's model), without its
        # graph: a task that only reads node times computed elsewhere (a département on the
        # whole network) snaps its units and never builds the graph (2-3 s for a region).
        from scipy.spatial import cKDTree

        from zonesblanches.modes import MODES, mode_code

        self.mode = mode_code(network.mode)
        self.network = network
        self.max_snap_m = float(opts.get("max_snap_m", 1000.0))
        walk = opts.get("walk_speed_kmh")
        self.walk_speed_kmh = float(MODES["marche"].speed_kmh if walk is None else walk)
        self.component = "all"
        self.engine = opts.get("engine", "auto")
        self._hierarchy = None
        self._passes = 0.0
        self._engine_log = []
        self._graph = graph  # the whole run's model's graph (same network), or built on use
        self.snap_nodes = np.flatnonzero(snappable)
        if tree is None:
            xy = np.column_stack([np.asarray(network.x, float), np.asarray(network.y, float)])
            tree = cKDTree(xy[self.snap_nodes])
        self._tree = tree
        self._memo: dict | None = {} if memo else None

    @property
    def graph(self):
        """The graph :class:`NetworkModel` builds, built on first use."""
        if self._graph is None:
            from zonesblanches.coverage.graph import prepare_graph

            self._graph = prepare_graph(self.network, reverse=True)
        return self._graph

    def node_times(self, destinations: gpd.GeoSeries, *, limit_s: float = np.inf) -> tuple:
        """:meth:`NetworkModel.node_times`, remembered per set of destinations when ``memo``:
        the same arrays for the same points (read only by :meth:`nearest`)."""
        if self._memo is None:
            return super().node_times(destinations, limit_s=limit_s)
        key = self._key(destinations, limit_s)
        if key not in self._memo:
            self._memo[key] = super().node_times(destinations, limit_s=limit_s)
        return self._memo[key]

    @staticmethod
    def _key(destinations: gpd.GeoSeries, limit_s: float) -> tuple:
        values = destinations.values
        xy = np.column_stack([shapely.get_x(values), shapely.get_y(values)])
        return (hashlib.sha256(xy.tobytes()).hexdigest(), str(destinations.crs), float(limit_s))

    def remember(self, destinations: gpd.GeoSeries, times: tuple) -> None:
        """Take ``times`` as :meth:`node_times` of ``destinations`` (computed elsewhere by
        the same method on the same network; :class:`_AtNodes` when kept at some nodes only,
        which replace those of another run)."""
        if self._memo is not None:
            self._memo[self._key(destinations, np.inf)] = times


_WHOLE_MODELS: dict[int, tuple[RoadNetwork, _CutNetworkModel]] = {}
"""Per worker process: the model of the whole network, kept across the tasks that get it
(every département whose margin had to be widened to the whole network), with the node times
of each category's services: one shortest-path pass per category and worker instead of one
per category and département."""


def _part_model(spec: _NetworkPart) -> _CutNetworkModel:
    """The model of a task's network: built for a cut, kept by the worker for the whole."""
    if spec.share < 1.0:
        return _CutNetworkModel(spec.network, spec.snappable, **spec.options)
    hit = _WHOLE_MODELS.get(id(spec.network))
    if hit is None or hit[0] is not spec.network:
        if len(_WHOLE_MODELS) >= 4:  # a few runs' networks at most
            _WHOLE_MODELS.clear()
        built = _CutNetworkModel(
            spec.network, spec.snappable, True, graph=spec.graph, tree=spec.tree, **spec.options
        )
        hit = (spec.network, built)
        _WHOLE_MODELS[id(spec.network)] = hit
    return hit[1]


RADIUS_STEP = 1.25
"""Units are cut around in classes of radius growing by this factor (each radius rounded up
to its class: a wider cut, never a narrower one)."""


def _kept_nodes(xy: np.ndarray, unit_xy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Nodes within ``radius[u]`` of some unit ``u`` (radii rounded up to
    :data:`RADIUS_STEP` classes, one k-d tree query per class)."""
    from scipy.spatial import cKDTree

    keep = np.zeros(len(xy), dtype=bool)
    if np.isinf(radius).any():
        keep[:] = True
        return keep
    low = max(float(radius.min()), 1.0)
    k = np.ceil(np.log(np.maximum(radius, low) / low) / np.log(RADIUS_STEP) - 1e-9)
    for step in np.unique(k):
        r = low * RADIUS_STEP**step
        dist, _ = cKDTree(unit_xy[k == step]).query(xy, k=1, distance_upper_bound=r)
        keep |= np.isfinite(dist)
    return keep


def _cut(share: _NetworkShare, unit_xy: np.ndarray, radius: np.ndarray) -> tuple:
    """The sub-network induced by the nodes within ``radius[u]`` of a unit ``u`` (every edge
    between two of them), with the kept-node mask; ``inf`` anywhere: the whole network."""
    net = share.network
    xy = np.column_stack([np.asarray(net.x, float), np.asarray(net.y, float)])
    keep = _kept_nodes(xy, unit_xy, radius)
    if keep.all():
        return net, keep
    tail, head = np.asarray(net.tail), np.asarray(net.head)
    edges = np.flatnonzero(keep[tail] & keep[head])
    position = np.cumsum(keep) - 1
    sub = RoadNetwork(
        mode=net.mode,
        node_id=np.asarray(net.node_id)[keep],
        x=xy[keep, 0],
        y=xy[keep, 1],
        tail=position[tail[edges]].astype(np.int64),
        head=position[head[edges]].astype(np.int64),
        length_m=np.asarray(net.length_m, float)[edges],
        time_s=np.asarray(net.time_s, float)[edges],
        source=net.source,
        meta=net.meta,
    )
    return sub, keep


@dataclass
class _NetworkPart:
    """What a task needs for one mode on a network: the cut and which services it holds."""

    network: RoadNetwork
    snappable: np.ndarray
    services: np.ndarray  # positions of the run's services whose node is in the cut
    options: dict
    speed_ms: float
    radius_m: np.ndarray  # per unit
    share: float  # nodes of the cut over nodes of the whole network
    fields: dict | None = None  # whole network: category → node times computed once
    graph: object = None  # whole network: the whole run's model's graph and tree, if sent
    tree: object = None


def _network_part(share: _NetworkShare, unit_xy: np.ndarray, radius: np.ndarray) -> _NetworkPart:
    apply_thread_share()
    sub, keep = _cut(share, unit_xy, radius)
    node = share.service_node
    inside = np.flatnonzero((node >= 0) & keep[np.clip(node, 0, None)])
    whole = sub is share.network
    return _NetworkPart(
        sub,
        share.snappable if whole else share.snappable[keep],
        inside,
        share.options,
        share.speed_ms,
        radius,
        float(keep.mean()) if len(keep) else 1.0,
        graph=share.graph if whole else None,
        tree=share.tree if whole else None,
    )


class _SnapTable:
    """The answers of a k-d tree (``query(xy, k=1)``: distance and position of the nearest
    point) for the points a run's tasks will snap, computed once by the driver's own tree.

    A task on the whole network snaps only the run's units and services; the tree of every
    snappable node would cost 53 MB (2.2 M car nodes) to 103 MB (2.7 M on foot) per worker to
    send, where these answers cost 24 bytes per point. Same arrays as the tree's, bit for bit
    (the very query, on the same coordinates); a point outside the table raises instead of
    guessing, as :class:`_AtNodes` does."""

    def __init__(self, tree, xy: np.ndarray):
        xy = np.ascontiguousarray(xy, dtype=float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]  # as the tree, which refuses them
        self.keys, first = np.unique(self._keys(xy), return_index=True)  # sorted bytes
        dist, index = tree.query(xy[first], k=1) if len(first) else (np.zeros(0), first)
        self.distance = np.asarray(dist, dtype=float)
        self.index = np.asarray(index, dtype=np.int64)

    @staticmethod
    def _keys(xy: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(xy, dtype=float).reshape(-1, 2).view("V16").ravel()

    def query(self, xy, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if k != 1:
            raise ValueError("_SnapTable ne répond qu'au plus proche (k=1).")
        keys = self._keys(np.asarray(xy, dtype=float))
        if keys.size == 0:
            return self.distance[:0].copy(), self.index[:0].copy()
        pos = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        if len(self.keys) == 0 or (self.keys[pos] != keys).any():
            raise IndexError("Point à relier au réseau absent de la table des points du calcul.")
        return self.distance[pos], self.index[pos]


def _cut_share(share: _NetworkShare) -> _NetworkShare:
    """What the tasks cutting the network around their units need of a share: without the
    whole model's graph and k-d tree, which only the tasks on the whole network use (sent to
    every worker, they cost the k-d tree's 53-103 MB each at a region's size)."""
    return replace(share, graph=None, tree=None)


def _whole_share(share: _NetworkShare, points: np.ndarray | None = None) -> _NetworkShare:
    """What the tasks on the whole network need of a share: the graph, snappable nodes and
    services' nodes, without the network's node and edge arrays (at 2.2 M car nodes, 190 MB
    per worker for nothing: the graph holds what the tasks read); with ``points`` (Lambert-93
    points of the run's units and services, every point the tasks snap), the k-d tree's
    answers for them (:class:`_SnapTable`) instead of the tree. The share itself when the
    driver's model gave no graph or tree (the worker builds them)."""
    if share.graph is None or share.tree is None:
        return share
    net, none = share.network, np.zeros(0)
    stub = RoadNetwork(
        net.mode, none.astype(np.int64), none, none, none.astype(np.int64),
        none.astype(np.int64), none, none, net.source, net.meta,
    )  # fmt: skip
    tree = share.tree if points is None else _SnapTable(share.tree, points)
    return replace(share, network=stub, tree=tree)


def _whole_part(share: _NetworkShare | _NetworkPart) -> _NetworkPart:
    """The whole network's part, made on the worker from the share it holds (nothing sent
    between workers: each builds, or takes from the share, the model of the whole network
    once, :func:`_part_model`): :func:`_network_part` with an infinite radius, without
    reading the node coordinates (which :func:`_whole_share` leaves out)."""
    if isinstance(share, _NetworkPart):
        return share
    return _NetworkPart(
        share.network,
        share.snappable,
        np.flatnonzero(share.service_node >= 0),
        share.options,
        share.speed_ms,
        np.full(1, np.inf),
        1.0,
        graph=share.graph,
        tree=share.tree,
    )


@dataclass
class _AtNodes:
    """An array of one value per network node, kept at some nodes only (sorted ``nodes``):
    the whole network's node times at the nodes where the run's units snap, which is all a
    département's task reads of them (:meth:`NetworkModel.nearest` reads the node times at
    its origins' nodes). Read at any other node, it raises instead of guessing."""

    nodes: np.ndarray
    values: np.ndarray
    size: int

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            raise TypeError("_AtNodes se lit par numéros de nœuds.")
        if index.size == 0:
            return self.values[:0].copy()
        pos = np.minimum(np.searchsorted(self.nodes, index), max(len(self.nodes) - 1, 0))
        if len(self.nodes) == 0 or (self.nodes[pos] != index).any():
            raise IndexError("Temps demandé à un nœud où aucune unité du calcul n'est reliée.")
        return self.values[pos]


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


def _lambert_xy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lambert-93 coordinates through the very call :class:`StraightLineModel` makes on
    Lambert-93 points (an identity transformation; kept so the numbers are those of
    :func:`compute_coverage` by construction)."""
    import pyproj

    transformer = pyproj.Transformer.from_crs(LAMBERT93, LAMBERT93, always_xy=True)
    tx, ty = transformer.transform(x, y)
    return np.column_stack([np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)])


@dataclass
class _Units:
    """A département's demand units as a task gets them: Lambert-93 coordinates and
    populations (arrays pickle in microseconds; a GeoDataFrame of points costs a WKB round
    trip per point, for each of 96 tasks)."""

    index: pd.Index
    x: np.ndarray
    y: np.ndarray
    population: np.ndarray

    def take(self, positions: np.ndarray) -> _Units:
        return _Units(
            self.index[positions],
            self.x[positions],
            self.y[positions],
            self.population[positions],
        )

    def frame(self) -> gpd.GeoDataFrame:
        """The units as :func:`compute_coverage` reads them (network modes)."""
        return gpd.GeoDataFrame(
            {"population": self.population},
            geometry=gpd.points_from_xy(self.x, self.y),
            crs=LAMBERT93,
            index=self.index,
        )


class _Services:
    """The services of the run, sent once per worker: ids, categories and Lambert-93
    coordinates as arrays. The worker keeps, across its tasks, the k-d tree of each category
    (straight line) and the GeoDataFrame (network modes), built on first use."""

    def __init__(self, ids: np.ndarray, categories: np.ndarray, x: np.ndarray, y: np.ndarray):
        self.ids, self.categories, self.x, self.y = ids, categories, x, y
        self._trees: dict[str, object] = {}
        self._frame: gpd.GeoDataFrame | None = None

    def __getstate__(self) -> dict:
        return {"ids": self.ids, "categories": self.categories, "x": self.x, "y": self.y}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self) -> gpd.GeoDataFrame:
        if self._frame is None:
            self._frame = gpd.GeoDataFrame(
                {"service_id": self.ids, "categorie": self.categories},
                geometry=gpd.points_from_xy(self.x, self.y),
                crs=LAMBERT93,
            )
        return self._frame

    def tree(self, category: str):
        """``(k-d tree or None, ids)`` of a category: what :meth:`StraightLineModel.nearest`
        builds for every call, built here once per worker."""
        if category not in self._trees:
            from scipy.spatial import cKDTree

            mask = self.categories == category
            ids = self.ids[mask]
            tree = cKDTree(_lambert_xy(self.x[mask], self.y[mask])) if mask.any() else None
            self._trees[category] = (tree, ids)
        return self._trees[category]


def task_inputs(units: gpd.GeoDataFrame, services: gpd.GeoDataFrame) -> tuple[_Units, _Services]:
    """Units (``population`` and points) and services (``service_id``, ``categorie`` and
    points) in any CRS, as the tasks take them: Lambert-93 arrays, projected as the
    straight-line model projects."""
    xy = _metric_xy(units.geometry)
    svc = _metric_xy(services.geometry)
    return (
        _Units(units.index, xy[:, 0].copy(), xy[:, 1].copy(), units["population"].to_numpy(float)),
        _Services(
            services["service_id"].to_numpy(dtype=object),
            services["categorie"].to_numpy(dtype=object),
            svc[:, 0].copy(),
            svc[:, 1].copy(),
        ),
    )


def _straight_line_columns(
    units: _Units,
    services: _Services,
    thresholds: Mapping[str, float],
    categories: Sequence[str],
    models: Mapping[str, StraightLineModel],
) -> dict[str, np.ndarray]:
    """The columns :func:`compute_coverage` computes with :class:`StraightLineModel` models,
    with one k-d tree query per category for all modes (the nearest service in distance is
    the nearest in time for every mode; the times are the same distances times each mode's
    factor) and the trees kept by the worker. Same arrays, bit for bit, in the same order."""
    xy = _lambert_xy(units.x, units.y)
    n = len(xy)
    found = {}
    for cat in categories:
        tree, ids = services.tree(cat)
        if tree is None:
            found[cat] = (None, np.full(n, -1, dtype=np.int64), ids)
        else:
            dist, idx = tree.query(xy, k=1)
            found[cat] = (dist, np.asarray(idx, dtype=np.int64), ids)
    cols: dict[str, np.ndarray] = {}
    for mode, threshold in thresholds.items():
        for cat in categories:
            dist, idx, ids = found[cat]
            minutes = np.full(n, np.inf) if dist is None else models[mode].minutes_for_metres(dist)
            cols[time_col(cat, mode)] = minutes
            cols[service_col(cat, mode)] = np.where(
                idx >= 0, ids[np.clip(idx, 0, None)] if len(ids) else "", ""
            )
            cols[blank_col(cat, mode)] = ~(minutes <= threshold)
    return cols


def _with_radius(
    part: _NetworkShare | _NetworkPart, radius: np.ndarray, fields: dict
) -> _NetworkPart:
    """The whole-network part (or the share it is made from), for a département's units, with
    each category's node times (:func:`_whole_node_times`, computed once in the cluster)."""
    part = _whole_part(part)
    return _NetworkPart(
        part.network,
        part.snappable,
        part.services,
        part.options,
        part.speed_ms,
        radius,
        1.0,
        fields,
        part.graph,
        part.tree,
    )


def _category_points(part: _NetworkPart, services: _Services, category: str) -> gpd.GeoSeries:
    """The points of a category's services in a part, as :func:`compute_coverage` takes them."""
    subset = services.frame().iloc[part.services]
    return subset.geometry[(subset["categorie"] == category).to_numpy(dtype=bool)]


def _whole_node_times(
    part: _NetworkShare | _NetworkPart,
    services: _Services,
    category: str,
    unit_xy: np.ndarray | None = None,
    graph: object = None,
) -> tuple | None:
    """Seconds from every node of the whole network to the category's nearest service, and
    which: one task per mode and category, shared by every département sent to the whole
    network (instead of one shortest-path pass per département, or per worker).

    With ``unit_xy`` (Lambert-93 points of the run's units), both kept only at the nodes
    where those units snap (:class:`_AtNodes`): what the départements' tasks read, a few
    kilobytes to send them instead of 16 bytes per node (35 MB per category at 2.2 M nodes,
    copied to every worker that runs a département).

    ``graph``: the whole network's graph, when it was sent to the workers on its own, before
    the rest of the share (:class:`zonesblanches.partition_run._Connection`)."""
    apply_thread_share()
    part = _whole_part(part)
    points = _category_points(part, services, category)
    if not len(points):
        return None
    if hasattr(graph, "load"):  # written to shared memory (partition_run._SharedGraph)
        graph = graph.load()
    if graph is not None and part.graph is None:
        part = replace(part, graph=graph)
    model = _part_model(part)
    if graph is not None and model._graph is None:  # kept from a task that had no graph
        model._graph = graph
    if unit_xy is None:
        return model.node_times(points)
    seconds, nearest = NetworkModel.node_times(model, points)  # not kept by the model
    xy = unit_xy[np.isfinite(unit_xy).all(axis=1)]
    nodes = np.unique(model.snap_nodes[model._tree.query(xy, k=1)[1]]) if len(xy) else xy[:0]
    nodes = nodes.astype(np.int64)
    return (
        _AtNodes(nodes, seconds[nodes], len(seconds)),
        _AtNodes(nodes, nearest[nodes], len(nearest)),
    )


# --------------------------------------------------------------------------------------------
# Threads of a worker
# --------------------------------------------------------------------------------------------

THREAD_SHARE: int | None = None
"""numba threads a task of this worker process may use (its share of the machine's cores, set
by :class:`zonesblanches.worker_threads.NumbaThreads`); ``None``: numba's default (all)."""


def thread_share(cores: int, workers_on_host: int, threads_per_worker: int = 1) -> int:
    """Cores for each task thread of a worker: the machine's cores over the task threads of
    all its workers (at least 1). Two single-threaded workers on 2 cores: 1 each, not 2 each
    (numba's default), which would run 4 busy threads on 2 cores."""
    return max(1, int(cores) // max(1, int(workers_on_host) * int(threads_per_worker)))


def apply_thread_share() -> None:
    """Limit numba's threads to this worker's share, in the calling thread.

    numba's thread count is per calling thread, and a Dask task runs in the worker's executor
    thread, not where the plugin ran: each task calls this first. The contraction hierarchy's
    rounds (:mod:`zonesblanches.coverage.hierarchy`, ``threads=None``) then take this count."""
    if THREAD_SHARE is None:
        return
    import sys

    numba = sys.modules.get("numba")
    if numba is None:  # not imported yet: the plugin's NUMBA_NUM_THREADS sizes its pool
        return
    n = max(1, min(THREAD_SHARE, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
