"""Road networks from OpenStreetMap, one per travel mode.

Three ways in, one result (:class:`~zonesblanches.geodata.network.RoadNetwork`):

- :func:`load_networks` / :func:`load_network` read a file the planner has: an OSM PBF extract
  (``.osm.pbf``, ``.pbf``), OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``), both parsed once with
  pyosmium, or an OSMnx GraphML file (``.graphml``, ``.graphml.gz``);
- :func:`download_networks` / :func:`download_network` fetch the ways of a territory (an EPCI,
  up to :data:`MAX_DOWNLOAD_AREA_KM2`) from the Overpass API through OSMnx; for a département or
  the region, the documented path is a PBF extract (Geofabrik);
- :func:`check_overpass` raises :class:`~zonesblanches.errors.NetworkUnavailableError` with a
  French message when the service cannot be reached (offline machine).

One module per job, like OSMnx; this one holds the file entry points and GraphML reading and
re-exports every public name of the others: :mod:`~zonesblanches.geodata.osm_read` (PBF and
XML), :mod:`~zonesblanches.geodata.osm_graph` (ways → one mode's graph → a territory's network,
margins), :mod:`~zonesblanches.geodata.osm_cache` (the cache),
:mod:`~zonesblanches.geodata.overpass` (downloads).

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

import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata import cache as _cache
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.osm_cache import _cache_key, _read_cache, _write_cache
from zonesblanches.geodata.osm_graph import (
    _REVERSED_ONEWAY,
    DEFAULT_MARGIN_M,
    EARTH_RADIUS_M,
    MIN_EDGE_TIME_S,
    OSM_ATTRIBUTION,
    PHASE_SECONDS,
    SERVICE_DETOUR,
    _as_polygon,
    _build_graph,
    _clip_polygon,
    _cut,
    _Graph,
    _graph_node_arrays,
    _haversine,
    _margins,
    _modes,
    _phase,
    _progress,
    _tag_value,
    _Ways,
    service_margin_m,
)
from zonesblanches.geodata.osm_read import READ_SLACK_M, _read_box, _read_osm_file
from zonesblanches.geodata.osm_rules import TAG_KEYS, NetworkRules
from zonesblanches.geodata.overpass import (
    MAX_DOWNLOAD_AREA_KM2,
    OVERPASS_FILTER,
    check_overpass,
    download_network,
    download_networks,
)
from zonesblanches.modes import MODES, mode_code

__all__ = [
    "DEFAULT_MARGIN_M",
    "EARTH_RADIUS_M",
    "GRAPHML_LIMITS",
    "MAX_DOWNLOAD_AREA_KM2",
    "MIN_EDGE_TIME_S",
    "OSM_ATTRIBUTION",
    "OVERPASS_FILTER",
    "PHASE_SECONDS",
    "READ_SLACK_M",
    "SERVICE_DETOUR",
    "SUFFIXES",
    "check_overpass",
    "download_network",
    "download_networks",
    "load_network",
    "load_networks",
    "service_margin_m",
]

SUFFIXES: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm": "osm",
    ".osm.gz": "osm.gz",
    ".osm.bz2": "osm.bz2",
    ".graphml": "graphml",
    ".graphml.gz": "graphml",  # networkx.read_graphml decompresses by the file's ending
}
"""Accepted file endings and the format each one means."""

GRAPHML_LIMITS = (
    "GraphML : seules les étiquettes gardées par OSMnx sont connues (par défaut highway, "
    "oneway, junction, access, maxspeed, service) ; foot, bicycle, motor_vehicle, "
    "oneway:bicycle et cycleway manquent le plus souvent, donc les exceptions piétonnes et "
    "cyclables sont ignorées ; le sens unique est celui calculé par OSMnx (un graphe "
    "network_type='walk' est entièrement à double sens : utilisez network_type='all')."
)


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
    convert: Callable[[RoadNetwork], object] | None = None,
) -> dict[str, RoadNetwork]:
    """Build the road network of several modes from one OSM file, parsed once.

    Parameters
    ----------
    source : str or path
        ``.osm.pbf``/``.pbf`` extract, OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``) or OSMnx
        ``.graphml`` or ``.graphml.gz`` (see ``docs/reseau.md`` for what a GraphML file cannot
        tell).
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
    convert : callable, optional
        Applied to each mode's network as soon as it is cut (e.g. a travel-time model
        constructor); the result takes the network's place. The network is then held only
        while it is converted, not until every mode is cut (issue 17: memory of a region).

    Returns
    -------
    dict of str to RoadNetwork
        One network per requested mode, in the order asked (or what ``convert`` made of it).

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
            # the graph is not needed once cut: let it go before the next mode's cut, so that
            # the whole-file graphs and the networks cut from them are not all held at once
            results[m] = _cut(graphs.pop(m), clips[m], src, {**meta, **extra})
        if convert is not None:
            results[m] = convert(results[m])
    return results


def load_network(source: str | Path, mode: str, **options) -> RoadNetwork:
    """Build the road network of one mode from an OSM file.

    ``options`` are the keyword options of :func:`load_networks` (``polygon``, ``margin_m``,
    ``rules``, ``cache``, ``cache_dir``, ``progress``).
    """
    return load_networks(source, [mode], **options)[mode_code(mode)]
