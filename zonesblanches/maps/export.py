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
import numpy as np
import pandas as pd

from zonesblanches import __version__
from zonesblanches._gpkg import fixed_dates
from zonesblanches._xlsx import make_reproducible
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.geodata.services import OUTPUT_COLUMNS as SERVICE_COLUMNS
from zonesblanches.maps.tables import communes_table, synthesis_table
from zonesblanches.modes import MODES


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas 3 string dtype → plain object columns (GDAL and openpyxl want str/None)."""
    out = frame.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        if pd.api.types.is_string_dtype(out[col]) and not pd.api.types.is_object_dtype(out[col]):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _cell_values(series: pd.Series) -> list:
    """Python values for openpyxl: ``None`` for missing and unreachable (``inf``) values."""
    values = series.astype(object).tolist()
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")))):
            out.append(None)
        elif isinstance(v, (np.integer, np.floating, np.bool_)):
            out.append(v.item())
        elif v is pd.NA or v is pd.NaT:
            out.append(None)
        else:
            out.append(v)
    return out


def services_table(result: CoverageResult) -> pd.DataFrame:
    """The services of the analysis, one row each, sorted by category then ``service_id``,
    with ``lon``/``lat``."""
    svc = result.services.to_crs(WGS84) if result.services.crs else result.services
    cols = [c for c in SERVICE_COLUMNS if c in svc]
    out = pd.DataFrame(svc[cols]).copy()
    out["libelle_categorie"] = out["categorie"].astype(str).map(category_label)
    out["lon"] = svc.geometry.x.round(6).to_numpy()
    out["lat"] = svc.geometry.y.round(6).to_numpy()
    return out.sort_values(["categorie", "service_id"], kind="stable").reset_index(drop=True)


def method_table(result: CoverageResult, run_date: dt.date | str | None = None) -> pd.DataFrame:
    """The method, in rows of (``rubrique``, ``valeur``): territory, thresholds, models,
    notes, data sources, version and run date."""
    from zonesblanches.geodata.reference import sources

    rows = [("Territoire", result.territory or "")]
    for mode, minutes in result.thresholds.items():
        rows.append((f"Seuil {MODES[mode].label}", f"{minutes:g} min"))
        rows.append((f"Modèle {MODES[mode].label}", result.models[mode].description))
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
    dates are fixed (:func:`zonesblanches._gpkg.fixed_dates`), so the same inputs give the same bytes.
    """
    import pyogrio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)

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
    with fixed_dates():
        for name, frame in layers:
            frame = _text_columns(frame.reset_index(drop=True))
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", append=tmp.exists())
        pyogrio.write_dataframe(
            _text_columns(synthesis_table(result)),
            tmp,
            layer="synthese",
            driver="GPKG",
            append=True,
        )
    tmp.replace(path)
    return path


def write_xlsx(
    result: CoverageResult, path: str | Path, *, run_date: dt.date | str | None = None
) -> Path:
    """Write the tables to an Excel workbook; return the path.

    Sheets: « Synthèse » (whole territory), « Par EPCI », « Communes », « Zones blanches »
    (most populated first), « Services », « Méthode ». Header row frozen, columns sized.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    # Streaming (write-only) workbook: several times faster than pandas' writer on the region.
    book = Workbook(write_only=True)
    book.properties.creator = "zonesblanches"
    book.properties.created = dt.datetime(2000, 1, 1)
    header_font = Font(bold=True)
    for name, frame in sheets.items():
        frame = _text_columns(frame)
        ws = book.create_sheet(title=name)
        ws.freeze_panes = "A2"
        for i, col in enumerate(frame.columns, start=1):
            values = [str(col)] + [str(v) for v in frame[col].head(200).tolist()]
            width = min(max(len(v) for v in values) + 2, 60)
            ws.column_dimensions[get_column_letter(i)].width = width
        head = []
        for col in frame.columns:
            cell = WriteOnlyCell(ws, value=str(col))
            cell.font = header_font
            head.append(cell)
        ws.append(head)
        columns = [_cell_values(frame[col]) for col in frame.columns]
        for row in zip(*columns, strict=True):
            ws.append(row)
    tmp = path.with_name(path.name + ".tmp.xlsx")
    book.save(tmp)
    make_reproducible(tmp)  # fixed save dates: the same inputs give the same bytes
    tmp.replace(path)
    return path
