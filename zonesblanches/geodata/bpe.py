"""INSEE Base permanente des équipements (BPE): the market offer, as a context layer only.

BPE lists equipment by type (``TYPEQU``). Two types matter here (sub-domain A3, « services
automobiles »): ``A301`` réparation automobile et de matériel agricole and ``A304`` école de
conduite. BPE does not tell solidarity providers from commercial ones, so this layer is never
counted as a solidarity service: the returned frame has no ``categorie`` column, only
``equipement`` (``reparation_automobile`` / ``ecole_de_conduite``) and ``couche =
"offre marchande"``.

Files: CSV (``;`` or ``,`` separator, guessed), optionally inside a zip, or parquet. Headers are
matched case-insensitively (``TYPEQU``/``typequ``, ``DEPCOM``, ``LAMBERT_X``/``LAMBERT_Y`` in
Lambert-93, or ``longitude``/``latitude`` in WGS84, ``QUALITE_XY``). Rows of other types are
skipped (counted); rows of the wanted types without usable coordinates (none, or overseas, whose
BPE coordinates are in local projections) are counted and listed, never placed.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from zonesblanches._text import fr_count, fr_plural
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, ParameterError

TYPES = {
    "A301": ("reparation_automobile", "Réparation automobile (offre marchande)"),
    "A304": ("ecole_de_conduite", "École de conduite (offre marchande)"),
}
"""BPE codes read and their context labels (BPE 2024 code table, sub-domain A3)."""

_ALIASES = {
    "typequ": ("typequ",),
    "depcom": ("depcom", "codgeo", "code_insee"),
    "x": ("lambert_x", "x"),
    "y": ("lambert_y", "y"),
    "lon": ("longitude", "lon"),
    "lat": ("latitude", "lat"),
    "qualite_xy": ("qualite_xy", "qualite"),
}
METRO_BBOX = (-5.5, 41.0, 10.0, 51.5)


@dataclass
class MarketOffer:
    """What :func:`load_bpe` read.

    Attributes
    ----------
    equipments : geopandas.GeoDataFrame
        EPSG:4326 points: ``typequ``, ``equipement``, ``libelle``, ``code_insee``,
        ``qualite_xy``, ``couche`` (always « offre marchande »), geometry.
    counts : dict
        ``lus``, ``retenus``, ``autres_types``, ``sans_coordonnees``, ``hors_zone``.
    unplaced : pandas.DataFrame
        Wanted rows without usable coordinates (``ligne``, ``typequ``, ``code_insee``).
    warnings : list of str
    """

    equipments: gpd.GeoDataFrame
    counts: dict[str, int]
    unplaced: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def _read(path: Path) -> pd.DataFrame:
    head = path.read_bytes()[:4]
    if head == b"PAR1":
        return pd.read_parquet(path)
    if head.startswith(b"PK"):
        with zipfile.ZipFile(path) as zf:
            members = [n for n in zf.namelist() if n.lower().endswith((".csv", ".txt"))]
            if not members:
                raise DataError(f"L'archive « {path.name} » ne contient aucun fichier CSV BPE.")
            data = zf.read(sorted(members, key=lambda n: -zf.getinfo(n).file_size)[0])
    else:
        data = path.read_bytes()
    text = data.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") >= first.count(",") else ","
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)


def load_bpe(
    path: str | os.PathLike,
    *,
    types: tuple[str, ...] = tuple(TYPES),
    zone=None,
) -> MarketOffer:
    """Read the A301/A304 equipment of a BPE file as a context layer (« offre marchande »).

    Parameters
    ----------
    path : path-like
        BPE CSV (or zip of it, or parquet).
    types : tuple of str
        BPE codes kept (among :data:`TYPES`).
    zone : shapely geometry (EPSG:4326), optional
        Keep only equipment inside (territory plus margin).

    Raises
    ------
    DataError
        Unreadable file, or not a BPE file (no ``TYPEQU`` column, no coordinates).
    """
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise ParameterError(
            f"{fr_plural(len(unknown), 'Type')} BPE non pris en charge : {', '.join(unknown)} ; "
            "possibles : " + ", ".join(f"{k} ({v[1]})" for k, v in TYPES.items())
        )
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Fichier BPE introuvable : {path}")
    try:
        raw = _read(path)
    except DataError:
        raise
    except Exception as exc:  # pandas, zipfile, pyarrow on corrupt files
        raise DataError(
            f"« {path.name} » : fichier BPE illisible ({type(exc).__name__}). Attendu : le CSV "
            "de la Base permanente des équipements de l'INSEE (séparateur ;)."
        ) from exc
    lower = {str(c).strip().lower(): c for c in raw.columns}
    cols = {
        key: next((lower[a] for a in names if a in lower), None) for key, names in _ALIASES.items()
    }
    if cols["typequ"] is None:
        raise DataError(
            f"« {path.name} » n'est pas un fichier BPE : colonne TYPEQU absente (colonnes : "
            f"{', '.join(map(str, raw.columns[:12]))})."
        )
    has_xy = cols["x"] is not None and cols["y"] is not None
    has_ll = cols["lon"] is not None and cols["lat"] is not None
    if not (has_xy or has_ll):
        raise DataError(
            f"« {path.name} » : ni LAMBERT_X/LAMBERT_Y ni longitude/latitude : équipements "
            "impossibles à placer (prenez le fichier BPE « géolocalisé »)."
        )
    n = len(raw)
    typ = raw[cols["typequ"]].astype(str).str.strip().str.upper()
    wanted = typ.isin(types).to_numpy()
    sub = raw[wanted].reset_index(drop=True)
    lines = np.flatnonzero(wanted) + 2
    code = (
        sub[cols["depcom"]].astype(str).str.strip().str.zfill(5)
        if cols["depcom"]
        else pd.Series([""] * len(sub))
    )

    def num(col):
        return pd.to_numeric(
            sub[col].astype(str).str.strip().str.replace(",", "."), errors="coerce"
        ).to_numpy(dtype=float)

    lon = np.full(len(sub), np.nan)
    lat = np.full(len(sub), np.nan)
    if has_ll:
        lon, lat = num(cols["lon"]), num(cols["lat"])
    if has_xy:
        x, y = num(cols["x"]), num(cols["y"])
        use = ~np.isfinite(lon) & np.isfinite(x) & np.isfinite(y) & ~code.str.startswith("97")
        if use.any():
            tr = pyproj.Transformer.from_crs(LAMBERT93, WGS84, always_xy=True)
            lon[use], lat[use] = tr.transform(x[use], y[use])
    ok = (
        np.isfinite(lon)
        & np.isfinite(lat)
        & (lon >= METRO_BBOX[0])
        & (lon <= METRO_BBOX[2])
        & (lat >= METRO_BBOX[1])
        & (lat <= METRO_BBOX[3])
    )
    unplaced = pd.DataFrame(
        {"ligne": lines[~ok], "typequ": typ[wanted].to_numpy()[~ok], "code_insee": code[~ok]}
    )
    inside = ok.copy()
    if zone is not None and ok.any():
        import shapely

        inside[ok] = shapely.intersects_xy(zone, lon[ok], lat[ok])
    keep = inside
    t = typ[wanted].to_numpy()[keep]
    frame = pd.DataFrame(
        {
            "typequ": t,
            "equipement": [TYPES[k][0] for k in t],
            "libelle": [TYPES[k][1] for k in t],
            "code_insee": code.to_numpy()[keep],
            "qualite_xy": sub[cols["qualite_xy"]].to_numpy()[keep] if cols["qualite_xy"] else "",
            "couche": "offre marchande",
        }
    )
    equipments = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(lon[keep], lat[keep]), crs=WGS84
    )
    counts = {
        "lus": n,
        "retenus": int(keep.sum()),
        "autres_types": int((~wanted).sum()),
        "sans_coordonnees": int((~ok).sum()),
        "hors_zone": int((ok & ~inside).sum()),
    }
    warnings = []
    if counts["sans_coordonnees"]:
        warnings.append(
            f"BPE : {fr_count(counts['sans_coordonnees'], 'équipement')} sans coordonnées utilisables "
            "(non géolocalisés ou outre-mer) : non placés."
        )
    return MarketOffer(equipments, counts, unplaced, warnings)
