"""The reference data bundled with the package: communes, EPCI, départements, régions, services.

All of it is real open data for metropolitan France (Corsica included), built by
``scripts/build_reference_data.py`` and stored as GeoParquet; :func:`sources` says where each file
comes from. Loaders take a ``region`` (INSEE region code, the default being Hauts-de-France, the
region of the demo; ``None`` for all of metropolitan France) and return fresh copies, so callers
may modify what they get.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import geopandas as gpd
import pandas as pd
import shapely

from zonesblanches.crs import WGS84

_DATA = resources.files("zonesblanches.geodata") / "data"

DEFAULT_REGION = "32"
REGION_NAME = "Hauts-de-France"


def _path(name: str) -> str:
    return str(_DATA / name)


@cache
def _read_parquet(name: str) -> gpd.GeoDataFrame:
    frame = gpd.read_parquet(_path(name))
    return frame.set_crs(WGS84, allow_override=True)


def _in_region(frame: gpd.GeoDataFrame, region: str | None) -> gpd.GeoDataFrame:
    if region is None:
        return frame.copy()
    return frame.loc[frame["code_region"] == region].reset_index(drop=True)


def load_communes(region: str | None = DEFAULT_REGION) -> gpd.GeoDataFrame:
    """The communes of a region, or of metropolitan France, in the 2026 geography.

    Parameters
    ----------
    region : str or None, default ``"32"``
        INSEE region code (``"32"`` Hauts-de-France, ``"94"`` Corse…); ``None`` for the 34,746
        communes of metropolitan France.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per commune, sorted by code, with columns ``code_insee``, ``nom``,
        ``code_departement``, ``codes_postaux`` (``;``-joined), ``population`` (population
        municipale 2023), ``code_epci``, ``nom_epci``, ``type_epci`` (empty for the four island
        communes outside any EPCI), ``code_region``, ``lon``/``lat`` (a point guaranteed inside
        the commune) and the commune polygon (empty for the four Cantal communes restored in
        2025, which the 2024 contours still hold inside 15141; their point is that of 15141).
    """
    return _in_region(_read_parquet("communes.parquet"), region)


def load_epci(region: str | None = DEFAULT_REGION) -> gpd.GeoDataFrame:
    """The EPCI with at least one commune in the region (``None``: in metropolitan France).

    Columns ``code_epci`` (SIREN), ``nom_epci``, ``type_epci`` (CC, CA, CU, METRO), ``population``
    and ``n_communes_region`` (inside the region, or metropolitan France), ``n_communes`` and
    ``population_totale_epci`` (whole EPCI), geometry (union of its communes inside the region:
    an EPCI crossing the region's border is cut at it).
    """
    epci = _read_parquet("epci.parquet")
    communes = _read_parquet("communes.parquet")
    if region is not None:
        communes = communes.loc[communes["code_region"] == region]
    members = communes.loc[communes["code_epci"] != ""]
    counts = members.groupby("code_epci").agg(
        population=("population", "sum"), n_communes_region=("code_insee", "count")
    )
    out = epci.loc[epci["code_epci"].isin(counts.index)].reset_index(drop=True)
    out.insert(3, "population", out["code_epci"].map(counts["population"]).astype("int64"))
    out.insert(4, "n_communes_region", out["code_epci"].map(counts["n_communes_region"]))
    cut = out["n_communes_region"] < out["code_epci"].map(_metropolitan_members())
    for i in out.index[cut]:
        inside = members.loc[members["code_epci"] == out.at[i, "code_epci"]].geometry.values
        out.at[i, "geometry"] = shapely.make_valid(
            shapely.set_precision(shapely.union_all(inside), 1e-5)
        )
    return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)


def release_cached() -> None:
    """Let go of the bundled tables read so far (all of France's commune polygons, about 50 MB
    in memory); the next loader call reads its file again. The command calls this before it
    reads a region's road networks, its peak (issue 17: memory)."""
    _read_parquet.cache_clear()
    _metropolitan_members.cache_clear()


def load_epci_names() -> pd.DataFrame:
    """SIREN, name and type of the 1,232 EPCI with members in metropolitan France (no geometry,
    cheap: for name look-ups)."""
    return pd.DataFrame(_read_parquet("epci.parquet")[["code_epci", "nom_epci", "type_epci"]])


@cache
def _metropolitan_members() -> pd.Series:
    communes = _read_parquet("communes.parquet")
    return communes.loc[communes["code_epci"] != ""].groupby("code_epci").size()


def load_departements(region: str | None = DEFAULT_REGION) -> gpd.GeoDataFrame:
    """The départements of the region (``None``: the 96 of metropolitan France): columns
    ``code_departement``, ``nom``, ``code_region``, ``population``, geometry."""
    return _in_region(_read_parquet("departements.parquet"), region)


def load_regions() -> gpd.GeoDataFrame:
    """The 13 regions of metropolitan France: ``code_region``, ``nom``, ``population``, geometry."""
    return _read_parquet("regions.parquet").copy()


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
    lines = ["Données de référence embarquées (France métropolitaine, Corse comprise)", ""]
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
