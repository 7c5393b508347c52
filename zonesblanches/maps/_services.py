"""The services of the coverage map: compact records, their layers per category, and how many
markers the page may carry before they are grouped.

Used by :mod:`zonesblanches.maps.carto`. Records are arrays whose text fields are indices into
one table of distinct strings; the map script (:mod:`zonesblanches.maps._mapjs`) decodes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches._text import fr_num
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.maps import style

CLUSTER_FROM = 2000
"""Above this many services, markers are grouped (Leaflet.markercluster): thousands of
individual markers make the page slow to open and unreadable."""

AGGREGATE_FROM = 20_000
"""Above this many services in the map's extent, they are not drawn one by one but counted per
commune (per 2 km square when a service has no commune code): one disc per place and category,
its popup giving the count by category. Clustered markers still carry every service in the page
(100,000 services made a 27 MB map that took minutes to open, issue 16 item 9); counts keep the
map within its budget whatever the number of services. The services nearest to a unit keep
their record, so that unit popups still name them."""

GRID_M = 2_000
"""Side (metres, Lambert-93) of the squares that group services without a commune code."""

SERVICE_FIELDS = (
    "id",
    "nom",
    "categorie",
    "commune",
    "adresse",
    "statut",
    "source",
    "date_source",
    "precision",
    "notes",
    "lien_source",
    "score_qualite",
    "hors_territoire",
)
"""Text fields of a service in the map data, in the order of its record (``date_source`` is
data·inclusion's ``date_maj`` for its rows; ``hors_territoire`` is empty for a service in the
territory, else :func:`outside_text`: the map draws it hollow)."""


def outside_text(km: float) -> str:
    """What the popup of a service used outside the territory says (issue 12 §3)."""
    return f"hors du territoire, pris en compte (à {fr_num(km, 1, trim=True)} km de sa limite)"


def services_payload(
    services: gpd.GeoDataFrame,
    categories: Sequence[str],
    bbox: Sequence[float] | None = None,
    keep: set[str] = frozenset(),
    places: gpd.GeoDataFrame | None = None,
    outside: dict[str, float] | None = None,
) -> tuple[dict, dict[str, list[int]], dict[str, int]]:
    """Services as compact records (strings are data: escaped by the script), their layers per
    category and the index of each ``service_id``.

    Only the services that matter to the map are drawn: those inside ``bbox`` (lon/lat) and
    those in ``keep`` (the nearest service of some unit). Records are arrays whose text fields
    are indices into one table of distinct strings (a source cited by 5,000 rows is written
    once), then ``a_verifier`` (0/1), latitude and longitude: thousands of services stay a few
    hundred kilobytes.

    ``outside`` maps the ``service_id`` of the services used outside the territory
    (``result.services_outside``) to their distance to it (km): their ``hors_territoire`` text
    says so, and the map draws them hollow.

    Beyond :data:`AGGREGATE_FROM` services, the payload carries ``counts``
    (:func:`service_counts` per commune of ``places``) and records for the ``keep`` services
    only; no layer of individual markers is returned.
    """
    frame = services.copy()
    if frame.crs is not None and str(frame.crs) != WGS84:
        frame = frame.to_crs(WGS84)
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if bbox is not None and len(frame):
        x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
        inside = (x >= bbox[0]) & (x <= bbox[2]) & (y >= bbox[1]) & (y <= bbox[3])
        inside |= frame["service_id"].astype(str).isin(keep).to_numpy()
        frame = frame[inside]
    counts = None
    if len(frame) > AGGREGATE_FROM:
        counts = service_counts(frame, categories, places)
        frame = frame[frame["service_id"].astype(str).isin(keep).to_numpy()]
    order = np.lexsort(
        (frame["service_id"].astype(str).to_numpy(), frame["categorie"].astype(str).to_numpy())
    )
    frame = frame.iloc[order].reset_index(drop=True)

    def text(col: str) -> list[str]:
        if col not in frame:
            return [""] * len(frame)
        values = frame[col].astype(object)
        return [
            "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in values
        ]

    ids, statut, precision = text("service_id"), text("statut"), text("precision")
    columns = {
        "id": ids,
        "nom": [n or i for n, i in zip(text("nom"), ids, strict=True)],
        "categorie": text("categorie"),
        "commune": text("commune"),
        "adresse": text("adresse"),
        "statut": [style.STATUS_LABELS.get(v, v) for v in statut],
        "source": text("source"),
        "date_source": [d or m for d, m in zip(text("date_source"), text("date_maj"), strict=True)],
        "precision": [style.PRECISION_LABELS.get(v, v) for v in precision],
        "notes": text("notes"),
        "lien_source": text("lien_source"),
        "score_qualite": [_decimal(v) for v in text("score_qualite")],
        "hors_territoire": [
            outside_text(outside[i]) if outside and i in outside else "" for i in ids
        ],
    }
    strings: dict[str, int] = {}

    def code(value: str) -> int:
        return strings.setdefault(value, len(strings))

    lat = np.round(frame.geometry.y.to_numpy(dtype=float), 5)
    lon = np.round(frame.geometry.x.to_numpy(dtype=float), 5)
    records, layers, index = [], {c: [] for c in categories}, {}
    for i in range(len(frame)):
        rec = [code(columns[f][i]) for f in SERVICE_FIELDS]
        # Coordinates to 5 decimals (1 m), not json_value (1 decimal: up to 5 km off).
        rec += [int(statut[i] == "a_verifier"), float(lat[i]), float(lon[i])]
        index[ids[i]] = i
        records.append(rec)
        if columns["categorie"][i] in layers:
            layers[columns["categorie"][i]].append(i)
    payload = {"fields": list(SERVICE_FIELDS), "strings": list(strings), "records": records}
    if counts is not None:
        payload["counts"] = counts
        layers = {}
    return payload, {c: v for c, v in layers.items() if v}, index


def _decimal(value: str) -> str:
    """« 0,9 » for data·inclusion's ``score_qualite`` text « 0.9 »; other text as it is."""
    try:
        number = float(value)
    except ValueError:
        return value
    return fr_num(number, 2, trim=True) if math.isfinite(number) else value


def decode_services(payload: dict) -> list[dict]:
    """The services of a map's data as dicts (for tests and scripts reading a map)."""
    fields, strings = payload["fields"], payload["strings"]
    out = []
    for rec in payload["records"]:
        item = {f: strings[rec[j]] for j, f in enumerate(fields)}
        item.update(a_verifier=bool(rec[len(fields)]), lat=rec[-2], lon=rec[-1])
        out.append(item)
    return out


def service_counts(
    frame: gpd.GeoDataFrame, categories: Sequence[str], places: gpd.GeoDataFrame | None = None
) -> dict:
    """Services (lon/lat) counted per place and category, for maps with too many to draw, at
    the levels of :data:`COUNT_LEVELS` (département, EPCI, commune) the map switches between
    as it zooms.

    A place is the commune of ``places`` (polygons with ``code_insee`` and ``nom``; also
    ``code_epci``/``nom_epci`` and ``code_departement`` for the coarser levels) the service lies
    in — by its position, which is what the map draws, not by its declared commune — else a
    square (:data:`GRID_M` at the commune level, ten times that above). Returns
    ``{"categories": [...], "totals": [...], "levels": [...]}``, coarsest level first; each
    level is ``{"label", "square_km", "min_zoom", "places": [[lat, lon, name, [n per
    category]]]}``: the disc of a place sits at the mean position of its services, ``name`` is
    empty for a square. ``min_zoom`` is the zoom from which the level's discs are
    :data:`COUNT_SPACING_PX` apart on average (:func:`_readable_zoom`): the map shows the finest
    level it has reached, the coarsest below. Categories not in ``categories`` are counted
    too (the popup lists them), after those of the map.
    """
    present = set(frame["categorie"].astype(str).unique())  # not one Python str per service
    cats = list(categories) + sorted(present - set(categories))
    points = frame.geometry.reset_index(drop=True)
    metric = points.to_crs(LAMBERT93)
    mx, my = metric.x.to_numpy(), metric.y.to_numpy()
    lon, lat = points.x.to_numpy(dtype=float), points.y.to_numpy(dtype=float)
    within = np.full(len(points), -1, dtype=np.int64)  # the place each service lies in
    polys = None
    if places is not None and len(places):
        polys = places.to_crs(points.crs).reset_index(drop=True)
        inside, poly = polys.sindex.query(points.values, predicate="within")
        first = pd.Series(poly, index=inside).groupby(level=0).min()  # one commune per point
        within[first.index] = first.to_numpy()
        area = polys.to_crs(LAMBERT93).area.to_numpy()
    cat = pd.Categorical(frame["categorie"].astype(str).to_numpy(), categories=cats)
    levels = []
    for code, name_col, label in COUNT_LEVELS:
        if code != "code_insee" and (polys is None or code not in polys):
            continue
        side = GRID_M if code == "code_insee" else GRID_M * 10
        codes = polys[code].astype(str).to_numpy() if polys is not None and code in polys else None
        hit = within >= 0
        # Square keys only for the services outside every place (all of them without places):
        # one formatted string per service and level cost 0.3 s per level at 100,000.
        square = np.flatnonzero(~hit) if codes is not None else np.arange(len(points))
        key = np.empty(len(points), dtype=object)
        key[square] = [
            f"carreau {int(x // side)} {int(y // side)}"
            for x, y in zip(mx[square], my[square], strict=True)
        ]
        name = np.full(len(points), "", dtype=object)
        n_named, named_area = 0, 0.0
        if codes is not None:  # places given, with this level's code
            key[hit] = codes[within[hit]]
            names = _level_names(polys, code, name_col)
            name[hit] = names[within[hit]]
            used = sorted(set(codes[within[hit]]))
            n_named = len(used)
            named_area = float(area[np.isin(codes, used)].sum())
        n_squares = len(set(key[within < 0])) if polys is not None else len(set(key))
        table = pd.DataFrame({"place": key, "name": name, "cat": cat, "lon": lon, "lat": lat})
        levels.append(
            {
                "label": label,
                "square_km": side // 1000,
                "min_zoom": _readable_zoom(
                    named_area + n_squares * side * side,
                    n_named + n_squares,
                    float(np.mean(lat)) if len(lat) else 0.0,
                ),
                "places": _count_places(table, cats),
            }
        )
    totals = pd.Series(cat).value_counts(sort=False).reindex(cats, fill_value=0)
    return {"categories": cats, "totals": [int(n) for n in totals], "levels": levels}


COUNT_LEVELS = (
    ("code_departement", "nom_departement", "département"),
    ("code_epci", "nom_epci", "EPCI"),
    ("code_insee", "nom", "commune"),
)
"""Levels of the services counted on a map, coarsest first: (code column of ``places``, name
column, French label). A level is used when ``places`` has its code column."""

COUNT_SPACING_PX = 44
"""Mean spacing, in screen pixels, between the count discs of a level from which it is shown:
a disc is at most 40 px wide, so the discs of the level shown do not cover the map."""


def _level_names(polys: gpd.GeoDataFrame, code: str, name_col: str) -> np.ndarray:
    """Name of each row's place at a level: ``name_col`` when ``places`` has it, else, for the
    départements, the name of the bundled reference (the code when unknown)."""
    if name_col in polys:
        return polys[name_col].astype(str).to_numpy()
    codes = polys[code].astype(str)
    if code == "code_departement":
        from zonesblanches.geodata.reference import load_departements

        known = load_departements(None).set_index("code_departement")["nom"]
        return codes.map(known).fillna(codes).astype(str).to_numpy()
    return codes.to_numpy()


def _readable_zoom(area_m2: float, n: int, lat: float) -> float:
    """Web-Mercator zoom from which ``n`` discs spread over ``area_m2`` are
    :data:`COUNT_SPACING_PX` apart on average (ground resolution 156,543 m/px at zoom 0 on the
    equator, times cos(latitude))."""
    if n <= 1 or area_m2 <= 0:
        return 0.0
    spacing_m = math.sqrt(area_m2 / n)
    metres_per_px = spacing_m / COUNT_SPACING_PX
    zoom = math.log2(156_543.034 * math.cos(math.radians(lat)) / metres_per_px)
    return round(max(zoom, 0.0), 2)


def _count_places(table: pd.DataFrame, cats: list[str]) -> list:
    """``[[lat, lon, name, [n per category]]]`` per place of ``table``, sorted by place key."""
    grouped = table.groupby("place", sort=True)
    where = grouped[["lat", "lon"]].mean().round(4)
    names = grouped["name"].first()
    per_cat = pd.crosstab(table["place"], table["cat"], dropna=False).reindex(
        index=where.index, columns=cats, fill_value=0
    )
    return [
        [float(lat), float(lon), str(names[place]), [int(n) for n in row]]
        for place, lat, lon, row in zip(
            where.index, where["lat"], where["lon"], per_cat.to_numpy(), strict=True
        )
    ]
