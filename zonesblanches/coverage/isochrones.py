"""Isochrones: the area from which a service can be reached within a travel time.

For one service (or a whole category) and a threshold ``T``, the polygon is built from the
reachable part of the road network, in the home → service direction:

- ``t(v)`` is the time from node ``v`` to the service (Dijkstra on reversed edges, the
  service's off-network walking leg included; for a category, the time to its nearest service,
  one multi-source pass);
- a directed edge ``u → v`` of travel time ``w`` is reachable over the stretch where
  ``(distance still to drive to v) + t(v) <= T``: the whole edge if ``w + t(v) <= T``, else its
  last fraction ``(T - t(v)) / w`` ending at ``v`` (the *partial edge*); a two-way street is
  two directed edges, so both ends count;
- these stretches (straight segments between the nodes of the
  :class:`~zonesblanches.geodata.network.RoadNetwork`, merged into polylines where they chain)
  and the nodes the services are snapped to are buffered by ``buffer_m`` metres and merged.

The buffer (default 50 m, ≈ 40 s of walking) stands for the homes along the reachable streets:
a point within ``buffer_m`` of a reachable stretch counts as reached, whatever the extra
walking time. Blocks farther than ``buffer_m`` from every reachable street, and streets reached
only beyond ``T``, stay outside: the polygons have holes. Buffers are polygons with
``quad_segs`` segments per quarter circle, inscribed in the exact buffer, so the true buffer
is never exceeded (it is approached to within ``buffer_m × (1 − cos(π / (4 quad_segs)))``,
0.96 m for the defaults).

The union of a category's isochrones equals the isochrone of its nearest-service times (a
point reaches some service within ``T`` exactly when it reaches the nearest one), which is how
it is computed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from zonesblanches._text import fr_plural
from zonesblanches.coverage.network import NetworkModel, multi_source_times
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.network import RoadNetwork

COLUMNS = ["service_id", "categorie", "mode", "seuil_min", "alerte", "geometry"]
"""Columns of the :func:`isochrones` result."""


def _thresholds(thresholds_min: Sequence[float]) -> list[float]:
    if np.isscalar(thresholds_min):
        thresholds_min = [thresholds_min]  # type: ignore[list-item]
    values = [float(t) for t in thresholds_min]
    if not values:
        raise ParameterError("Indiquez au moins un seuil de temps (en minutes).")
    bad = [t for t in values if not (np.isfinite(t) and t > 0)]
    if bad:
        raise ParameterError(
            f"Les seuils de temps doivent être des nombres de minutes positifs (reçu : {bad})."
        )
    return list(dict.fromkeys(values))


def reachable_polygon(
    model: NetworkModel,
    node_seconds: np.ndarray,
    threshold_s: float,
    *,
    buffer_m: float = 50.0,
    quad_segs: int = 4,
    extra_nodes: np.ndarray | None = None,
) -> shapely.Geometry:
    """Polygon (Lambert-93) around the network reachable within ``threshold_s``.

    Parameters
    ----------
    model : NetworkModel
        The network and its snapping.
    node_seconds : numpy.ndarray
        Time from every node to the service(s), ``inf`` where unreachable.
    threshold_s : float
        Threshold in seconds.
    buffer_m : float, default 50
        Buffer around the reachable stretches, in metres.
    quad_segs : int, default 4
        Segments per quarter circle of the buffers.
    extra_nodes : array of int, optional
        Nodes always drawn when reached (the nodes services are snapped to), so that a service
        whose node has no reachable edge within ``threshold_s`` still gets its disc.

    Returns
    -------
    shapely.Geometry
        A valid (Multi)Polygon, possibly empty.
    """
    net = model.require_network()
    tail = np.asarray(net.tail)
    head = np.asarray(net.head)
    w = np.asarray(net.time_s, dtype=float)
    t_head = node_seconds[head]
    live = t_head <= threshold_s
    tail, head, w, t_head = tail[live], head[live], w[live], t_head[live]
    frac = np.minimum((threshold_s - t_head) / w, 1.0)
    keep = frac > 0
    tail, head, frac = tail[keep], head[keep], frac[keep]
    full = frac >= 1.0
    # A two-way street fully reached is the same segment twice: keep one.
    lo, hi = np.minimum(tail[full], head[full]), np.maximum(tail[full], head[full])
    _, first = np.unique(np.column_stack([lo, hi]), axis=0, return_index=True)
    f_tail, f_head = tail[full][first], head[full][first]
    p_tail, p_head, p_frac = tail[~full], head[~full], frac[~full]
    x, y = np.asarray(net.x, float), np.asarray(net.y, float)
    head_xy = np.column_stack([x[p_head], y[p_head]])
    tail_xy = np.column_stack([x[p_tail], y[p_tail]])
    start = head_xy + p_frac[:, None] * (tail_xy - head_xy)
    seg = np.concatenate(
        [
            np.stack(
                [np.column_stack([x[f_tail], y[f_tail]]), np.column_stack([x[f_head], y[f_head]])],
                axis=1,
            ),
            np.stack([start, head_xy], axis=1),
        ]
    )
    parts = []
    if len(seg):
        # Chains of segments merged into polylines: ~4x fewer buffers to union, same area
        # (a polyline's buffer is the union of its segments' buffers, up to the arcs).
        merged = shapely.line_merge(shapely.multilinestrings(shapely.linestrings(seg)))
        parts.append(shapely.get_parts(merged))
    if extra_nodes is not None and len(extra_nodes):
        reached = np.unique(extra_nodes[node_seconds[extra_nodes] <= threshold_s])
        parts.append(shapely.points(np.column_stack([x[reached], y[reached]])))
    geoms = np.concatenate(parts) if parts else np.array([], dtype=object)
    if len(geoms) == 0:
        return shapely.Polygon()
    return _polygonal(shapely.union_all(shapely.buffer(geoms, buffer_m, quad_segs=quad_segs)))


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Valid polygonal version of ``geom`` (collapsed slivers dropped)."""
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(polys) if polys else shapely.Polygon()
    return geom


def isochrones(
    network: RoadNetwork | NetworkModel,
    services: gpd.GeoDataFrame,
    thresholds_min: Sequence[float],
    *,
    category_col: str = "categorie",
    id_col: str = "service_id",
    buffer_m: float = 50.0,
    union: bool = True,
    quad_segs: int = 4,
    progress: bool = True,
) -> gpd.GeoDataFrame:
    """Isochrones of each service and, per category, of their union, for several thresholds.

    Parameters
    ----------
    network : RoadNetwork or NetworkModel
        Network of one mode; pass a :class:`NetworkModel` to reuse its prepared graph and to
        choose its snapping options (``max_snap_m``, ``component``, walking speed).
    services : geopandas.GeoDataFrame
        Service points with a CRS, an id column and a category column.
    thresholds_min : sequence of float
        Thresholds in minutes (e.g. ``[10, 20, 30]``), all computed from one Dijkstra run per
        service.
    category_col, id_col : str
        Column names of the category and of the service id.
    buffer_m : float, default 50
        Buffer around the reachable streets, in metres (see the module docstring).
    union : bool, default True
        Also return, per category and threshold, the union of its services' isochrones.
    quad_segs : int, default 4
        Segments per quarter circle of the buffers.
    progress : bool, default True
        Show a progress bar (only on a terminal).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, columns ``service_id, categorie, mode, seuil_min, alerte, geometry``: one row
        per service and threshold (services in input order, thresholds in the given order),
        then, if ``union``, one row per category and threshold with ``service_id`` set to
        ``None``. ``alerte`` holds a French note for a service far from the network (its
        isochrone is still computed, its walking leg to the network included) or without
        coordinates (empty polygon), else ``""``.
    """
    model = network if isinstance(network, NetworkModel) else NetworkModel(network)
    thresholds = _thresholds(thresholds_min)
    if not isinstance(services, gpd.GeoDataFrame):
        raise ParameterError("Les services doivent être un GeoDataFrame (points).")
    missing = [c for c in (id_col, category_col) if c not in services.columns]
    if missing:
        raise ParameterError(
            fr_plural(len(missing), "Colonne absente", "Colonnes absentes")
            + " du tableau des services : "
            + ", ".join(f"« {c} »" for c in missing)
            + "."
        )
    if not (np.isfinite(buffer_m) and buffer_m > 0):
        raise ParameterError(f"La marge autour des rues doit être positive (reçu : {buffer_m}).")
    if int(quad_segs) < 1:
        raise ParameterError(f"quad_segs doit valoir au moins 1 (reçu : {quad_segs}).")
    snap = model.snap(services.geometry)
    offsets = snap.distance_m / model.walk_speed_ms
    t_max = max(thresholds) * 60.0
    draw = {"buffer_m": float(buffer_m), "quad_segs": int(quad_segs)}
    ids = services[id_col].to_numpy(dtype=object)
    cats = services[category_col].to_numpy(dtype=object)

    rows: list[dict] = []
    bar = tqdm(
        range(len(services)),
        desc="Isochrones des services",
        unit="service",
        disable=not progress or not sys.stderr.isatty(),
    )
    for i in bar:
        node = snap.node[i]
        if node < 0:
            seconds = None
        else:
            seconds = dijkstra(
                model.graph, directed=True, indices=int(node), limit=max(t_max - offsets[i], 0.0)
            )
            seconds = seconds + offsets[i]
        for t in thresholds:
            geom = (
                shapely.Polygon()
                if seconds is None
                else reachable_polygon(
                    model, seconds, t * 60.0, extra_nodes=np.array([node]), **draw
                )
            )
            rows.append(
                {
                    "service_id": ids[i],
                    "categorie": cats[i],
                    "mode": model.mode,
                    "seuil_min": t,
                    "alerte": snap.flags[i],
                    "geometry": geom,
                }
            )
    if union:
        for cat in pd.unique(cats):
            members = np.flatnonzero((cats == cat) & (snap.node >= 0))
            seconds, _ = multi_source_times(
                model.graph, snap.node[members], offsets[members], limit=t_max
            )
            for t in thresholds:
                geom = reachable_polygon(
                    model, seconds, t * 60.0, extra_nodes=snap.node[members], **draw
                )
                rows.append(
                    {
                        "service_id": None,
                        "categorie": cat,
                        "mode": model.mode,
                        "seuil_min": t,
                        "alerte": "",
                        "geometry": geom,
                    }
                )
    geometry = gpd.GeoSeries([r.pop("geometry") for r in rows], crs=LAMBERT93).to_crs(WGS84)
    # Reprojection may make nearly touching rings cross: repair, keeping polygons only.
    geometry = gpd.GeoSeries([_polygonal(g) for g in geometry], crs=WGS84)
    frame = pd.DataFrame({c: [r[c] for r in rows] for c in COLUMNS[1:-1]})
    frame.insert(0, "service_id", pd.Series([r["service_id"] for r in rows], dtype=object))
    frame["seuil_min"] = frame["seuil_min"].astype(float)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=WGS84)
