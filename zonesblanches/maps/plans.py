"""Maps of the planning tools: suggested sites (« suggerer ») and scenarios (« scenario »).

Both are coverage maps (:func:`~zonesblanches.maps.carto.coverage_map`) with further overlays
built here in the format of its extra layers, so they share its engine: self-contained page,
French legends, data inserted as text (never as HTML), deterministic bytes with
:func:`~zonesblanches.maps.carto.save_map`.

- :func:`suggestion_map`: the coverage with the existing services, the suggested sites (numbered
  by rank, popups with the population gained) and the units each one newly covers, shaded by
  rank;
- :func:`scenario_map`: the coverage after the change, one layer per category × mode colouring
  the units that gain access (bluish green) or lose it (vermillion) — the Okabe–Ito pair, read by
  colour-blind readers — the others in greys, and the changed services before and after, a move
  drawn as an arrow.

Maps draw; they never compute: every figure comes from the
:class:`~zonesblanches.coverage.sites.SiteSuggestion` or
:class:`~zonesblanches.coverage.scenarios.ScenarioResult`.
"""

from __future__ import annotations

import math

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import fr_count, fr_int, fr_num, fr_pct
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps._geometry import (
    Simplification,
    auto_tolerance,
    check_frame,
    decimals_for,
    feature_collection,
    round_coords,
    select_pairs,
    simplify_coverage,
)
from zonesblanches.maps.carto import coverage_map
from zonesblanches.maps.style import UNIT_WORDS, UnitWords, unit_words
from zonesblanches.maps.tables import gain_curve
from zonesblanches.modes import ALL_MODES as MODES

GAIN_COLOR = "#009E73"
"""Units that gain access (Okabe–Ito bluish green)."""
LOSS_COLOR = "#D55E00"
"""Units that lose access (Okabe–Ito vermillion)."""
NOT_DRAWN_COLOR = "transparent"
"""Legend swatch of the units whose access does not change (not drawn on the diff layers)."""
RANK_COLORS = ("#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#009E73", "#D55E00", "#000000")
"""Colours of the suggested sites by rank (Okabe–Ito), repeated past the seventh."""
CHANGE_COLOR = "#111111"

EVOLUTION_LABELS = {"gagne": "gagne l'accès", "perd": "perd l'accès"}
"""The evolutions drawn on the scenario map (the values of ``evolution`` that are a change)."""


# --------------------------------------------------------------------------- helpers


def _rank_color(rank: int) -> str:
    return RANK_COLORS[(int(rank) - 1) % len(RANK_COLORS)]


def _minutes(value) -> str:
    v = float(value)
    return "inaccessible" if not math.isfinite(v) else f"{fr_num(v, 0)} min"


def _shapes(frame: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, point_units: bool):
    """Geometries to draw for units: the commune polygon for commune units (joined on
    ``code_insee``), else the unit's own point. Rows without a geometry are dropped."""
    frame = frame.reset_index(drop=True)
    if not point_units and "code_insee" in frame:
        polys = communes.to_crs(WGS84).drop_duplicates("code_insee")
        polys = polys.set_index(polys["code_insee"].astype(str)).geometry
        geoms = polys.reindex(frame["code_insee"].astype(str)).to_numpy()
        out = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=geoms, crs=WGS84)
    else:
        out = frame.to_crs(WGS84)
    keep = ~(out.geometry.isna() | out.geometry.is_empty)
    return out[keep.to_numpy()].reset_index(drop=True)


def _tolerance(result: CoverageResult) -> float:
    bounds = result.units.to_crs(WGS84).total_bounds
    return auto_tolerance(tuple(float(v) for v in bounds))


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _gain_note(curve: pd.DataFrame) -> str:
    """The gain curve in one sentence: people newly covered by each site in greedy order."""
    parts = [
        f"{int(k)}. {nom} : +{fr_int(g)}"
        for k, nom, g in zip(curve["k"], curve["nom"], curve["population_gagnee"], strict=True)
    ]
    return (
        "Habitants nouvellement couverts par chaque site, dans l'ordre de la sélection "
        "gloutonne (chaque site compte après les précédents) : " + " ; ".join(parts) + "."
    )


def _titled(title: str, territory: str | None) -> str:
    return f"{title} — {territory}" if territory else title


def _plan_map(
    base, communes, drawn, *, epci, title, tiles, layers, notes, simplified=None
) -> folium.Map:
    """The coverage map of ``base`` with a plan's overlays and notes; ``drawn`` is
    ``(categorie, mode, simplify)`` as :func:`coverage_map` takes them, ``simplified`` too."""
    categorie, mode, simplify = drawn
    return coverage_map(
        base,
        communes,
        epci=epci,
        categorie=categorie,
        mode=mode,
        title=title,
        tiles=tiles,
        simplify=simplify,
        extra_layers=layers,
        extra_notes=notes,
        simplified=simplified,
    )


# --------------------------------------------------------------------------- suggestion


def suggestion_map(
    suggestion,
    communes: gpd.GeoDataFrame,
    *,
    epci: gpd.GeoDataFrame | None = None,
    coverage: CoverageResult | None = None,
    title: str | None = None,
    tiles: bool = True,
) -> folium.Map:
    """Map of suggested sites over the coverage by the existing services.

    Parameters
    ----------
    suggestion : SiteSuggestion
        From :func:`~zonesblanches.coverage.sites.suggest_sites` or
        :func:`~zonesblanches.api.suggest`.
    communes : geopandas.GeoDataFrame
        Commune polygons with ``code_insee`` (e.g. ``Territory.communes``).
    epci : geopandas.GeoDataFrame, optional
        EPCI polygons, drawn as boundaries.
    coverage : CoverageResult, optional
        The coverage drawn underneath; default ``suggestion.coverage``.
    title : str, optional
        Default « Sites suggérés — <catégorie>, <mode> <seuil> min — <territoire> ».
    tiles : bool
        Offer the optional online backgrounds.

    Returns
    -------
    folium.Map
        Save it with :func:`~zonesblanches.maps.carto.save_map`.
    """
    from zonesblanches.coverage.sites import SiteSuggestion

    if not isinstance(suggestion, SiteSuggestion):
        raise ParameterError("« suggestion » doit être une suggestion de sites (SiteSuggestion).")
    base = coverage if coverage is not None else suggestion.coverage
    if base is None:
        raise ParameterError(
            "La suggestion ne contient pas l'analyse de départ : passez « coverage » (le "
            "résultat de diagnostic avec les services existants)."
        )
    communes = check_frame(communes, "communes", ("code_insee",))
    cat, mode = suggestion.categorie, suggestion.mode
    select_pairs(base, cat, mode)
    point_units = base.unit_kind != "commune"
    tolerance = _tolerance(base)
    label = category_label(cat)
    seuil = f"{fr_num(suggestion.threshold, 1, trim=True)} min {MODES[mode].label}"

    table = suggestion.table.reset_index(drop=True)
    rank_rows = [
        [_rank_color(r.rang), f"Site n° {r.rang} : {_text(r.libelle)}"]
        for r in table.itertuples(index=False)
    ]
    layers: list[dict] = []

    catch = suggestion.catchments
    if len(catch):
        shapes = _shapes(catch, communes, point_units)
        props = [
            {
                "titre": _text(row.get("nom")) or _text(row.get("unit_id")),
                "rang": str(int(row["rang"])),
                "site": f"n° {int(row['rang'])} ({_text(row['candidate_id'])})",
                "population": fr_int(row["population"]),
                "temps": _minutes(row["temps_min"]),
            }
            for _, row in shapes.iterrows()
        ]
        layers.append(
            {
                "name": f"Habitants nouvellement couverts ({seuil})",
                "legend": f"Nouvellement à moins de {seuil}, grâce au site :",
                "legend_rows": rank_rows,
                "data": feature_collection(shapes, props, tolerance),
                "fields": [
                    ("site", "Couvert grâce au site"),
                    ("population", "Population"),
                    ("temps", "Temps jusqu'au site"),
                ],
                "title_field": "titre",
                "color": "#222222",
                "weight": 0.8,
                "fill_opacity": 0.8,
                "palette": {str(int(r)): _rank_color(r) for r in table["rang"]},
                "color_field": "rang",
                **({"radius": 5} if point_units else {}),
                "show": True,
            }
        )

    if len(suggestion.sites):
        sites = suggestion.sites.to_crs(WGS84).reset_index(drop=True)
        qpv = "habitants_qpv_gagnes" in sites
        props = []
        for _, row in sites.iterrows():
            rank = int(row["rang"])
            where = _text(row.get("nom"))
            if _text(row.get("nom_epci")):
                where += f" ({_text(row.get('nom_epci'))})"
            props.append(
                {
                    "titre": f"Site suggéré n° {rank} : {_text(row.get('libelle'))}",
                    "rang": str(rank),
                    "id": _text(row.get("candidate_id")),
                    "commune": where,
                    "gagnes": fr_int(row["population_gagnee"]),
                    "qpv": fr_int(row["habitants_qpv_gagnes"]) if qpv else None,
                    "cumul": fr_int(row["couverture_cumulee"]),
                    "part": fr_pct(row["part_couverte_cumulee"]),
                }
            )
        layers.append(
            {
                "name": f"Sites suggérés : {label} ({len(sites)})",
                "legend": "Sites suggérés (numéro = rang)",
                "legend_rows": rank_rows,
                "data": feature_collection(sites, props, tolerance),
                "fields": [
                    ("id", "Candidat"),
                    ("commune", "Commune"),
                    ("gagnes", "Habitants gagnés"),
                    ("qpv", "dont habitants des QPV"),
                    ("cumul", "Habitants couverts après ce site"),
                    ("part", "Part couverte après ce site"),
                ],
                "title_field": "titre",
                "color": "#ffffff",
                "weight": 2,
                "fill_opacity": 1.0,
                "palette": {str(int(r)): _rank_color(r) for r in table["rang"]},
                "color_field": "rang",
                "radius": 11,
                "label_field": "rang",
                "show": True,
            }
        )

    notes = [
        f"Sites suggérés : {fr_count(suggestion.k, 'site')} « {label} » ({seuil}) ; objectif : "
        f"{suggestion.weights_label} gagnés ; méthode : {suggestion.method_description}.",
        f"Avant : {fr_int(suggestion.covered_before)} habitants sur "
        f"{fr_int(suggestion.population)} à moins de {seuil} d'un service existant.",
    ]
    if suggestion.bound_text():
        notes.append(suggestion.bound_text())
    if suggestion.greedy_table is not None and len(suggestion.greedy_table) > 1:
        notes.append(_gain_note(gain_curve(suggestion).head(suggestion.k)))
    if float(base.thresholds[mode]) != float(suggestion.threshold):
        notes.append(
            f"Le fond de carte (temps d'accès, zones blanches) suit le seuil de l'analyse "
            f"({fr_num(base.thresholds[mode], 1, trim=True)} min), la suggestion celui de "
            f"{fr_num(suggestion.threshold, 1, trim=True)} min."
        )
    notes += list(suggestion.notes)
    return _plan_map(
        base,
        communes,
        (cat, mode, None),
        epci=epci,
        title=_titled(f"Sites suggérés — {label}, {seuil}", suggestion.territory)
        if title is None
        else title,
        tiles=tiles,
        layers=layers,
        notes=list(dict.fromkeys(notes)),
    )


# --------------------------------------------------------------------------- scenario


def _arrow(x0: float, y0: float, x1: float, y1: float):
    """A move as a line and an arrowhead at its end (lon/lat in, lon/lat out)."""
    line = gpd.GeoSeries([shapely.LineString([(x0, y0), (x1, y1)])], crs=WGS84).to_crs(LAMBERT93)
    (ax, ay), (bx, by) = line.iloc[0].coords
    length = math.hypot(bx - ax, by - ay)
    if length <= 0:
        return [shapely.LineString([(x0, y0), (x1, y1)])]
    size = min(900.0, max(250.0, 0.12 * length))
    ux, uy = (bx - ax) / length, (by - ay) / length
    base_x, base_y = bx - size * ux, by - size * uy
    half = size * 0.45
    head = shapely.Polygon(
        [
            (bx, by),
            (base_x - half * uy, base_y + half * ux),
            (base_x + half * uy, base_y - half * ux),
        ]
    )
    shaft = shapely.LineString([(ax, ay), (base_x, base_y)])
    return list(gpd.GeoSeries([shaft, head], crs=LAMBERT93).to_crs(WGS84).values)


def _change_layer(result) -> dict | None:
    changes = result.changes
    if changes is None or not len(changes):
        return None
    actions = {"ajout": "ajouté", "retrait": "retiré", "deplacement": "déplacé"}
    geoms, props = [], []
    for _, row in changes.iterrows():
        action = _text(row["action"])
        common = {
            "nom": _text(row.get("nom")) or _text(row.get("service_id")),
            "action": actions.get(action, action),
            "categorie": category_label(_text(row.get("categorie"))),
            "avant": _text(row.get("commune_avant")),
            "apres": _text(row.get("commune_apres")),
        }
        before = (float(row["lon_avant"]), float(row["lat_avant"]))
        after = (float(row["lon_apres"]), float(row["lat_apres"]))
        has_before, has_after = all(map(math.isfinite, before)), all(map(math.isfinite, after))
        if has_before and has_after:
            for g in _arrow(*before, *after):
                geoms.append(g)
                props.append({**common, "k": "trajet", "titre": f"Déplacé : {common['nom']}"})
        if has_before:
            geoms.append(shapely.Point(before))
            props.append({**common, "k": "avant", "titre": f"Avant : {common['nom']}"})
        if has_after:
            geoms.append(shapely.Point(after))
            props.append({**common, "k": "apres", "titre": f"Après : {common['nom']}"})
    frame = gpd.GeoDataFrame(geometry=geoms, crs=WGS84)
    # Lines and arrowheads are not a coverage: round them without simplifying.
    data = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(g)}
            for g, p in zip(
                round_coords(np.asarray(frame.geometry.values, dtype=object), 5), props, strict=True
            )
        ],
    }
    return {
        "name": f"Services changés par le scénario ({len(changes)})",
        "legend": "Services changés",
        "legend_rows": [
            ["#ffffff", "position avant (service retiré ou déplacé)"],
            [CHANGE_COLOR, "position après (service ajouté ou déplacé) ; flèche : déplacement"],
        ],
        "data": data,
        "fields": [
            ("action", "Changement"),
            ("categorie", "Catégorie"),
            ("avant", "Commune avant"),
            ("apres", "Commune après"),
        ],
        "title_field": "titre",
        "color": CHANGE_COLOR,
        "weight": 2.5,
        "fill_opacity": 1.0,
        "palette": {"avant": "#ffffff", "apres": CHANGE_COLOR, "trajet": CHANGE_COLOR},
        "color_field": "k",
        "radius": 7,
        "show": True,
    }


def _base_polygons(
    communes: gpd.GeoDataFrame, tolerance: float, simplified: list[Simplification]
) -> pd.Series:
    """``code_insee`` → commune polygon simplified exactly as the base layer of
    :func:`~zonesblanches.maps.carto.coverage_map` draws it (same frame order, tolerance and
    rounding), so that a unit drawn on a diff layer covers its commune underneath exactly.
    The simplification is appended to ``simplified``, for the base layer to reuse."""
    shown = communes.to_crs(WGS84)
    comm = shown.sort_values("code_insee", kind="stable").reset_index(drop=True)
    decimals = decimals_for(tolerance)
    geoms = simplify_coverage(comm.geometry.to_crs(WGS84), tolerance, decimals, simplified)
    out = pd.Series(geoms, index=comm["code_insee"].astype(str).to_numpy(), dtype=object)
    return out[~out.index.duplicated(keep="first")]


def _changed_geometries(changed: gpd.GeoDataFrame, polygons: pd.Series | None) -> np.ndarray:
    """Geometry of each changed unit (WGS84): its commune polygon from ``polygons`` for commune
    units, else (point units, or a commune missing from the outlines) its own point, rounded
    like the points of the base map."""
    points = round_coords(np.asarray(changed.geometry.to_crs(WGS84).values, dtype=object), 5)
    if polygons is None or "code_insee" not in changed:
        return points
    geoms = polygons.reindex(changed["code_insee"].astype(str)).to_numpy()
    missing = pd.isna(geoms) | shapely.is_empty(np.where(pd.isna(geoms), None, geoms))
    return np.where(missing, points, geoms)


def _diff_layer(
    result,
    cat: str,
    mode: str,
    polygons: pd.Series | None,
    names: dict[str, str],
    show: bool,
) -> dict:
    """Layer « Qui gagne, qui perd » of one category × mode: only the units that gain or lose
    access are drawn; the legend counts the others."""
    after = result.after
    words = unit_words(after.unit_kind)
    diff = result.diff_layer(cat, mode)
    evo = diff["evolution"].astype(str).to_numpy()
    pop = diff["population"].to_numpy(dtype=float)
    changed = diff[np.isin(evo, list(EVOLUTION_LABELS))].reset_index(drop=True)
    geoms = _changed_geometries(changed, polygons)
    id_col = "code_insee" if after.unit_kind == "commune" and "code_insee" in changed else "unit_id"
    features = []
    for geom, (_, row) in zip(geoms, changed.iterrows(), strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        key = str(row["evolution"])
        props = {
            "titre": _text(row.get("nom")) or _text(row.get("unit_id")),
            "code": _text(row.get(id_col)),
            "ev": key,
            "evolution": EVOLUTION_LABELS[key],
            "population": fr_int(row["population"]),
            "avant": _minutes(row["temps_avant"]),
            "apres": _minutes(row["temps_apres"]),
            "s_avant": names.get(_text(row["service_avant"]), ""),
            "s_apres": names.get(_text(row["service_apres"]), ""),
        }
        features.append(
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
        )
    rows = []
    for key, color in (("gagne", GAIN_COLOR), ("perd", LOSS_COLOR)):
        sel = evo == key
        rows.append(
            [
                color,
                f"{EVOLUTION_LABELS[key]} ({words.count(sel.sum())}, "
                f"{fr_int(pop[sel].sum())} hab.)",
            ]
        )
    same = ~np.isin(evo, list(EVOLUTION_LABELS))
    rows.append(
        [
            NOT_DRAWN_COLOR,
            f"accès inchangé ({words.count(same.sum())}, {fr_int(pop[same].sum())} hab.) : "
            f"non {words.agree('dessiné')} ici (fond : temps d'accès après le changement)",
        ]
    )
    seuil = fr_num(after.thresholds[mode], 1, trim=True)
    name = f"{category_label(cat)}, {MODES[mode].label} {seuil} min"
    return {
        "name": f"Qui gagne, qui perd : {name}",
        "legend": f"Accès en moins de {seuil} min ({category_label(cat)}, "
        f"{MODES[mode].label}), avant → après",
        "legend_rows": rows,
        "data": {"type": "FeatureCollection", "features": features},
        "fields": [
            ("code", words.id_label),
            ("evolution", "Évolution"),
            ("population", "Population"),
            ("avant", "Temps avant"),
            ("apres", "Temps après"),
            ("s_avant", "Service le plus proche avant"),
            ("s_apres", "Service le plus proche après"),
        ],
        "title_field": "titre",
        "color": "#222222",
        "weight": 1.2,
        "fill_opacity": 0.85,
        "palette": {"gagne": GAIN_COLOR, "perd": LOSS_COLOR},
        "color_field": "ev",
        **({"radius": 5} if after.unit_kind != "commune" else {}),
        "show": show,
        # one « qui gagne, qui perd » switch that follows the indicator shown (coverage_map)
        "group": "evolution",
        "follows": (cat, mode),
    }


def scenario_map(
    result,
    communes: gpd.GeoDataFrame,
    *,
    epci: gpd.GeoDataFrame | None = None,
    categorie: str | list[str] | None = None,
    mode: str | list[str] | None = None,
    title: str | None = None,
    tiles: bool = True,
) -> folium.Map:
    """Diff map of a scenario: who gains access, who loses it, and what moved.

    Underneath, the coverage map of the situation *after* the change (time classes, zones
    blanches, services). Over it, one evolution layer per category × mode drawing **only the
    units whose access changes** (gain or loss across the threshold); the units whose access
    does not change are counted in the legend, not drawn (their time after the change is the
    layer underneath). This keeps the regional map small (a few changed communes instead of
    every commune drawn again per mode).

    Parameters
    ----------
    result : ScenarioResult
        From :func:`~zonesblanches.coverage.scenarios.run_scenario` or
        :func:`~zonesblanches.api.scenario`.
    communes : geopandas.GeoDataFrame
        Commune polygons with ``code_insee``.
    epci : geopandas.GeoDataFrame, optional
        EPCI polygons, drawn as boundaries.
    categorie, mode : str or list of str, optional
        Restrict the layers (default: every category × mode of the scenario). One evolution
        layer per category × mode; the first is shown when the map opens.
    title : str, optional
        Default « Scénario : qui gagne, qui perd l'accès — <territoire> ».
    tiles : bool
        Offer the optional online backgrounds.

    Returns
    -------
    folium.Map
        Save it with :func:`~zonesblanches.maps.carto.save_map` (deterministic bytes).
    """
    from zonesblanches.coverage.scenarios import ScenarioResult

    if not isinstance(result, ScenarioResult):
        raise ParameterError("« result » doit être un résultat de scénario (ScenarioResult).")
    communes = check_frame(communes, "communes", ("code_insee",))
    after = result.after
    specs = select_pairs(after, categorie, mode)
    words = unit_words(after.unit_kind)
    tolerance = _tolerance(after)
    simplified: list[Simplification] = []  # the diff layers' communes, for the base layer
    polygons = (
        _base_polygons(communes, tolerance, simplified) if after.unit_kind == "commune" else None
    )
    names = {}
    for res in (result.before, result.after):
        s = res.services
        names.update(
            zip(s["service_id"].astype(str), s.get("nom", s["service_id"]).astype(str), strict=True)
        )

    layers = [
        _diff_layer(result, cat, m, polygons, names, show=i == 0)
        for i, (cat, m) in enumerate(specs)
    ]
    change = _change_layer(result)
    if change is not None:
        layers.append(change)
    notes = [
        "Qui gagne, qui perd : « gagne l'accès » = au-delà du seuil avant le changement, en "
        "deçà après ; « perd l'accès » = l'inverse. Un déplacement peut faire les deux.",
        f"{words.agree('Seul')} les {words.plural} qui gagnent ou "
        f"perdent l'accès sont {words.agree('dessiné')} sur les couches d'évolution ; "
        f"les autres (accès inchangé, même si leur temps varie sans franchir le seuil) n'y "
        f"sont pas {words.agree('dessiné')} : en dessous, les temps d'accès après le changement. "
        "Le tableau des unités du scénario (scenario_unites.csv) donne les temps avant et "
        "après de chacune.",
        "Couleurs vert-bleu et vermillon (palette Okabe–Ito), lisibles par les daltoniens.",
        *result.notes,
    ]
    drawn = (
        list(dict.fromkeys(c for c, _ in specs)),
        list(dict.fromkeys(m for _, m in specs)),
        tolerance,
    )
    return _plan_map(
        after,
        communes,
        drawn,
        epci=epci,
        title=_titled("Scénario : qui gagne, qui perd l'accès", after.territory)
        if title is None
        else title,
        tiles=tiles,
        layers=layers,
        # coverage_map already starts with the notes of ``after``: do not repeat them.
        notes=[n for n in dict.fromkeys(notes) if n not in after.notes],
        simplified=simplified,
    )


__all__ = ["UNIT_WORDS", "UnitWords", "scenario_map", "suggestion_map", "unit_words"]
