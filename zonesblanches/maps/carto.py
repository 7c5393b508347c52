"""The coverage map: a self-contained folium/Leaflet page a planner can send by e-mail.

What the map shows:

- the communes coloured by the time from their inhabitants to the nearest service, one
  *indicator* (category × mode) at a time, chosen in the layer control, each with its legend in
  classes (« moins de 10 min », …, « inaccessible »);
- the zones blanches of the shown indicator, hatched and outlined;
- the services, one layer per category (a coloured disc with a letter; dashed when the service
  is « à vérifier »), with popups giving name, category, commune, address, status and source;
- the EPCI boundaries and the names of the main towns, over a plain background drawn from the
  bundled data, so that the map reads without internet; OpenStreetMap and IGN Plan tiles are
  offered as optional backgrounds (loaded only when chosen);
- optional layers: isochrones (one per threshold), zones blanches polygons, QPV outlines;
- the method notes of the analysis and the data sources, in a box on the map.

The page has no external script or stylesheet: Leaflet is inlined from the ``XStatic-Leaflet``
package (:mod:`zonesblanches.maps.assets`) and our controls from :mod:`zonesblanches.maps._mapjs`.
Every text coming from data travels as JSON and is inserted as text, never as HTML. The same
inputs give the same bytes: :func:`render_map` replaces folium's random element ids by
sequential ones.

Maps draw; they never compute: times, nearest services and zone-blanche flags are read from the
:class:`~zonesblanches.coverage.analysis.CoverageResult`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element, MacroElement
from folium.template import Template

from zonesblanches._text import fr_count, fr_g, fr_int
from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.coverage.traveltime import STRAIGHT_LINE
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps import _overlays, style
from zonesblanches.maps._geometry import (
    Simplification,
    auto_tolerance,
    check_frame,
    decimals_for,
    expand_bbox,
    geojson,
    json_value,
    round_coords,
    select_pairs,
    simplify_coverage,
)
from zonesblanches.maps._mapjs import MAP_CSS, MAP_JS
from zonesblanches.maps._services import (
    AGGREGATE_FROM,
    CLUSTER_FROM,
    decode_services,
    services_payload,
)
from zonesblanches.maps.assets import (
    leaflet_css,
    leaflet_js,
    markercluster_css,
    markercluster_js,
)
from zonesblanches.modes import ALL_MODES, mode_code

OFF_NETWORK_TEXT = {"off_network": "Hors du réseau routier"}
"""The popup row of a trip leaving the road network (only in maps that have one: the others
keep their bytes)."""

TEXT = {
    "unreachable": "inaccessible",
    "code": "Code INSEE",
    "population": "Population",
    "indicator": "Indicateur",
    "time": "Temps jusqu'au plus proche",
    "nearest": "Service le plus proche",
    "blank": "Zone blanche",
    "yes": "oui",
    "no": "non",
    "over": "au-delà de",
    "context": "Commune hors du territoire analysé (contexte).",
    "legend_title": "Temps d'accès au service le plus proche",
    "blank_legend": "Zone blanche : au-delà de",
    "blank_layer": "Zones blanches de l'indicateur affiché (hachures)",
    "no_indicator": "Sans indicateur (fond seul)",
    "epci_layer": "Limites des EPCI",
    "epci_legend": "Limite d'EPCI",
    "towns_layer": "Noms des principales communes",
    "services_prefix": "Services :",
    "category": "Catégorie",
    "commune": "Commune",
    "address": "Adresse",
    "status": "Statut",
    "source": "Source",
    "date": "Date de la source",
    "precision": "Précision de la localisation",
    "quality": "Score de qualité (data·inclusion)",
    "link": "Fiche d'origine",
    "ident": "Identifiant",
    "notes": "Remarques",
    "outside": "Situation",
    "outside_legend": "hors du territoire, pris en compte (symbole creux)",
    "outside_prefix": "dont",
    "search": "Rechercher une commune…",
    "fullscreen": "Plein écran",
    "print": "Imprimer ou enregistrer en PDF",
    "legend": "Légende",
    "method": "Méthode et sources",
    "sources": "Sources des données",
    "layers": "Couches",
    "services_shown": "Services de la catégorie affichée",
    "services_others": "Services des autres catégories",
    "count_square": "Carré de {km} km (services hors des communes de la carte)",
    "count_legend": "au total ; disque : nombre par",
    "count_zoom": " ; en zoomant, par",
    "count_note": "Trop de services pour les dessiner un par un : nombre par catégorie ; "
    "la liste complète est dans les tableaux et le GeoPackage.",
}
"""Every French word the map's script shows (the script itself holds no user-facing text)."""

GROUPS = {
    "zones": {
        "name": "Périmètres des zones blanches contiguës (indicateur affiché)",
        "show": False,
    },
    "isochrones": {"name": "Isochrones de l'indicateur affiché", "show": False},
    "evolution": {"name": "Qui gagne, qui perd l'accès (indicateur affiché)", "show": True},
}
"""Switches of the layers that follow the indicator shown (one switch per kind, not one layer
per category × mode × threshold in the layer control)."""

OSM_TILES = "OpenStreetMap.Mapnik"
IGN_TILES = "GeoportailFrance.plan"


def _tile_layers() -> list[dict]:
    """Optional online backgrounds, described by the ``xyzservices`` catalogue (a folium
    dependency), so their URLs and attributions follow the providers' current terms."""
    import xyzservices.providers as xyz

    out = []
    for name, key in (
        ("Fond OpenStreetMap (internet)", OSM_TILES),
        ("Fond IGN Plan (internet)", IGN_TILES),
    ):
        provider = xyz.query_name(key)
        out.append(
            {
                "name": name,
                "url": provider.build_url(),
                "attribution": provider.html_attribution,
                "max_zoom": int(provider.get("max_zoom", 18)),
            }
        )
    return out


def _time_value(minutes: float, threshold: float):
    """A time for the map data, to 0.1 min, or exact when rounding would put it on the other
    side of the threshold (20.04 min is a zone blanche at 20 min; 20.0 would not say so)."""
    value = json_value(round(minutes, 1))
    if value is not None and (value > threshold) != (minutes > threshold):
        return float(minutes)
    return value


# --------------------------------------------------------------------------- payload parts


def _unit_features(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    specs: list[tuple[str, str]],
    class_bounds: Sequence[float],
    service_index: Mapping[str, int],
    tolerance: float,
    decimals: int,
    simplified: list[Simplification] | None = None,
    off_network: list[str] | None = None,
) -> tuple[dict, dict | None]:
    """Communes (or point units) with, per indicator, the time, class, nearest service and
    zone-blanche flag. Communes of ``communes`` without a unit are drawn as context. For point
    units, the second item is the commune outlines drawn as background (else ``None``).
    ``simplified``: see :func:`coverage_map`. ``off_network``: a list that receives the notes
    of the trips leaving the road network (:func:`_off_network_notes`), which units index in
    ``w`` (one index per indicator, -1 for none; ``w`` only on the units that have one)."""
    units = result.units
    per_unit: dict[str, dict] = {}
    legs = _off_network_notes(result, specs)
    table: dict[str, int] = {}
    times = {s: np.asarray(units[time_col(*s)], dtype=float) for s in specs}
    classes = {s: style.class_index(times[s], class_bounds) for s in specs}
    nearest = {s: units[service_col(*s)].astype(str).to_numpy() for s in specs}
    blanks = {s: units[blank_col(*s)].to_numpy(dtype=bool) for s in specs}
    thresholds = {s: float(result.thresholds[s[1]]) for s in specs}
    # Communes are joined on their code; other units (grid cells share their commune's code)
    # are keyed by their own id.
    point_units = result.unit_kind != "commune"
    key_col = "code_insee" if "code_insee" in units and not point_units else "unit_id"
    keys = units[key_col].astype(str).to_numpy()
    pops = units["population"].to_numpy(dtype=float)
    for i, key in enumerate(keys):
        per_unit[key] = {
            "p": int(round(pops[i])),
            "t": [_time_value(times[s][i], thresholds[s]) for s in specs],
            "k": [int(classes[s][i]) for s in specs],
            "s": [service_index.get(nearest[s][i], -1) for s in specs],
            "z": "".join("1" if blanks[s][i] else "0" for s in specs),
        }
        notes = [legs[s].get(i, "") for s in specs]
        if any(notes):
            per_unit[key]["w"] = [table.setdefault(n, len(table)) if n else -1 for n in notes]
    if off_network is not None:
        off_network.extend(table)

    features = []
    if not point_units:
        comm = communes.sort_values("code_insee", kind="stable").reset_index(drop=True)
        geoms = simplify_coverage(comm.geometry.to_crs(WGS84), tolerance, decimals, simplified)
        names = comm["nom"].astype(str).to_numpy() if "nom" in comm else comm["code_insee"]
        epcis = comm["nom_epci"].astype(str).to_numpy() if "nom_epci" in comm else None
        for i, code in enumerate(comm["code_insee"].astype(str)):
            geom = geojson(geoms[i])
            if geom is None:
                continue
            props = {"c": code, "n": names[i]}
            if epcis is not None and epcis[i]:
                props["e"] = epcis[i]
            props.update(per_unit.get(code, {}))
            features.append({"type": "Feature", "properties": props, "geometry": geom})
        if not any("k" in f["properties"] for f in features):
            raise ParameterError(
                "Aucune commune du résultat ne figure dans les contours fournis : vérifiez que "
                "« communes » couvre le territoire analysé (jointure sur code_insee)."
            )
    else:
        # Background: the commune outlines, drawn plain under the unit points.
        comm = communes.sort_values("code_insee", kind="stable").reset_index(drop=True)
        geoms = simplify_coverage(comm.geometry.to_crs(WGS84), tolerance, decimals, simplified)
        for i, code in enumerate(comm["code_insee"].astype(str)):
            geom = geojson(geoms[i])
            if geom is not None:
                features.append({"type": "Feature", "properties": {"c": code}, "geometry": geom})
        pts = round_coords(np.asarray(units.geometry.to_crs(WGS84).values, dtype=object), 5)
        names = units["nom"].astype(str).to_numpy() if "nom" in units else keys
        for i, key in enumerate(keys):
            props = {"c": key, "n": names[i]}
            props.update(per_unit[key])
            features.append({"type": "Feature", "properties": props, "geometry": geojson(pts[i])})
    if point_units:
        background = [f for f in features if f["geometry"]["type"] != "Point"]
        points = [f for f in features if f["geometry"]["type"] == "Point"]
        return {"type": "FeatureCollection", "features": points}, {
            "type": "FeatureCollection",
            "features": background,
        }
    return {"type": "FeatureCollection", "features": features}, None


def _off_network_notes(
    result: CoverageResult, specs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[int, str]]:
    """Per indicator, the units (by position) whose trip to the nearest service leaves the
    road network for more than the model's limit, with what the report's tables say of it
    (:func:`zonesblanches.maps.findings.off_network_legs`: « service le plus proche à 1 073 m
    du réseau »). A popup's « plus de 60 min » is then explained where it is read, as in the
    report. Read from ``remarque_<mode>``: nothing for straight-line modes."""
    from zonesblanches.maps.findings import off_network_legs

    out: dict[tuple[str, str], dict[int, str]] = {}
    for cat, mode in specs:
        out[(cat, mode)] = {}
        column = f"remarque_{mode}"
        if column not in result.units:
            continue
        remarks = result.units[column].to_numpy(dtype=object)
        rows = np.flatnonzero([isinstance(r, str) and r != "" for r in remarks])
        if len(rows):
            notes = off_network_legs(result, cat, mode, rows)
            out[(cat, mode)] = {int(i): n for i, n in zip(rows, notes, strict=True) if n}
    return out


def _sources(result: CoverageResult, counted: bool = False) -> tuple[list[str], list[str]]:
    """Sources box lines and attribution lines (``counted``: services drawn as counts)."""
    from zonesblanches.geodata.reference import sources

    lines = []
    for entry in sources():
        if entry["jeu"] in ("communes", "epci"):
            label = {"communes": "Communes", "epci": "EPCI"}[entry["jeu"]]
            lines.append(f"{label} : {entry['source']} — {entry['licence']}.")
    n = fr_count(len(result.services), "service")
    if counted:
        lines.append(
            f"Services : {n}, trop nombreux pour être dessinés un par un (plus de "
            f"{fr_int(AGGREGATE_FROM)}) : la carte les compte par département, par EPCI "
            "ou par commune selon le zoom (cliquer sur un disque) ; la source et la date de chacun figurent dans les tableaux et le "
            "GeoPackage."
        )
    else:
        lines.append(
            f"Services : {n} ; la source et la date de chacun figurent dans sa fiche "
            "(cliquer sur le service)."
        )
    attribution = ["Contours : IGN, Etalab — Licence Ouverte 2.0"]
    if any(getattr(m, "method", STRAIGHT_LINE) != STRAIGHT_LINE for m in result.models.values()):
        lines.append(
            "Réseau de déplacement : © les contributeurs d'OpenStreetMap, sous licence ODbL."
        )
        attribution.append("Réseau © contributeurs OpenStreetMap (ODbL)")
    lines.append("Carte réalisée avec zonesblanches et Leaflet.")
    return lines, attribution


def _payload_json(payload: dict) -> str:
    """JSON safe to embed in ``<script type="application/json">``: no ``<``, ``>`` or ``&``
    survives, so no data can close the script element or open a comment."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# --------------------------------------------------------------------------- folium elements


class _CoverageLayers(MacroElement):
    """Carries the map data (JSON) and runs the map script on the parent folium map."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.data_id }}">{{ this.payload }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        {{ this.js }}({{ this._parent.get_name() }}, "{{ this.data_id }}");
        {% endmacro %}
        """
    )

    def __init__(self, payload: dict):
        super().__init__()
        self._name = "CoverageLayers"
        self.payload = _payload_json(payload)
        self.js = MAP_JS.strip()

    @property
    def data_id(self) -> str:
        return "zb-data-" + self.get_name()


def coverage_map(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    *,
    epci: gpd.GeoDataFrame | None = None,
    categorie: str | Sequence[str] | None = None,
    mode: str | Sequence[str] | None = None,
    thresholds_classes: Sequence[float] | None = None,
    title: str | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None = None,
    qpv: gpd.GeoDataFrame | None = None,
    tiles: bool = True,
    simplify: float | None = None,
    extra_layers: Sequence[dict] | None = None,
    extra_notes: Sequence[str] | None = None,
    principal: str | tuple[str, str] | None = None,
    simplified: list[Simplification] | None = None,
) -> folium.Map:
    """Interactive map of a coverage result, self-contained (opens without internet).

    Parameters
    ----------
    result : CoverageResult
        The analysis to draw (:func:`zonesblanches.diagnostic`).
    communes : geopandas.GeoDataFrame
        Commune polygons with ``code_insee`` (and ``nom``, ``nom_epci``, ``population``,
        ``lon``/``lat`` when available), e.g. ``Territory.communes`` or
        :func:`~zonesblanches.geodata.reference.load_communes`. Joined to the result's units
        on ``code_insee``; communes without a unit are drawn in grey as context.
    epci : geopandas.GeoDataFrame, optional
        EPCI polygons (:func:`~zonesblanches.geodata.reference.load_epci`); their boundaries
        near the territory are drawn.
    categorie, mode : str or sequence of str, optional
        Restrict the indicators drawn (default: every category × mode of the result). The
        first indicator is shown when the map opens; the others are chosen in the layer
        control.
    thresholds_classes : sequence of float, optional
        Upper bounds (minutes) of the time classes; default ``(10, 20, 30, 45, 60)``.
    title : str, optional
        Title shown on the map; default « Accès aux services de mobilité inclusive —
        <territoire> ».
    isochrones : geopandas.GeoDataFrame, optional
        Polygons with ``categorie``, ``mode``, ``seuil_min`` (and ``service_id``): one layer
        per category × mode × threshold, hidden at first.
    zones : geopandas.GeoDataFrame or mapping of label to GeoDataFrame, optional
        Zones blanches polygons (:func:`zonesblanches.coverage.zones.zones_blanches`), hatched.
    qpv : geopandas.GeoDataFrame, optional
        QPV outlines, with their columns in popups.
    tiles : bool
        Offer OpenStreetMap and IGN Plan tiles as optional backgrounds (never loaded unless the
        reader ticks them).
    simplify : float, optional
        Simplification tolerance in metres; default :func:`auto_tolerance` of the territory.
    extra_layers : sequence of dict, optional
        Further overlays, in the format of the built-in ones (built by
        :mod:`zonesblanches.maps.plans` for the site-suggestion and scenario maps).
    extra_notes : sequence of str, optional
        Further French lines for the « Méthode et sources » box.
    principal : str or (str, str), optional
        The indicator the map opens on, ``"garage_solidaire:voiture"`` or a pair; default the
        first category and mode. Only its zones blanches are hatched; choosing another
        indicator in the layer control switches the hatch, the services shown, the zone
        outlines and the isochrones with it.
    simplified : list of Simplification, optional
        The commune polygons' coverage simplifications shared with other drawings of the same
        polygons (:func:`~zonesblanches.maps._geometry.simplified_coverage`): one that fits is
        used instead of simplifying again, a new one is appended. :func:`~zonesblanches.maps.report.write_outputs` hands
        the same list to the report's static maps (:func:`~zonesblanches.maps.static_base.figure_base`).

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` (deterministic bytes) or display it in a notebook.

    Raises
    ------
    ParameterError
        Unknown category or mode, bad classes, missing columns (messages in French).
    """
    if not isinstance(result, CoverageResult):
        raise ParameterError("« result » doit être un résultat de diagnostic (CoverageResult).")
    communes = check_frame(communes, "communes", ("code_insee",))
    specs = select_pairs(result, categorie, mode)
    principal_index = principal_index_of(principal, specs)
    class_bounds = style.check_classes(thresholds_classes)
    colors = style.class_colors(len(class_bounds) + 1)

    analysed_codes = set(result.units.get("code_insee", result.units["unit_id"]).astype(str))
    shown = communes.to_crs(WGS84)
    if result.unit_kind == "commune":
        area = shown[shown["code_insee"].astype(str).isin(analysed_codes)]
        if not len(area):
            area = shown
    else:
        area = result.units.to_crs(WGS84)
    bbox = tuple(float(v) for v in area.total_bounds)
    tolerance = auto_tolerance(bbox) if simplify is None else float(simplify)
    decimals = decimals_for(tolerance)
    nearest = {str(v) for c, m in specs for v in result.units[service_col(c, m)].dropna().unique()}
    services, service_layers, service_index = services_payload(
        result.services,
        [c for c in dict.fromkeys(c for c, _ in specs)],
        expand_bbox(bbox, 0.1),
        nearest,
        shown,
        _outside_distances(result),
    )
    off_network: list[str] = []
    units_fc, background = _unit_features(
        result, shown, specs, class_bounds, service_index, tolerance, decimals, simplified,
        off_network,
    )  # fmt: skip
    notes, attribution = _sources(result, "counts" in services)

    territory = result.territory or "territoire analysé"
    if title is None:
        title = f"Accès aux services de mobilité inclusive — {territory}"
    seuils = ", ".join(
        f"{ALL_MODES[m].label} {fr_g(result.thresholds[m])} min"
        for m in dict.fromkeys(m for _, m in specs)
    )
    words = style.unit_words(result.unit_kind)
    subtitle = (
        f"{words.count(len(result.units))}, {fr_int(result.population)} habitants — "
        f"seuils : {seuils}"
    )
    if result.services_caveat:  # the example registry: said next to the headline (issue 12)
        subtitle += f" — {result.services_caveat}"

    payload = {
        "title": str(title),
        "subtitle": subtitle,
        # Popups name the unit's identifier by kind (« Code INSEE », « Carreau »).
        "text": {**TEXT, "code": words.id_label, **(OFF_NETWORK_TEXT if off_network else {})},
        "style": {
            "blank_outline": style.BLANK_OUTLINE,
            "epci": style.EPCI_OUTLINE,
            "no_data": style.NO_DATA_COLOR,
        },
        "classes": {
            "bounds": list(class_bounds),
            "colors": colors,
            "labels": style.class_labels(class_bounds),
            "unreachable_color": style.UNREACHABLE_COLOR,
            "unreachable_label": style.UNREACHABLE_LABEL,
        },
        "layers": [
            {
                "categorie": c,
                "mode": m,
                "name": f"{category_label(c)}, {ALL_MODES[m].label}",
                "threshold": fr_g(result.thresholds[m]),
                "t": float(result.thresholds[m]),
                "cap": style.time_cap(result.thresholds[m]),
                "cap_text": style.cap_text(result.thresholds[m]),
                "none_text": style.none_text(result.thresholds[m]),
                "unreachable_label": style.unreachable_label(m),
            }
            for c, m in specs
        ],
        "principal": principal_index,
        "groups": GROUPS,
        "cluster_from": CLUSTER_FROM,
        "categories": {
            c: {
                "label": category_label(c),
                "color": style.category_style(c).color,
                "glyph": style.category_style(c).glyph,
            }
            for c in sorted(
                set(result.services["categorie"].astype(str).unique()) | set(result.categories)
            )
        },
        "unit_geometry": "point" if background is not None else "polygon",
        "background": background,
        "units": units_fc,
        **({"off_network": off_network} if off_network else {}),
        "services": services,
        "service_layers": service_layers,
        "epci": (
            _overlays.epci_payload(epci, expand_bbox(bbox, 0.05), tolerance, decimals)
            if epci is not None
            else None
        ),
        "extra": _overlays.extra_layers(
            isochrones, zones, qpv, decode_services(services), tolerance, decimals, words, specs
        )
        + _overlays.market_layer(result.market, expand_bbox(bbox, 0.1), decimals, shown)
        + _overlays.margin_layer(result, area if result.unit_kind == "commune" else None, tolerance)
        + _following(extra_layers, specs),
        "towns": _overlays.towns(
            shown,
            analysed_codes
            if result.unit_kind == "commune"
            else set(shown["code_insee"].astype(str)),
        ),
        "tiles": _tile_layers() if tiles else [],
        "notes": list(result.notes)
        + _method_lines(result, specs)
        + _overlays.zones_scope_notes(zones, specs)
        + list(extra_notes or []),
        "sources": notes,
        "attribution": attribution,
        "bounds": [[bbox[1], bbox[0]], [bbox[3], bbox[2]]],
    }

    m = folium.Map(
        location=[(bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2],
        zoom_start=9,
        tiles=None,
        control_scale=False,
        prefer_canvas=False,
        width="100%",
        height="100%",
    )
    # No CDN: Leaflet is inlined below; folium's jQuery/Bootstrap/Font Awesome are not needed.
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    root.title = html.escape(str(title))
    assets = (
        f"<style>{leaflet_css()}</style>\n<style>{MAP_CSS}</style>\n<script>{leaflet_js()}</script>"
    )
    if service_layers and len(services["records"]) > CLUSTER_FROM:
        assets += f"\n<style>{markercluster_css()}</style>\n<script>{markercluster_js()}</script>"
    root.header.add_child(Element(assets), name="zb_assets")
    m.add_child(_CoverageLayers(payload))
    return m


def _outside_distances(result: CoverageResult) -> dict[str, float]:
    """``service_id`` → distance to the territory (km) of the services used outside it."""
    table = result.services_outside
    if table is None or not len(table):
        return {}
    return dict(
        zip(
            table["service_id"].astype(str),
            table["distance_territoire_km"].astype(float),
            strict=True,
        )
    )


def _following(layers: Sequence[dict] | None, specs: Sequence[tuple[str, str]]) -> list[dict]:
    """Extra layers as given; one with ``follows`` (a category × mode) and a ``group`` of
    :data:`GROUPS` is tied to that indicator (shown with it, one switch per group)."""
    out = []
    for layer in layers or []:
        if "follows" in layer:
            index = _overlays.indicator_of(tuple(layer["follows"]), specs)
            layer = {k: v for k, v in layer.items() if k != "follows"}
            if index is None or layer.get("group") not in GROUPS:
                layer.pop("group", None)  # not drawn as an indicator: a layer of its own
            else:
                layer["indicator"] = index
        out.append(layer)
    return out


def principal_index_of(principal, specs: Sequence[tuple[str, str]]) -> int:
    """Index in ``specs`` of the principal indicator (``"categorie:mode"`` or a pair; ``None``:
    the first). Raises a French :class:`ParameterError` naming the indicators drawn."""
    if principal is None:
        return 0
    if isinstance(principal, str):
        cat, sep, mode = principal.partition(":")
        if not sep:
            raise ParameterError(
                f"Indicateur principal illisible : « {principal} » (attendu catégorie:mode, "
                "par ex. garage_solidaire:voiture)."
            )
    else:
        cat, mode = principal
    known = {m for _, m in specs}
    mode = mode.strip()
    if mode not in known:
        mode = mode_code(mode, allow_transit=True)
    for i, (c, m) in enumerate(specs):
        if (c, m) == (cat.strip(), mode):
            return i
    raise ParameterError(
        f"Indicateur principal absent du résultat : « {cat}:{mode} ». Indicateurs : "
        + ", ".join(f"{c}:{m}" for c, m in specs)
        + "."
    )


def _method_lines(result: CoverageResult, specs: list[tuple[str, str]]) -> list[str]:
    modes = list(dict.fromkeys(m for _, m in specs))
    # The point a unit's time is measured from is said in the result's notes.
    unit = style.unit_words(result.unit_kind).singular
    lines = [
        f"Zone blanche : {unit} dont le service le plus proche de la catégorie est au-delà du "
        "seuil ("
        + ", ".join(f"{ALL_MODES[m].label} {fr_g(result.thresholds[m])} min" for m in modes)
        + ")."
    ]
    return lines


# --------------------------------------------------------------------------- rendering


def _walk(element) -> Iterable:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def render_map(m: folium.Map) -> str:
    """The map's full HTML page, with deterministic element ids (same inputs, same bytes)."""
    root = m.get_root()
    text = root.render()
    ids = []
    seen = set()
    for element in _walk(root):
        ident = getattr(element, "_id", None)
        if ident and ident not in seen:
            seen.add(ident)
            ids.append(ident)
    # French page; let readers zoom the page (folium forbids it by default).
    text = text.replace("<html>", '<html lang="fr">', 1)
    text = re.sub(
        r'<meta name="viewport" content="[^"]*"\s*/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        text,
        count=1,
    )
    positions = sorted((text.find(i), i) for i in ids if i in text)
    for n, (_, ident) in enumerate(positions, start=1):
        text = text.replace(ident, f"zb{n:04d}")
    return text


def save_map(m: folium.Map | str, path: str | Path) -> Path:
    """Write the map (or its page, already :func:`render_map`-ed) as one self-contained HTML
    file (UTF-8); return the path.

    The same map gives the same bytes: folium's random element ids are replaced by sequential
    ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = m if isinstance(m, str) else render_map(m)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(path)
    return path
