"""Travel times on the road network: multi-source Dijkstra on a sparse matrix.

The engine answers, for every node of a :class:`~zonesblanches.geodata.network.RoadNetwork`,
« how many seconds to the nearest service, and which one? » in **one** shortest-path pass per
category and mode, whatever the number of services.

How it works
------------
- The network becomes a compressed sparse row matrix ``A[tail, head] = time_s`` (the fastest of
  parallel edges is kept). For the home → service direction the matrix is transposed, so that a
  Dijkstra run *from* the services along reversed edges gives the time *from* each node *to* its
  nearest service on the directed graph (one-way streets are taken in the right direction).
- Each service gets a virtual node with a single edge to the node it is snapped to, weighted by
  its off-network leg (walking time between the service and the network). A multi-source
  Dijkstra from all virtual nodes (:func:`scipy.sparse.csgraph.dijkstra` with ``min_only=True``)
  then returns for every node the smallest ``offset + network time`` and the virtual node it came
  from, i.e. the service. Several services on the same node are handled the same way. Because
  every path starts with exactly one virtual edge, a common positive shift added to all offsets
  (so that a zero offset is never a zero-weight edge, which sparse matrices cannot hold reliably)
  is subtracted exactly at the end.
- :class:`NetworkModel` implements the
  :class:`~zonesblanches.coverage.traveltime.TravelTimeModel` interface: origins and
  destinations are snapped to the nearest network node (k-d tree on Lambert-93 coordinates), the
  off-network leg is counted at walking speed on both ends, and points farther than
  ``max_snap_m`` from the network are flagged (never dropped: their time is still computed).

Component choice
----------------
By default points are snapped to the nearest node of the **largest strongly connected
component** (``component="largest"``), as OSMnx does when it keeps the largest component. Small
components of an extract are mostly artefacts (ways cut at the edge of the extract, private
one-way loops, a mapping error); snapping to them would give a point no route at all. A point
whose nearest node is in another component is therefore tied to the main network, with the
extra walking leg counted and a flag if it exceeds ``max_snap_m``. With ``component="all"``
points snap to the nearest node whatever its component, and a point that cannot reach any
service gets ``inf`` minutes and nearest ``-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from zonesblanches._text import fr_g
from zonesblanches.coverage.graph import (
    check_network,
    check_sources,
    multi_source_times,
    nearest_source_times,
    prepare_graph,
)
from zonesblanches.coverage.hierarchy import ContractionHierarchy, EngineUse, nearest_break_even
from zonesblanches.coverage.reach import DEFAULT_CHUNK_BYTES, network_reach
from zonesblanches.coverage.traveltime import NearestTimes
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.modes import MODES, mode_code

NETWORK = "reseau"
"""Method code of the road-network model, as written in every output that uses it."""

_SPEED_BLOCK = 1 << 20
"""Edges whose speed :meth:`NetworkModel.description` reads at a time."""

COMPONENTS = ("largest", "all")
"""Accepted values of the ``component`` parameter of :class:`NetworkModel`."""

ENGINES = ("auto", "dijkstra", "hierarchie")
"""Accepted values of the ``engine`` parameter of :class:`NetworkModel`."""

__all__ = [
    "COMPONENTS",
    "ENGINES",
    "NETWORK",
    "NetworkModel",
    "Snap",
    "check_network",
    "check_sources",
    "multi_source_times",
    "nearest_source_times",
    "prepare_graph",
]
"""The graph primitives are defined in :mod:`zonesblanches.coverage.graph` and re-exported."""


@dataclass
class Snap:
    """Where points meet the network.

    Attributes
    ----------
    node : numpy.ndarray
        int64 node position of each point; ``-1`` for a point without coordinates.
    distance_m : numpy.ndarray
        Straight-line distance in metres from each point to its node (``nan`` without
        coordinates).
    flags : numpy.ndarray
        Object array of French notes (empty string when nothing to say).
    """

    node: np.ndarray
    distance_m: np.ndarray
    flags: np.ndarray


class NetworkModel:
    """Travel times on a road network (implements ``TravelTimeModel``).

    The time from an origin to a destination is: walking from the origin to its nearest network
    node (straight line, at walking speed), the fastest route on the network, then walking from
    the destination's node to the destination. The nearest destination is the one minimising
    that total, found with one multi-source Dijkstra pass per call.

    Parameters
    ----------
    network : RoadNetwork
        Network of one mode, with travel times in seconds (directed for the car).
    max_snap_m : float, default 1000
        Points farther than this from the network are flagged (their time is still computed).
    walk_speed_kmh : float, optional
        Speed of the off-network leg; default the walking speed of
        :data:`~zonesblanches.modes.MODES` (4.5 km/h).
    component : {"largest", "all"}, default "largest"
        Snap points to the largest strongly connected component only, or to any node (see the
        module docstring).
    engine : {"auto", "dijkstra", "hierarchie"}, default "auto"
        ``"dijkstra"``: one :func:`multi_source_times` pass per query (and bounded Dijkstra
        per candidate in :meth:`reach`), nothing to prepare.
        ``"hierarchie"``: a :class:`~zonesblanches.coverage.hierarchy.ContractionHierarchy`
        built on the first query (seconds for an EPCI), then each query is about ten times
        faster, and :meth:`reach` is one many-to-many bucket query.
        ``"auto"``: Dijkstra until the hierarchy pays for its preprocessing
        (:func:`~zonesblanches.coverage.hierarchy.nearest_break_even` queries, which
        depends on the network's size and density): in :meth:`nearest`
        once the passes already run reach that cost (at most twice the better choice's work),
        in :meth:`reach` when the candidates left would cost more (see
        :func:`~zonesblanches.coverage.reach.network_reach`); a hierarchy once built serves
        every later query. Same results whatever the engine (times equal within float
        rounding). What was done, and the predicted break-even: :attr:`engine_log`.
    keep_network : bool, default True
        Keep ``network`` (the :class:`RoadNetwork`) in :attr:`network`. ``False`` lets it go
        once the model is built: the model still answers every travel-time query (it needs
        only its matrix and its snapping tree), says how large the network was
        (:attr:`n_nodes`, :attr:`n_edges`) and gives the same :attr:`description`, but what
        reads the network's edges (isochrones, the partitioned run) cannot use it. For a
        region's three networks this halves the memory the models hold (issue 17).
    """

    method = NETWORK

    def __init__(
        self,
        network: RoadNetwork,
        *,
        max_snap_m: float = 1000.0,
        walk_speed_kmh: float | None = None,
        component: str = "largest",
        engine: str = "auto",
        keep_network: bool = True,
    ):
        if not isinstance(network, RoadNetwork):
            raise ParameterError("NetworkModel attend un réseau routier (RoadNetwork).")
        self.mode = mode_code(network.mode)
        self.network = network
        self.max_snap_m = float(max_snap_m)
        if not self.max_snap_m > 0:
            raise ParameterError(
                f"La distance maximale au réseau doit être positive (reçu : {max_snap_m})."
            )
        self.walk_speed_kmh = float(
            MODES["marche"].speed_kmh if walk_speed_kmh is None else walk_speed_kmh
        )
        if not (np.isfinite(self.walk_speed_kmh) and self.walk_speed_kmh > 0):
            raise ParameterError(
                f"La vitesse de marche doit être positive (reçu : {walk_speed_kmh})."
            )
        if component not in COMPONENTS:
            raise ParameterError(
                f"Composante inconnue : « {component} ». Valeurs possibles : "
                + ", ".join(COMPONENTS)
                + "."
            )
        self.component = component
        if engine not in ENGINES:
            raise ParameterError(
                f"Moteur inconnu : « {engine} ». Valeurs possibles : " + ", ".join(ENGINES) + "."
            )
        self.engine = engine
        self._hierarchy = None
        self._passes = 0.0  # Dijkstra work done by nearest queries, in full passes
        self._engine_log: list[EngineUse] = []
        self.graph = prepare_graph(network, reverse=True)
        if component == "largest":
            _, labels = connected_components(self.graph, directed=True, connection="strong")
            largest = np.argmax(np.bincount(labels))
            self.snap_nodes = np.flatnonzero(labels == largest)
            del labels
        else:
            self.snap_nodes = np.arange(network.n_nodes)
        if network.n_nodes < 2**31:  # held for every query: 4 bytes a node, not 8 (issue 17)
            self.snap_nodes = self.snap_nodes.astype(np.int32)
        xy = np.empty((len(self.snap_nodes), 2))
        xy[:, 0] = np.asarray(network.x, float)[self.snap_nodes]
        xy[:, 1] = np.asarray(network.y, float)[self.snap_nodes]
        self._tree = cKDTree(xy)
        del xy
        if not keep_network:
            self.release_network()

    def release_network(self) -> None:
        """Let the :class:`RoadNetwork` go (see ``keep_network``); queries still work."""
        network = self.network
        if network is None:
            return
        self._sizes = (network.n_nodes, network.n_edges)
        self._source = network.source
        self._speeds = self._speed_text()
        self.network = None

    @property
    def n_nodes(self) -> int:
        """Number of nodes of the network (also once it is released)."""
        return self._sizes[0] if self.network is None else self.network.n_nodes

    @property
    def n_edges(self) -> int:
        """Number of directed edges of the network (also once it is released)."""
        return self._sizes[1] if self.network is None else self.network.n_edges

    def require_network(self) -> RoadNetwork:
        """The network, or a French error saying it was released."""
        if self.network is None:
            raise ParameterError(
                f"Le réseau {MODES[self.mode].label} de ce modèle a été libéré après sa "
                "construction (keep_network=False) : les isochrones et le calcul par "
                "département le demandent ; construisez le modèle avec keep_network=True."
            )
        return self.network

    def __repr__(self) -> str:
        return (
            f"NetworkModel(mode={self.mode!r}, nodes={self.n_nodes}, "
            f"edges={self.n_edges}, max_snap_m={self.max_snap_m:g}, "
            f"component={self.component!r}, engine={self.engine!r})"
        )

    @property
    def hierarchy(self):
        """The contraction hierarchy of the network (built on first access)."""
        if self._hierarchy is None:
            self._hierarchy = ContractionHierarchy(self.graph)
        return self._hierarchy

    @cached_property
    def _nearest_break_even(self) -> float:
        """:func:`~zonesblanches.coverage.hierarchy.nearest_break_even` of this model's graph,
        which never changes: computed once, read by every :meth:`node_times`."""
        return nearest_break_even(self.graph.shape[0], self.graph.nnz)

    @property
    def engine_log(self) -> list[EngineUse]:
        """What the engine did for this model so far, one :class:`EngineUse` per
        :meth:`reach` and one for all the :meth:`nearest` queries (see
        :func:`~zonesblanches.summaries.format_engine`)."""
        return self._engine_log

    def _log_nearest(self, hierarchy: bool, built: bool) -> None:
        log = self.engine_log
        use = next((u for u in log if u.kind == "nearest"), None)
        if use is None:
            n = self.graph.shape[0]
            use = EngineUse("nearest", 0, 0, self._nearest_break_even, n)
            log.append(use)
        use.count += 1
        use.by_hierarchy += int(hierarchy)
        if built:
            use.build_seconds = self._hierarchy.build_seconds

    @property
    def walk_speed_ms(self) -> float:
        """Speed of the off-network leg in metres per second."""
        return self.walk_speed_kmh / 3.6

    @cached_property
    def edge_speed_range(self) -> tuple[float, float]:
        """Slowest and fastest speed (m/s) over the edges of positive length (``inf, -inf``
        without any), read once and kept: the description and the partitioned run's radius
        both need them (two passes over a region's 5-7 M edges before)."""
        length = np.asarray(self.network.length_m, float)
        time = np.asarray(self.network.time_s, float)
        lo, hi = np.inf, -np.inf
        # by blocks of edges: the same speeds, without four temporary copies of a region's
        # edge arrays (issue 17: memory)
        for i in range(0, len(length), _SPEED_BLOCK):
            part = length[i : i + _SPEED_BLOCK]
            ok = part > 0
            if ok.any():
                speed = part[ok] / time[i : i + _SPEED_BLOCK][ok]
                lo, hi = min(lo, float(speed.min())), max(hi, float(speed.max()))
        return lo, hi

    def _speed_text(self) -> str:
        lo, hi = self.edge_speed_range
        # x → x × 3.6 is monotone in floating point: the extremes of the km/h speeds, bit for
        # bit, as when each edge's speed was converted first
        lo, hi = lo * 3.6, hi * 3.6
        if hi >= lo:
            if hi - lo < 0.05:
                return f"à {fr_g(round(lo, 1))} km/h sur tout le réseau"
            return f"vitesses par tronçon de {lo:.0f} à {hi:.0f} km/h"
        return "temps de parcours par tronçon"

    @property
    def description(self) -> str:
        label = MODES[self.mode].label
        released = self.network is None
        source_name = self._source if released else self.network.source
        source = f" ({source_name})" if source_name else ""
        speeds = self._speeds if released else self._speed_text()
        comp = (
            "de la plus grande partie connexe du réseau"
            if self.component == "largest"
            else "du réseau"
        )
        return (
            f"Temps calculés sur le réseau routier {label}{source}, {speeds}. Chaque point est "
            f"relié au nœud le plus proche {comp} à pied, en ligne droite, à "
            f"{fr_g(self.walk_speed_kmh)} km/h ; les points à plus de {self.max_snap_m:.0f} m du "
            "réseau sont signalés."
        )

    def reach(
        self,
        candidates: gpd.GeoSeries,
        units: gpd.GeoSeries,
        threshold: float,
        *,
        max_chunk_bytes: int | None = None,
        progress: bool = True,
    ) -> sp.csr_matrix:
        """Units within ``threshold`` minutes of each candidate (engine: see the class).

        See :func:`zonesblanches.coverage.reach.network_reach`.
        """
        chunk = DEFAULT_CHUNK_BYTES if max_chunk_bytes is None else max_chunk_bytes
        return network_reach(
            self, candidates, units, threshold, max_chunk_bytes=chunk, progress=progress
        )

    def snap(self, points: gpd.GeoSeries) -> Snap:
        """Snap points to their nearest network node (within the chosen component).

        Parameters
        ----------
        points : geopandas.GeoSeries
            Points with a declared CRS (any; projected to Lambert-93).

        Returns
        -------
        Snap
            Node, distance and French flag of each point, in the input order.
        """
        n = len(points)
        node = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        flags = np.full(n, "", dtype=object)
        if n == 0:
            return Snap(node, dist, flags)
        if points.crs is None:
            raise ParameterError("Les points n'ont pas de système de coordonnées (CRS) déclaré.")
        projected = points.to_crs(LAMBERT93)
        missing = (projected.isna() | projected.is_empty).to_numpy()
        ok = ~missing
        if ok.any():
            geoms = projected[ok]
            if not (geoms.geom_type == "Point").all():
                raise ParameterError(
                    "Les lieux doivent être des points (services, centres de communes, carreaux)."
                )
            xy = np.column_stack([geoms.x.to_numpy(), geoms.y.to_numpy()])
            d, i = self._tree.query(xy, k=1)
            node[ok] = self.snap_nodes[i]
            dist[ok] = d
            far = ok.copy()
            far[ok] = d > self.max_snap_m
            for j in np.flatnonzero(far):
                flags[j] = (
                    f"À {dist[j]:.0f} m du réseau routier (plus de {self.max_snap_m:.0f} m) : "
                    "trajet jusqu'au réseau compté à pied en ligne droite, temps incertain."
                )
        flags[missing] = "Point sans coordonnées : temps non calculé."
        return Snap(node, dist, flags)

    def node_times(
        self, destinations: gpd.GeoSeries, *, limit_s: float = np.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """Seconds from every network node to its nearest destination, and which one.

        The destinations' off-network walking legs are included; destinations without
        coordinates are ignored.

        Returns
        -------
        seconds : numpy.ndarray
            One per node, ``inf`` where no destination is reachable (or beyond ``limit_s``).
        nearest : numpy.ndarray
            Position in ``destinations`` of the nearest destination, ``-1`` if none.
        """
        snap = self.snap(destinations)
        ok = np.flatnonzero(snap.node >= 0)
        offsets = snap.distance_m[ok] / self.walk_speed_ms
        # Ski rental: Dijkstra until the queries already run cost the hierarchy's build, so
        # that the work done is at most about twice that of the better choice in hindsight.
        pays = self._passes >= self._nearest_break_even
        use_hierarchy = self.engine == "hierarchie" or (
            self.engine == "auto" and (self._hierarchy is not None or pays)
        )
        built = use_hierarchy and self._hierarchy is None
        if use_hierarchy:
            seconds, idx = self.hierarchy.nearest(snap.node[ok], offsets, limit=limit_s)
        else:
            seconds, idx = multi_source_times(self.graph, snap.node[ok], offsets, limit=limit_s)
            self._passes += float(np.isfinite(seconds).mean()) if len(seconds) else 0.0
        self._log_nearest(use_hierarchy, built)
        nearest = np.where(idx >= 0, ok[np.clip(idx, 0, None)] if len(ok) else -1, -1)
        return seconds, nearest.astype(np.int64, copy=False)

    def nearest(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries) -> NearestTimes:
        """Minutes from every origin to its nearest destination on the network.

        Origins farther than ``max_snap_m`` from the network are flagged in
        ``NearestTimes.flags``; use :meth:`snap` to flag destinations. Unreachable origins (only
        possible with ``component="all"``) and origins without coordinates get ``inf`` and
        ``-1``.
        """
        snap = self.snap(origins)
        n = len(origins)
        minutes = np.full(n, np.inf)
        nearest = np.full(n, -1, dtype=np.int64)
        if n == 0 or len(destinations) == 0:
            return NearestTimes(minutes, nearest, snap.flags)
        seconds, node_nearest = self.node_times(destinations)
        ok = snap.node >= 0
        total = snap.distance_m[ok] / self.walk_speed_ms + seconds[snap.node[ok]]
        minutes[ok] = total / 60.0
        nearest[ok] = np.where(np.isfinite(total), node_nearest[snap.node[ok]], -1)
        # a destination far from the network (outside a clipped extract) is joined by a long
        # straight walking leg: never silent, every origin it serves says so
        leg = self.snap(destinations).distance_m
        served = np.flatnonzero(nearest >= 0)
        for j in served[leg[nearest[served]] > self.max_snap_m]:
            note = (
                f"Destination la plus proche à {leg[nearest[j]]:.0f} m du réseau routier (plus "
                f"de {self.max_snap_m:.0f} m) : fin du trajet comptée à pied en ligne droite, "
                "temps incertain (extrait découpé trop court, ou rues absentes du réseau à "
                "cet endroit ?)."
            )
            snap.flags[j] = f"{snap.flags[j]} {note}".strip()
        return NearestTimes(minutes, nearest, snap.flags)
