"""Exports for other tools: a GeoPackage with every layer (QGIS) and an XLSX workbook (Excel).

Rows and columns are in a fixed order, so the same inputs give the same layers and rows (the
GeoPackage's internal timestamps aside). The tables are those of :mod:`zonesblanches.maps.tables`
(same columns as the CSV files).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from zonesblanches._memory import freezing_old_objects
from zonesblanches._version import __version__
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.geodata.services import OUTPUT_COLUMNS as SERVICE_COLUMNS
from zonesblanches.maps.tables import communes_table, synthesis_table
from zonesblanches.modes import ALL_MODES
from zonesblanches.writers import write_gpkg
from zonesblanches.writers import write_xlsx as write_workbook

DATA_INCLUSION_COLUMNS = (
    "date_maj",
    "score_qualite",
    "lien_source",
    "id_data_inclusion",
    "regle_categorie",
    "sources",
    "doublons",
    "structure_id",
    "siret",
    "reseaux_porteurs",
)
"""Columns a data·inclusion service carries to every table (issue 12 §1), after those of
:data:`~zonesblanches.geodata.services.OUTPUT_COLUMNS`, when the services have them."""


def services_table(result: CoverageResult) -> pd.DataFrame:
    """The services of the analysis, one row each, sorted by category then ``service_id``,
    with ``lon``/``lat``; data·inclusion services keep their :data:`DATA_INCLUSION_COLUMNS`.
    Built once while the outputs are written (the workbook, the GeoPackage and the report
    each use it; :meth:`~zonesblanches.coverage.analysis.CoverageResult.reused_tables`)."""
    return result.reuse(("services_table",), lambda: _services_table(result))


def _services_table(result: CoverageResult) -> pd.DataFrame:
    svc = result.services.to_crs(WGS84) if result.services.crs else result.services
    cols = [c for c in (*SERVICE_COLUMNS, *DATA_INCLUSION_COLUMNS) if c in svc]
    out = pd.DataFrame(svc[cols]).copy()
    cats = out["categorie"].astype(str)
    out["libelle_categorie"] = cats.map({c: category_label(c) for c in cats.unique()})
    out["lon"] = svc.geometry.x.round(6).to_numpy()
    out["lat"] = svc.geometry.y.round(6).to_numpy()
    return out.sort_values(["categorie", "service_id"], kind="stable").reset_index(drop=True)


def method_table(result: CoverageResult, run_date: dt.date | str | None = None) -> pd.DataFrame:
    """The method, in rows of (``rubrique``, ``valeur``): territory, thresholds, models,
    notes, data sources, version and run date."""
    from zonesblanches.geodata.reference import sources

    rows = [("Territoire", result.territory or "")]
    for mode, minutes in result.thresholds.items():
        rows.append((f"Seuil {ALL_MODES[mode].label}", f"{minutes:g} min"))
        rows.append((f"Modèle {ALL_MODES[mode].label}", result.models[mode].description))
    rows += [("Remarque", n) for n in result.notes]
    for s in sources():
        rows.append((f"Source : {s['jeu']}", f"{s['source']} — {s['licence']} ({s['date']})"))
    rows.append(("Version de zonesblanches", __version__))
    rows.append(("Date du calcul", str(run_date or dt.date.today().isoformat())))
    return pd.DataFrame(rows, columns=["rubrique", "valeur"])


def commune_layer(result: CoverageResult, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Commune polygons carrying the columns of :func:`communes_table` (joined on
    ``code_insee``); communes without a result are left out."""
    if "code_insee" not in communes:
        raise ParameterError("Les communes doivent avoir une colonne « code_insee ».")
    table = communes_table(result)
    geoms = communes[["code_insee", communes.geometry.name]].copy()
    geoms["code_insee"] = geoms["code_insee"].astype(str)
    table["code_insee"] = table["code_insee"].astype(str)
    merged = table.merge(geoms, on="code_insee", how="inner", validate="one_to_one")
    return gpd.GeoDataFrame(merged, geometry=communes.geometry.name, crs=communes.crs).to_crs(WGS84)


def write_geopackage(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    path: str | Path,
    *,
    epci: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    qpv: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write every layer of the diagnostic to one GeoPackage (EPSG:4326); return the path.

    Layers: ``communes`` (polygons with times, nearest service and zone-blanche flag per
    category × mode; only when the units are communes), ``unites`` (the demand points, with
    the same values), ``services``, ``synthese`` (no geometry:
    one row per EPCI × category × mode) and, when given, ``epci``, ``zones_blanches`` (or
    ``zones_<label>``), ``isochrones``, ``qpv``. An existing file is replaced. Layers' last-change
    dates are fixed (:func:`zonesblanches.writers.fixed_dates`), so the same inputs give the same
    bytes.
    """
    layers: list[tuple[str, pd.DataFrame]] = []
    if result.unit_kind == "commune":
        layers.append(("communes", commune_layer(result, communes)))
    units = result.units.to_crs(WGS84)
    keep = [c for c in units.columns if c != units.geometry.name]
    units = gpd.GeoDataFrame(units[keep], geometry=units.geometry, crs=WGS84)
    for col in units.columns:
        if units[col].dtype == bool:
            units[col] = units[col].astype(int)
    layers.append(("unites", units))
    svc = services_table(result)
    layers.append(
        (
            "services",
            gpd.GeoDataFrame(svc, geometry=gpd.points_from_xy(svc["lon"], svc["lat"]), crs=WGS84),
        )
    )
    if epci is not None:
        e = epci.to_crs(WGS84)
        sort = [c for c in ("code_epci",) if c in e]
        layers.append(("epci", e.sort_values(sort, kind="stable") if sort else e))
    if zones is not None:
        items = zones.items() if isinstance(zones, Mapping) else [("blanches", zones)]
        for label, frame in items:
            layers.append((f"zones_{label}", frame.to_crs(WGS84)))
    if isochrones is not None:
        layers.append(("isochrones", isochrones.to_crs(WGS84)))
    if qpv is not None:
        layers.append(("qpv", qpv.to_crs(WGS84)))
    layers.append(("synthese", synthesis_table(result)))
    return write_gpkg(dict(layers), path)


@freezing_old_objects
def write_xlsx(
    result: CoverageResult, path: str | Path, *, run_date: dt.date | str | None = None
) -> Path:
    """Write the tables to an Excel workbook; return the path.

    Sheets: « Synthèse » (whole territory), « Par EPCI », « Communes », « Zones blanches »
    (most populated first), « Services », « Méthode ». Header row frozen, columns sized.
    """
    overall = result.summary(by=None)
    uncovered = result.uncovered()
    if "zone_blanche" in uncovered:
        uncovered = uncovered.drop(columns="zone_blanche")
    sheets = {
        "Synthèse": overall,
        "Par EPCI": synthesis_table(result),
        "Communes": communes_table(result),
        "Zones blanches": uncovered,
        "Services": services_table(result),
        "Méthode": method_table(result, run_date),
    }
    return write_workbook(sheets, path)
