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
from zonesblanches.maps._geometry import json_value

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
        rec += [int(statut[i] == "a_verifier"), json_value(lat[i]), json_value(lon[i])]
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
    """Services (lon/lat) counted per place and category, for maps with too many to draw.

    A place is the commune of ``places`` (polygons with ``code_insee`` and ``nom``) the service
    lies in — by its position, which is what the map draws, not by its declared commune — else
    a :data:`GRID_M` square. Returns ``{"categories": [...], "totals": [...], "places": [[lat,
    lon, name, [n per category]]]}``: the disc of a place sits at the mean position of its
    services; ``name`` is the commune name (empty for a square). Categories not in
    ``categories`` are counted too (the popup lists them), after those of the map.
    """
    cats = list(categories) + sorted(set(frame["categorie"].astype(str)) - set(categories))
    points = frame.geometry.reset_index(drop=True)
    metric = points.to_crs(LAMBERT93)
    key = np.array(
        [
            f"carreau {int(x // GRID_M)} {int(y // GRID_M)}"
            for x, y in zip(metric.x.to_numpy(), metric.y.to_numpy(), strict=True)
        ],
        dtype=object,
    )
    name = np.full(len(points), "", dtype=object)
    if places is not None and len(places):
        polys = places.to_crs(points.crs).reset_index(drop=True)
        inside, poly = polys.sindex.query(points.values, predicate="within")
        first = pd.Series(poly, index=inside).groupby(level=0).min()  # one commune per point
        key[first.index] = polys["code_insee"].astype(str).to_numpy()[first.to_numpy()]
        if "nom" in polys:
            name[first.index] = polys["nom"].astype(str).to_numpy()[first.to_numpy()]
    table = pd.DataFrame(
        {
            "place": key,
            "name": name,
            "cat": pd.Categorical(frame["categorie"].astype(str).to_numpy(), categories=cats),
            "lon": points.x.to_numpy(dtype=float),
            "lat": points.y.to_numpy(dtype=float),
        }
    )
    grouped = table.groupby("place", sort=True)
    where = grouped[["lat", "lon"]].mean().round(4)
    names = grouped["name"].first()
    per_cat = pd.crosstab(table["place"], table["cat"], dropna=False).reindex(
        index=where.index, columns=cats, fill_value=0
    )
    out = [
        [float(lat), float(lon), str(names[place]), [int(n) for n in row]]
        for place, lat, lon, row in zip(
            where.index, where["lat"], where["lon"], per_cat.to_numpy(), strict=True
        )
    ]
    totals = [int(n) for n in per_cat.sum(axis=0).to_numpy()]
    return {"categories": cats, "totals": totals, "places": out}
