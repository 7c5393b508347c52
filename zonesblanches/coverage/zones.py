"""Zones blanches as places: uncovered units dissolved into contiguous zones.

A *unit* is a polygon carrying people: a Filosofi grid cell, or a commune outline. Uncovered
units that touch each other (sharing an edge **or a corner**, "queen" contiguity, within a
tolerance of ``tolerance`` metres to absorb the slivers of simplified commune outlines) form one
zone. Each zone gets its population (and poor households when known), the QPV and communes it
meets, and the time to the nearest service from inside it, so that a funding file can say "this
zone of 3 400 inhabitants, over Anzin and Valenciennes, is 35 minutes' walk from any atelier
vélo".

The analysis never draws: :mod:`zonesblanches.maps` renders the result.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError

SEP = "; "
"""Separator of multi-valued text fields (codes, names)."""

EQUAL_AREA = "EPSG:3035"
"""ETRS89-LAEA: surfaces are measured here (Lambert-93 is conformal and overstates areas by up
to about 0.3 % in the north of France)."""

MIN_SHARED_AREA_M2 = 1.0
"""Smallest overlap (m²) for a zone to count as meeting a QPV or a commune."""


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted quantile, "inverted CDF" rule (no interpolation).

    The smallest value ``v`` such that the weight of values ``<= v`` reaches ``q`` times the
    total weight. Units with zero or missing weight are ignored; ``inf`` values (unreachable)
    take part like any other. Returns NaN when no weight is left.

    Examples
    --------
    Weights 10 and 10 on values 5 and 9: the median is 5 (half the weight is reached at 5).
    """
    v = np.asarray(values, dtype="float64")
    w = np.asarray(weights, dtype="float64")
    ok = np.isfinite(w) & (w > 0) & ~np.isnan(v)
    if not ok.any():
        return math.nan
    v, w = v[ok], w[ok]
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(w[order])
    target = q * cum[-1]
    # tolerance so that a cumulated weight equal to the target by hand is not missed by rounding
    idx = int(np.searchsorted(cum, target * (1 - 1e-12), side="left"))
    return float(v[min(idx, len(v) - 1)])


def valid_array(geoms) -> np.ndarray:
    """Geometries as an object array, invalid ones repaired (vectorised ``make_valid``)."""
    arr = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_valid(arr)
    if bad.any():
        arr = arr.copy()
        arr[bad] = shapely.make_valid(arr[bad])
    return arr


def unit_polygons(units: gpd.GeoDataFrame) -> gpd.GeoSeries | None:
    """Polygons of the units: their own, or grid squares rebuilt from ``idcar`` for cell points.

    The coverage analysis computes times from points, so grid cells may arrive as their centres;
    their Filosofi id gives back the exact square. Returns ``None`` for points without ids.
    """
    types = set(units.geom_type.dropna().unique())
    if types and types <= {"Polygon", "MultiPolygon"}:
        return units.geometry
    if "idcar" in units.columns and len(units):
        from zonesblanches.geodata.idcar import cell_squares, parse_idcar

        decoded = parse_idcar(units["idcar"].reset_index(drop=True))
        if decoded["x0"].notna().all():
            squares = cell_squares(decoded, units.crs)
            squares.index = units.index
            return squares
    return None


def group_indices(labels: np.ndarray) -> list[np.ndarray]:
    """Row positions of each label ``0..n-1``, in one sort (not one scan per label)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return []
    order = np.argsort(labels, kind="stable")
    cuts = np.searchsorted(labels[order], np.arange(1, int(labels.max()) + 1))
    return np.split(order, cuts)


def _adjacency_labels(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Connected-component label of each polygon (queen contiguity within ``tolerance``)."""
    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype="int64")
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=tolerance)
    return _component_labels(left, right, n)


def _component_labels(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=bool), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def noded_units(metric: np.ndarray) -> np.ndarray:
    """True for each polygon whose every edge is either on the outside or exactly an edge of
    a neighbour, in reverse (GEOS coverage validation, ``coverage_invalid_edges``): the units
    :func:`dissolve` merges by dropping their shared edges.

    Grid squares are all such; of the 3,782 commune outlines of Hauts-de-France, 403 overlap a
    neighbour or miss its vertices (issue 17), and ``coverage_union_all`` refuses the whole
    set. Non-polygons, empty geometries, or GEOS refusing the set: False (full overlay).
    GEOS checks edges, not areas: two units each "noded" may still overlap (two grids
    shifted by half a cell, tested), which :func:`dissolve` detects.
    """
    metric = np.asarray(metric, dtype=object)
    noded = np.zeros(len(metric), dtype=bool)
    polygonal = np.isin(shapely.get_type_id(metric), (3, 6)) & ~shapely.is_empty(metric)
    if polygonal.any():
        refused = (shapely.errors.GEOSException, shapely.errors.UnsupportedGEOSVersionError)
        with contextlib.suppress(*refused):
            noded[polygonal] = shapely.is_empty(shapely.coverage_invalid_edges(metric[polygonal]))
    return noded


COVERAGE_AREA_TOLERANCE = 1e-9
"""Relative difference allowed between the area of a coverage union and the sum of the areas
of its polygons (:func:`dissolve`): rounding only; an overlap makes the union smaller."""


def dissolve(units: np.ndarray, noded: np.ndarray) -> shapely.Geometry:
    """The union of ``units``, ``noded`` (:func:`noded_units` of them) saying which of them
    form a clean coverage.

    Those are merged by ``coverage_union_all`` (their shared edges dropped, no overlay), the
    others by a full overlay (``union_all``), and the two joined by one more. The result is the
    point set ``union_all`` of them all gives (areas equal within 1e-9, symmetric difference
    under 1e-9 of the area; tested on the region's communes and random grids), not the same
    vertices: where a full overlay splits an edge at a neighbour's vertex, the coverage union
    keeps the edge whole, and the rings may start elsewhere. On the region's 3,553 communes without a garage
    solidaire within 30 minutes' walk: 0.26 s instead of 0.58 s (issue 17).

    The coverage union must be valid and have the area of its polygons together (within
    :data:`COVERAGE_AREA_TOLERANCE`: polygons that overlap, which GEOS's edge check can miss,
    make it smaller); otherwise, or if GEOS refuses it, ``union_all`` of them all.
    """
    units = np.asarray(units, dtype=object)
    noded = np.asarray(noded, dtype=bool)
    if noded.sum() < 2:
        return shapely.union_all(units)
    try:
        merged = shapely.coverage_union_all(units[noded])
    except shapely.errors.GEOSException:
        return shapely.union_all(units)
    expected = math.fsum(shapely.area(units[noded]))
    if not shapely.is_valid(merged) or not math.isclose(
        shapely.area(merged), expected, rel_tol=COVERAGE_AREA_TOLERANCE
    ):
        return shapely.union_all(units)
    if noded.all():
        return merged
    return shapely.union_all([merged, shapely.union_all(units[~noded])])


@dataclass(frozen=True)
class UnitGraph:
    """Every unit's polygon in Lambert-93 (repaired) and the pairs of units within
    ``tolerance`` of each other (:func:`unit_graph`): computed once for all the indicators of
    one analysis, each dissolving a subset of the same units (issue 17: the neighbour search
    of the region's communes, again for each indicator, was a tenth of the zones stage)."""

    metric: np.ndarray
    left: np.ndarray
    right: np.ndarray
    tolerance: float
    key: tuple = field(default=(None, None), compare=False, repr=False)
    """The units it was made of, told apart cheaply (:func:`_units_key`, :meth:`matches`)."""
    layers: dict[int, _Layer] = field(default_factory=dict, compare=False, repr=False)
    """The QPV and commune layers met by the zones, by identity (:meth:`layer`)."""

    def matches(self, units: gpd.GeoDataFrame, tolerance: float) -> bool:
        """Whether this graph was made of ``units`` (same CRS, same geometries' bounds in the
        same order) with ``tolerance``: as many units is not enough, another unit set of the
        same size would give its neighbours and polygons to the wrong units."""
        crs, bounds = self.key
        if self.tolerance != tolerance or len(self.metric) != len(units) or bounds is None:
            return False
        if units.crs != crs:
            return False
        return np.array_equal(_units_key(units)[1], bounds, equal_nan=True)

    def layer(self, frame: gpd.GeoDataFrame) -> _Layer:
        """``frame`` (the communes or QPV each indicator's zones are matched with) in
        Lambert-93 and its pairs with the units, computed for the first indicator and kept
        for the others (the same frame object: the graph lives for one analysis)."""
        got = self.layers.get(id(frame))
        if got is None or got.frame is not frame:
            got = self.layers[id(frame)] = _Layer(frame, self.metric)
        return got


class _Pairs:
    """The pairs (polygon ``o`` of a layer, unit ``u``) that intersect, whether the two are the
    same polygon, and the area of their intersection, computed once when first asked."""

    def __init__(self, geoms: np.ndarray, units: np.ndarray, which: np.ndarray | None = None):
        which = np.arange(len(geoms)) if which is None else which
        o, u = shapely.STRtree(units).query(geoms[which], predicate="intersects")
        self.geoms, self.units, self.o, self.u = geoms, units, which[o], u
        self.same = shapely.equals_exact(geoms[self.o], units[self.u], tolerance=0.0)
        self._area = np.full(len(o), np.nan)

    def areas(self, k: np.ndarray) -> np.ndarray:
        """Area of the intersection of each pair ``k``."""
        todo = k[np.isnan(self._area[k])]
        if len(todo):
            self._area[todo] = shapely.area(
                shapely.intersection(self.geoms[self.o[todo]], self.units[self.u[todo]])
            )
        return self._area[k]


class _Layer:
    """A layer the zones are matched with (:meth:`UnitGraph.layer`): its polygons in
    Lambert-93, repaired, and (when first needed) their :class:`_Pairs` with all the units."""

    def __init__(self, frame: gpd.GeoDataFrame, units: np.ndarray):
        self.frame = frame
        self.geoms = valid_array(frame.to_crs(LAMBERT93).geometry.values)
        self._units = units
        self._pairs: _Pairs | None = None

    @property
    def pairs(self) -> _Pairs:
        if self._pairs is None:
            self._pairs = _Pairs(self.geoms, self._units)
        return self._pairs


def _units_key(units: gpd.GeoDataFrame) -> tuple:
    """The CRS of ``units`` and the bounds of each of their geometries, in order: one pass over
    the coordinates in GEOS (milliseconds for a region's communes), no copy, no hashing."""
    return units.crs, shapely.bounds(np.asarray(units.geometry.values))


def unit_graph(units: gpd.GeoDataFrame, tolerance: float = 1.0) -> UnitGraph | None:
    """The :class:`UnitGraph` of ``units`` for :func:`zones_blanches` (None for units without
    polygons, which it refuses anyway). A pair of units is neighbours or not whatever the
    other units, so the neighbours among the uncovered ones are the pairs of this graph whose
    two units are uncovered: the same zones as a search among the uncovered units alone."""
    polygons = unit_polygons(units) if len(units) else units.geometry
    if polygons is None or units.crs is None:
        return None
    metric = valid_array(polygons.to_crs(LAMBERT93).values)
    key = _units_key(units)
    if not len(metric):
        return UnitGraph(metric, np.zeros(0, "int64"), np.zeros(0, "int64"), tolerance, key)
    left, right = shapely.STRtree(metric).query(metric, predicate="dwithin", distance=tolerance)
    return UnitGraph(metric, left, right, tolerance, key)


def _touched(
    zones_geom: np.ndarray,
    others: gpd.GeoDataFrame,
    code_col: str,
    name_col: str | None,
    members: tuple[np.ndarray, np.ndarray] | None = None,
    layer: _Layer | None = None,
) -> tuple[list[str], list[str]]:
    """Codes (and names) of ``others`` each zone overlaps by at least MIN_SHARED_AREA_M2.

    ``members``: the unit polygons (Lambert-93) and the zone of each, when each zone is their
    union; the overlaps are then computed from the units near each of ``others``
    (:func:`_shared_areas`) instead of the whole zone. ``layer``: ``others`` as kept by the
    :class:`UnitGraph` of all the units, ``members`` then giving the label of every unit of
    the graph (-1 for those in no zone)."""
    geoms = (
        layer.geoms if layer is not None else valid_array(others.to_crs(LAMBERT93).geometry.values)
    )
    tree = shapely.STRtree(geoms)
    zi, oi = tree.query(zones_geom, predicate="intersects")
    codes: list[list[str]] = [[] for _ in range(len(zones_geom))]
    names: list[list[str]] = [[] for _ in range(len(zones_geom))]
    if len(zi):
        # most zones lie inside one commune: no intersection to compute for those
        shapely.prepare(geoms)
        inside = shapely.contains(geoms[oi], zones_geom[zi])
        shared = inside.copy()
        edge = ~inside
        if members is None:
            shared[edge] = (
                shapely.area(shapely.intersection(zones_geom[zi[edge]], geoms[oi[edge]]))
                >= MIN_SHARED_AREA_M2
            )
        else:
            pairs = layer.pairs if layer is not None else None
            shared[edge] = _shared_areas(zi[edge], oi[edge], geoms, *members, pairs=pairs)
        code_values = others[code_col].astype("string").fillna("").to_numpy()
        name_values = others[name_col].astype("string").fillna("").to_numpy() if name_col else None
        order = np.lexsort((code_values[oi], zi))
        listed: set[tuple[int, str]] = set()  # a zone of 3,500 communes: no scan of its list
        for k in order[shared[order]]:
            z, code = int(zi[k]), str(code_values[oi[k]])
            if code and (z, code) not in listed:
                listed.add((z, code))
                codes[z].append(code)
                if name_values is not None:
                    names[z].append(str(name_values[oi[k]]))
    return [SEP.join(c) for c in codes], [SEP.join(n) for n in names]


def _shared_areas(
    zi: np.ndarray,
    oi: np.ndarray,
    geoms: np.ndarray,
    units: np.ndarray,
    labels: np.ndarray,
    pairs: _Pairs | None = None,
) -> np.ndarray:
    """Whether ``zone[zi[k]] ∩ geoms[oi[k]]`` has at least MIN_SHARED_AREA_M2, for each k,
    where each zone is the union of the ``units`` labelled with it: only the units of the zone
    that meet ``geoms[oi[k]]`` count, a few polygons where the zone may be the whole region
    (one intersection with a zone of 3,500 communes took 1.8 s, issue 17). A polygon equal to
    a unit of the zone lies inside it: its own area decides.

    The other areas are bracketed before any union: the intersection of ``geoms[o]`` with the
    union of the units is at least the largest of its intersections with each unit, and at
    most their sum. Only where the threshold falls between the two (units overlapping each
    other and ``geoms[o]`` by slivers) is the union built; elsewhere the answer is the one the
    union gives, in vectorised intersections of pairs (issue 17: one union per commune
    bordering a zone was most of the zones stage of a region). Tested against the intersection
    with the whole zone.

    ``labels``: the zone of each of ``units``, -1 for a unit in none; ``pairs``: the
    :class:`_Pairs` of ``geoms`` and ``units`` when kept for several indicators.
    """
    shared = np.zeros(len(zi), dtype=bool)
    if not len(zi):
        return shared
    if pairs is None:
        pairs = _Pairs(geoms, units, np.unique(oi))
    n = np.int64(len(geoms))
    asked = zi.astype("int64") * n + oi
    zone = labels[pairs.u].astype("int64")
    key = zone * n + pairs.o
    k = np.flatnonzero((zone >= 0) & np.isin(key, asked))
    key = key[k]
    inside = np.unique(key[pairs.same[k]])
    rest = ~np.isin(key, inside)
    k, key = k[rest], key[rest]
    pair = pairs.areas(k)
    keys, which = np.unique(key, return_inverse=True)
    largest = np.zeros(len(keys))
    np.maximum.at(largest, which, pair)
    total = np.bincount(which, weights=pair, minlength=len(keys))
    decided = largest >= MIN_SHARED_AREA_M2
    for j in np.flatnonzero(~decided & (total >= MIN_SHARED_AREA_M2)):
        mine = k[(which == j) & (pair > 0)]
        local = shapely.union_all(units[pairs.u[mine]])
        o = geoms[pairs.o[mine[0]]]
        decided[j] = shapely.area(shapely.intersection(local, o)) >= MIN_SHARED_AREA_M2
    in_zone = np.isin(asked, inside)
    shared[in_zone] = shapely.area(geoms[oi[in_zone]]) >= MIN_SHARED_AREA_M2
    found = np.searchsorted(keys, asked)
    near = ~in_zone & (found < len(keys))
    near[near] = keys[found[near]] == asked[near]
    shared[near] = decided[found[near]]
    return shared


def zones_blanches(
    units: gpd.GeoDataFrame,
    *,
    uncovered_col: str | None = None,
    time_col: str | None = None,
    threshold: float | None = None,
    weight_cols: Sequence[str] = ("population", "men_pauv"),
    qpv: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    tolerance: float = 1.0,
    graph: UnitGraph | None = None,
) -> gpd.GeoDataFrame:
    """Dissolve uncovered polygon units into contiguous zones, largest population first.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Polygon units (grid cells or communes) with a CRS; grid cells given as points are
        accepted when they carry their ``idcar`` (squares rebuilt from it).
    uncovered_col : str, optional
        Boolean column, true where the unit is not covered. Either this or ``threshold``.
    time_col : str, optional
        Minutes to the nearest service (``inf`` when unreachable); gives ``temps_min`` and
        ``temps_median`` of each zone. Also defines "uncovered" as ``time > threshold`` when
        ``threshold`` is given.
    threshold : float, optional
        Minutes; used with ``time_col`` when ``uncovered_col`` is not given.
    weight_cols : sequence of str
        Counts summed per zone (those absent from ``units`` are skipped).
    qpv : geopandas.GeoDataFrame, optional
        QPV with ``code_qp``: each zone lists the QPV it overlaps (``codes_qp``).
    communes : geopandas.GeoDataFrame, optional
        Communes with ``code_insee`` (and ``nom``): each zone lists those it overlaps. Without
        it, the ``code_insee`` or ``communes_insee`` values of the zone's units are listed.
    tolerance : float
        Metres: units closer than this are neighbours (1 m by default; grid cells share their
        edges exactly, commune outlines may leave slivers).
    graph : UnitGraph, optional
        :func:`unit_graph` of these ``units`` with this ``tolerance``, when several indicators
        of the same units are dissolved: their polygons and neighbours are then not computed
        again (same zones). A graph of other units (:meth:`UnitGraph.matches`: CRS and each
        geometry's bounds, in order) or of another tolerance is ignored.

    Returns
    -------
    geopandas.GeoDataFrame
        In the CRS of ``units``; one row per zone, sorted by decreasing population (then area),
        columns ``zone_id`` (1 = most populated), ``n_unites``, one column per weight, and
        ``surface_km2``, ``temps_min``, ``temps_median`` (weighted by the first weight column
        present, usually population; unweighted without weights), ``codes_qp``,
        ``communes_insee``, ``nom_communes`` (when known), ``geometry`` (valid Polygon or
        MultiPolygon: cells meeting at a corner make two parts). The weights of the zones add
        up to those of the uncovered units.

    Raises
    ------
    ParameterError
        Point units, missing columns, or neither ``uncovered_col`` nor ``threshold``.
    """
    if not isinstance(units, gpd.GeoDataFrame) or units.crs is None:
        raise ParameterError(
            "Les unités doivent être un GeoDataFrame avec un système de coordonnées."
        )
    if graph is not None and not graph.matches(units, tolerance):
        graph = None  # made for other units or another tolerance
    # a graph holds the units' polygons (unit_graph gives none for points): not made again
    polygons = None if graph is not None else unit_polygons(units) if len(units) else units.geometry
    if graph is None and polygons is None:
        raise ParameterError(
            "Les zones blanches se dessinent à partir de polygones (carreaux ou contours de "
            "communes), pas de points : fournissez le carroyage (avec sa colonne idcar) ou les "
            "contours des communes."
        )
    if uncovered_col is not None:
        if uncovered_col not in units.columns:
            raise ParameterError(f"Colonne « {uncovered_col} » absente des unités.")
        uncovered = units[uncovered_col].fillna(False).astype(bool).to_numpy()
    elif threshold is not None and time_col is not None:
        if time_col not in units.columns:
            raise ParameterError(f"Colonne « {time_col} » absente des unités.")
        if not threshold > 0:
            raise ParameterError("Le seuil (en minutes) doit être positif.")
        uncovered = ~(units[time_col].astype("float64").to_numpy() <= threshold)
    else:
        raise ParameterError(
            "Indiquez la colonne des unités non couvertes (uncovered_col), ou un temps et un "
            "seuil (time_col, threshold)."
        )
    if time_col is not None and time_col not in units.columns:
        raise ParameterError(f"Colonne « {time_col} » absente des unités.")
    if tolerance < 0:
        raise ParameterError("La tolérance doit être positive ou nulle.")

    weights = [w for w in weight_cols if w in units.columns]
    sub = units[uncovered]
    if graph is not None:
        metric = graph.metric[uncovered]
        position = np.cumsum(uncovered) - 1  # of each uncovered unit among the uncovered
        both = uncovered[graph.left] & uncovered[graph.right]
        labels = _component_labels(
            position[graph.left[both]], position[graph.right[both]], len(metric)
        )
    else:
        metric = valid_array(polygons[uncovered].to_crs(LAMBERT93).values)
        labels = _adjacency_labels(metric, tolerance)
    n_zones = int(labels.max()) + 1 if len(labels) else 0

    groups = group_indices(labels)
    sizes = np.array([len(g) for g in groups], dtype="int64")
    first = np.array([int(g.min()) for g in groups], dtype="int64")
    table = pd.DataFrame({"n_unites": sizes})
    wvals = {w: sub[w].astype("float64").fillna(0.0).to_numpy() for w in weights}
    single = sizes == 1
    multi = np.flatnonzero(~single)
    # single-unit zones (most of them in a scattered pattern) need no union and no sort
    geoms = np.empty(n_zones, dtype=object)
    geoms[single] = metric[first[single]]
    if len(multi):  # checked among the units of zones only: the zones' own outlines
        noded = np.zeros(len(metric), dtype=bool)
        in_multi = np.concatenate([groups[z] for z in multi])
        noded[in_multi] = noded_units(metric[in_multi])
    geoms[multi] = [dissolve(metric[groups[z]], noded[groups[z]]) for z in multi]
    for w in weights:
        col = np.empty(n_zones)
        col[single] = wvals[w][first[single]]
        col[multi] = [math.fsum(wvals[w][groups[z]]) for z in multi]
        table[w] = col
    if time_col is not None:
        times = sub[time_col].astype("float64").to_numpy()
        tmin, tmed = np.empty(n_zones), np.empty(n_zones)
        tmin[single] = tmed[single] = times[first[single]]
        for z in multi:
            t = times[groups[z]]
            tmin[z] = float(np.nanmin(t)) if (~np.isnan(t)).any() else math.nan
            tw = wvals[weights[0]][groups[z]] if weights else np.ones(len(t))
            tmed[z] = weighted_quantile(t, tw if (tw > 0).any() else np.ones(len(t)), 0.5)
        table["temps_min"], table["temps_median"] = tmin, tmed
    table["_first"] = first
    metric_geoms = geoms

    if graph is not None:
        # the graph's units and layers: every unit labelled, -1 those in no zone
        all_labels = np.full(len(graph.metric), -1, dtype="int64")
        all_labels[uncovered] = labels
        members, layer = (graph.metric, all_labels), graph.layer
    else:
        members, layer = (metric, labels), lambda frame: None
    if qpv is not None and len(table):
        if "code_qp" not in qpv.columns:
            raise ParameterError("La couche des QPV doit avoir une colonne « code_qp ».")
        table["codes_qp"], _ = _touched(
            metric_geoms, qpv, "code_qp", None, members, layer=layer(qpv)
        )
    else:
        table["codes_qp"] = ""
    if communes is not None and len(table):
        if "code_insee" not in communes.columns:
            raise ParameterError("La table des communes doit avoir une colonne « code_insee ».")
        name_col = "nom" if "nom" in communes.columns else None
        table["communes_insee"], names = _touched(
            metric_geoms, communes, "code_insee", name_col, members, layer=layer(communes)
        )
        if name_col:
            table["nom_communes"] = names
    else:
        src = next((c for c in ("code_insee", "communes_insee") if c in sub.columns), None)
        values = sub[src].astype("string").fillna("").to_numpy() if src else None
        table["communes_insee"] = [
            SEP.join(
                sorted({c.strip() for v in values[members] for c in str(v).split(";") if c.strip()})
            )
            if values is not None
            else ""
            for members in groups
        ]

    zones = gpd.GeoDataFrame(
        table, geometry=gpd.GeoSeries(metric_geoms, crs=LAMBERT93).values, crs=LAMBERT93
    )
    zones["surface_km2"] = shapely.area(zones.geometry.to_crs(EQUAL_AREA).values) / 1e6
    sort_cols = [c for c in (weights[:1] + ["surface_km2"]) if c in zones.columns]
    zones = zones.sort_values(
        [*sort_cols, "_first"], ascending=[False] * len(sort_cols) + [True], kind="stable"
    )
    zones = zones.drop(columns="_first").reset_index(drop=True)
    zones.insert(0, "zone_id", np.arange(1, len(zones) + 1, dtype="int64"))
    order = ["zone_id", "n_unites", *weights, "surface_km2"]
    zones = zones[order + [c for c in zones.columns if c not in order]]
    zones = zones.to_crs(units.crs)
    zones["geometry"] = [
        g if g is None or g.is_valid else shapely.make_valid(g) for g in zones.geometry.values
    ]
    return zones
