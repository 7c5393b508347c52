"""Shared helpers of the map modules: argument checks and geometry for drawing.

Used by :mod:`zonesblanches.maps.carto` (the coverage map), :mod:`zonesblanches.maps.plans`
(suggestion and scenario maps) and :mod:`zonesblanches.maps.static_base` (static maps).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
        what = "Colonne manquante" if len(missing) == 1 else "Colonnes manquantes"
        raise ParameterError(f"{what} dans « {name} » : {', '.join(missing)}.")
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


def simplify_coverage(
    geoms: gpd.GeoSeries,
    tolerance_m: float,
    decimals: int,
    shared: list[Simplification] | None = None,
) -> np.ndarray:
    """Simplify polygons that tile the plane (communes, EPCI) without opening gaps between
    neighbours (GEOS coverage simplification, in Lambert-93), then round to ``decimals``.

    ``shared``: simplifications handed from one drawing of the same polygons to the next
    (:func:`simplified_coverage`).

    Returns an array of shapely geometries in EPSG:4326.
    """
    metric = geoms.to_crs(LAMBERT93).values
    valid = ~(shapely.is_empty(metric) | pd.isna(metric))
    out = np.array(metric, dtype=object)
    if valid.any() and tolerance_m > 0:
        out[valid] = simplified_coverage(
            np.asarray(metric[valid], dtype=object), tolerance_m, shared
        )
    wgs = gpd.GeoSeries(out, crs=LAMBERT93).to_crs(WGS84).values
    return round_coords(np.asarray(wgs, dtype=object), decimals)


@dataclass(frozen=True)
class Simplification:
    """One coverage simplification (:func:`simplified_coverage`) and what it was made from."""

    source: np.ndarray
    """The polygons simplified (non-empty, Lambert-93)."""
    tolerance_m: float
    result: np.ndarray
    """``source`` simplified."""

    def fits(self, metric: np.ndarray, tolerance_m: float) -> bool:
        """Whether ``metric`` at ``tolerance_m`` is this simplification's input, vertex for
        vertex (``shapely.equals_identical``: 9 ms for a region's 3,782 communes)."""
        return (
            self.tolerance_m == tolerance_m
            and len(self.source) == len(metric)
            and bool(shapely.equals_identical(self.source, metric).all())
        )


def simplified_coverage(
    metric: np.ndarray, tolerance_m: float, shared: list[Simplification] | None = None
) -> np.ndarray:
    """``metric`` (non-empty polygons, Lambert-93) simplified as a coverage (GEOS), or one by
    one when GEOS refuses them as a coverage.

    ``shared`` is a list the caller hands to each drawing of the same polygons: the report's
    interactive map simplifies the communes and appends its :class:`Simplification`; its static
    maps, drawn from the same polygons at the same tolerance, find it there
    (:meth:`Simplification.fits`) and take a copy of its result instead of simplifying again
    (0.4 s for a region, issue 17). Same input, same function: the same polygons either way.
    Without ``shared``, every call simplifies."""
    for kept in shared or ():
        if kept.fits(metric, tolerance_m):
            return kept.result.copy()
    try:
        result = shapely.coverage_simplify(metric, tolerance_m)
    except shapely.errors.GEOSException:  # not a clean coverage: simplify one by one
        result = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    if shared is not None:
        shared.append(Simplification(metric.copy(), tolerance_m, result))
    return result.copy()


def clean_coverage(geoms) -> np.ndarray | None:
    """``geoms`` (polygons that tile the plane) made a clean coverage by GEOS: overlaps given
    to one neighbour, shared edges made identical, so that :func:`coverage_union` can merge
    any subset by dropping their shared edges. None where they are not all (multi)polygons or
    GEOS refuses them.

    The outlines drawn on the maps are simplified, then rounded in degrees one by one: they
    overlap their neighbours by a few metres here and there, and ``coverage_union_all``
    refuses them as they are (« incorrectly noded »).
    """
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms) or not np.isin(shapely.get_type_id(geoms), (3, 6)).all():
        return None
    if shapely.is_empty(geoms).any():
        return None
    try:
        return shapely.coverage_clean(geoms)
    except shapely.errors.GEOSException:
        return None


def coverage_union(geoms, clean: np.ndarray | None, mask: np.ndarray):
    """The union of ``geoms[mask]``: of their clean coverage (:func:`clean_coverage`) when
    given, by dropping shared edges (milliseconds); else by a full overlay on a 1 m grid
    (about 0.8 s for 3,500 communes of a region, issue 17)."""
    if clean is not None:
        parts = clean[mask]
        parts = parts[~shapely.is_empty(parts)]
        try:
            return shapely.coverage_union_all(parts)
        except shapely.errors.GEOSException:
            pass
    return shapely.union_all(np.asarray(geoms, dtype=object)[mask], grid_size=1.0)


class CleanAhead:
    """A function's call in a thread of its own; :meth:`result` joins the thread (so that it is
    gone before the report forks, maps/_forked.py) and returns or raises what the call did."""

    def __init__(self, function, *args) -> None:
        import threading

        self._outcome: tuple[bool, object] = (False, None)

        def run() -> None:
            try:
                self._outcome = (True, function(*args))
            except BaseException as exc:  # noqa: BLE001 - raised again by result()
                self._outcome = (False, exc)

        self._thread = threading.Thread(target=run, name="zonesblanches-clean", daemon=True)
        self._thread.start()

    def done(self) -> bool:
        """Whether the call has returned (or raised)."""
        return not self._thread.is_alive()

    def result(self):
        self._thread.join()
        done, value = self._outcome
        if not done:
            raise value
        return value


def clean_coverage_ahead(geoms) -> CleanAhead | None:
    """:func:`clean_coverage` of ``geoms`` started in a thread of its own, or None where no
    thread can be started (the caller then cleans when it needs to, as before).

    GEOS works without Python's lock (shapely 2), so on a machine with a free core the
    cleaning (about 0.8 s for the region's 3,782 communes, issue 17) runs while the report
    draws its chart and writes its tables; on one core the two share it, the same work in
    the same time as one after the other. The thread cleans its own copy of the polygons
    (exact, through WKB): nothing it reads is touched by the drawing meanwhile. Same
    function, same input: the same coverage, so the same pixels (tested)."""
    copy = shapely.from_wkb(shapely.to_wkb(geoms))
    try:
        return CleanAhead(clean_coverage, copy)
    except RuntimeError:  # no thread (interpreter shutting down, limits): clean when needed
        return None


def round_coords(geoms: np.ndarray, decimals: int) -> np.ndarray:
    snapped = shapely.set_precision(geoms, 10.0**-decimals)
    return shapely.transform(snapped, lambda xy: np.round(xy, decimals))


# --------------------------------------------------------------------------- GeoJSON


def geojson(geom) -> dict | None:
    if geom is None or shapely.is_empty(geom):
        return None
    return shapely.geometry.mapping(geom)


def json_value(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return None
        return round(v, 1) if v != int(v) else int(v)
    if pd.isna(value):
        return None
    return str(value)


def polygons(
    frame: gpd.GeoDataFrame, fields: Sequence[tuple[str, str]], tolerance: float, decimals: int
) -> dict:
    frame = frame.to_crs(WGS84)
    metric = frame.geometry.to_crs(LAMBERT93).values
    simple = shapely.simplify(metric, tolerance / 2, preserve_topology=True)
    geoms = round_coords(
        np.asarray(gpd.GeoSeries(simple, crs=LAMBERT93).to_crs(WGS84).values), decimals
    )
    feats = []
    for i in range(len(frame)):
        geom = geojson(geoms[i])
        if geom is None:
            continue
        props = {col: json_value(frame[col].iloc[i]) for col, _ in fields if col in frame}
        feats.append({"type": "Feature", "properties": props, "geometry": geom})
    return {"type": "FeatureCollection", "features": feats}


def expand_bbox(bbox, margin: float):
    x0, y0, x1, y1 = bbox
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def feature_collection(frame: gpd.GeoDataFrame, props: list[dict], tolerance: float) -> dict:
    """GeoJSON of ``frame`` (WGS84) with one property dict per row; polygons simplified as a
    coverage (like the communes of the base map), points rounded."""
    decimals = decimals_for(tolerance)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    is_point = shapely.get_type_id(geoms) == 0
    out = np.array(geoms, dtype=object)
    if (~is_point).any():
        out[~is_point] = simplify_coverage(
            gpd.GeoSeries(geoms[~is_point], crs=WGS84), tolerance, decimals
        )
    if is_point.any():
        out[is_point] = round_coords(geoms[is_point], 5)
    feats = []
    for geom, p in zip(out, props, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        feats.append(
            {"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(geom)}
        )
    return {"type": "FeatureCollection", "features": feats}
