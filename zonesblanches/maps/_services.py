"""The services of the coverage map: compact records, their layers per category, and how many
markers the page may carry before they are grouped.

Used by :mod:`zonesblanches.maps.carto`. Records are arrays whose text fields are indices into
one table of distinct strings; the map script (:mod:`zonesblanches.maps._mapjs`) decodes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches.crs import WGS84
from zonesblanches.maps import style
from zonesblanches.maps._geometry import json_value

CLUSTER_FROM = 2000
"""Above this many services, markers are grouped (Leaflet.markercluster): thousands of
individual markers make the page slow to open and unreadable."""

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
)
"""Text fields of a service in the map data, in the order of its record."""


def services_payload(
    services: gpd.GeoDataFrame,
    categories: Sequence[str],
    bbox: Sequence[float] | None = None,
    keep: set[str] = frozenset(),
) -> tuple[dict, dict[str, list[int]], dict[str, int]]:
    """Services as compact records (strings are data: escaped by the script), their layers per
    category and the index of each ``service_id``.

    Only the services that matter to the map are drawn: those inside ``bbox`` (lon/lat) and
    those in ``keep`` (the nearest service of some unit). Records are arrays whose text fields
    are indices into one table of distinct strings (a source cited by 5,000 rows is written
    once), then ``a_verifier`` (0/1), latitude and longitude: thousands of services stay a few
    hundred kilobytes.
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
        "date_source": text("date_source"),
        "precision": [style.PRECISION_LABELS.get(v, v) for v in precision],
        "notes": text("notes"),
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
    return payload, {c: v for c, v in layers.items() if v}, index


def decode_services(payload: dict) -> list[dict]:
    """The services of a map's data as dicts (for tests and scripts reading a map)."""
    fields, strings = payload["fields"], payload["strings"]
    out = []
    for rec in payload["records"]:
        item = {f: strings[rec[j]] for j, f in enumerate(fields)}
        item.update(a_verifier=bool(rec[len(fields)]), lat=rec[-2], lon=rec[-1])
        out.append(item)
    return out
