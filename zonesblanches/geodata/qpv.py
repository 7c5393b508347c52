"""Quartiers prioritaires de la politique de la ville (QPV): read the official perimeters.

One loader reads both generations of the ANCT file:

- **2024** (décret 2023-1314): fields ``code_qp`` (``QN05901M``), ``lib_qp``, ``insee_dep``,
  ``insee_com`` (host commune code(s), several joined by ``", "``: ``"13055, 13070"``),
  ``lib_com``, ``siren_epci``, optional ``lib_epci``; distributed by data.gouv.fr as a zip holding
  GEOJSON (WGS84), GPKG and SHP (Lambert-93) variants;
- **2015** (décret 2014-1750): ``code_qp`` (``QP059001``), ``nom_qp``, ``commune_qp`` (commune
  *names* only); republications add ``code_commune``/``code_insee`` (sometimes as an integer that
  lost its leading zero) and ``nom_commune``.

Field names are matched case-insensitively (``CODE_QP``, ``Code_qp``…), names are trimmed.

Output (one row per QPV, sorted by ``code_qp``, EPSG:4326, valid MultiPolygons):

``code_qp``, ``nom_qp``, ``communes_insee``, ``nom_communes``, ``siren_epci``, ``nom_epci``,
``code_departement``, ``generation`` (2015 or 2024, from the code prefix ``QP``/``QN``, else from
the layout), ``geometry``.

**Multi-valued fields are strings joined by** ``"; "`` (``communes_insee = "13055; 13070"``): they
survive CSV, XLSX and GeoPackage exports unchanged; :func:`split_codes` turns them into lists.
Commune codes are repaired (zero-padded to 5 characters, Paris/Lyon/Marseille arrondissement codes
folded onto the commune code as in the official file).

Statements the format notes tag [UNVERIFIED] (how ``lib_com`` and the 2015 ``commune_qp`` join
several names; whether ``lib_epci`` is in the GeoJSON) are handled tolerantly: names are split on
commas or semicolons, and absent optional fields become empty strings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata import datagouv
from zonesblanches.geodata._tables import read_vector
from zonesblanches.geodata.communes import normalize_insee
from zonesblanches.geodata.territory import check_communes, mask_geometry

QPV_DATASET = "quartiers-prioritaires-de-la-politique-de-la-ville-qpv"
"""Slug of the data.gouv.fr dataset published by the ANCT."""

QPV_PAGE = f"https://www.data.gouv.fr/fr/datasets/{QPV_DATASET}/"

QPV_HINT = (
    f"Téléchargez le fichier des périmètres des QPV 2024 à la main depuis {QPV_PAGE} "
    "(archive « Périmètres des quartiers prioritaires 2024 », GeoJSON, GeoPackage ou Shapefile ; "
    "l'archive zip convient telle quelle), puis passez-le avec --qpv FICHIER."
)
"""French instructions shown whenever the QPV file cannot be downloaded."""

SEP = "; "
"""Separator of multi-valued text fields (codes, names)."""

# Preferred member of the official zip: the WGS84 GeoJSON (no reprojection), else GPKG, else SHP.
ZIP_PATTERNS = (
    "*wgs84*.geojson",
    "*.geojson",
    "*hexagonale*.gpkg",
    "*.gpkg",
    "*hexagonale*wgs84*.shp",
    "*hexagonale*.shp",
    "*.shp",
    "*.json",
)

# Normalised column -> accepted source names (lower-case), in order of preference.
_ALIASES: dict[str, tuple[str, ...]] = {
    "code_qp": ("code_qp", "codeqp", "code_quartier", "qp", "code_qpv"),
    "nom_qp": ("lib_qp", "nom_qp", "libelle_qp", "nom_quartier", "nom_qpv"),
    "communes_insee": (
        "insee_com",
        "code_commune",
        "codes_insee",
        "code_insee",
        "insee_commune",
        "depcom",
        "code_com",
    ),
    "nom_communes": ("lib_com", "nom_commune", "nom_communes", "commune_qp", "communes", "commune"),
    "siren_epci": ("siren_epci", "code_epci", "epci_siren", "epci"),
    "nom_epci": ("lib_epci", "nom_epci"),
    "code_departement": ("insee_dep", "code_departement", "code_dep", "departement", "dep"),
}

OUTPUT_COLUMNS = [
    "code_qp",
    "nom_qp",
    "communes_insee",
    "nom_communes",
    "siren_epci",
    "nom_epci",
    "code_departement",
    "generation",
    "geometry",
]


# --------------------------------------------------------------------------------------------
# Small helpers (also used by the indicators)
# --------------------------------------------------------------------------------------------


def split_codes(value: object) -> list[str]:
    """Split a multi-valued field (``"13055; 13070"``, ``"13055, 13070"``) into a list.

    Empty, ``None`` and NaN give ``[]``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in re.split(r"[;,|]", str(value)) if t.strip()]


def join_values(values: Iterable[object]) -> str:
    """Join values with :data:`SEP`, dropping blanks and duplicates, keeping the order."""
    out: list[str] = []
    for v in values:
        s = "" if v is None else str(v).strip()
        if s and s.lower() not in ("nan", "none") and s not in out:
            out.append(s)
    return SEP.join(out)


def _is_missing(value: object) -> bool:
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _codes_field(value: object) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, (int, np.integer)):
        return normalize_insee(int(value))
    if isinstance(value, float):
        return "" if np.isnan(value) else normalize_insee(int(value))
    return join_values(normalize_insee(t) for t in re.split(r"[;,|\s]+", str(value or "")))


def _names_field(value: object) -> str:
    if _is_missing(value):
        return ""
    return join_values(re.sub(r"\s+", " ", t) for t in re.split(r"[;,]", str(value)))


def _as_multipolygon(geom: BaseGeometry | None) -> MultiPolygon | None:
    """Valid MultiPolygon from any geometry (make_valid, polygon parts kept), or None."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [
        p
        for p in shapely.get_parts(geom)
        if isinstance(p, (Polygon, MultiPolygon)) and not p.is_empty
    ]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    if not polys:
        return None
    mp = MultiPolygon(polys)
    if not mp.is_valid:  # parts of a collection may overlap each other
        mp = shapely.union_all(polys)
        mp = mp if isinstance(mp, MultiPolygon) else MultiPolygon([mp])
    return mp


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _read_file(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        raise DataError(f"Fichier QPV introuvable : « {path} ». " + QPV_HINT)
    if path.suffix.lower() == ".zip":
        path = datagouv.extract_from_zip(path, ZIP_PATTERNS, what="l'archive QPV")
    if path.stat().st_size == 0:
        raise DataError(f"Le fichier QPV « {path.name} » est vide.")
    if path.suffix.lower() in (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".ods"):
        raise DataError(
            f"« {path.name} » est un tableau sans géométries, pas un fichier de périmètres QPV : "
            "--qpv attend les contours des quartiers (GeoJSON, GeoPackage, Shapefile ou l'archive "
            "zip) ; la liste des QPV en CSV ne suffit pas. Si c'est votre fichier de services, "
            "passez-le avec --services. " + QPV_HINT
        )
    frame, _gdal_notes = read_vector(
        path,
        what="Le fichier QPV",
        hint="Formats acceptés : GeoJSON, GeoPackage, Shapefile, ou l'archive zip officielle. "
        + QPV_HINT,
    )
    if frame.geometry.isna().all():
        raise DataError(
            f"Le fichier « {path.name} » n'a pas de géométries : c'est sans doute la liste des "
            "QPV (CSV), pas leurs périmètres. " + QPV_HINT
        )
    if len(frame) == 0:
        raise DataError(f"Le fichier QPV « {path.name} » ne contient aucun quartier.")
    if frame.crs is None:
        # GeoJSON without crs member is WGS84 by the RFC; anything else cannot be guessed.
        if path.suffix.lower() in (".geojson", ".json"):
            frame = frame.set_crs(WGS84)
        else:
            raise DataError(
                f"Le fichier QPV « {path.name} » n'indique pas son système de coordonnées "
                "(fichier .prj manquant ?)."
            )
    return frame


def _find_column(lower: dict[str, str], target: str) -> str | None:
    for alias in _ALIASES[target]:
        if alias in lower:
            return lower[alias]
    return None


def normalize_qpv(frame: gpd.GeoDataFrame, *, source: str = "fichier QPV") -> gpd.GeoDataFrame:
    """Map a raw QPV layer (2015 or 2024 layout, any case) onto the normalised columns.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        As read from the official file (any CRS).
    source : str
        Name used in French error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        See the module docstring for the columns; rows without a usable geometry are dropped.

    Raises
    ------
    DataError
        None of the expected fields, no ``code_qp`` field, or no usable geometry.
    """
    lower = {str(c).strip().lower(): c for c in frame.columns if c != frame.geometry.name}
    found = {t: _find_column(lower, t) for t in _ALIASES}
    if found["code_qp"] is None:
        expected = (
            "code_qp, lib_qp, insee_com, siren_epci (2024) ou code_qp, nom_qp, commune_qp (2015)"
        )
        raise DataError(
            f"Le {source} n'a pas les champs attendus d'un fichier de QPV ({expected}). "
            f"Champs trouvés : {', '.join(map(str, lower.values())) or 'aucun'}."
        )
    out = pd.DataFrame(index=frame.index)
    out["code_qp"] = frame[found["code_qp"]].astype("string").str.strip().str.upper()
    for col in ("nom_qp", "nom_epci"):
        src = found[col]
        out[col] = (
            frame[src].astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
            if src is not None
            else ""
        )
    src = found["communes_insee"]
    out["communes_insee"] = [_codes_field(v) for v in frame[src]] if src is not None else ""
    src = found["nom_communes"]
    out["nom_communes"] = [_names_field(v) for v in frame[src]] if src is not None else ""
    src = found["siren_epci"]
    out["siren_epci"] = (
        [join_values(re.split(r"[;,|\s]+", "" if _is_missing(v) else str(v))) for v in frame[src]]
        if src is not None
        else ""
    )
    src = found["code_departement"]
    out["code_departement"] = (
        [join_values(_dep_code(t) for t in split_codes(v)) for v in frame[src]]
        if src is not None
        else ""
    )
    layout_generation = 2024 if "lib_qp" in lower or "insee_com" in lower else 2015
    prefix = out["code_qp"].str[:2]
    out["generation"] = np.where(
        prefix == "QN", 2024, np.where(prefix == "QP", 2015, layout_generation)
    ).astype("int64")
    # Department from the code when the file lacks it: QN059.., QP059.. -> "59"; QN974.. -> "974".
    missing_dep = out["code_departement"].fillna("") == ""
    out.loc[missing_dep, "code_departement"] = [
        _dep_from_code(c) for c in out.loc[missing_dep, "code_qp"]
    ]
    for col in ("nom_qp", "nom_epci", "communes_insee", "nom_communes", "siren_epci"):
        out[col] = out[col].fillna("").astype(str)

    geoms = [_as_multipolygon(g) for g in frame.geometry.values]
    result = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    result = result[result.geometry.notna() & result["code_qp"].notna() & (result["code_qp"] != "")]
    if len(result) == 0:
        raise DataError(f"Le {source} ne contient aucun quartier avec un périmètre utilisable.")
    result = result.to_crs(WGS84)
    # Reprojection can break validity at the edge of tolerance: repair once more.
    result["geometry"] = [_as_multipolygon(g) for g in result.geometry.values]
    result = result.sort_values("code_qp", kind="stable").reset_index(drop=True)
    return gpd.GeoDataFrame(result[OUTPUT_COLUMNS], geometry="geometry", crs=WGS84)


def _dep_code(token: str) -> str:
    t = token.strip().upper()
    return t.zfill(2) if t.isdigit() and len(t) < 2 else t


def _dep_from_code(code: object) -> str:
    m = re.match(r"^Q[NP](\d[\dAB]\d)", str(code or ""))
    if not m:
        return ""
    dep = m.group(1)
    return dep if dep.startswith("97") else dep[1:] if dep.startswith("0") else dep


# --------------------------------------------------------------------------------------------
# Communes and EPCI by overlay
# --------------------------------------------------------------------------------------------


def overlay_communes(
    qpv: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, *, min_overlap: float = 0.01
) -> pd.DataFrame:
    """Communes each QPV overlaps, with the share of the QPV's area in each.

    Parameters
    ----------
    qpv : geopandas.GeoDataFrame
        Normalised QPV (any CRS).
    communes : geopandas.GeoDataFrame
        Polygons with ``code_insee`` (and optionally ``nom``, ``code_epci``).
    min_overlap : float
        Smallest share of a QPV's area that makes a commune a host (default 1 %): commune
        outlines are often simplified, so slivers along a shared border are not hosts. The
        commune holding the largest share is always kept.

    Returns
    -------
    pandas.DataFrame
        Columns ``qpv`` (row position in ``qpv``), ``code_insee``, ``nom``, ``code_epci``,
        ``part`` (share of the QPV's area), sorted by QPV then decreasing share.
    """
    communes = check_communes(communes)
    q = qpv.geometry.to_crs(LAMBERT93).values
    c = communes.to_crs(LAMBERT93).geometry.values
    c = np.array([shapely.make_valid(g) if g is not None else None for g in c], dtype=object)
    tree = shapely.STRtree(c)
    qi, ci = tree.query(q, predicate="intersects")
    cols = ["qpv", "code_insee", "nom", "code_epci", "part"]
    if len(qi) == 0:
        return pd.DataFrame(columns=cols)
    inter = shapely.area(shapely.intersection(q[qi], c[ci]))
    area = shapely.area(q[qi])
    part = np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)
    table = pd.DataFrame(
        {
            "qpv": qi,
            "code_insee": [normalize_insee(v) for v in communes["code_insee"].to_numpy()[ci]],
            "nom": communes["nom"].to_numpy()[ci] if "nom" in communes else "",
            "code_epci": communes["code_epci"].to_numpy()[ci] if "code_epci" in communes else "",
            "part": part,
        }
    )
    table = table[table["part"] > 0].sort_values(["qpv", "part"], ascending=[True, False])
    best = ~table["qpv"].duplicated()
    table = table[best | (table["part"] >= min_overlap)]
    return table.reset_index(drop=True)[cols]


def fill_from_communes(
    qpv: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, *, min_overlap: float = 0.01
) -> gpd.GeoDataFrame:
    """Fill missing commune codes, names and EPCI of normalised QPV from a communes table.

    Codes already in the file are kept (they are official). Missing codes (the 2015 layout has
    names only) come from the spatial overlay (:func:`overlay_communes`), in decreasing order of
    overlap; a QPV over several communes gets all of them, and all their EPCI. Missing
    ``siren_epci`` and ``nom_communes`` are then looked up from the codes.

    Parameters
    ----------
    qpv : geopandas.GeoDataFrame
        Output of :func:`normalize_qpv`.
    communes : geopandas.GeoDataFrame
        ``code_insee``, optional ``nom`` and ``code_epci``, polygons.
    min_overlap : float
        See :func:`overlay_communes`.
    """
    communes = check_communes(communes)
    out = qpv.copy()
    codes = communes["code_insee"].map(normalize_insee)
    epci_of = (
        dict(zip(codes, communes["code_epci"].astype("string").fillna(""), strict=True))
        if "code_epci" in communes
        else {}
    )
    name_of = (
        dict(zip(codes, communes["nom"].astype("string").fillna(""), strict=True))
        if "nom" in communes
        else {}
    )
    need = (out["communes_insee"] == "").to_numpy()
    if need.any():
        table = overlay_communes(out[need], communes, min_overlap=min_overlap)
        positions = np.flatnonzero(need)
        for i, grp in table.groupby("qpv", sort=True):
            out.iloc[positions[i], out.columns.get_loc("communes_insee")] = join_values(
                grp["code_insee"]
            )
    for row in range(len(out)):
        row_codes = split_codes(out["communes_insee"].iat[row])
        if out["siren_epci"].iat[row] == "" and epci_of:
            out.iat[row, out.columns.get_loc("siren_epci")] = join_values(
                epci_of.get(c, "") for c in row_codes
            )
        if out["nom_communes"].iat[row] == "" and name_of:
            out.iat[row, out.columns.get_loc("nom_communes")] = join_values(
                name_of.get(c, "") for c in row_codes
            )
    return out


# --------------------------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------------------------


def download_qpv(
    *,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    base_url: str | None = None,
    force: bool = False,
) -> Path:
    """Download (or re-use from the cache) the official 2024 QPV perimeters from data.gouv.fr.

    The dataset ``quartiers-prioritaires-de-la-politique-de-la-ville-qpv`` is looked up through
    the API; its newest zip/GeoJSON/GeoPackage resource whose title mentions 2024 is taken.

    Returns
    -------
    pathlib.Path
        Local path of the file (usually the zip; :func:`load_qpv` reads it directly).

    Raises
    ------
    NetworkUnavailableError
        Offline, with the French instructions of :data:`QPV_HINT`.
    """
    return datagouv.fetch_resource(
        QPV_DATASET,
        formats=("zip", "geojson", "gpkg", "shp"),
        title_pattern=r"2024",
        base_url=base_url,
        cache=cache,
        progress=progress,
        force=force,
        hint=QPV_HINT,
    )


def load_qpv(
    path: str | os.PathLike | None = None,
    *,
    download: bool = False,
    communes: gpd.GeoDataFrame | None = None,
    epci: str | Sequence[str] | None = None,
    mask: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    clip: bool = False,
    min_overlap: float = 0.01,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> gpd.GeoDataFrame:
    """Load QPV perimeters (2015 or 2024 layout) into normalised columns.

    Parameters
    ----------
    path : path-like, optional
        GeoJSON, GeoPackage, Shapefile, or the official zip. When omitted, ``download`` must be
        true.
    download : bool
        Without ``path``, fetch the official 2024 file from data.gouv.fr (cached).
    communes : geopandas.GeoDataFrame, optional
        Commune table (``code_insee``, ``nom``, ``code_epci``, polygons), e.g.
        ``zonesblanches.geodata.reference.load_communes()``. Used to fill what the file lacks:
        commune codes of the 2015 layout (spatial overlay; a QPV over several communes or EPCI
        keeps them all), EPCI SIREN and commune names.
    epci : str or sequence of str, optional
        Keep only QPV attached to these EPCI (SIREN). Needs ``siren_epci`` in the file or a
        ``communes`` table.
    mask : shapely geometry (WGS84), GeoSeries or GeoDataFrame, optional
        Territory: keep only QPV whose area meets it.
    clip : bool
        Also cut the QPV outlines to ``mask``.
    min_overlap : float
        See :func:`overlay_communes`.
    cache : path-like, optional
        Cache root for the download.
    progress : bool
        Show the download progress bar.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, columns ``code_qp``, ``nom_qp``, ``communes_insee``, ``nom_communes``,
        ``siren_epci``, ``nom_epci``, ``code_departement``, ``generation``, ``geometry``;
        multi-valued fields joined by ``"; "``. Empty (same columns) when no QPV lies in the
        territory: many rural EPCI have none.

    Raises
    ------
    DataError
        Missing, empty, corrupt or non-QPV file.
    NetworkUnavailableError
        ``download=True`` while offline (message says where to get the file and to pass
        ``--qpv FICHIER``).
    ParameterError
        Invalid ``mask``, ``communes`` or ``epci``.
    """
    if not 0 <= min_overlap < 1:
        raise ParameterError("min_overlap doit être compris entre 0 et 1.")
    if path is None:
        if not download:
            raise DataError("Aucun fichier de QPV fourni. " + QPV_HINT)
        path = download_qpv(cache=cache, progress=progress)
    path = Path(path)
    qpv = normalize_qpv(_read_file(path), source=f"fichier QPV « {path.name} »")
    if communes is not None:
        qpv = fill_from_communes(qpv, communes, min_overlap=min_overlap)

    if mask is not None:
        # in WGS84, the CRS of the QPV and (usually) of the territory: clipped outlines follow
        # the territory's edges exactly
        geom = mask_geometry(mask, WGS84)
        keep = shapely.area(shapely.intersection(qpv.geometry.values, geom)) > 0
        qpv = qpv[keep].copy()
        if clip and len(qpv):
            clipped = shapely.intersection(qpv.geometry.values, geom)
            qpv["geometry"] = [_as_multipolygon(g) for g in clipped]

    if epci is not None:
        wanted = {str(e).strip() for e in ([epci] if isinstance(epci, str) else epci)}
        if (qpv["siren_epci"] == "").all():
            raise ParameterError(
                "Impossible de filtrer les QPV par EPCI : le fichier n'indique pas l'EPCI. "
                "Passez la table des communes pour le retrouver."
            )
        keep = [bool(wanted & set(split_codes(v))) for v in qpv["siren_epci"]]
        qpv = qpv[keep]
    return gpd.GeoDataFrame(qpv.reset_index(drop=True), geometry="geometry", crs=WGS84)
