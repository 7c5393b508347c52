"""The road network of a partitioned run read by the workers, once each, from the OSM file.

Without this module the process that starts a partitioned run reads the network of the whole
territory (plus its margin) and sends it to the cluster: fine for a region, not for France (a
national extract of several GB, tens of millions of nodes). With ``osm=`` given to
:func:`zonesblanches.partitioned.partitioned_diagnostic`, the départements are split in
**groups** (one per worker, neighbours together, about the same number of units each), and a
task per group reads the file **once**, for all the network modes, keeping the ways of the
group's départements plus a margin (the reader's territory cut,
:func:`zonesblanches.geodata.osm.load_networks` with a polygon). Each département of the group is
then cut from that network on the worker that read it (Dask runs a task next to its data).

Why a département cut from its group's network has the times of the whole-territory network
(the one :func:`zonesblanches.api.network_models` reads):

- the group network is read around the group with the whole run's margin ``M`` plus
  :data:`READ_BAND_M`; a cut of radius ``r ≤ M`` around units of the group keeps the nodes
  within ``r`` of a unit and every edge between them: the same nodes and edges as the cut of
  the whole network (both hold every node of the file within ``M`` of the territory);
- the speed bounding a route (the proof of :mod:`zonesblanches.partitioned`) is the fastest
  edge over **all** groups, i.e. of the whole network (the groups cover it);
- a service snaps to the same node as in the whole network when that node is within
  ``READ_BAND_M / 2`` of it and inside the whole network's clip (the whole network's nearest
  node is then in the group network too); any other service (« incertain ») near a
  département's units sends that département to the whole network;
- points snap to the largest strongly connected component of the group network where the
  whole run snaps to that of the whole network: the same nodes as long as no node near the
  units is strongly connected to the rest only through roads more than ``M`` away. This is
  assumed, not proven (true of any real road network at ``M`` of tens of km; checked on the
  synthetic region by ``tests/test_partitioned.py``).

A département whose units need more than ``M`` (the cut's proof fails with a radius beyond
``M``, or an uncertain service is near) gets the whole-territory network, read once per run by
one task (the same read as :func:`zonesblanches.api.network_models`): with a sparse inventory
(the example registry) that is every département, and the per-group read saves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from zonesblanches.coverage.network import NetworkModel
from zonesblanches.coverage.partition_parts import (
    _NetworkShare,
    _Services,
    _share,
    route_radius_m,
)

READ_BAND_M = 10_000.0
"""Metres read around a group beyond the run's margin, so that a service near the group snaps
to its node of the whole network (see the module docstring)."""


@dataclass
class OsmSource:
    """Where and how the workers read the network: the file (same path on every worker), the
    network modes, each mode's margin of the whole run (metres), the threshold of each mode
    and the :class:`NetworkModel` options; ``checked_xy``: Lambert-93 points (the services
    the command line counts) whose distance to each network read is reported
    (:func:`read_notes`)."""

    path: str
    modes: list[str]
    margins: dict[str, float]
    minutes: dict[str, float]
    options: dict
    checked_xy: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass
class _GroupShare:
    """One mode's network read by a group task, as the département cuts use it."""

    share: _NetworkShare
    uncertain: np.ndarray  # services whose node may differ from the whole network's
    margin_m: float  # the whole run's margin: cuts beyond it need the whole network
    speed_edges: tuple  # (length, seconds) of its slowest and fastest edges
    notes: dict  # read_notes of this read


def read_notes(model: NetworkModel, checked_xy: np.ndarray | None) -> dict:
    """What the command line prints about a network read (as for the network read on the
    driver, :func:`zonesblanches.summaries.format_network`): its nodes and edges, and which
    of the checked points (Lambert-93) are more than ``max_snap_m`` from it."""
    import geopandas as gpd

    from zonesblanches.crs import LAMBERT93

    far = np.zeros(0, dtype=bool)
    if checked_xy is not None and len(checked_xy):
        points = gpd.GeoSeries(
            gpd.points_from_xy(checked_xy[:, 0], checked_xy[:, 1]), crs=LAMBERT93
        )
        far = model.snap(points).distance_m > model.max_snap_m
    net = model.network
    return {"nodes": net.n_nodes, "edges": net.n_edges, "max_snap_m": model.max_snap_m, "far": far}


def _l93(geometry) -> shapely.Geometry:
    from zonesblanches.geodata.osm_graph import _to_l93_xy

    return shapely.transform(geometry, _to_l93_xy)


def read_group(
    source: OsmSource, group_wkb: bytes, territory_wkb: bytes, services: _Services
) -> dict[str, _GroupShare]:
    """Read the file once for a group of départements (WGS84 polygon ``group_wkb``): every
    network mode, clipped to the group plus the run's margin plus :data:`READ_BAND_M`."""
    from zonesblanches.geodata.osm import load_networks

    group, territory = shapely.from_wkb(group_wkb), shapely.from_wkb(territory_wkb)
    margins = {m: source.margins[m] + READ_BAND_M for m in source.modes}
    networks = load_networks(
        source.path, source.modes, polygon=group, margin_m=margins, cache=False, progress=False
    )
    territory_l93 = _l93(territory)
    frame = services.frame()
    out = {}
    for mode, net in networks.items():
        model = NetworkModel(net, **source.options)
        share = _share(model, frame, source.minutes[mode])
        snap = model.snap(frame.geometry)
        # inside the whole network's clip (1 km inside it, for the clip's own rounding)
        whole_clip = territory_l93.buffer(max(source.margins[mode] - 1000.0, 0.0))
        shapely.prepare(whole_clip)
        node = np.clip(share.service_node, 0, None)
        inside = shapely.intersects_xy(whole_clip, np.asarray(net.x)[node], np.asarray(net.y)[node])
        near = snap.distance_m < READ_BAND_M / 2
        uncertain = ~((share.service_node >= 0) & inside & near)
        out[mode] = _GroupShare(
            share,
            uncertain,
            source.margins[mode],
            _speed_edges(net.length_m, net.time_s),
            read_notes(model, source.checked_xy),
        )
    return out


def read_whole(source: OsmSource, territory_wkb: bytes, services: _Services) -> dict:
    """The whole territory's networks, read as :func:`zonesblanches.api.network_models`
    reads them (same polygon, same margins): one task per run, for the départements whose
    units need more than the margin."""
    from zonesblanches.geodata.osm import load_networks

    networks = load_networks(
        source.path,
        source.modes,
        polygon=shapely.from_wkb(territory_wkb),
        margin_m=dict(source.margins),
        cache=False,
        progress=False,
    )
    frame = services.frame()
    out = {}
    for m, net in networks.items():
        model = NetworkModel(net, **source.options)
        out[m] = _share(model, frame, source.minutes[m])
        out[m].notes = read_notes(model, source.checked_xy)
    return out


def whole_notes(shares: Mapping[str, _NetworkShare]) -> dict:
    """The :func:`read_notes` of each mode of the whole territory's read."""
    return {m: s.notes for m, s in shares.items()}


def _speed_edges(length: np.ndarray, seconds: np.ndarray) -> tuple:
    """``(length, seconds)`` of the slowest and of the fastest edge with a length (what
    :attr:`NetworkModel.description` reads), to merge the groups' ranges."""
    length, seconds = np.asarray(length, float), np.asarray(seconds, float)
    ok = np.flatnonzero(length > 0)
    if not len(ok):
        return ()
    speed = length[ok] / seconds[ok]
    lo, hi = ok[np.argmin(speed)], ok[np.argmax(speed)]
    return ((length[lo], seconds[lo]), (length[hi], seconds[hi]))


def group_summary(shares: Mapping[str, _GroupShare]) -> dict:
    """What the driver needs from a group's read: per mode, the fastest speed of the group
    network (m/s), its slowest and fastest edges, its source, the uncertain services and its
    :func:`read_notes`."""
    return {
        m: (g.share.speed_ms, g.speed_edges, g.share.network.source, g.uncertain, g.notes)
        for m, g in shares.items()
    }


def mode_share(shares: Mapping[str, _GroupShare], mode: str, speed_ms: float) -> _NetworkShare:
    """One mode of a group's read, with the fastest speed of the whole network (all groups),
    as the département cuts take it."""
    s = shares[mode].share
    return _NetworkShare(s.network, s.snappable, s.service_node, speed_ms, s.options, np.nan)


def groups_of(keys: Sequence[str], xy: np.ndarray, n_groups: int) -> list[list[str]]:
    """Départements in ``n_groups`` groups of about the same number of units, neighbours
    together: sorted along the longer axis of the territory by their units' mean position,
    then cut where the running count of units passes each share."""
    keys = np.asarray(keys)
    depts = sorted(set(keys.tolist()))
    if n_groups <= 1 or len(depts) <= 1:
        return [depts]
    centre = {d: xy[keys == d].mean(axis=0) for d in depts}
    axis = int(np.ptp(xy[:, 1]) > np.ptp(xy[:, 0]))
    order = sorted(depts, key=lambda d: (centre[d][axis], d))
    sizes = np.array([(keys == d).sum() for d in order], float)
    bounds = np.cumsum(sizes) / sizes.sum()
    which = np.minimum((bounds - sizes / (2 * sizes.sum())) * n_groups, n_groups - 1).astype(int)
    groups = [[d for d, w in zip(order, which, strict=True) if w == g] for g in range(n_groups)]
    return [sorted(g) for g in groups if g]


def description_model(mode: str, source: str, edges: Sequence[tuple], options: dict):
    """A stand-in network model whose notes (mode, method, description) are those of the
    whole network: a two-edge network with its slowest and fastest edges (the description
    reads only the speed range and the source)."""
    from zonesblanches.geodata.network import RoadNetwork

    lo = min(edges, key=lambda e: e[0][0] / e[0][1])[0]
    hi = max(edges, key=lambda e: e[1][0] / e[1][1])[1]
    net = RoadNetwork(
        mode=mode,
        node_id=np.arange(3),
        x=np.zeros(3),
        y=np.zeros(3),
        tail=np.array([0, 1]),
        head=np.array([1, 2]),
        length_m=np.array([lo[0], hi[0]]),
        time_s=np.array([lo[1], hi[1]]),
        source=source,
    )
    return NetworkModel(net, **options)


class WorkerReads:
    """The network reads of a run whose workers read the OSM file (``osm=``): one task per
    group of départements, submitted at once; the whole territory's read only if a
    département needs it. Without a source, every method says « no group »."""

    def __init__(self, client, read_by_workers, parts, todo, unit_xy, shared, lean, run):
        territory, self.source, notes = read_by_workers
        self.client, self.shared, self.lean, self.run = client, shared, lean, run
        self.first_radius: dict[str, float] = {}
        self.group_of: dict[str, int] = {}
        self.groups: list[list[str]] = []
        self.group_notes: list[dict] = []
        self._whole = None
        if self.source is None:
            return
        communes = territory.communes
        self.territory_wkb = shapely.to_wkb(territory.geometry)
        depts = sorted(todo) or sorted(parts)
        keys = np.concatenate([np.full(len(parts[d]), d) for d in depts])
        xy = np.concatenate([unit_xy[parts[d]] for d in depts])
        n = max(len(client.scheduler_info().get("workers", {})), 1)
        groups = groups_of(keys, xy, n)
        self.reads = []
        for i, group in enumerate(groups):
            geometry = shapely.union_all(
                communes.loc[communes["code_departement"].isin(group)].geometry.values
            )
            self.reads.append(
                client.submit(
                    read_group,
                    self.source,
                    shapely.to_wkb(geometry),
                    self.territory_wkb,
                    shared,
                    key=f"lecture-osm-groupe{i}-{run}",
                    pure=False,
                )
            )
            self.group_of.update(dict.fromkeys(group, i))
        summaries = client.gather([client.submit(group_summary, r) for r in self.reads])
        self.uncertain = [{m: s[m][3] for m in s} for s in summaries]
        self.groups, self.group_notes = groups, [{m: s[m][4] for m in s} for s in summaries]
        self.shares = {}
        for mode in self.source.modes:
            speed = max(s[mode][0] for s in summaries)
            minutes = self.source.minutes[mode]
            self.first_radius[mode] = route_radius_m(minutes, speed)
            edges = [s[mode][1] for s in summaries if s[mode][1]]
            notes[mode] = description_model(mode, summaries[0][mode][2], edges, self.source.options)
            for i, read in enumerate(self.reads):
                self.shares[i, mode] = client.submit(mode_share, read, mode, speed, pure=False)

    def group_share(self, dept: str, mode: str, radius: np.ndarray, unit_xy: np.ndarray):
        """The future of the group network a département's cut comes from, or ``None`` when
        it needs the whole territory's (radius beyond the margin read, or a service whose
        node in the group network is uncertain near its units)."""
        if self.source is None or dept not in self.group_of or np.isinf(radius).any():
            return None
        if float(radius.max()) > self.source.margins[mode]:
            return None
        from scipy.spatial import cKDTree

        group = self.group_of[dept]
        doubt = np.flatnonzero(self.uncertain[group][mode])
        if len(doubt):
            svc = np.column_stack([self.lean.x[doubt], self.lean.y[doubt]])
            dist, _ = cKDTree(unit_xy).query(svc, k=1)
            if (dist <= float(radius.max()) + READ_BAND_M).any():
                return None
        return self.shares[group, mode]

    def whole(self, mode: str):
        """The whole territory's network of ``mode``, read by one task for all modes."""
        if self._whole is None:
            self._whole = self.client.submit(
                read_whole,
                self.source,
                self.territory_wkb,
                self.shared,
                key=f"lecture-osm-territoire-{self.run}",
                pure=False,
            )
        return self.client.submit(_pick, self._whole, mode, pure=False)

    def network_notes(self) -> dict | None:
        """What was read, for the command line's lines on the network: ``groupes`` (per
        group, its départements and per mode its :func:`read_notes`) and ``territoire`` (per
        mode, those of the whole territory's read, or ``None`` when no département needed
        it). ``None`` without a source."""
        if self.source is None:
            return None
        whole = None
        if self._whole is not None and self._whole.status == "finished":
            # (a failed read fails its départements: the run's French error names them)
            whole = self.client.submit(whole_notes, self._whole, pure=False).result()
        return {
            "groupes": list(zip(self.groups, self.group_notes, strict=True)),
            "territoire": whole,
        }


def _pick(mapping: Mapping, key: str) -> object:
    return mapping[key]
