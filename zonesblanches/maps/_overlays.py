"""Overlays of the coverage map beyond the units and the services: EPCI boundaries, town
labels, isochrones, zones blanches outlines, QPV, the margin band, the market offer (BPE).

Each overlay is a dict in the format the map script draws (``name``, ``legend``, ``data``
GeoJSON, ``fields`` shown in popups, ``color``, ``show``…); a layer that follows an indicator
carries ``group`` and ``indicator``. A new overlay (e.g. a public transport layer) is a function
here returning such dicts, passed to :func:`zonesblanches.maps.carto.coverage_map` through
``extra_layers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import shapely

from zonesblanches._text import fr_count, fr_g
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps import style
from zonesblanches.maps._geometry import (
    check_frame,
    geojson,
    polygons,
    round_coords,
    simplify_coverage,
)
from zonesblanches.maps.findings import zones_note
from zonesblanches.modes import ALL_MODES, MODES


def towns(communes: gpd.GeoDataFrame, analysed: set[str], n: int = 60) -> list[list]:
    """Labels of the most populated analysed communes: ``[lat, lon, name, zoom_offset, code]``,
    the label showing from the opening zoom plus ``zoom_offset`` (the 8 largest always; the
    map names the communes in zone blanche for the indicator shown first)."""
    if "population" not in communes or "nom" not in communes:
        return []
    frame = communes[communes["code_insee"].astype(str).isin(analysed)]
    frame = frame.sort_values(["population", "code_insee"], ascending=[False, True], kind="stable")
    frame = frame.head(n)
    if {"lon", "lat"} <= set(frame.columns):
        lon, lat = frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
    else:
        pts = frame.geometry.to_crs(WGS84).representative_point()
        lon, lat = pts.x.to_numpy(), pts.y.to_numpy()
    out = []
    codes = frame["code_insee"].astype(str)
    for rank, (name, code, x, y) in enumerate(
        zip(frame["nom"].astype(str), codes, lon, lat, strict=True)
    ):
        offset = 0 if rank < 8 else (1 if rank < 20 else 2)
        out.append([round(float(y), 5), round(float(x), 5), name, offset, code])
    return out


def epci_payload(epci: gpd.GeoDataFrame, bbox, tolerance: float, decimals: int) -> dict:
    epci = check_frame(epci, "epci").to_crs(WGS84)
    frame = epci.iloc[epci.sindex.query(shapely.box(*bbox), predicate="intersects")]
    sort = [c for c in ("code_epci",) if c in frame] or None
    if sort:
        frame = frame.sort_values(sort, kind="stable")
    frame = frame.reset_index(drop=True)
    geoms = simplify_coverage(frame.geometry, tolerance, decimals)
    # Boundaries only: draw the outline, not the polygon, to keep the file small.
    geoms = shapely.boundary(geoms)
    feats = []
    for i in range(len(frame)):
        geom = geojson(geoms[i])
        if geom is not None:
            name = str(frame["nom_epci"].iloc[i]) if "nom_epci" in frame else ""
            feats.append({"type": "Feature", "properties": {"n": name}, "geometry": geom})
    return {"type": "FeatureCollection", "features": feats}


def indicator_of(key, specs: Sequence[tuple[str, str]]) -> int | None:
    """Index in ``specs`` of a layer key: a ``(categorie, mode)`` pair or ``"categorie_mode"``
    (the keys of :func:`zonesblanches.api.zones_by_indicator`); ``None`` if not drawn."""
    for i, (cat, mode) in enumerate(specs):
        if key == (cat, mode) or key == f"{cat}_{mode}":
            return i
    return None


ISOCHRONE_TOLERANCE_M = 25.0
"""Simplification of isochrone outlines (metres): half the 50 m band drawn around the streets
reached (:func:`zonesblanches.coverage.isochrones.reachable_polygon`), so the outline moves by
less than its own precision; with coordinates to 4 decimals (about 10 m), an EPCI map with
isochrones stays within its 3 MB budget (issue 15)."""


def isochrone_layers(
    isochrones,
    services: list[dict],
    tolerance: float,
    decimals: int,
    specs: Sequence[tuple[str, str]] = (),
) -> list[dict]:
    """One layer per category × mode × threshold, following its indicator, for the services
    the map draws (``services``, decoded records)."""
    if isochrones is None or not len(isochrones):
        return []
    layers: list[dict] = []
    iso = check_frame(isochrones, "isochrones", ("categorie", "mode", "seuil_min")).copy()
    names = {s["id"]: s["nom"] for s in services}
    if "service_id" in iso:
        # only the services the map draws: inside its extent or nearest to one of its units
        iso = iso[iso["service_id"].astype(str).isin(names).to_numpy()]
        iso["service"] = iso["service_id"].astype(str).map(names)
    if not len(iso):
        return []
    seuils = sorted({float(s) for s in iso["seuil_min"]})
    fields = [("service", "Service"), ("seuil_min", "Seuil (min)")]
    groups = iso.groupby(["categorie", "mode", "seuil_min"], sort=True)
    for (cat, mode, seuil), g in groups:
        mode_label = MODES[mode].label if mode in MODES else str(mode)
        label = f"Isochrone {fr_g(seuil)} min {mode_label} — {category_label(str(cat))}"
        color = style.ISOCHRONE_COLORS[
            min(seuils.index(float(seuil)), len(style.ISOCHRONE_COLORS) - 1)
        ]
        layer = {
            "name": label,
            "legend": f"Accessible en {fr_g(seuil)} min {mode_label} ({category_label(str(cat))})",
            "data": polygons(
                g, fields, 2 * max(tolerance, ISOCHRONE_TOLERANCE_M), min(decimals, 4)
            ),
            "fields": fields,
            "title_field": "service",
            "color": color,
            "weight": 1.5,
            "fill_opacity": 0.10,
            "show": False,
        }
        index = indicator_of((str(cat), str(mode)), specs)
        if index is not None:
            layer.update(group="isochrones", indicator=index)
        layers.append(layer)
    return layers


def zones_scope_notes(zones, specs: Sequence[tuple[str, str]]) -> list[str]:
    """A note when contiguous zones were computed for some indicators only (above a thousand
    units the workflow dissolves one category's: :data:`zonesblanches.api.MAX_ZONE_UNITS`), so
    that the map does not seem to say the others have none."""
    if not isinstance(zones, Mapping) or not zones or not specs:
        return []
    given = {i for i in (indicator_of(k, specs) for k in zones) if i is not None}
    missing = [s for i, s in enumerate(specs) if i not in given]
    if not missing or not given:
        return []
    drawn = "; ".join(
        f"{category_label(c)}, {ALL_MODES[m].label}" for i, (c, m) in enumerate(specs) if i in given
    )
    return [
        f"Périmètres des zones blanches contiguës calculés seulement pour : {drawn} (trop "
        "d'unités pour les calculer pour chaque indicateur) ; pour les autres indicateurs, les "
        "hachures des unités montrent les zones blanches."
    ]


def extra_layers(
    isochrones,
    zones,
    qpv,
    services: list[dict],
    tolerance: float,
    decimals: int,
    words: style.UnitWords = style.GENERIC_UNIT_WORDS,
    specs: Sequence[tuple[str, str]] = (),
) -> list[dict]:
    """Overlays beyond the units. Isochrones and zones of an indicator drawn on the map follow
    it (``group`` and ``indicator``): the layer control shows one switch per kind."""
    layers: list[dict] = []
    layers += isochrone_layers(isochrones, services, tolerance, decimals, specs)
    if zones is not None:
        groups = zones.items() if isinstance(zones, Mapping) else [(None, zones)]
        for key, frame in groups:
            frame = check_frame(frame, "zones")
            if not len(frame) or not zones_note(frame, words.singular)[0]:
                continue  # one quasi-continuous blob: the hatch says it already
            index = indicator_of(key, specs)
            fields = [
                ("zone_id", "Zone n°"),
                ("population", "Population"),
                ("n_unites", f"Nombre de {words.plural}"),
                ("surface_km2", "Surface (km²)"),
                ("temps_min", "Temps minimal (min)"),
                ("temps_median", "Temps médian (min)"),
                ("nom_communes", "Communes"),
                ("codes_qp", "QPV"),
                ("men_pauv", "Ménages pauvres"),
            ]
            if index is not None:
                cat, mode = specs[index]
                human = f"{category_label(cat)}, {ALL_MODES[mode].label}"
                name = f"Zones blanches contiguës : {human}"
            elif key is None:
                name = "Zones blanches contiguës (périmètres)"
            else:
                name = f"Zones blanches contiguës : {key}"
            frame = frame.assign(
                titre=[f"Zone blanche n° {z}" for z in frame["zone_id"]]
                if "zone_id" in frame
                else "Zone blanche"
            )
            layer = {
                "name": name,
                "legend": "Périmètre d'une zone blanche contiguë",
                "data": polygons(frame, [("titre", ""), *fields], tolerance, decimals),
                "fields": [f for f in fields if f[0] in frame],
                "title_field": "titre",
                "color": style.BLANK_OUTLINE,
                "weight": 2.5,
                "fill_opacity": 0.0,
                "dash": "6 4",
                # One hatch on the map (the units of the indicator shown): zones are outlines,
                # and only the shown indicator's, on demand.
                "show": False,
            }
            if index is not None:
                layer.update(group="zones", indicator=index)
            layers.append(layer)
    if qpv is not None and len(qpv):
        qpv = check_frame(qpv, "qpv")
        known = [
            ("code_qp", "Code QPV"),
            ("nom_qp", "Quartier"),
            ("nom_communes", "Communes"),
            ("nom_epci", "EPCI"),
        ]
        extra = [
            (c, c.replace("_", " "))
            for c in qpv.columns
            if c not in {k for k, _ in known}
            and c != qpv.geometry.name
            and c not in ("communes_insee", "siren_epci", "code_departement")
        ][:12]
        fields = [f for f in known + extra if f[0] in qpv]
        layers.append(
            {
                "name": "Quartiers prioritaires (QPV)",
                "legend": "Quartier prioritaire de la politique de la ville",
                "data": polygons(qpv, fields, tolerance, decimals),
                "fields": fields,
                "title_field": "nom_qp",
                "color": style.QPV_OUTLINE,
                "weight": 2,
                "fill_opacity": 0.0,
                "dash": "4 3",
                "show": True,
            }
        )
    return layers


def margin_layer(
    result: CoverageResult, area: gpd.GeoDataFrame | None, tolerance: float
) -> list[dict]:
    """The margin around the territory, drawn lightly, when services from it were used (a
    service across the border): the band where services and roads were taken into account."""
    margin = result.margin_km
    if not margin or area is None or not len(area) or not len(result.services):
        return []
    territory = shapely.union_all(area.geometry.to_crs(LAMBERT93).values)
    points = result.services.geometry.to_crs(LAMBERT93).values
    shapely.prepare(territory)  # 100,000 services: 0.4 s unprepared
    if shapely.contains(territory, points).all():
        return []
    ring = shapely.simplify(
        territory.buffer(margin * 1000.0, quad_segs=4).difference(territory), tolerance
    )
    frame = gpd.GeoDataFrame({"marge_km": [round(margin, 1)]}, geometry=[ring], crs=LAMBERT93)
    km = f"{margin:.1f}".replace(".", ",")
    return [
        {
            "name": f"Marge de {km} km (services pris en compte)",
            "legend": f"Marge de {km} km : services au-delà des limites pris en compte",
            "data": polygons(frame, [("marge_km", "Marge (km)")], tolerance, 4),
            "fields": [("marge_km", "Marge (km)")],
            "title_field": "marge_km",
            "color": "#888888",
            "weight": 1,
            "dash": "4 4",
            "fill_opacity": 0.04,
            "show": True,
        }
    ]


MARKET_COLORS = {"reparation_automobile": "#5f5f5f", "ecole_de_conduite": "#a3a3a3"}
"""Greys of the market offer (context, never a solidarity service), by ``equipement``."""


def market_layer(
    market: gpd.GeoDataFrame | None, bbox, decimals: int, communes: gpd.GeoDataFrame | None = None
) -> list[dict]:
    """The market offer (INSEE BPE garages and driving schools, ``result.market``) as a grey
    point layer, hidden at first, each point's popup giving its kind, commune (named from
    ``communes`` when it is there), location quality and source (issue 12 §4)."""
    if market is None or not len(market):
        return []
    frame = check_frame(market, "offre marchande", ("equipement",)).to_crs(WGS84)
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    frame = frame.iloc[frame.sindex.query(shapely.box(*bbox), predicate="intersects")]
    if not len(frame):
        return []
    x = frame.geometry.x.to_numpy()
    y = frame.geometry.y.to_numpy()
    frame = frame.iloc[np.lexsort((y, x, frame["equipement"].astype(str).to_numpy()))]
    fields = [
        ("commune", "Commune"),
        ("qualite_xy", "Qualité de la localisation (INSEE)"),
        ("source", "Source"),
    ]
    points = round_coords(np.asarray(frame.geometry.values, dtype=object), min(decimals, 5))
    names = {}
    if communes is not None and {"code_insee", "nom"} <= set(communes.columns):
        names = dict(
            zip(communes["code_insee"].astype(str), communes["nom"].astype(str), strict=True)
        )
    feats = []
    for i, row in enumerate(frame.itertuples(index=False)):
        code = str(getattr(row, "code_insee", "") or "")
        props = {
            "equipement": str(row.equipement),
            "libelle": str(getattr(row, "libelle", row.equipement)),
            "commune": f"{names[code]} ({code})" if code in names else code,
            "qualite_xy": str(getattr(row, "qualite_xy", "") or ""),
            "source": "INSEE, Base permanente des équipements",
        }
        feats.append({"type": "Feature", "properties": props, "geometry": geojson(points[i])})
    kinds = sorted(set(frame["equipement"].astype(str)))
    labels = dict(
        zip(
            frame["equipement"].astype(str),
            frame.get("libelle", frame["equipement"]).astype(str),
            strict=True,
        )
    )
    return [
        {
            "name": "Offre marchande (BPE INSEE, contexte) : " + fr_count(len(feats), "équipement"),
            "legend": "Offre marchande, jamais comptée comme service solidaire",
            "legend_rows": [
                [MARKET_COLORS.get(k, "#808080"), str(labels.get(k, k))] for k in kinds
            ],
            "data": {"type": "FeatureCollection", "features": feats},
            "fields": fields,
            "title_field": "libelle",
            "color": "#ffffff",
            "palette": {k: MARKET_COLORS.get(k, "#808080") for k in kinds},
            "color_field": "equipement",
            "radius": 4,
            "weight": 1,
            "fill_opacity": 0.9,
            "show": False,
        }
    ]
