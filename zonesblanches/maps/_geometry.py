"""Shared helpers of the map modules: argument checks and geometry for drawing.

Used by :mod:`zonesblanches.maps.carto` (the coverage map), :mod:`zonesblanches.maps.plans`
(suggestion and scenario maps) and :mod:`zonesblanches.maps.figures` (static figures).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError, unknown_values
from zonesblanches.modes import mode_code

# --------------------------------------------------------------------------- validation


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def select_pairs(result: CoverageResult, categorie, mode) -> list[tuple[str, str]]:
    cats = _as_list(categorie) or list(result.categories)
    unknown = [c for c in cats if c not in result.categories]
    if unknown:
        raise unknown_values(
            "Catégorie absente du résultat", unknown, "Catégories analysées", result.categories
        )
    modes = [mode_code(m, allow_transit=True) for m in (_as_list(mode) or list(result.modes))]
    missing = [m for m in modes if m not in result.modes]
    if missing:
        raise unknown_values("Mode absent du résultat", missing, "Modes analysés", result.modes)
    return [(c, m) for c in dict.fromkeys(cats) for m in dict.fromkeys(modes)]


def check_frame(frame, name: str, columns: Sequence[str] = ()) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ParameterError(
            f"« {name} » doit être un GeoDataFrame (reçu : {type(frame).__name__})."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"Colonne(s) manquante(s) dans « {name} » : {', '.join(missing)}.")
    if frame.crs is None:
        raise ParameterError(f"« {name} » n'a pas de système de coordonnées (CRS).")
    return frame


# --------------------------------------------------------------------------- geometry


def auto_tolerance(bounds: Sequence[float]) -> float:
    """Simplification tolerance (metres) suited to the zoom at which a map of ``bounds``
    (lon/lat) opens and is read: about 0.015 % of the extent's diagonal, 5 to 40 m.

    A region (≈ 350 km across) gets 40 m, invisible up to zoom 12; an EPCI (≈ 30 km) gets 5 m.
    """
    lon0, lat0, lon1, lat1 = bounds
    dx = (lon1 - lon0) * 111_320 * math.cos(math.radians((lat0 + lat1) / 2))
    dy = (lat1 - lat0) * 110_540
    return float(min(40.0, max(5.0, 0.00015 * math.hypot(dx, dy))))


def decimals_for(tolerance_m: float) -> int:
    """Decimals of degrees kept: 4 (≈ 7-11 m) for coarse maps, 5 (≈ 1 m) for fine ones."""
    return 4 if tolerance_m >= 20 else 5


def simplify_coverage(geoms: gpd.GeoSeries, tolerance_m: float, decimals: int) -> np.ndarray:
    """Simplify polygons that tile the plane (communes, EPCI) without opening gaps between
    neighbours (GEOS coverage simplification, in Lambert-93), then round to ``decimals``.

    Returns an array of shapely geometries in EPSG:4326.
    """
    metric = geoms.to_crs(LAMBERT93).values
    valid = ~(shapely.is_empty(metric) | pd.isna(metric))
    out = np.array(metric, dtype=object)
    if valid.any() and tolerance_m > 0:
        try:
            out[valid] = shapely.coverage_simplify(metric[valid], tolerance_m)
        except shapely.errors.GEOSException:  # not a clean coverage: simplify one by one
            out[valid] = shapely.simplify(metric[valid], tolerance_m, preserve_topology=True)
    wgs = gpd.GeoSeries(out, crs=LAMBERT93).to_crs(WGS84).values
    return round_coords(np.asarray(wgs, dtype=object), decimals)


def round_coords(geoms: np.ndarray, decimals: int) -> np.ndarray:
    snapped = shapely.set_precision(geoms, 10.0**-decimals)
    return shapely.transform(snapped, lambda xy: np.round(xy, decimals))
