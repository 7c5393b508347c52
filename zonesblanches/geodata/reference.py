"""The reference data bundled with the package: communes, EPCI, départements, services.

All of it is real open data for Hauts-de-France, built by ``scripts/build_reference_data.py``;
:func:`sources` says where each file comes from. Loaders return fresh copies, so callers may modify
what they get.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import geopandas as gpd
import pandas as pd

from zonesblanches.crs import WGS84

_DATA = resources.files("zonesblanches.geodata") / "data"

REGION_NAME = "Hauts-de-France"


def _path(name: str) -> str:
    return str(_DATA / name)


@cache
def _read_geojson(name: str) -> gpd.GeoDataFrame:
    frame = gpd.read_file(_path(name), engine="pyogrio")
    return frame.set_crs(WGS84, allow_override=True)


def load_communes() -> gpd.GeoDataFrame:
    """The 3,782 communes of Hauts-de-France in the 2026 geography.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per commune, sorted by code, with columns ``code_insee``, ``nom``,
        ``code_departement``, ``codes_postaux`` (``;``-joined), ``population`` (population
        municipale 2023), ``code_epci``, ``nom_epci``, ``type_epci``, ``lon``/``lat`` (a point
        guaranteed inside the commune) and the commune polygon.
    """
    return _read_geojson("communes.geojson").copy()


def load_epci() -> gpd.GeoDataFrame:
    """The 92 EPCI with at least one commune in Hauts-de-France.

    Columns ``code_epci`` (SIREN), ``nom_epci``, ``type_epci`` (CC, CA, CU, METRO), ``population``
    and ``n_communes_region`` (inside the region), ``n_communes`` and ``population_totale_epci``
    (whole EPCI), geometry (union of its communes inside the region).
    """
    return _read_geojson("epci.geojson").copy()


def load_departements() -> gpd.GeoDataFrame:
    """The 5 départements of Hauts-de-France (``code_departement``, ``nom``, ``population``)."""
    return _read_geojson("departements.geojson").copy()


@cache
def _former() -> pd.DataFrame:
    return pd.read_csv(_path("communes_anciennes.csv"), dtype=str, keep_default_na=False)


def load_former_communes() -> pd.DataFrame:
    """Former communes (déléguées, associées, merged codes) and their 2026 commune.

    Columns ``code`` (old code), ``nom`` (may be empty for codes merged before 2018), ``type``
    (``commune-deleguee``, ``commune-associee``, ``code-ancien``) and ``code_insee`` (2026).
    """
    return _former().copy()


def load_registry() -> gpd.GeoDataFrame:
    """The bundled, curated registry of mobility-inclusion services (points, EPSG:4326).

    A documented sample, not a census: every row keeps its public ``source`` and ``date_source``,
    its ``statut`` (``actif`` or ``a_verifier``) and ``precision`` (``commune``: located at the
    commune's interior point, the address being unknown).
    """
    table = pd.read_csv(_path("services.csv"), dtype=str, keep_default_na=False)
    lon = table.pop("lon").astype(float)
    lat = table.pop("lat").astype(float)
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def commune_points(communes: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Communes as interior points (``lon``/``lat`` columns) instead of polygons."""
    communes = load_communes() if communes is None else communes
    frame = pd.DataFrame(communes.drop(columns=communes.geometry.name))
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=WGS84
    )


@cache
def _provenance() -> tuple[dict, ...]:
    with open(_path("provenance.json"), encoding="utf-8") as f:
        return tuple(json.load(f))


def sources() -> list[dict]:
    """Provenance of every bundled file: ``jeu``, ``fichier``, ``source``, ``licence``, ``date``,
    ``modifications`` (in French, as shown to users)."""
    return [dict(entry) for entry in _provenance()]


def format_sources() -> str:
    """The provenance manifest as French text, as printed by ``zonesblanches sources``."""
    lines = ["Données de référence embarquées (Hauts-de-France)", ""]
    for e in _provenance():
        lines += [
            f"■ {e['jeu']} ({e['fichier']})",
            f"  Source : {e['source']}",
            f"  Licence : {e['licence']}",
            f"  Date : {e['date']}",
            f"  Traitements : {e['modifications']}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
