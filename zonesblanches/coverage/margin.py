"""The margin around a territory: how far outside it a service can still serve its people.

A service just across the border (a garage in the next département) serves the territory's
inhabitants as well as one inside. The analysis therefore takes services, and the road network,
in the territory *plus a margin*: the distance the fastest mode can cover within the largest
threshold. Beyond it no service can be reached within any threshold, so dropping it changes no
result (the margin is a bound, not an approximation):

- straight-line model: time grows with distance (``distance × detour / speed``), so the reach is
  ``minutes / 60 × speed / detour`` km, exactly;
- road network (or any other model): a straight line is never longer than the road, so the reach
  is at most ``minutes / 60 × top speed``, with the top speed of the mode on French roads
  (:data:`TOP_SPEED_KMH`: 130 km/h by car, the motorway limit of the Code de la route R413-2;
  walking and cycling at their constant network speeds from :mod:`.modes`).

The margin is a parameter (``margin_km``): a planner may widen it (a service known to run
shuttles) or set it to 0 (only services inside the territory).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.modes import MODES, mode_code

TOP_SPEED_KMH: dict[str, float] = {
    "voiture": 130.0,
    "velo": 15.0,
    "marche": 4.5,
    "transport": 160.0,
}
"""Fastest speed of each mode on a road network (km/h), used to bound the reach of non
straight-line models; public transport: 160 km/h, the top speed of TER trains."""

_METRIC = "EPSG:2154"
_ROAD = (
    object()
)  # stands for "a road-network model" in margin_km  # Lambert-93, metres, metropolitan France


def reach_km(mode: str, minutes: float, model: object | None = None) -> float:
    """Largest straight-line distance (km) covered by ``mode`` within ``minutes``.

    Parameters
    ----------
    mode : str
        Mode code or alias.
    minutes : float
        Threshold in minutes (≥ 0).
    model : TravelTimeModel, optional
        The model used for this mode. A model with ``speed_kmh`` and ``detour`` (straight-line)
        gives its exact reach; any other model (road network) is bounded with
        :data:`TOP_SPEED_KMH`. ``None``: the straight-line defaults of the mode.
    """
    code = mode_code(mode, allow_transit=True)
    minutes = float(minutes)
    if not minutes >= 0 or math.isinf(minutes):
        raise ParameterError(f"Seuil invalide pour {code} : {minutes} min.")
    if model is None and code not in MODES:
        model = _ROAD  # public transport: bounded by its top speed
    if model is None:
        speed, detour = MODES[code].speed_kmh, MODES[code].detour
    elif hasattr(model, "speed_kmh") and hasattr(model, "detour"):
        speed, detour = float(model.speed_kmh), float(model.detour)
    else:
        speed, detour = TOP_SPEED_KMH[code], 1.0
    return minutes / 60.0 * speed / detour


def margin_km(
    thresholds: Mapping[str, float | list[float]],
    models: Mapping[str, object] | None = None,
    *,
    network: bool = False,
) -> float:
    """The margin of an analysis: the largest :func:`reach_km` over its modes and thresholds.

    ``thresholds`` maps a mode to minutes (or a list of minutes, e.g. isochrone bands).
    ``network=True``: the modes without a model in ``models`` will run on a road network (the
    margin of a network download), so their reach is bounded with :data:`TOP_SPEED_KMH`.
    """
    models = models or {}
    reach = 0.0
    for mode, minutes in thresholds.items():
        values = minutes if isinstance(minutes, list | tuple) else [minutes]
        model = models.get(mode, models.get(mode_code(mode, allow_transit=True)))
        if model is None and network:
            model = _ROAD
        for m in values:
            reach = max(reach, reach_km(mode, m, model))
    return reach


def check_margin(value: float) -> float:
    """A margin given by the user, in km: a finite number ≥ 0, or a French error."""
    try:
        km = float(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"La marge doit être un nombre de kilomètres (reçu : {value!r})."
        ) from None
    if not (km >= 0 and math.isfinite(km)):
        raise ParameterError(f"La marge doit être positive ou nulle, en km (reçu : {value!r}).")
    return km


def distance_to_territory(
    services: gpd.GeoDataFrame, territory: shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries
) -> np.ndarray:
    """Distance (km, Lambert-93) from each service point (any CRS) to the territory: a geometry
    (EPSG:4326) or its polygons (a GeoDataFrame or GeoSeries with a CRS, e.g. the territory's
    communes: no union needed). 0 inside."""
    if len(services) == 0:
        return np.zeros(0)
    parts = _metric_parts(territory)
    points = services.geometry.to_crs(_METRIC).values
    tree = shapely.STRtree(parts)
    out = np.full(len(points), np.inf)
    # A point in a part is at 0 km: a point-in-polygon query (prepared parts) finds those,
    # much faster than measuring to the nearest part's edges (100,000 services: 12 s → 0.3 s).
    inside = np.zeros(len(points), dtype=bool)
    inside[tree.query(points, predicate="intersects")[0]] = True
    out[inside] = 0.0
    rest = np.flatnonzero(~inside)
    if len(rest):
        (rows, _), dist = tree.query_nearest(points[rest], return_distance=True, all_matches=False)
        out[rest[rows]] = dist / 1000.0
    return out


def within_margin(
    services: gpd.GeoDataFrame,
    territory: shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries,
    km: float,
) -> gpd.GeoDataFrame:
    """The services (points, any CRS) at most ``km`` from the territory (see
    :func:`distance_to_territory`)."""
    km = check_margin(km)
    return services.loc[distance_to_territory(services, territory) <= km]


def _metric_parts(
    territory: shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries,
) -> np.ndarray:
    """The territory's non-empty polygons in Lambert-93."""
    if isinstance(territory, gpd.GeoDataFrame | gpd.GeoSeries):
        parts = territory.geometry.to_crs(_METRIC).values
    else:
        parts = gpd.GeoSeries([territory], crs=WGS84).to_crs(_METRIC).values
    return parts[~shapely.is_empty(parts)]


def borders_reached(
    territory: shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries,
    km: float,
    borders: gpd.GeoDataFrame,
    *,
    key: str = "code_pays",
    tolerance_km: float = 0.0,
) -> list[str]:
    """The ``key`` values of the ``borders`` (lines, any CRS) that the territory plus a margin
    of ``km`` reaches: distance (Lambert-93) from the territory to the line at most ``km +
    tolerance_km``. With land borders, the margin crosses into that country over land.
    Order: that of ``borders``."""
    km = check_margin(km)
    parts = _metric_parts(territory)
    if not len(parts) or not len(borders):
        return []
    tree = shapely.STRtree(parts)
    lines = borders.geometry.to_crs(_METRIC).values
    (rows, _), dist = tree.query_nearest(lines, return_distance=True, all_matches=False)
    near = np.full(len(lines), np.inf)
    near[rows] = dist / 1000.0
    return [str(v) for v, d in zip(borders[key], near, strict=True) if d <= km + tolerance_km]


def outside_services(
    services: gpd.GeoDataFrame, distance_km: np.ndarray, units: gpd.GeoDataFrame, km: float
) -> gpd.GeoDataFrame:
    """The services kept in the margin but outside the territory (``0 < distance ≤ km``), with
    ``distance_territoire_km`` and, from the ``service_{categorie}_{mode}`` columns of the
    analysed ``units``, ``unites_servies`` / ``population_servie``: the units (and their
    people) whose nearest service of some indicator it is. Nearest first by distance."""
    from zonesblanches.columns import service_col, time_pairs

    mask = (distance_km > 0) & (distance_km <= km)
    out = services.loc[mask].copy()
    out["distance_territoire_km"] = np.round(distance_km[mask], 3)
    by_service: dict[str, set[int]] = {}
    for cat, mode in time_pairs(units.columns):
        if service_col(cat, mode) in units:
            for pos, sid in enumerate(units[service_col(cat, mode)].to_numpy()):
                if isinstance(sid, str) and sid:
                    by_service.setdefault(sid, set()).add(pos)
    population = units["population"].to_numpy(dtype=float)
    ids = out["service_id"].astype(str) if "service_id" in out else pd.Series("", index=out.index)
    out["unites_servies"] = [len(by_service.get(s, ())) for s in ids]
    out["population_servie"] = [float(population[sorted(by_service.get(s, ()))].sum()) for s in ids]
    order = ["distance_territoire_km"] + (["service_id"] if "service_id" in out else [])
    return out.sort_values(order, kind="stable")
