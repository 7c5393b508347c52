"""What every static map of one result shares, and how its polygons are drawn.

The report draws up to ten PNG maps of one result
(:func:`zonesblanches.maps.figures.static_map`): :func:`figure_base` projects its communes, units
and services to Lambert-93 once, simplifies the commune polygons as the interactive map does,
and builds their matplotlib paths (:func:`polygon_paths`) once; :func:`add_polygons` and
:func:`add_lines` draw them as GeoPandas' ``plot`` does, without its redraw of the whole figure
after each layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.path import Path as MplPath

from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.maps._geometry import (
    CleanAhead,
    Simplification,
    auto_tolerance,
    clean_coverage,
    clean_coverage_ahead,
    simplify_coverage,
)


@dataclass(frozen=True)
class FigureBase:
    """What every static map of one result shares, in Lambert-93 (:func:`figure_base`)."""

    point_units: bool
    frame: gpd.GeoDataFrame
    """The commune polygons drawn (simplified as for the interactive map), by code INSEE."""
    units: pd.DataFrame | None
    """Commune units: the result's units by code INSEE (None for point units)."""
    codes: pd.Series | None
    """Commune units: the code INSEE of each row of ``frame``."""
    points: gpd.GeoDataFrame | None
    """Point units (grid cells…): the units, projected (None for commune units)."""
    communes: gpd.GeoDataFrame | None
    """Point units: the communes named on the map, projected."""
    epci: gpd.GeoDataFrame | None
    service_x: np.ndarray
    service_y: np.ndarray
    """The coordinates of every service of the result, in the order of ``result.services``."""
    frame_paths: list | None = None
    """The matplotlib path of each drawn row of ``frame`` (:func:`polygon_paths`)."""
    frame_rows: np.ndarray | None = None
    """The row of ``frame`` of each path."""

    clean_job: CleanAhead | None = field(default=None, compare=False, repr=False)
    """:attr:`clean_frame` being made in a background thread (``figure_base(…,
    clean_ahead=True)``), or None: made when first read."""

    @cached_property
    def clean_frame(self) -> np.ndarray | None:
        """``frame``'s polygons as a clean coverage (:func:`clean_coverage`), made once per
        report: each map's hatched outline of the zones blanches is then their union by
        shared edges (0.06 s instead of 0.8 s for a region map, issue 17). The former union
        of the raw outlines also kept, as small dark rings inside the hatching, the slivers
        where neighbouring outlines overlapped; the clean union has none."""
        if self.point_units:
            return None
        if self.clean_job is not None:
            return self.clean_job.result()
        return clean_coverage(self.frame.geometry.to_numpy())


def figure_base(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    epci: gpd.GeoDataFrame | None = None,
    *,
    clean_ahead: bool = False,
    simplified: list[Simplification] | None = None,
) -> FigureBase:
    """The projections and polygons the static maps of ``result`` share: the report draws ten
    maps of one result, and at 100,000 services projecting them again for each figure cost
    seconds (issue 16 item 9). Each point is projected on its own, so the coordinates are the
    ones a figure computed alone.

    With ``clean_ahead`` (the caller will draw a map with zones blanches), the clean coverage
    of the commune polygons (:attr:`FigureBase.clean_frame`) starts at once in a background
    thread (:func:`~zonesblanches.maps._geometry.clean_coverage_ahead`); otherwise it is made when first read.

    ``simplified``: the interactive map's commune simplifications
    (:func:`~zonesblanches.maps.carto.coverage_map`), used when they fit these polygons."""
    point_units = result.unit_kind != "commune"
    units = codes = points = named = None
    if point_units:
        # Grid cells and other point units: coloured points over the commune outlines.
        frame = communes.copy()
        points = result.units.to_crs(LAMBERT93)
    else:
        units = result.units.set_index(result.units["code_insee"].astype(str))
        frame = communes[communes["code_insee"].astype(str).isin(units.index)].copy()
    if frame.empty:
        raise ParameterError(
            "Aucune commune du résultat ne figure dans les contours fournis (code_insee)."
        )
    frame = frame.sort_values("code_insee", kind="stable").reset_index(drop=True)
    # Simplified as for the interactive map (a printed map needs no more detail).
    tolerance = auto_tolerance(frame.to_crs(WGS84).total_bounds)
    simple = simplify_coverage(frame.geometry, tolerance, 5, simplified)
    frame = frame.set_geometry(gpd.GeoSeries(simple, crs=WGS84)).to_crs(LAMBERT93)
    job = None
    if clean_ahead and not point_units:
        job = clean_coverage_ahead(frame.geometry.to_numpy())
    if point_units:
        named = communes.to_crs(LAMBERT93)
    else:
        codes = frame["code_insee"].astype(str)
    services = result.services
    if len(services):
        projected = services.geometry.to_crs(LAMBERT93).to_numpy()
        xs, ys = shapely.get_x(projected), shapely.get_y(projected)
    else:
        xs = ys = np.empty(0)
    paths, rows = polygon_paths(frame.geometry.to_numpy())
    return FigureBase(
        point_units=point_units,
        frame=frame,
        units=units,
        codes=codes,
        points=points,
        communes=named,
        epci=None if epci is None else epci.to_crs(LAMBERT93),
        service_x=xs,
        service_y=ys,
        frame_paths=paths,
        frame_rows=rows,
        clean_job=job,
    )


def polygon_paths(geoms: np.ndarray) -> tuple[list | None, np.ndarray | None]:
    """The matplotlib path of each non-empty (multi)polygon of ``geoms``, built as GeoPandas'
    ``plot`` builds it (rings normalised, one compound path per geometry), and the index of
    each; ``(None, None)`` when ``geoms`` holds anything else (GeoPandas then draws them).

    The report draws ten maps of the same polygons: GeoPandas built 3,782 region communes'
    patches again for each (about 1.3 s a map), then redrew the whole figure after each layer
    (``draw_idle``); :func:`add_polygons` draws these paths once per map instead, with the same
    pixels (tested against GeoPandas).
    """
    geoms = shapely.normalize(np.asarray(geoms, dtype=object))
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    rows = np.flatnonzero(keep)
    kinds = shapely.get_type_id(geoms[rows])
    if not np.isin(kinds, (3, 6)).all():  # Polygon, MultiPolygon
        return None, None
    # Every ring of every geometry at once (exterior then holes, part by part: the order of
    # GeoPandas' compound paths), each ring MOVETO, LINETO…, CLOSEPOLY on its closing vertex
    # as ``MplPath(ring, closed=True)``; then one path per geometry, the vertices and codes
    # ``MplPath.make_compound_path`` gives (tested), without a path object per ring.
    if not len(rows):
        return [], rows
    parts, part_of = shapely.get_parts(geoms[rows], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    owner = part_of[ring_part]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    first = np.flatnonzero(np.r_[True, ring_of[1:] != ring_of[:-1]])
    codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
    codes[first] = MplPath.MOVETO
    codes[np.r_[first[1:] - 1, len(xy) - 1]] = MplPath.CLOSEPOLY
    cuts = np.cumsum(np.bincount(owner[ring_of], minlength=len(rows)))[:-1]
    paths = [MplPath(v, c) for v, c in zip(np.split(xy, cuts), np.split(codes, cuts), strict=True)]
    return paths, rows


def add_polygons(
    ax, geoms, paths=None, rows=None, *, facecolor, autolim: bool = True, **style_kwds
) -> None:
    """Draw polygons as ``GeoSeries(geoms).plot(ax=ax, facecolor=…, **style_kwds)`` does (a
    list of colours per geometry), from the paths of :func:`polygon_paths` when given, without
    GeoPandas' redraw of the whole figure.

    ``autolim=False`` when the caller sets the axes' limits itself afterwards (the static
    maps): the extent of every path, which nothing then reads, is not computed (0.1 s per
    region map, issue 17)."""
    if paths is None:
        paths, rows = polygon_paths(geoms)
        if paths is None:  # not only polygons: GeoPandas' own drawing
            gpd.GeoSeries(geoms).plot(ax=ax, facecolor=facecolor, **style_kwds)
            return
    if not paths:
        return
    if not isinstance(facecolor, str):
        facecolor = np.take(np.asarray(facecolor), rows, axis=0)
    collection = PathCollection(paths, facecolor=facecolor, cmap=None, **style_kwds)
    ax.add_collection(collection, autolim=autolim)
    if autolim:
        ax.autoscale_view()


def add_lines(ax, geoms, *, color, linewidth) -> None:
    """Draw lines as ``GeoSeries(geoms).plot(ax=ax, color=…, linewidth=…)`` does, without its
    redraw of the whole figure."""
    parts = shapely.get_parts(shapely.normalize(np.asarray(geoms, dtype=object)))
    parts = parts[~shapely.is_empty(parts)]
    if not len(parts):
        return
    segments = [np.array(line.coords)[:, :2] for line in parts]
    ax.add_collection(LineCollection(segments, linewidth=linewidth, color=color))
    ax.autoscale_view()
