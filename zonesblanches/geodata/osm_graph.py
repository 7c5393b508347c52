"""From the ways of an OSM source to one mode's road network: the shared core of the OSM loaders.

:mod:`~zonesblanches.geodata.osm_read` (PBF, OSM XML), :mod:`~zonesblanches.geodata.osm`
(GraphML, and the file entry points) and :mod:`~zonesblanches.geodata.overpass` (downloads) all
produce the same intermediate form, :class:`_Ways` (tag sets and their segments, before any mode
rule); :func:`_build_graph` applies one mode's rules to it (a :class:`_Graph`, what
:mod:`~zonesblanches.geodata.osm_cache` stores) and :func:`_cut` cuts a territory's
:class:`~zonesblanches.geodata.network.RoadNetwork` from that graph. The territory polygon, the
margin per mode and the progress bars they share live here too.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.osm_rules import RULES_VERSION, NetworkRules, evaluate_ways
from zonesblanches.modes import MODES, mode_code

OSM_ATTRIBUTION = "© les contributeurs d'OpenStreetMap, licence ODbL"
"""Attribution to show wherever a network built here is used."""

DEFAULT_MARGIN_M: dict[str, float] = {"marche": 2_000.0, "velo": 5_000.0, "voiture": 10_000.0}
"""Default margin around a territory polygon, per mode: about 25 minutes walking, 20 minutes
cycling, 10-15 minutes driving, so that a service just across the boundary, and the roads
leading to it, stay in the network."""

EARTH_RADIUS_M = 6_371_009.0
"""Mean Earth radius used for edge lengths (same value as OSMnx)."""

MIN_EDGE_TIME_S = 0.01
"""Floor of an edge's travel time: two OSM nodes may share the same position (length 0)."""

_GRAPH_ARRAYS = ("node_id", "lon", "lat", "tail", "head", "length_m", "kmh_code", "kmh_table")
_REVERSED_ONEWAY = frozenset({"-1", "reverse", "T"})  # values OSMnx reverses the nodes for

_TO_L93 = Transformer.from_crs(WGS84, LAMBERT93, always_xy=True)
_TO_WGS84 = Transformer.from_crs(LAMBERT93, WGS84, always_xy=True)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _progress(enabled: bool, **kwargs) -> tqdm:
    """A tqdm bar with French labels, silent when disabled or when stderr is not a terminal."""
    disable = not enabled or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(disable=disable, leave=False, **kwargs)


PHASE_SECONDS: dict[str, float] = {}
"""Wall time of each phase of the last :func:`load_networks` call (read by
``scripts/bench_osm.py``): ``opl`` (libosmium reads the file and writes the highway ways),
``analyse`` (pyarrow parses them), ``segments``, ``graphes``, ``cache_lecture``,
``cache_ecriture``, ``decoupe``."""


@contextmanager
def _phase(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        PHASE_SECONDS[name] = PHASE_SECONDS.get(name, 0.0) + time.perf_counter() - start


def _modes(modes: str | Iterable[str]) -> list[str]:
    if isinstance(modes, str):
        modes = [modes]
    out: list[str] = []
    for m in modes:
        code = mode_code(m)
        if code not in out:
            out.append(code)
    if not out:
        raise ParameterError("Aucun mode de déplacement demandé.")
    return out


def _margins(modes: list[str], margin_m) -> dict[str, float]:
    """Margin per mode from ``None`` (defaults), one number, or a mode → metres mapping."""
    if margin_m is None:
        return {m: DEFAULT_MARGIN_M[m] for m in modes}
    if isinstance(margin_m, Mapping):
        given = {mode_code(k): v for k, v in margin_m.items()}
        values = {m: given.get(m, DEFAULT_MARGIN_M[m]) for m in modes}
    else:
        values = dict.fromkeys(modes, margin_m)
    for value in values.values():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ParameterError(
                f"La marge doit être un nombre de mètres positif (reçu : {value!r})."
            )
    return {m: float(v) for m, v in values.items()}


SERVICE_DETOUR = 1.5
"""Route length over straight-line distance covered by :func:`service_margin_m` (French roads:
1.2 to 1.4 on average; 1.5 leaves room for one-ways and river crossings)."""


def service_margin_m(origins, services, modes: Iterable[str] = tuple(MODES)) -> dict[str, float]:
    """Margin around a territory that keeps every origin's nearest service in the network.

    For each category of ``services``, the straight-line distance from each origin to its
    nearest service of that category is measured; the margin is :data:`SERVICE_DETOUR` times
    the largest of them (at least :data:`DEFAULT_MARGIN_M`). Every route up to that detour
    from an origin of the territory to that service stays inside the territory plus margin,
    so a clipped network gives the same times as the whole file for those routes; a fastest
    route longer than the detour (a motorway far around) may be missed, and the time found is
    then an over-estimate, never an under-estimate.

    Parameters
    ----------
    origins : geopandas.GeoSeries or GeoDataFrame
        Points of the territory (commune points, grid cells), any CRS.
    services : geopandas.GeoDataFrame
        Service points with a ``categorie`` column (all one category without it).
    modes : iterable of str
        Modes to return a margin for.

    Returns
    -------
    dict
        Mode → margin in metres.
    """
    from scipy.spatial import cKDTree

    modes = _modes(modes)
    reach = 0.0
    pts = origins.geometry.to_crs(LAMBERT93) if len(origins) else None
    srv = services.to_crs(LAMBERT93) if len(services) else services
    if pts is not None and len(srv):
        oxy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
        oxy = oxy[np.isfinite(oxy).all(axis=1)]
        groups = srv.groupby("categorie").groups if "categorie" in srv.columns else {"": srv.index}
        for index in groups.values():
            g = srv.geometry.loc[index]
            sxy = np.column_stack([g.x.to_numpy(), g.y.to_numpy()])
            sxy = sxy[np.isfinite(sxy).all(axis=1)]
            if len(sxy) and len(oxy):
                reach = max(reach, float(cKDTree(sxy).query(oxy)[0].max()))
    return {m: max(DEFAULT_MARGIN_M[m], SERVICE_DETOUR * reach) for m in modes}


def _as_polygon(polygon) -> Polygon | MultiPolygon:
    """A WGS84 (Multi)Polygon from a shapely geometry, a GeoSeries or a GeoDataFrame."""
    if hasattr(polygon, "geometry") and hasattr(polygon, "crs"):  # GeoSeries / GeoDataFrame
        series = polygon.geometry
        if series.crs is not None:
            series = series.to_crs(WGS84)
        polygon = series.union_all()
    if not isinstance(polygon, Polygon | MultiPolygon):
        raise ParameterError(
            "Le territoire doit être un polygone (shapely Polygon ou MultiPolygon, ou un "
            f"GeoDataFrame de polygones), pas {type(polygon).__name__}."
        )
    if polygon.is_empty:
        raise ParameterError("Le polygone du territoire est vide.")
    minx, miny, maxx, maxy = polygon.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ParameterError(
            "Le polygone du territoire doit être en longitude/latitude (WGS84, EPSG:4326) ; "
            f"ses bornes {polygon.bounds} ressemblent à des coordonnées projetées."
        )
    if not polygon.is_valid:
        parts = shapely.get_parts(shapely.make_valid(polygon))
        polygon = shapely.union_all([p for p in parts if isinstance(p, Polygon | MultiPolygon)])
    return polygon


def _km2(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def _area_km2(polygon: BaseGeometry) -> float:
    return shapely.transform(polygon, _to_l93_xy).area / 1e6


def _to_l93_xy(coords: np.ndarray) -> np.ndarray:
    x, y = _TO_L93.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _to_wgs84_xy(coords: np.ndarray) -> np.ndarray:
    x, y = _TO_WGS84.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _clip_polygon(polygon: BaseGeometry, margin_m: float) -> BaseGeometry:
    """The territory buffered by ``margin_m`` metres (buffer in Lambert-93), in WGS84."""
    if margin_m <= 0:
        return polygon
    buffered = shapely.transform(polygon, _to_l93_xy).buffer(margin_m)
    return shapely.transform(buffered, _to_wgs84_xy)


def _haversine(lon1, lat1, lon2, lat2) -> np.ndarray:
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


# The intermediate form: ways (tags) and their segments, before any mode rule
# --------------------------------------------------------------------------------------------


_HAVERSINE_BLOCK = 1 << 20
"""Segments whose lengths are computed at a time (the formula's temporaries are ~10 arrays)."""


def _index_dtype(n_nodes: int, n_ways: int) -> type:
    """int32 positions when they fit (always, in practice), else int64."""
    return np.int32 if max(n_nodes, n_ways) < 2**31 else np.int64


@dataclass
class _Ways:
    """All usable-looking ways of a source, as arrays.

    Segment ``k`` goes from node ``seg_u[k]`` to ``seg_v[k]`` (positions in ``node_id``) in the
    way's node order; ``seg_way[k]`` is its "way", one of ``n_ways`` tag sets: for OSM files,
    the ways sharing the same relevant tags share one; for GraphML, each edge is one. ``tags``
    has one row per tag set (``row_owner`` is ``None``) or, for GraphML edges with list-valued
    attributes, several rows whose owner is ``row_owner[i]`` (sorted).
    """

    tags: pd.DataFrame
    row_owner: np.ndarray | None
    n_ways: int
    seg_way: np.ndarray
    seg_u: np.ndarray
    seg_v: np.ndarray
    seg_len: np.ndarray
    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    fmt: str

    @classmethod
    def from_segments(
        cls, tags, row_owner, n_ways, seg_way, u_id, v_id, seg_len, node_id, lon, lat, fmt
    ) -> _Ways:
        """Build from segments given by node ids, all in ``node_id`` (sorted and unique): the
        ids become positions, and :meth:`from_positions` does the rest (same position, same
        id: it drops the segments from a node to itself)."""
        # positions as int32 (a source has far fewer than 2**31 nodes and tag sets): the
        # segments of a region are held while each mode's graph is built (issue 17: memory)
        index = _index_dtype(len(node_id), n_ways)
        seg_u = np.searchsorted(node_id, u_id).astype(index)
        del u_id
        seg_v = np.searchsorted(node_id, v_id).astype(index)
        del v_id
        return cls.from_positions(
            tags, row_owner, n_ways, seg_way, seg_u, seg_v, seg_len, node_id, lon, lat, fmt
        )

    @classmethod
    def from_positions(
        cls, tags, row_owner, n_ways, seg_way, seg_u, seg_v, seg_len, node_id, lon, lat, fmt
    ) -> _Ways:
        """Build from segments given by positions in ``node_id`` (sorted, unique); segments
        from a node to itself are dropped. ``seg_len`` ``None``: great-circle lengths."""
        if seg_len is not None:
            seg_len = np.asarray(seg_len, dtype=float)
        keep = seg_u != seg_v
        if not keep.all():
            seg_way, seg_u, seg_v = seg_way[keep], seg_u[keep], seg_v[keep]
            if seg_len is not None:
                seg_len = seg_len[keep]
        del keep
        index = _index_dtype(len(node_id), n_ways)
        seg_u, seg_v = seg_u.astype(index, copy=False), seg_v.astype(index, copy=False)
        if seg_len is None:
            seg_len = np.empty(len(seg_u))
            for i in range(0, len(seg_u), _HAVERSINE_BLOCK):  # element-wise: same values
                u, v = seg_u[i : i + _HAVERSINE_BLOCK], seg_v[i : i + _HAVERSINE_BLOCK]
                seg_len[i : i + _HAVERSINE_BLOCK] = _haversine(lon[u], lat[u], lon[v], lat[v])
        return cls(
            tags,
            row_owner,
            n_ways,
            seg_way.astype(index, copy=False),
            seg_u,
            seg_v,
            seg_len,
            node_id,
            lon,
            lat,
            fmt,
        )


def _graph_node_arrays(graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        ids = np.fromiter(graph.nodes, dtype=np.int64, count=len(graph))
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError("Les identifiants de nœuds du graphe ne sont pas des entiers OSM.") from exc
    xs = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), dtype=float, count=len(graph))
    ys = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), dtype=float, count=len(graph))
    crs = str(graph.graph.get("crs", WGS84)).lower()
    if crs not in ("epsg:4326", "wgs84", "+init=epsg:4326"):
        xs, ys = Transformer.from_crs(crs, WGS84, always_xy=True).transform(xs, ys)
    order = np.argsort(ids)
    return ids[order], np.asarray(xs)[order], np.asarray(ys)[order]


def _tag_value(value):
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if value is None or isinstance(value, str):
        return value
    return str(value)


# From ways to one mode's RoadNetwork
# --------------------------------------------------------------------------------------------


def _way_access(ways: _Ways, mode: str, rules: NetworkRules):
    acc = evaluate_ways(ways.tags, mode, rules)
    if ways.row_owner is None:
        return acc.forward, acc.backward, acc.forward_kmh, acc.backward_kmh
    owner = ways.row_owner
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    out_f = np.zeros(ways.n_ways, dtype=bool)
    out_b = np.zeros(ways.n_ways, dtype=bool)
    kf = np.full(ways.n_ways, np.nan)
    kb = np.full(ways.n_ways, np.nan)
    idx = owner[starts]
    out_f[idx] = np.logical_and.reduceat(acc.forward, starts)
    out_b[idx] = np.logical_and.reduceat(acc.backward, starts)
    kf[idx] = np.minimum.reduceat(acc.forward_kmh, starts)
    kb[idx] = np.minimum.reduceat(acc.backward_kmh, starts)
    return out_f, out_b, kf, kb


@dataclass
class _Graph:
    """One mode's network over everything read from a source, before any territory cut.

    This is what the cache holds (one per source and mode): nodes sorted by OSM id with their
    WGS84 coordinates, edges sorted by (tail, head), and each edge's speed as a code into a
    small table (a network has a few dozen distinct speeds), so that travel times are
    recomputed exactly. ``extent`` is the lon/lat box the source was read in (``None``: the
    whole source); the network is complete for any clip inside it.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    length_m: np.ndarray
    kmh_code: np.ndarray
    kmh_table: np.ndarray
    extent: tuple | None
    meta: dict

    def covers(self, clip: BaseGeometry | None) -> bool:
        """True if every way a ``clip`` needs was read (always true for a whole source)."""
        if self.extent is None:
            return True
        if clip is None:
            return False
        x0, y0, x1, y1 = clip.bounds
        e = self.extent
        return e[0] <= x0 and e[1] <= y0 and x1 <= e[2] and y1 <= e[3]

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in _GRAPH_ARRAYS}


def _code_type(n_speeds: int) -> np.dtype:
    """The smallest unsigned integer type holding the codes ``0 … n_speeds`` of a speed table
    (``uint8`` for the dozens of speeds a network has): an edge's code is one byte, not four,
    in each of a region's three graphs (issue 17: memory)."""
    return np.min_scalar_type(n_speeds)


def _build_graph(ways: _Ways, mode: str, rules: NetworkRules, extent, meta: dict) -> _Graph:
    """Apply one mode's rules to every segment read (no territory cut).

    Speeds are coded per way (a source has thousands of tag sets, millions of edges), and the
    nodes kept are found with a mask over the source's nodes rather than a sort of the edge
    ends: the same result as ``np.unique``, with far smaller temporary arrays (issue 17: the
    region's three networks must fit in 1.5 GB).
    """
    fwd_way, bwd_way, kmh_f, kmh_b = _way_access(ways, mode, rules)
    table = np.unique(np.concatenate([kmh_f[fwd_way], kmh_b[bwd_way]]))
    # codes as small as the table allows (one byte up to 255 speeds: a network has dozens);
    # codes of ways the mode cannot use may equal len(table) and are never read
    code_type = _code_type(len(table))
    code_f = np.searchsorted(table, kmh_f).astype(code_type)
    code_b = np.searchsorted(table, kmh_b).astype(code_type)
    f = fwd_way[ways.seg_way]
    b = bwd_way[ways.seg_way]
    tail = np.concatenate([ways.seg_u[f], ways.seg_v[b]])
    head = np.concatenate([ways.seg_v[f], ways.seg_u[b]])
    length = np.concatenate([ways.seg_len[f], ways.seg_len[b]])
    code = np.concatenate([code_f[ways.seg_way[f]], code_b[ways.seg_way[b]]])
    del f, b
    if ways.fmt == "graphml":
        # each two-way GraphML edge exists in both directions already: drop the exact copies
        # that adding reverse edges made (OSM sources need no such pass; parallel edges are
        # harmless, RoadNetwork.to_csr keeps the fastest)
        time_s = _edge_time(length, table[code])
        order = np.lexsort((time_s, length, head, tail))
        tail, head, length, code, time_s = (a[order] for a in (tail, head, length, code, time_s))
        dup = np.zeros(len(tail), dtype=bool)
        dup[1:] = (
            (tail[1:] == tail[:-1])
            & (head[1:] == head[:-1])
            & (length[1:] == length[:-1])
            & (time_s[1:] == time_s[:-1])
        )
        tail, head, length, code = tail[~dup], head[~dup], length[~dup], code[~dup]
    # speeds no edge uses (ways without segments) leave the table
    present = np.bincount(code, minlength=len(table)) > 0
    table, code = table[present], (np.cumsum(present) - 1).astype(code_type)[code]
    kept = np.zeros(len(ways.node_id), dtype=bool)
    kept[tail] = True
    kept[head] = True
    used = np.flatnonzero(kept)
    position = (np.cumsum(kept, dtype=np.int64) - 1).astype(np.int32)
    del kept
    tail, head = position[tail], position[head]
    del position
    order = np.lexsort((length, head, tail))
    # sorted one array at a time, each unsorted one let go at once
    tail = tail[order]
    head = head[order]
    length = length[order].astype(float, copy=False)
    code = code[order]
    del order
    meta = {
        **meta,
        "mode": mode,
        "rules_version": RULES_VERSION,
        "rules": rules.as_dict(),
        "format": ways.fmt,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return _Graph(
        node_id=ways.node_id[used].astype(np.int64),
        lon=ways.lon[used].astype(float),
        lat=ways.lat[used].astype(float),
        tail=tail,
        head=head,
        length_m=length,
        kmh_code=code,
        kmh_table=table.astype(float),
        extent=None if extent is None else tuple(float(v) for v in extent),
        meta=meta,
    )


def _edge_time(length_m: np.ndarray, kmh: np.ndarray) -> np.ndarray:
    return np.maximum(length_m / (kmh / 3.6), MIN_EDGE_TIME_S)


def _coded_edge_time(length_m: np.ndarray, code: np.ndarray, kmh_table: np.ndarray) -> np.ndarray:
    """:func:`_edge_time` of edges whose speed is ``kmh_table[code]``, bit for bit, in the one
    array it returns: each speed is turned into metres per second once, in the table (the same
    division by 3.6 as per edge), and each edge's speed is replaced by its time in place."""
    time_s = (np.asarray(kmh_table, dtype=float) / 3.6)[code]
    np.divide(length_m, time_s, out=time_s)
    return np.maximum(time_s, MIN_EDGE_TIME_S, out=time_s)


def _cut(graph: _Graph, clip: BaseGeometry | None, source: str, meta: dict) -> RoadNetwork:
    """The network of a territory: like OSMnx's ``truncate_by_edge``, on this mode's graph.

    Nodes inside ``clip`` (WGS84) and their direct neighbours are kept, with every edge between
    two kept nodes; nodes left without an edge are dropped. ``clip=None`` keeps everything.
    Temporary arrays are masks (one byte per edge) and the graph's int32 positions: a region's
    walking network has millions of edges (issue 17: memory).
    """
    tail, head = graph.tail, graph.head
    edges = slice(None)  # every edge: views, not copies, of the graph's arrays
    if clip is not None:
        x0, y0, x1, y1 = clip.bounds
        inside = (graph.lon >= x0) & (graph.lon <= x1) & (graph.lat >= y0) & (graph.lat <= y1)
        candidates = np.flatnonzero(inside)
        shapely.prepare(clip)
        inside[candidates] = shapely.intersects_xy(
            clip, graph.lon[candidates], graph.lat[candidates]
        )
        touching = inside[tail]
        touching |= inside[head]
        kept = inside
        kept[tail[touching]] = True
        kept[head[touching]] = True
        del touching
        mask = kept[tail]
        mask &= kept[head]
        del kept
        if not mask.all():
            edges = mask
    mode = graph.meta["mode"]
    if len(tail[edges]) == 0:
        raise DataError(
            f"Aucune voie utilisable {MODES[mode].label} dans {source} "
            "(après application des règles d'accès et du découpage au territoire)."
        )
    if isinstance(edges, slice):  # every node of the graph has an edge
        used = slice(None)
        tail, head = tail.astype(np.int64), head.astype(np.int64)
    else:
        # the nodes of the kept edges, in order (what np.unique would give), and their new
        # positions, from a mask over the graph's nodes rather than a sort of the edge ends
        tail, head = tail[edges], head[edges]
        node_kept = np.zeros(len(graph.node_id), dtype=bool)
        node_kept[tail] = True
        node_kept[head] = True
        used = np.flatnonzero(node_kept)
        position = np.cumsum(node_kept, dtype=np.int64) - 1
        del node_kept
        tail, head = position[tail], position[head]
        del position
    x, y = _TO_L93.transform(graph.lon[used], graph.lat[used])
    length = graph.length_m[edges].astype(float, copy=False)
    return RoadNetwork(
        mode=mode,
        node_id=graph.node_id[used],
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        tail=tail,
        head=head,
        length_m=length,
        time_s=_coded_edge_time(length, graph.kmh_code[edges], graph.kmh_table),
        source=source,
        meta={**graph.meta, **meta},
    )
