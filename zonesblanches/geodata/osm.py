"""Road networks from OpenStreetMap, one per travel mode.

Three ways in, one result (:class:`~zonesblanches.geodata.network.RoadNetwork`):

- :func:`load_networks` / :func:`load_network` read a file the planner has: an OSM PBF extract
  (``.osm.pbf``, ``.pbf``), OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``), both parsed once with
  pyosmium, or an OSMnx GraphML file;
- :func:`download_networks` / :func:`download_network` fetch the ways of a territory (an EPCI,
  up to :data:`MAX_DOWNLOAD_AREA_KM2`) from the Overpass API through OSMnx; for a département or
  the region, the documented path is a PBF extract (Geofabrik);
- :func:`check_overpass` raises :class:`~zonesblanches.errors.NetworkUnavailableError` with a
  French message when the service cannot be reached (offline machine).

Which ways each mode may use, in which direction and how fast is decided in one place,
:mod:`zonesblanches.geodata.osm_rules` (documented in ``docs/reseau.md``).

Conventions:

- the graph keeps every OSM node of the usable ways (no simplification) and every connected
  component; nodes without a usable edge are dropped;
- edge lengths are great-circle distances between consecutive nodes (haversine, Earth radius
  6,371,009 m, as OSMnx), node coordinates ``x``/``y`` are Lambert-93 metres;
- a territory ``polygon`` (WGS84) clips the network to the polygon buffered by ``margin_m``,
  keeping, like OSMnx's ``truncate_by_edge=True``, the nodes inside and their direct neighbours
  in the mode's graph; :func:`service_margin_m` gives a margin that reaches the services of an
  analysis, so that a commune gets the same times whichever territory around it is analysed;
- files are read without Python code per node: libosmium writes the highway ways with their node
  locations as OPL text, pyarrow parses it, numpy builds the segments (:func:`_read_osm_file`);
  for a territory, ways far from it are skipped while reading;
- one graph per source and mode is cached in ``cache_dir("reseaux")`` (compressed, checked,
  rebuilt with a French warning when unreadable) under a key made of the source's content (sha256
  of the file, or of the Overpass query), the mode, the rules version and parameters; any
  territory is cut from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata import cache as _cache
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.osm_rules import (
    HIGHWAY_TABLE,
    RULES_VERSION,
    TAG_KEYS,
    NetworkRules,
    evaluate_ways,
)
from zonesblanches.modes import MODES, mode_code

OSM_ATTRIBUTION = "© les contributeurs d'OpenStreetMap, licence ODbL"
"""Attribution to show wherever a network built here is used."""

SUFFIXES: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm": "osm",
    ".osm.gz": "osm.gz",
    ".osm.bz2": "osm.bz2",
    ".graphml": "graphml",
}
"""Accepted file endings and the format each one means."""

DEFAULT_MARGIN_M: dict[str, float] = {"marche": 2_000.0, "velo": 5_000.0, "voiture": 10_000.0}
"""Default margin around a territory polygon, per mode: about 25 minutes walking, 20 minutes
cycling, 10-15 minutes driving, so that a service just across the boundary, and the roads
leading to it, stay in the network."""

MAX_DOWNLOAD_AREA_KM2 = 1_500.0
"""Largest territory (before margin) accepted by :func:`download_networks`. The 92 EPCI of
Hauts-de-France cover 49 to 915 km² (IGN contours 2024), its départements 5,768 to 7,420 km²:
1,500 km² accepts every EPCI and refuses every département, for which a PBF extract is faster
and kinder to the shared Overpass servers."""

EARTH_RADIUS_M = 6_371_009.0
"""Mean Earth radius used for edge lengths (same value as OSMnx)."""

MIN_EDGE_TIME_S = 0.01
"""Floor of an edge's travel time: two OSM nodes may share the same position (length 0)."""

OVERPASS_FILTER = '["highway"~"^(' + "|".join(HIGHWAY_TABLE) + ')$"]["area"!~"yes"]'
"""Overpass way filter of downloads: every class the rules know, areas excluded."""

GRAPHML_LIMITS = (
    "GraphML : seules les étiquettes gardées par OSMnx sont connues (par défaut highway, "
    "oneway, junction, access, maxspeed, service) ; foot, bicycle, motor_vehicle, "
    "oneway:bicycle et cycleway manquent le plus souvent, donc les exceptions piétonnes et "
    "cyclables sont ignorées ; le sens unique est celui calculé par OSMnx (un graphe "
    "network_type='walk' est entièrement à double sens : utilisez network_type='all')."
)

_CACHE_FORMAT = "2"  # 2: one graph per source and mode, territories cut from it (issue 17)
_GRAPH_ARRAYS = ("node_id", "lon", "lat", "tail", "head", "length_m", "kmh_code", "kmh_table")
_REVERSED_ONEWAY = frozenset({"-1", "reverse", "T"})  # values OSMnx reverses the nodes for
_UNDEFINED_COORD = 2_147_483_647  # libosmium's undefined fixed-point coordinate
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


def _source_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    raise ParameterError(
        f"Format de fichier non reconnu : « {path.name} ». Formats acceptés : "
        + ", ".join(SUFFIXES)
        + "."
    )


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


READ_SLACK_M = 5_000.0
"""When only a territory is needed, a way is read if one of its two ends lies within this many
metres of the territory's (margin-widened) bounding box: OSM ways longer than this that cross the
box with both ends farther out are rare (motorways and long roads are split at junctions)."""


def _read_box(bounds: tuple | None) -> tuple | None:
    """``bounds`` (lon/lat) widened by :data:`READ_SLACK_M`, or ``None``."""
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    dlat = READ_SLACK_M / 111_000.0
    dlon = dlat / max(np.cos(np.radians(max(abs(y0), abs(y1)) + dlat)), 0.01)
    return (x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat)


def _haversine(lon1, lat1, lon2, lat2) -> np.ndarray:
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


# --------------------------------------------------------------------------------------------
# The intermediate form: ways (tags) and their segments, before any mode rule
# --------------------------------------------------------------------------------------------


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
        """Build from segments given by node ids; ``node_id`` must be sorted and unique."""
        keep = u_id != v_id
        seg_way, u_id, v_id = seg_way[keep], u_id[keep], v_id[keep]
        seg_u = np.searchsorted(node_id, u_id)
        seg_v = np.searchsorted(node_id, v_id)
        if seg_len is None:
            seg_len = _haversine(lon[seg_u], lat[seg_u], lon[seg_v], lat[seg_v])
        else:
            seg_len = np.asarray(seg_len, dtype=float)[keep]
        return cls(
            tags,
            row_owner,
            n_ways,
            seg_way.astype(np.int64),
            seg_u.astype(np.int64),
            seg_v.astype(np.int64),
            seg_len,
            node_id,
            lon,
            lat,
            fmt,
        )


def _opl_escape(text: str) -> str:
    """Escape a key the way libosmium's OPL writer does (for the few characters our keys use)."""
    return "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in " ,=@%" else f"%{ord(ch):x}%"
        for ch in text
    )


_OPL_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


def _opl_unescape(text: str) -> str:
    return _OPL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _write_highway_opl(path: Path, fmt: str, opl: Path, box: tuple | None) -> None:
    """Copy the ``highway`` ways of ``path``, with their node locations, to an OPL file.

    Everything runs in libosmium (C++): node locations are kept in a ``flex_mem`` index, ways
    are filtered by key and written as text. With ``box`` (lon/lat bounds), ways are first
    checked in Python, one test per way (never per node): a way is kept when its first or last
    node lies in ``box``. ``box`` must therefore already include :data:`READ_SLACK_M`.
    """
    import osmium

    out = osmium.io.File(str(opl), "opl,locations_on_ways=true,add_metadata=false")
    src = osmium.io.File(str(path), fmt)
    writer = osmium.SimpleWriter(out)
    try:
        if box is None:
            locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
            locations.ignore_errors()
            osmium.apply(
                osmium.io.Reader(src, osmium.osm.NODE | osmium.osm.WAY),
                locations,
                osmium.filter.EntityFilter(osmium.osm.WAY),
                osmium.filter.KeyFilter("highway"),
                writer,
            )
        else:
            x0, y0, x1, y1 = (round(v * 1e7) for v in box)
            processor = (
                osmium.FileProcessor(src, osmium.osm.NODE | osmium.osm.WAY)
                .with_locations()
                .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                .with_filter(osmium.filter.KeyFilter("highway"))
            )
            for way in processor:
                nodes = way.nodes
                n = len(nodes)
                if not n:
                    continue
                a, b = nodes[0], nodes[n - 1]
                if (x0 <= a.x <= x1 and y0 <= a.y <= y1) or (x0 <= b.x <= x1 and y0 <= b.y <= y1):
                    writer.add_way(way)
    finally:
        writer.close()


def _parse_opl(opl: Path):
    """Ways of an OPL file (``w… T… N…`` lines with locations), as arrays, with pyarrow.

    Returns the per-way tag text restricted to :data:`TAG_KEYS` (as a pyarrow array), the node
    count of each way, and the node refs and fixed-point coordinates (1e-7 degree, undefined
    locations as :data:`_UNDEFINED_COORD`) of all way nodes, in way order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    keys = pa.array([_opl_escape(k) for k in TAG_KEYS])
    parse = pacsv.ParseOptions(
        delimiter=" ", quote_char=False, double_quote=False, escape_char=False
    )
    read = pacsv.ReadOptions(column_names=["id", "tags", "nodes"], block_size=32 << 20)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(("id", "tags", "nodes"), pa.string()))
    combos, counts, refs, xs, ys = [], [], [], [], []
    if opl.stat().st_size == 0:
        return pa.array([], pa.string()), np.zeros(0, np.int64), *(np.zeros(0, np.int64),) * 3
    for batch in pacsv.open_csv(
        opl, read_options=read, parse_options=parse, convert_options=convert
    ):
        n = batch.num_rows
        # tags: keep the key=value pairs whose key the rules read, joined back per way
        pairs = pc.split_pattern(pc.utf8_slice_codeunits(batch.column("tags"), 1), ",")
        flat = pc.list_flatten(pairs)
        parent = pc.list_parent_indices(pairs).to_numpy()
        key = pc.list_element(pc.split_pattern(flat, "=", max_splits=1), 0)
        keep = pc.is_in(key, value_set=keys).to_numpy(zero_copy_only=False)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(parent[keep], minlength=n), out=offsets[1:])
        kept = pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))
        combos.append(pc.binary_join(kept, ","))
        # nodes: "n<ref>x<lon>y<lat>" separated by commas
        text = pc.utf8_slice_codeunits(batch.column("nodes"), 1)
        lists = pc.split_pattern(text, ",")
        count = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        count[pc.equal(text, "").to_numpy(zero_copy_only=False)] = 0
        nodes = pc.list_flatten(lists)
        nodes = nodes.filter(pc.not_equal(nodes, ""))
        ref_rest = pc.split_pattern(nodes, "x", max_splits=1)
        ref = pc.utf8_slice_codeunits(pc.list_element(ref_rest, 0), 1)
        lon_lat = pc.split_pattern(pc.list_element(ref_rest, 1), "y", max_splits=1)
        counts.append(count)
        refs.append(pc.cast(ref, pa.int64()).to_numpy())
        for part, out in ((0, xs), (1, ys)):
            values = pc.list_element(lon_lat, part)
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
            degrees = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
            fixed = np.full(len(degrees), _UNDEFINED_COORD, dtype=np.int64)
            ok = ~np.isnan(degrees)
            fixed[ok] = np.rint(degrees[ok] * 1e7).astype(np.int64)
            out.append(fixed)
    return (
        pa.chunked_array(combos, pa.string()).combine_chunks(),
        np.concatenate(counts),
        np.concatenate(refs),
        np.concatenate(xs),
        np.concatenate(ys),
    )


def _read_osm_file(path: Path, fmt: str, progress: bool, box: tuple | None = None) -> _Ways:
    """Parse a PBF or OSM XML file: libosmium writes its highway ways as OPL, pyarrow parses it.

    No Python code runs per node (and, without ``box``, none per way): libosmium filters the
    ways and resolves their node locations, pyarrow splits the text in C++, numpy does the rest.
    Ways sharing the same relevant tags share one row of the tag table (a region has about a
    million ways but only thousands of tag combinations). ``box`` (lon/lat bounds, slack
    included) skips the ways whose two ends lie outside it (see :func:`_write_highway_opl`).
    """
    import pyarrow.compute as pc

    with tempfile.TemporaryDirectory(prefix="zonesblanches-osm-") as tmp:
        opl = Path(tmp) / "voies.opl"
        with _progress(progress, desc="Lecture des voies OSM", total=2, unit=" étape") as bar:
            try:
                with _phase("opl"):
                    _write_highway_opl(path, fmt, opl, box)
            except (RuntimeError, KeyError) as exc:
                raise DataError(
                    f"Impossible de lire le fichier OSM « {path.name} » : {exc}"
                ) from exc
            bar.update(1)
            with _phase("analyse"):
                combos, counts, ref, xi, yi = _parse_opl(opl)
            bar.update(1)
    t_segments = time.perf_counter()
    encoded = pc.dictionary_encode(combos)
    way_combo = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    row_of = np.full(len(encoded.dictionary) + 1, -1, dtype=np.int64)
    tag_rows: list[dict] = []
    for i, text in enumerate(encoded.dictionary.to_pylist()):
        tags = {}
        for pair in text.split(",") if text else ():
            k, _, v = pair.partition("=")
            tags.setdefault(_opl_unescape(k), _opl_unescape(v))
        if tags.get("highway") in HIGHWAY_TABLE and tags.get("area") != "yes":
            row_of[i] = len(tag_rows)
            tag_rows.append(tags)
    way_row = row_of[way_combo]
    usable = way_row >= 0
    if not usable.any():
        where = "" if box is None else " autour du territoire demandé (le fichier le couvre-t-il ?)"
        raise DataError(f"Aucune voie utilisable (highway) dans le fichier « {path.name} »{where}.")
    node_usable = np.repeat(usable, counts)
    ref, xi, yi = ref[node_usable], xi[node_usable], yi[node_usable]
    counts_arr, way_row = counts[usable], way_row[usable]
    way_of = np.repeat(way_row, counts_arr)
    is_last = np.zeros(len(ref), dtype=bool)
    is_last[np.cumsum(counts_arr)[counts_arr > 0] - 1] = True
    valid = (xi != _UNDEFINED_COORD) & (yi != _UNDEFINED_COORD)
    start = np.flatnonzero(~is_last)
    start = start[valid[start] & valid[start + 1]]
    node_id, first = np.unique(ref[valid], return_index=True)
    lon = xi[valid][first] / 1e7
    lat = yi[valid][first] / 1e7
    tags = pd.DataFrame.from_records(tag_rows, columns=list(TAG_KEYS))
    ways = _Ways.from_segments(
        tags,
        None,
        len(tag_rows),
        way_of[start],
        ref[start],
        ref[start + 1],
        None,
        node_id,
        lon,
        lat,
        fmt,
    )
    PHASE_SECONDS["segments"] = time.perf_counter() - t_segments
    return ways


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


_ACCESS_TAGS = ("access", "foot", "bicycle", "vehicle", "motor_vehicle", "motorcar", "motorroad")


def _warn_simplified_access(graph, path: Path) -> None:
    """Warn (in French) when a simplified graph carries access tags: OSMnx's simplification
    keeps a tag present on one merged way as the whole edge's value (a ``foot=yes`` on one
    short piece opens the whole edge), so access on such edges is unreliable."""
    if str(graph.graph.get("simplified", "")).strip().lower() not in ("true", "1"):
        return
    found = sorted({k for _, _, data in graph.edges(data=True) for k in _ACCESS_TAGS if k in data})
    if found:
        warnings.warn(
            f"Le GraphML « {path.name} » est simplifié par OSMnx et porte des étiquettes "
            f"d'accès ({', '.join(found)}) : une étiquette présente sur une seule des voies "
            "fusionnées vaut pour toute l'arête, les accès peuvent donc être faux. Préférez un "
            "graphe non simplifié (simplify=False) ou un extrait .osm.pbf (voir docs/reseau.md).",
            UserWarning,
            stacklevel=3,
        )


def _read_graphml(path: Path, progress: bool) -> _Ways:
    """Read an OSMnx GraphML file: each edge is a directed segment with its own tags.

    List-valued attributes (edges merged by OSMnx's simplification) become one tag row per
    value; an edge is usable only if every row is, at the lowest of their speeds. Direction
    tags relative to the OSM way (``maxspeed:forward``...) cannot be oriented and are dropped.
    """
    import osmnx as ox

    with _progress(progress, desc="Lecture du GraphML", total=1, unit=" fichier") as bar:
        try:
            graph = ox.load_graphml(path)
        except Exception as exc:  # noqa: BLE001 - any parsing failure is a data problem
            raise DataError(
                f"Impossible de lire le fichier GraphML « {path.name} » : {exc}"
            ) from exc
        bar.update(1)
    keys = [k for k in TAG_KEYS if k not in ("maxspeed:forward", "maxspeed:backward")]
    _warn_simplified_access(graph, path)
    node_id, lon, lat = _graph_node_arrays(graph)
    rows: list[dict] = []
    owner: list[int] = []
    us: list[int] = []
    vs: list[int] = []
    lengths: list[float] = []
    for i, (u, v, data) in enumerate(graph.edges(data=True)):
        base = {k: data[k] for k in keys if data.get(k) is not None}
        listed = [k for k, val in base.items() if isinstance(val, list)]
        first = {k: _tag_value(val[0] if isinstance(val, list) else val) for k, val in base.items()}
        if not listed:
            rows.append(first)
            owner.append(i)
        for k in listed:
            for val in base[k]:
                rows.append({**first, k: _tag_value(val)})
                owner.append(i)
        if data.get("oneway") in _REVERSED_ONEWAY:  # raw tag kept (all_oneway): OSMnx reversed
            u, v = v, u
        us.append(u)
        vs.append(v)
        length = data.get("length")
        lengths.append(float(length) if isinstance(length, int | float) else np.nan)
    if not us:
        raise DataError(f"Le graphe « {path.name} » ne contient aucune arête.")
    u_id = np.asarray(us, dtype=np.int64)
    v_id = np.asarray(vs, dtype=np.int64)
    seg_len = np.asarray(lengths, dtype=float)
    missing = np.isnan(seg_len)
    if missing.any():
        pu, pv = np.searchsorted(node_id, u_id[missing]), np.searchsorted(node_id, v_id[missing])
        seg_len[missing] = _haversine(lon[pu], lat[pu], lon[pv], lat[pv])
    tags = pd.DataFrame.from_records(rows, columns=list(TAG_KEYS))
    return _Ways.from_segments(
        tags,
        np.asarray(owner, dtype=np.int64),
        len(us),
        np.arange(len(us), dtype=np.int64),
        u_id,
        v_id,
        seg_len,
        node_id,
        lon,
        lat,
        "graphml",
    )


def _ways_from_osmnx(graph) -> _Ways:
    """Segments of a graph downloaded by OSMnx with ``settings.all_oneway = True``.

    With that setting every way is added once, in its node order (reversed by OSMnx when
    ``oneway`` is ``-1``/``reverse``, which is undone here), with its original tags: the result
    matches what :func:`_read_osm_file` makes of the same OSM data.
    """
    node_id, lon, lat = _graph_node_arrays(graph)
    row_of: dict[int, int] = {}
    rows: list[dict] = []
    seg_way: list[int] = []
    us: list[int] = []
    vs: list[int] = []
    for u, v, data in graph.edges(data=True):
        osmid = data.get("osmid")
        row = row_of.get(osmid)
        if row is None:
            row = row_of[osmid] = len(rows)
            rows.append({k: _tag_value(data[k]) for k in TAG_KEYS if data.get(k) is not None})
        if data.get("oneway") in _REVERSED_ONEWAY:
            u, v = v, u
        seg_way.append(row)
        us.append(u)
        vs.append(v)
    tags = pd.DataFrame.from_records(rows, columns=list(TAG_KEYS))
    return _Ways.from_segments(
        tags,
        None,
        len(rows),
        np.asarray(seg_way, dtype=np.int64),
        np.asarray(us, dtype=np.int64),
        np.asarray(vs, dtype=np.int64),
        None,
        node_id,
        lon,
        lat,
        "overpass",
    )


# --------------------------------------------------------------------------------------------
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


def _build_graph(ways: _Ways, mode: str, rules: NetworkRules, extent, meta: dict) -> _Graph:
    """Apply one mode's rules to every segment read (no territory cut)."""
    fwd_way, bwd_way, kmh_f, kmh_b = _way_access(ways, mode, rules)
    f = fwd_way[ways.seg_way]
    b = bwd_way[ways.seg_way]
    tail = np.concatenate([ways.seg_u[f], ways.seg_v[b]])
    head = np.concatenate([ways.seg_v[f], ways.seg_u[b]])
    length = np.concatenate([ways.seg_len[f], ways.seg_len[b]])
    kmh = np.concatenate([kmh_f[ways.seg_way[f]], kmh_b[ways.seg_way[b]]])
    if ways.fmt == "graphml":
        # each two-way GraphML edge exists in both directions already: drop the exact copies
        # that adding reverse edges made (OSM sources need no such pass; parallel edges are
        # harmless, RoadNetwork.to_csr keeps the fastest)
        time_s = _edge_time(length, kmh)
        order = np.lexsort((time_s, length, head, tail))
        tail, head, length, kmh, time_s = (a[order] for a in (tail, head, length, kmh, time_s))
        dup = np.zeros(len(tail), dtype=bool)
        dup[1:] = (
            (tail[1:] == tail[:-1])
            & (head[1:] == head[:-1])
            & (length[1:] == length[:-1])
            & (time_s[1:] == time_s[:-1])
        )
        tail, head, length, kmh = tail[~dup], head[~dup], length[~dup], kmh[~dup]
    used, inverse = np.unique(np.concatenate([tail, head]), return_inverse=True)
    tail, head = inverse[: len(tail)], inverse[len(tail) :]
    order = np.lexsort((length, head, tail))
    table, code = np.unique(kmh[order], return_inverse=True)
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
        tail=tail[order].astype(np.int32),
        head=head[order].astype(np.int32),
        length_m=length[order].astype(float),
        kmh_code=code.astype(np.int32),
        kmh_table=table.astype(float),
        extent=None if extent is None else tuple(float(v) for v in extent),
        meta=meta,
    )


def _edge_time(length_m: np.ndarray, kmh: np.ndarray) -> np.ndarray:
    return np.maximum(length_m / (kmh / 3.6), MIN_EDGE_TIME_S)


def _cut(graph: _Graph, clip: BaseGeometry | None, source: str, meta: dict) -> RoadNetwork:
    """The network of a territory: like OSMnx's ``truncate_by_edge``, on this mode's graph.

    Nodes inside ``clip`` (WGS84) and their direct neighbours are kept, with every edge between
    two kept nodes; nodes left without an edge are dropped. ``clip=None`` keeps everything.
    """
    tail = graph.tail.astype(np.int64)
    head = graph.head.astype(np.int64)
    if clip is not None:
        x0, y0, x1, y1 = clip.bounds
        inside = (graph.lon >= x0) & (graph.lon <= x1) & (graph.lat >= y0) & (graph.lat <= y1)
        candidates = np.flatnonzero(inside)
        shapely.prepare(clip)
        inside[candidates] = shapely.intersects_xy(
            clip, graph.lon[candidates], graph.lat[candidates]
        )
        touching = inside[tail] | inside[head]
        kept = inside.copy()
        kept[tail[touching]] = True
        kept[head[touching]] = True
        edges = np.flatnonzero(kept[tail] & kept[head])
    else:
        edges = np.arange(len(tail))
    mode = graph.meta["mode"]
    if len(edges) == 0:
        raise DataError(
            f"Aucune voie utilisable {MODES[mode].label} dans {source} "
            "(après application des règles d'accès et du découpage au territoire)."
        )
    if clip is None:  # every node of the graph has an edge already
        used, tail, head = slice(None), tail, head
    else:
        used, inverse = np.unique(np.concatenate([tail[edges], head[edges]]), return_inverse=True)
        tail, head = inverse[: len(edges)], inverse[len(edges) :]
    x, y = _TO_L93.transform(graph.lon[used], graph.lat[used])
    length = graph.length_m[edges]
    return RoadNetwork(
        mode=mode,
        node_id=graph.node_id[used],
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        tail=tail.astype(np.int64),
        head=head.astype(np.int64),
        length_m=length.astype(float),
        time_s=_edge_time(length, graph.kmh_table[graph.kmh_code[edges]]),
        source=source,
        meta={**graph.meta, **meta},
    )


# --------------------------------------------------------------------------------------------
# Cache: one file per source and mode (territories are cut from it)
# --------------------------------------------------------------------------------------------


def _cache_key(source_id: str, mode: str, rules: NetworkRules) -> str:
    payload = {
        "cache_format": _CACHE_FORMAT,
        "source": source_id,
        "mode": mode,
        "rules_version": RULES_VERSION,
        "rules": rules.as_dict(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cache_files(folder: Path, mode: str, key: str) -> tuple[Path, Path]:
    stem = f"{mode}-{key[:40]}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _write_cache(graph: _Graph, folder: Path, key: str) -> None:
    """Write the graph compressed (zip deflate level 1: fast, about half the raw size).

    Node ids and edge tails are stored as differences (sorted arrays: small numbers, which
    compress well); the .json record holds the .npz's sha256, checked on every read.
    """
    npz, meta_file = _cache_files(folder, graph.meta["mode"], key)
    arrays = graph.arrays()
    arrays["node_id"] = np.diff(arrays["node_id"], prepend=0)
    arrays["tail"] = np.diff(arrays["tail"], prepend=0).astype(np.int32)
    with _cache.atomic_path(npz) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for name, arr in arrays.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
        digest = _cache.file_digest(tmp)
    record = {
        "key": key,
        "npz_sha256": digest,
        "mode": graph.meta["mode"],
        "extent": graph.extent,
        "meta": graph.meta,
    }
    with _cache.atomic_path(meta_file) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def _read_cache(folder: Path, mode: str, key: str) -> _Graph | None:
    """The cached graph, or ``None`` (with a French warning if a cache file is unusable)."""
    npz, meta_file = _cache_files(folder, mode, key)
    if not npz.exists() and not meta_file.exists():
        return None
    try:
        record = json.loads(meta_file.read_text(encoding="utf-8"))
        if record.get("key") != key or record.get("mode") != mode:
            raise ValueError("clé du cache différente")
        if _cache.file_digest(npz) != record.get("npz_sha256"):
            raise ValueError("empreinte du fichier .npz différente (fichier modifié ou tronqué)")
        with np.load(npz, allow_pickle=False) as data:
            arrays = {name: np.array(data[name]) for name in _GRAPH_ARRAYS}
        arrays["node_id"] = np.cumsum(arrays["node_id"])
        arrays["tail"] = np.cumsum(arrays["tail"], dtype=np.int64).astype(np.int32)
        _validate_arrays(arrays)
        extent = record.get("extent")
        graph = _Graph(
            **arrays,
            extent=None if extent is None else tuple(extent),
            meta=dict(record.get("meta") or {}),
        )
    except Exception as exc:  # noqa: BLE001 - any failure means "rebuild"
        warnings.warn(
            f"Cache du réseau {mode} illisible ({npz.name} : {exc}) ; le réseau est reconstruit.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    graph.meta["cache_file"] = str(npz)
    return graph


def _validate_arrays(a: dict[str, np.ndarray]) -> None:
    n = len(a["node_id"])
    m = len(a["tail"])
    if any(a[k].ndim != 1 for k in _GRAPH_ARRAYS):
        raise ValueError("tableaux de dimension inattendue")
    if len(a["lon"]) != n or len(a["lat"]) != n:
        raise ValueError("nombre de coordonnées incohérent")
    if any(len(a[k]) != m for k in ("head", "length_m", "kmh_code")):
        raise ValueError("nombre d'arêtes incohérent")
    if m == 0 or n == 0:
        raise ValueError("réseau vide")
    if n > 1 and not (np.diff(a["node_id"]) > 0).all():
        raise ValueError("identifiants de nœuds non triés")
    for k in ("tail", "head"):
        if a[k].dtype.kind not in "iu" or a[k].min() < 0 or a[k].max() >= n:
            raise ValueError("indices de nœuds hors limites")
    if a["kmh_code"].min() < 0 or a["kmh_code"].max() >= len(a["kmh_table"]):
        raise ValueError("codes de vitesse hors limites")
    if not (np.isfinite(a["kmh_table"]).all() and (a["kmh_table"] > 0).all()):
        raise ValueError("vitesses non positives")
    if not (np.isfinite(a["length_m"]).all() and (a["length_m"] >= 0).all()):
        raise ValueError("longueurs invalides")
    if not (np.isfinite(a["lon"]).all() and np.isfinite(a["lat"]).all()):
        raise ValueError("coordonnées invalides")


# --------------------------------------------------------------------------------------------
# Public API: files
# --------------------------------------------------------------------------------------------


def load_networks(
    source: str | Path,
    modes: str | Iterable[str] = tuple(MODES),
    *,
    polygon=None,
    margin_m: float | Mapping[str, float] | None = None,
    rules: NetworkRules | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, RoadNetwork]:
    """Build the road network of several modes from one OSM file, parsed once.

    Parameters
    ----------
    source : str or path
        ``.osm.pbf``/``.pbf`` extract, OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``) or OSMnx
        ``.graphml`` (see ``docs/reseau.md`` for what a GraphML file cannot tell).
    modes : str or iterable of str
        Mode codes (``marche``, ``velo``, ``voiture``; English aliases accepted). Default: all.
    polygon : shapely (Multi)Polygon or GeoDataFrame, optional
        Territory in WGS84 (a GeoDataFrame is reprojected and merged). The network is clipped
        to it, buffered by ``margin_m``. Default: the whole file.
    margin_m : float or mapping, optional
        Margin around ``polygon`` in metres, one for all modes or mode → metres; default
        :data:`DEFAULT_MARGIN_M` per mode. :func:`service_margin_m` gives one that reaches the
        services of an analysis.
    rules : NetworkRules, optional
        Speed parameters (default ``NetworkRules()``).
    cache : bool
        Read and write the network cache (default True).
    cache_dir : path, optional
        Cache root (default: see :func:`zonesblanches.geodata.cache.cache_dir`); networks go
        to its ``reseaux`` sub-folder.
    progress : bool
        Show progress bars (only on a terminal).

    Returns
    -------
    dict of str to RoadNetwork
        One network per requested mode, in the order asked.

    Raises
    ------
    DataError
        Missing, unreadable or empty file, or no usable way for a mode.
    ParameterError
        Unknown format, mode or invalid polygon/margin.
    """
    PHASE_SECONDS.clear()
    path = Path(source)
    fmt = _source_format(path)
    if not path.is_file():
        raise DataError(f"Fichier OSM introuvable : « {path} ».")
    modes = _modes(modes)
    rules = rules or NetworkRules()
    margins = _margins(modes, margin_m)
    territory = None if polygon is None else _as_polygon(polygon)
    clips = {m: None if territory is None else _clip_polygon(territory, margins[m]) for m in modes}
    src = f"OpenStreetMap ({OSM_ATTRIBUTION}), fichier {path.name}"
    meta = {"source_file": path.name}
    if territory is not None:
        meta["polygon_bounds"] = list(territory.bounds)

    graphs: dict[str, _Graph] = {}
    from_cache: set[str] = set()
    keys: dict[str, str] = {}
    folder = None
    if cache:
        folder = _cache.cache_dir("reseaux", base=cache_dir)
        digest = _cache.file_digest(path)
        meta["source_sha256"] = digest
        for m in modes:
            keys[m] = _cache_key("file:" + digest, m, rules)
            with _phase("cache_lecture"):
                hit = _read_cache(folder, m, keys[m])
            if hit is not None and hit.covers(clips[m]):
                graphs[m] = hit
                from_cache.add(m)
    missing = [m for m in modes if m not in graphs]
    if missing:
        extent = None
        if fmt == "graphml":
            ways = _read_graphml(path, progress)
        else:
            if territory is not None:
                extent = shapely.union_all([clips[m] for m in missing]).bounds
            ways = _read_osm_file(path, fmt, progress, _read_box(extent))
        for m in _progress(
            progress, iterable=missing, desc="Construction des réseaux", unit=" mode"
        ):
            with _phase("graphes"):
                graphs[m] = _build_graph(ways, m, rules, extent, {"source_file": path.name})
            if cache:
                with _phase("cache_ecriture"):
                    _write_cache(graphs[m], folder, keys[m])
        del ways
    results = {}
    for m in modes:
        extra = {
            "margin_m": margins[m] if territory is not None else None,
            "from_cache": m in from_cache,
        }
        if fmt == "graphml":
            extra["limitations"] = GRAPHML_LIMITS
        with _phase("decoupe"):
            results[m] = _cut(graphs[m], clips[m], src, {**meta, **extra})
    return results


def load_network(
    source: str | Path,
    mode: str,
    *,
    polygon=None,
    margin_m: float | Mapping[str, float] | None = None,
    rules: NetworkRules | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> RoadNetwork:
    """Build the road network of one mode from an OSM file (see :func:`load_networks`)."""
    return load_networks(
        source,
        [mode],
        polygon=polygon,
        margin_m=margin_m,
        rules=rules,
        cache=cache,
        cache_dir=cache_dir,
        progress=progress,
    )[mode_code(mode)]


# --------------------------------------------------------------------------------------------
# Public API: download
# --------------------------------------------------------------------------------------------


def _offline_message(url: str) -> str:
    return (
        f"Impossible de joindre le service Overpass d'OpenStreetMap ({url}) : pas de connexion "
        "Internet, ou service indisponible. Le réseau routier ne peut pas être téléchargé. "
        "Sans connexion, utilisez un extrait OpenStreetMap déjà téléchargé (fichier .osm.pbf, "
        "par exemple sur https://download.geofabrik.de/europe/france.html) ou gardez le calcul "
        "à vol d'oiseau."
    )


def check_overpass(overpass_url: str | None = None, *, timeout: float = 10.0) -> None:
    """Check that the Overpass API answers; raise a French error otherwise.

    Parameters
    ----------
    overpass_url : str, optional
        Base URL (default: ``osmnx.settings.overpass_url``, ``https://overpass-api.de/api``).
        The check asks for ``{overpass_url}/status``; any HTTP answer counts as reachable.
    timeout : float
        Seconds to wait.

    Raises
    ------
    NetworkUnavailableError
        No connection, DNS failure, refused connection or timeout.
    """
    import osmnx as ox
    import requests

    url = (overpass_url or ox.settings.overpass_url).rstrip("/")
    try:
        requests.get(
            url + "/status", timeout=timeout, headers={"User-Agent": ox.settings.http_user_agent}
        )
    except requests.RequestException as exc:
        raise NetworkUnavailableError(_offline_message(url)) from exc


@contextmanager
def _osmnx_settings(url: str, timeout: float) -> Iterator[None]:
    import osmnx as ox

    names = (
        "overpass_url",
        "useful_tags_way",
        "all_oneway",
        "use_cache",
        "requests_timeout",
        "log_console",
    )
    saved = {n: getattr(ox.settings, n) for n in names}
    ox.settings.overpass_url = url
    ox.settings.useful_tags_way = list(TAG_KEYS)
    ox.settings.all_oneway = True  # keeps every way once, in node order, with its oneway tag
    ox.settings.use_cache = False  # the built network is cached instead
    ox.settings.requests_timeout = timeout
    ox.settings.log_console = False
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(ox.settings, n, v)


def download_networks(
    polygon,
    modes: str | Iterable[str] = tuple(MODES),
    *,
    margin_m: float | Mapping[str, float] | None = None,
    rules: NetworkRules | None = None,
    overpass_url: str | None = None,
    timeout: float = 180.0,
    max_area_km2: float = MAX_DOWNLOAD_AREA_KM2,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, RoadNetwork]:
    """Download the ways of a territory from Overpass (one query) and build each mode's network.

    Parameters
    ----------
    polygon : shapely (Multi)Polygon or GeoDataFrame
        Territory in WGS84, at most ``max_area_km2`` (an EPCI).
    modes : str or iterable of str
        Mode codes; default all three.
    margin_m : float or mapping, optional
        Margin around the territory in metres (one, or mode → metres); default
        :data:`DEFAULT_MARGIN_M` per mode. The query covers the largest margin; each mode is
        then clipped to its own.
    rules : NetworkRules, optional
        Speed parameters.
    overpass_url : str, optional
        Overpass API base URL (default: OSMnx's, ``https://overpass-api.de/api``).
    timeout : float
        HTTP and Overpass timeout in seconds.
    max_area_km2 : float
        Size guard (default :data:`MAX_DOWNLOAD_AREA_KM2`).
    cache, cache_dir, progress
        As in :func:`load_networks`. The cache key is the query (polygon, filter, server): the
        cached network is reused until the cache is cleared or ``cache=False`` is passed.

    Returns
    -------
    dict of str to RoadNetwork

    Raises
    ------
    ParameterError
        Territory too large (the message points to PBF extracts) or invalid.
    NetworkUnavailableError
        Overpass cannot be reached or answers with an error.
    DataError
        No way in the territory.
    """
    import osmnx as ox

    modes = _modes(modes)
    rules = rules or NetworkRules()
    territory = _as_polygon(polygon)
    area = _area_km2(territory)
    if area > max_area_km2:
        raise ParameterError(
            f"Le territoire couvre {_km2(area)} km², au-delà de la limite de "
            f"{_km2(max_area_km2)} km² d'un téléchargement Overpass (taille d'un EPCI). Pour un "
            "département ou la région, téléchargez un extrait OpenStreetMap .osm.pbf sur "
            "Geofabrik (https://download.geofabrik.de/europe/france/nord-pas-de-calais.html, "
            "picardie.html) et chargez-le comme fichier (option --osm)."
        )
    margins = _margins(modes, margin_m)
    widest = max(margins.values())
    query_polygon = _clip_polygon(territory, widest)
    url = (overpass_url or ox.settings.overpass_url).rstrip("/")
    query_id = hashlib.sha256(
        json.dumps(
            {
                "overpass": url,
                "filter": OVERPASS_FILTER,
                "polygon": shapely.to_wkb(query_polygon, hex=True),
            }
        ).encode()
    ).hexdigest()
    clips = {m: _clip_polygon(territory, margins[m]) for m in modes}
    meta = {
        "overpass_url": url,
        "overpass_query_sha256": query_id,
        "polygon_bounds": list(territory.bounds),
    }

    graphs: dict[str, _Graph] = {}
    keys: dict[str, str] = {}
    folder = None
    if cache:
        folder = _cache.cache_dir("reseaux", base=cache_dir)
        for m in modes:
            keys[m] = _cache_key("overpass:" + query_id, m, rules)
            hit = _read_cache(folder, m, keys[m])
            if hit is not None:
                graphs[m] = hit
    from_cache = set(graphs)
    missing = [m for m in modes if m not in graphs]
    if missing:
        _download_graphs(query_polygon, url, timeout, missing, rules, graphs, progress)
        if cache:
            for m in missing:
                _write_cache(graphs[m], folder, keys[m])
    return {
        m: _cut(
            graphs[m],
            clips[m],  # same cut as for a file (OSMnx's truncation keeps neighbours by any way)
            graphs[m].meta.get("source_text", ""),
            {**meta, "margin_m": margins[m], "from_cache": m in from_cache},
        )
        for m in modes
    }


def _download_graphs(query_polygon, url, timeout, missing, rules, graphs, progress) -> None:
    """One Overpass query (through OSMnx), then each missing mode's graph into ``graphs``."""
    import osmnx as ox
    import requests

    check_overpass(url, timeout=min(timeout, 15.0))
    with _progress(
        progress, desc="Téléchargement OpenStreetMap (Overpass)", total=1, unit=" requête"
    ) as bar:
        try:
            with _osmnx_settings(url, timeout):
                graph = ox.graph_from_polygon(
                    query_polygon,
                    network_type="all",
                    simplify=False,
                    retain_all=True,
                    truncate_by_edge=True,
                    custom_filter=OVERPASS_FILTER,
                )
        except requests.RequestException as exc:
            raise NetworkUnavailableError(_offline_message(url)) from exc
        except ox._errors.ResponseStatusCodeError as exc:
            raise NetworkUnavailableError(
                f"Le service Overpass ({url}) a répondu par une erreur : {exc}. Réessayez plus "
                "tard, ou utilisez un extrait OpenStreetMap .osm.pbf."
            ) from exc
        except (ox._errors.InsufficientResponseError, ValueError) as exc:
            raise DataError(
                "Overpass n'a renvoyé aucune voie pour ce territoire (territoire vide, ou "
                f"requête interrompue par le serveur) : {exc}"
            ) from exc
        bar.update(1)
    ways = _ways_from_osmnx(graph)
    day = dt.date.today().isoformat()
    src = f"OpenStreetMap ({OSM_ATTRIBUTION}), téléchargé via Overpass le {day}"
    for m in _progress(progress, iterable=missing, desc="Construction des réseaux", unit=" mode"):
        graphs[m] = _build_graph(ways, m, rules, None, {"source_text": src})


def download_network(
    polygon,
    mode: str,
    *,
    margin_m: float | Mapping[str, float] | None = None,
    rules: NetworkRules | None = None,
    overpass_url: str | None = None,
    timeout: float = 180.0,
    max_area_km2: float = MAX_DOWNLOAD_AREA_KM2,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> RoadNetwork:
    """Download one mode's network for a territory (see :func:`download_networks`)."""
    return download_networks(
        polygon,
        [mode],
        margin_m=margin_m,
        rules=rules,
        overpass_url=overpass_url,
        timeout=timeout,
        max_area_km2=max_area_km2,
        cache=cache,
        cache_dir=cache_dir,
        progress=progress,
    )[mode_code(mode)]
