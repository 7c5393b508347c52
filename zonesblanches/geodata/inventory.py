"""The planner's working file: the services of an analysis, written out and read back unchanged.

:func:`write_inventory` writes one row per service (the columns of
:data:`zonesblanches.geodata.data_inclusion.OUTPUT_COLUMNS`, then ``lon`` and ``lat``) to
``.xlsx``, ``.csv`` or ``.gpkg``, with an empty ``statut`` column the planner fills (``actif``,
``fermé``, ``à vérifier``). :func:`read_inventory` reads such a file back: the same services, same
columns and values (the round trip is tested), except rows marked « fermé », left out and counted.

Files are written by :mod:`zonesblanches.writers` (atomic, same bytes for the same services),
with ``exact=True``: numbers as the shortest text that reads back as the same float, so the
coordinates survive the round trip. Safety: in CSV, a text cell that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is written with a
leading apostrophe (:func:`~zonesblanches.writers.safe_cell`), removed again on reading; in XLSX
such cells are stored as text, never as formulas. An existing file is never overwritten (the
planner may have filled it): :class:`DataError` asks for another name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches._text import fr_count, fr_plural, normalize
from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.categories import CATEGORIES
from zonesblanches.geodata.data_inclusion import OUTPUT_COLUMNS
from zonesblanches.writers import FORMULA_TRIGGERS, write_csv, write_gpkg, write_xlsx

COLUMNS = (*OUTPUT_COLUMNS, "lon", "lat")
"""Columns of the inventory file, in order (``geometry`` instead of lon/lat in a GeoPackage)."""

NUMERIC = {"score_qualite": float, "doublons": int, "lon": float, "lat": float}
STATUTS = {"": "", "actif": "actif", "ferme": "ferme", "a verifier": "a_verifier"}
"""Accepted ``statut`` values (accents and case ignored) → stored value."""

LAYER = "services"


def _restore(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _table(services: gpd.GeoDataFrame) -> pd.DataFrame:
    missing = [c for c in OUTPUT_COLUMNS if c not in services.columns]
    if missing:
        raise ParameterError(f"Services incomplets pour l'inventaire : colonnes {missing}.")
    pts = services.geometry.to_crs(WGS84) if services.crs else services.geometry
    table = pd.DataFrame(services[list(OUTPUT_COLUMNS)]).copy()
    table["lon"] = pts.x.to_numpy()
    table["lat"] = pts.y.to_numpy()
    return table.reset_index(drop=True)


def write_inventory(services: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write the services to an inventory file (``.xlsx``, ``.csv`` or ``.gpkg``).

    Raises
    ------
    DataError
        The file exists already (never overwritten), or the folder cannot be written.
    ParameterError
        Unknown extension, or services without the expected columns.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in {".xlsx", ".csv", ".gpkg"}:
        raise ParameterError(
            f"Format d'inventaire « {ext or path.name} » inconnu : .xlsx, .csv ou .gpkg."
        )
    if path.exists():
        raise DataError(
            f"« {path} » existe déjà (peut-être rempli à la main) : il n'est pas écrasé. "
            "Choisissez un autre nom de fichier."
        )
    table = _table(services)
    try:
        if ext == ".gpkg":
            return write_gpkg({LAYER: _layer(table)}, path)
        if ext == ".csv":
            return write_csv(table, path, exact=True)
        return write_xlsx({"Inventaire": table}, path, exact=True)
    except OSError as exc:
        raise DataError(f"Impossible d'écrire « {path} » : {exc.strerror or exc}.") from exc


def _layer(table: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        table.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(table["lon"], table["lat"]),
        crs=WGS84,
    )


@dataclass
class InventoryRead:
    """An inventory file read back.

    Attributes
    ----------
    services : geopandas.GeoDataFrame
        Columns :data:`~zonesblanches.geodata.data_inclusion.OUTPUT_COLUMNS` + geometry; rows
        marked « fermé » left out.
    closed : pandas.DataFrame
        Rows marked « fermé » (``ligne``, ``service_id``, ``nom``).
    rejects : pandas.DataFrame
        ``ligne``, ``champ``, ``motif`` for rows that cannot be used (unknown category or
        statut, no coordinates).
    warnings : list of str
    """

    services: gpd.GeoDataFrame
    closed: pd.DataFrame
    rejects: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def looks_like_inventory(path: str | os.PathLike) -> bool:
    """True when a file has the inventory's columns (header only)."""
    try:
        cols = _read(Path(path), header_only=True).columns
    except Exception:  # unreadable files are not inventories
        return False
    return {"service_id", "categorie", "regle_categorie", "precision", "statut"} <= set(cols)


def _read(path: Path, header_only: bool = False) -> pd.DataFrame:
    ext = path.suffix.lower()
    rows = 0 if header_only else None
    if ext == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            nrows=rows)  # fmt: skip
        return frame.map(_restore) if not header_only else frame
    if ext == ".xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False, nrows=rows, engine="openpyxl")
    if ext == ".gpkg":
        import pyogrio

        frame = pyogrio.read_dataframe(path, layer=LAYER, max_features=1 if header_only else None)
        frame["lon"], frame["lat"] = frame.geometry.x, frame.geometry.y
        return pd.DataFrame(frame.drop(columns="geometry"))
    raise ParameterError(f"Format d'inventaire « {ext} » inconnu : .xlsx, .csv ou .gpkg.")


def read_inventory(path: str | os.PathLike) -> InventoryRead:
    """Read an inventory written by :func:`write_inventory` (possibly edited by the planner)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Inventaire introuvable : {path}")
    try:
        frame = _read(path)
    except (ParameterError, DataError):
        raise
    except Exception as exc:  # pandas/openpyxl/GDAL on damaged files
        raise DataError(
            f"« {path.name} » : inventaire illisible ({type(exc).__name__}). Rouvrez-le et "
            "enregistrez-le au même format."
        ) from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"« {path.name} » n'est pas un inventaire zonesblanches : colonne(s) absente(s) "
            f"{', '.join(missing)}."
        )
    frame = frame[list(COLUMNS)].reset_index(drop=True)
    first = 2 if path.suffix.lower() in {".csv", ".xlsx"} else 1
    lines = np.arange(len(frame)) + first
    for col in COLUMNS:
        if col not in NUMERIC:
            frame[col] = frame[col].fillna("").astype(str)
    for col in ("score_qualite", "lon", "lat"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["doublons"] = pd.to_numeric(frame["doublons"], errors="coerce").fillna(0).astype(int)
    statut = [STATUTS.get(normalize(s)) for s in frame["statut"]]
    rejects = []
    for i, s in enumerate(statut):
        if s is None:
            rejects.append((lines[i], "statut", f"statut « {frame['statut'].iat[i]} » inconnu : "
                            "actif, fermé ou à vérifier"))  # fmt: skip
    for i, c in enumerate(frame["categorie"]):
        if c not in CATEGORIES:
            rejects.append((lines[i], "categorie", f"catégorie « {c} » inconnue"))
    for i in np.flatnonzero(~(np.isfinite(frame["lon"]) & np.isfinite(frame["lat"]))):
        rejects.append((lines[i], "lon, lat", "coordonnées absentes ou illisibles"))
    bad = {r[0] for r in rejects}
    frame["statut"] = [s if s is not None else "" for s in statut]
    closed_mask = (frame["statut"] == "ferme").to_numpy() & ~np.isin(lines, list(bad))
    keep = ~closed_mask & ~np.isin(lines, list(bad))
    closed = pd.DataFrame(
        {"ligne": lines[closed_mask], "service_id": frame["service_id"][closed_mask],
         "nom": frame["nom"][closed_mask]}
    ).reset_index(drop=True)  # fmt: skip
    kept = frame[keep].reset_index(drop=True)
    services = gpd.GeoDataFrame(
        kept[list(OUTPUT_COLUMNS)],
        geometry=gpd.points_from_xy(kept["lon"], kept["lat"]),
        crs=WGS84,
    )
    warnings = []
    if len(closed):
        n = len(closed)
        warnings.append(
            f"{fr_count(n, 'service')} {fr_plural(n, 'marqué')} « fermé » : "
            f"{fr_plural(n, 'écarté')} de l'analyse."
        )
    rej = pd.DataFrame(sorted(rejects), columns=["ligne", "champ", "motif"])
    return InventoryRead(services, closed, rej, warnings)
