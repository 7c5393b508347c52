"""The transit-versus-car gap drawn and tabulated: map layer, report table, CSV columns.

« Une heure de trajet en transports en commun contre quinze minutes en voiture »: for an analysis
with both the ``transport`` and ``voiture`` modes, the ratio of the two times per unit and
category (computed by :mod:`zonesblanches.coverage.transit_gap`) is

- a map layer per category, « Rapport transports en commun / voiture », the units coloured by
  class of ratio (:func:`gap_layers`, overlays of
  :func:`~zonesblanches.maps.carto.coverage_map`);
- a report section listing the most populated units where public transport takes more than
  three times the car time, or where no trip exists in the window (:func:`gap_sections`);
- the ``rapport_transport_voiture_<categorie>`` columns of ``communes.csv`` and of the
  GeoPackage (:func:`gap_table_columns`).

Every function returns nothing (an empty list or frame) when the analysis lacks one of the two
modes, so the callers hook them in unconditionally. Maps draw; they never compute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches._text import fr_count, fr_g, fr_int, fr_num
from zonesblanches.columns import time_col
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.coverage.transit_gap import (
    CAR,
    DEFAULT_FACTOR,
    TRANSIT,
    gap_columns,
    ratio_col,
    worst_gaps,
)
from zonesblanches.crs import WGS84
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps._geometry import (
    auto_tolerance,
    decimals_for,
    round_coords,
    simplify_coverage,
)

LAYER_NAME = "Rapport transports en commun / voiture"
TOP = 10
"""Rows of the report table per category (the count of all units in the case is given)."""

RATIO_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("r1", "#1a9850", "transports en commun au plus 1,5 fois plus longs que la voiture"),
    ("r2", "#a6d96a", "de 1,5 à 2 fois plus longs"),
    ("r3", "#fee08b", "de 2 à 3 fois plus longs"),
    ("r4", "#d73027", "plus de 3 fois plus longs"),
    ("none", "#5e3c99", "aucun trajet en transports en commun dans la fenêtre"),
    ("na", "#d9d9d9", "rapport non défini (service sur place, ou pas d'accès en voiture)"),
)
"""Classes of the map layer: (code, colour, French legend)."""
_BOUNDS = (1.5, 2.0, DEFAULT_FACTOR)


def has_gap(result: CoverageResult) -> bool:
    """True when the analysis has both public transport and the car."""
    return TRANSIT in result.modes and CAR in result.modes


def gap_table_columns(result: CoverageResult) -> dict[str, np.ndarray]:
    """``rapport_transport_voiture_<categorie>`` per category, in the row order of
    ``result.units``, rounded to 0.01; no trip by transit (infinite ratio) and undefined ratios
    are left empty (the transit time column says which). Empty without both modes."""
    if not has_gap(result):
        return {}
    frame = gap_columns(result)
    out = {}
    for col in frame.columns:
        v = frame[col].to_numpy(dtype=float)
        out[col] = np.where(np.isfinite(v), np.round(v, 2), np.nan)
    return out


def ratio_classes(result: CoverageResult, categorie: str) -> np.ndarray:
    """Class code (:data:`RATIO_CLASSES`) of every unit for one category."""
    transit = result.units[time_col(categorie, TRANSIT)].to_numpy(dtype=float)
    ratio = gap_columns(result)[ratio_col(categorie)].to_numpy(dtype=float)
    k = np.searchsorted(np.asarray(_BOUNDS), ratio, side="left")  # ≤ bound stays in its class
    codes = np.array(["r1", "r2", "r3", "r4"], dtype=object)[np.clip(k, 0, 3)]
    codes = np.where(np.isfinite(ratio), codes, "na")
    return np.where(~np.isfinite(transit), "none", codes)


def _ratio_text(ratio: float, transit: float) -> str:
    if not np.isfinite(transit):
        return "aucun trajet dans la fenêtre"
    if not np.isfinite(ratio):
        return "non défini"
    return f"{fr_num(ratio, 1)} fois"


def _minutes_text(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{fr_num(value, 0)} min"


def _unit_geometries(result: CoverageResult, communes: gpd.GeoDataFrame, tolerance: float):
    """Each unit's shape on the map: its commune polygon (simplified as the base map draws
    communes) for commune units, its point otherwise (WGS84, rounded)."""
    decimals = decimals_for(tolerance)
    units = result.units
    if result.unit_kind == "commune" and "code_insee" in units:
        comm = communes.to_crs(WGS84).sort_values("code_insee", kind="stable")
        comm = comm.drop_duplicates("code_insee").reset_index(drop=True)
        geoms = simplify_coverage(comm.geometry, tolerance, decimals)
        by_code = pd.Series(geoms, index=comm["code_insee"].astype(str).to_numpy(), dtype=object)
        codes = units["code_insee"].astype(str)
        points = round_coords(np.asarray(units.geometry.to_crs(WGS84).values, dtype=object), 5)
        return [by_code.get(c, p) for c, p in zip(codes, points, strict=True)]
    return list(round_coords(np.asarray(units.geometry.to_crs(WGS84).values, dtype=object), 5))


def gap_layers(result: CoverageResult, communes: gpd.GeoDataFrame) -> list[dict]:
    """One overlay per category, « Rapport transports en commun / voiture — <catégorie> », in
    the format of :func:`~zonesblanches.maps.carto.coverage_map`'s ``extra_layers``: the units
    coloured by class of ratio (:data:`RATIO_CLASSES`), a popup with both times and the
    ratio; hidden when the map opens. Empty without both modes."""
    if not has_gap(result):
        return []
    import shapely

    bounds = tuple(float(v) for v in result.units.to_crs(WGS84).total_bounds)
    geoms = _unit_geometries(result, communes, auto_tolerance(bounds))
    names = result.units["nom"].astype(str).to_numpy() if "nom" in result.units else None
    pops = result.units["population"].to_numpy(dtype=float)
    point_units = result.unit_kind != "commune"
    layers = []
    for cat in result.categories:
        transit = result.units[time_col(cat, TRANSIT)].to_numpy(dtype=float)
        car = result.units[time_col(cat, CAR)].to_numpy(dtype=float)
        ratio = gap_columns(result)[ratio_col(cat)].to_numpy(dtype=float)
        classes = ratio_classes(result, cat)
        feats = []
        for i, geom in enumerate(geoms):
            if geom is None or shapely.is_empty(geom):
                continue
            props = {
                "titre": names[i] if names is not None else str(result.units["unit_id"].iloc[i]),
                "k": str(classes[i]),
                "population": fr_int(pops[i]),
                "tc": _minutes_text(transit[i]),
                "vo": _minutes_text(car[i]),
                "rapport": _ratio_text(ratio[i], transit[i]),
            }
            feats.append(
                {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
            )
        layers.append(
            {
                "name": f"{LAYER_NAME} — {category_label(cat)}",
                "legend": f"{LAYER_NAME} ({category_label(cat)})",
                "legend_rows": [[color, label] for _, color, label in RATIO_CLASSES],
                "data": {"type": "FeatureCollection", "features": feats},
                "fields": [
                    ("population", "Population"),
                    ("tc", "Transports en commun"),
                    ("vo", "Voiture"),
                    ("rapport", "Rapport"),
                ],
                "title_field": "titre",
                "color": "#555555",
                "weight": 0.6,
                "fill_opacity": 0.85,
                "palette": {code: color for code, color, _ in RATIO_CLASSES},
                "color_field": "k",
                "radius": 5 if point_units else None,
                "show": False,
            }
        )
    return layers


def gap_table(result: CoverageResult, *, factor: float = DEFAULT_FACTOR, top: int = TOP):
    """The report's table (:func:`~zonesblanches.coverage.transit_gap.worst_gaps`) with French
    labels: most populated units where transit takes more than ``factor`` × the car time or
    where no trip exists in the window. Empty without both modes."""
    if not has_gap(result):
        return pd.DataFrame()
    table = worst_gaps(result, factor=factor, top=top)
    if table.empty:
        return table
    table["libelle"] = table["categorie"].map(category_label)
    table["rapport_texte"] = [
        "—" if not np.isfinite(t) else _ratio_text(r, t)  # no trip: the motif says it
        for r, t in zip(
            table["rapport"].to_numpy(dtype=float),
            table["temps_transport_min"].to_numpy(dtype=float, na_value=np.inf),
            strict=True,
        )
    ]
    return table


def gap_sections(
    result: CoverageResult,
    html_table: Callable[..., str],
    *,
    factor: float = DEFAULT_FACTOR,
    top: int = TOP,
) -> list[tuple[str, str, str]]:
    """The report section ``(id, title, html)`` of the transit-versus-car gap (none without
    both modes). ``html_table`` is the report's sortable-table writer (cells escaped)."""
    import html

    if not has_gap(result):
        return []
    every = gap_table(result, factor=factor, top=len(result.units))
    table = every.groupby("categorie", sort=False).head(top) if len(every) else every
    commune = result.unit_kind == "commune"
    unit, units_word = ("commune", "communes") if commune else ("unité", "unités")
    fx = html.escape(fr_g(factor))
    intro = (
        f"<p>Les {units_word} où les transports en commun prennent plus de {fx} fois le temps "
        "de la voiture pour rejoindre le service le plus proche, ou bien où aucun trajet (ni à "
        f"pied) n'existe dans la fenêtre horaire étudiée ; les {top} plus peuplées par "
        "catégorie. Les temps en transports en commun sont ceux décrits dans la méthode (jour, "
        "fenêtre, centile, horaires) ; la voiture, ceux du mode voiture de l'analyse. La carte "
        f"interactive a une couche « {html.escape(LAYER_NAME)} » par catégorie.</p>"
    )
    if table.empty:
        body = (
            f"<p>Aucune des {units_word} analysées n'est dans ce cas : partout, les transports "
            f"en commun prennent au plus {fx} fois le temps de la voiture.</p>"
        )
    else:
        columns: Sequence[tuple[str, str, str]] = [
            ("libelle", "Catégorie", "text"),
            ("nom", "Commune" if commune else "Unité", "text"),
            ("code_insee", "Code INSEE", "text"),
            ("population", "Population", "int"),
            ("temps_transport_min", "Transports en commun", "min"),
            ("temps_voiture_min", "Voiture", "min"),
            ("rapport_texte", "Rapport", "words:rapport"),
            ("motif", "Motif", "text"),
        ]
        columns = [c for c in columns if c[0] in table]
        items = []
        for cat, g in every.groupby("categorie", sort=False):
            no_trip = int(g["temps_transport_min"].isna().sum())
            items.append(
                f"<li>{html.escape(category_label(cat))} : {fr_count(len(g), unit)} dans ce cas "
                f"({fr_count(g['population'].sum(), 'habitant')}), dont {fr_int(no_trip)} sans "
                "aucun trajet"
                + (f" ; les {top} plus peuplées ci-dessous" if len(g) > top else "")
                + "</li>"
            )
        body = f"<ul>{''.join(items)}</ul>" + html_table(table, columns)
    return [("transports", f"{LAYER_NAME} : les écarts", intro + body)]


__all__ = [
    "LAYER_NAME",
    "RATIO_CLASSES",
    "gap_layers",
    "gap_sections",
    "gap_table",
    "gap_table_columns",
    "has_gap",
    "ratio_classes",
]
