"""Downloading a territory's ways from the Overpass API (through OSMnx), one query for all modes.

:func:`download_networks` / :func:`download_network` fetch the ways of a territory (an EPCI, up
to :data:`MAX_DOWNLOAD_AREA_KM2`); for a département or the region, the documented path is a
PBF extract (Geofabrik). :func:`check_overpass` raises
:class:`~zonesblanches.errors.NetworkUnavailableError` with a French message when the service
cannot be reached (offline machine). The built networks are cached like files', under a key
made of the query (:mod:`~zonesblanches.geodata.osm_cache`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata import cache as _cache
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.osm_cache import _cache_key, _read_cache, _write_cache
from zonesblanches.geodata.osm_graph import (
    _REVERSED_ONEWAY,
    OSM_ATTRIBUTION,
    _area_km2,
    _as_polygon,
    _build_graph,
    _clip_polygon,
    _cut,
    _Graph,
    _graph_node_arrays,
    _km2,
    _margins,
    _modes,
    _progress,
    _tag_value,
    _Ways,
)
from zonesblanches.geodata.osm_rules import HIGHWAY_TABLE, TAG_KEYS, NetworkRules
from zonesblanches.modes import MODES, mode_code

MAX_DOWNLOAD_AREA_KM2 = 1_500.0
"""Largest territory (before margin) accepted by :func:`download_networks`. The 92 EPCI of
Hauts-de-France cover 49 to 915 km² (IGN contours 2024), its départements 5,768 to 7,420 km²:
1,500 km² accepts every EPCI and refuses every département, for which a PBF extract is faster
and kinder to the shared Overpass servers."""

OVERPASS_FILTER = '["highway"~"^(' + "|".join(HIGHWAY_TABLE) + ')$"]["area"!~"yes"]'
"""Overpass way filter of downloads: every class the rules know, areas excluded."""


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


def download_network(polygon, mode: str, **options) -> RoadNetwork:
    """Download one mode's network for a territory.

    ``options`` are the keyword options of :func:`download_networks` (``margin_m``, ``rules``,
    ``overpass_url``, ``timeout``, ``max_area_km2``, ``cache``, ``cache_dir``, ``progress``).
    """
    return download_networks(polygon, [mode], **options)[mode_code(mode)]
