"""INSEE Filosofi gridded data (« données carroyées »): population and households per square.

The loader reads the official files of every published vintage, in CSV or GeoPackage, 200 m or
1 km, from the file itself or from INSEE's zip (including the 2017/2019 zips that hold a ``.7z``):

============  ==================  ==================  ======================
concept       2015                2017                2019 / 2021
============  ==================  ==================  ======================
200 m id      ``IdINSPIRE``       ``Idcar_200m``      ``idcar_200m``
1 km id       ``Id_carr1km``      ``Idcar_1km``       ``idcar_1km``
imputed flag  ``I_est_cr``        ``I_est_200``       ``i_est_200``
commune(s)    ``Depcom``          ``lcog_geo``        ``lcog_geo``
data          ``Ind, Men, Men_pauv, Ind_0_3…`` (any case, any order)
============  ==================  ==================  ======================

Headers are lower-cased and renamed onto the 2019/2021 names, columns are selected by name.

**Geometry** is rebuilt from the cell id, which is the INSPIRE grid code
``CRS{epsg}RES{size}mN{northing}E{easting}``: ``N``/``E`` are the *lower-left* corner in the CRS
of the prefix (EPSG:3035, ETRS89-LAEA, in metropolitan France; 2975 in La Réunion; 5490 in
Martinique), so the square is exact. This matters because the 2021 GeoPackage stores its squares
in Lambert-93 although the ids are LAEA-coded. Ids without the ``CRS…RES…m`` prefix
(``N2029800E4254200``) are read as EPSG:3035 with the resolution of the file [UNVERIFIED: such
ids are not documented for Filosofi; accepted for tolerance]. Where a file has no id but has
geometries, these are kept as they are.

**Output**: one row per cell, CRS ``crs`` (default EPSG:4326, the CRS of the project's units
frames; pass :data:`~zonesblanches.crs.LAMBERT93` for metres), columns ``idcar``,
``resolution`` (metres), ``ind``, ``men``, ``men_pauv`` (when in the file), every other data
column lower-cased (age bands ``ind_0_3``…``ind_inc``, ``log_*``, ``men_*``…), ``i_est`` (1 when
INSEE imputed the cell's values, at the cell's resolution), ``communes_insee`` (the ``lcog_geo``
codes, joined by ``"; "``: 2019 concatenates them without separator, 2021 quotes them with
commas [3P, single source]; both are parsed), then ``geometry``. Counts are floats: imputed cells
hold fractions.

**Territory**: with ``mask``, a cell is kept when its *centre* lies in the mask (boundary
included), so adjacent territories share no cell and no population is split; squares are not cut.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from zonesblanches import settings
from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata import datagouv
from zonesblanches.geodata._tables import read_vector, sniff_delimiter
from zonesblanches.geodata.cache import cache_dir
from zonesblanches.geodata.idcar import cell_squares, parse_idcar, parse_lcog_geo
from zonesblanches.geodata.territory import mask_geometry

INSEE_BASE_URL = settings.INSEE_FILES_URL
"""Root of INSEE's file downloads."""

INSEE_ENV_VAR = settings.INSEE_URL_VAR
"""Environment variable that overrides :data:`INSEE_BASE_URL` (tests, mirrors)."""

FILOSOFI_ARCHIVES: dict[tuple[int, int, str], tuple[str, str]] = {
    # (vintage, resolution in m, format) -> (path under the base URL, INSEE page)
    (2021, 200, "csv"): (
        "8735162/Filosofi2021_carreaux_200m_csv.zip",
        "https://www.insee.fr/fr/statistiques/8735162",
    ),
    (2021, 200, "gpkg"): (
        "8735162/Filosofi2021_carreaux_200m_gpkg.zip",
        "https://www.insee.fr/fr/statistiques/8735162",
    ),
    (2021, 1000, "gpkg"): (
        "8735171/Filosofi2021_carreaux_1km_gpkg.zip",
        "https://www.insee.fr/fr/statistiques/8735171",
    ),
    (2019, 200, "gpkg"): (
        "7655475/Filosofi2019_carreaux_200m_gpkg.zip",
        "https://www.insee.fr/fr/statistiques/7655475",
    ),
    (2017, 200, "csv"): (
        "6215138/Filosofi2017_carreaux_200m_csv.zip",
        "https://www.insee.fr/fr/statistiques/6215138",
    ),
    (2015, 200, "csv"): (
        "4176290/Filosofi2015_carreaux_200m_csv.zip",
        "https://www.insee.fr/fr/statistiques/4176290",
    ),
}
"""Known INSEE archives (URLs from the format notes; third-party confirmed, see docs)."""


_RENAMES = {
    "idinspire": "idcar_200m",
    "id_carr1km": "idcar_1km",
    "id_carr_n": "idcar_nat",
    "i_est_cr": "i_est_200",
    "depcom": "lcog_geo",
    "ind_c": "ind",  # 2010 grid name [UNVERIFIED]
}
_TEXT_COLUMNS = {
    "idcar_200m",
    "idcar_1km",
    "idcar_nat",
    "id_car2010",
    "lcog_geo",
    "groupe",
    "idcar",
}
_FLAG_COLUMNS = {"i_est_200", "i_est_1km", "i_pauv", "i_est"}
AGE_BANDS = (
    "ind_0_3",
    "ind_4_5",
    "ind_6_10",
    "ind_11_17",
    "ind_18_24",
    "ind_25_39",
    "ind_40_54",
    "ind_55_64",
    "ind_65_79",
    "ind_80p",
    "ind_inc",
)


# --------------------------------------------------------------------------------------------
# Mask
# --------------------------------------------------------------------------------------------


class _MaskFilter:
    """Keeps cells whose centre lies in the mask; masks are reprojected once per CRS."""

    def __init__(self, mask: BaseGeometry | None):
        self.mask = mask
        self._by_crs: dict[str, BaseGeometry] = {}

    def in_crs(self, crs: str) -> BaseGeometry | None:
        if self.mask is None:
            return None
        if crs not in self._by_crs:
            geom = gpd.GeoSeries([self.mask], crs=WGS84).to_crs(crs).iloc[0]
            shapely.prepare(geom)
            self._by_crs[crs] = geom
        return self._by_crs[crs]

    def keep(self, decoded: pd.DataFrame) -> np.ndarray:
        keep = np.zeros(len(decoded), dtype=bool)
        ok = decoded["x0"].notna().to_numpy()
        if self.mask is None:
            return ok
        for epsg, grp in decoded[ok].groupby("epsg"):
            geom = self.in_crs(f"EPSG:{int(epsg)}")
            half = grp["resolution"].to_numpy() / 2
            x = grp["x0"].to_numpy() + half
            y = grp["y0"].to_numpy() + half
            xmin, ymin, xmax, ymax = geom.bounds
            inside = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
            inside[inside] = shapely.intersects_xy(geom, x[inside], y[inside])
            keep[decoded.index.get_indexer(grp.index)] = inside
        return keep


# --------------------------------------------------------------------------------------------
# Column normalisation
# --------------------------------------------------------------------------------------------


def _rename_columns(columns: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for col in columns:
        key = str(col).strip().lstrip("\ufeff").strip().strip('"').strip().lower()
        mapping[col] = _RENAMES.get(key, key)
    return mapping


def _id_column(columns: Sequence[str]) -> str | None:
    for name in ("idcar", "idcar_200m", "idcar_1km"):
        if name in columns:
            return name
    return None


def _prepare_chunk(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = raw.rename(columns=_rename_columns(list(raw.columns)))
    frame = frame.loc[:, ~frame.columns.duplicated()]
    if "ind" not in frame.columns:
        raise DataError(
            f"Le fichier de carreaux « {source} » n'a pas de colonne « ind » (nombre "
            "d'individus) : ce n'est pas un fichier Filosofi carroyé. Colonnes trouvées : "
            + ", ".join(map(str, raw.columns[:40]))
            + "."
        )
    for col in frame.columns:
        if col in _TEXT_COLUMNS or col == "geometry":
            continue
        if not pd.api.types.is_numeric_dtype(frame[col]):
            converted = pd.to_numeric(
                frame[col].astype("string").str.strip().str.strip('"'), errors="coerce"
            )
            # keep a text column as text when it is not numbers at all (unknown extras)
            if converted.notna().any() or frame[col].isna().all():
                frame[col] = converted.astype("float64")
        else:
            frame[col] = frame[col].astype("float64")
    return frame


# --------------------------------------------------------------------------------------------
# Row checks: every row read is kept, outside the territory, or rejected with its reason
# --------------------------------------------------------------------------------------------


def _new_stats() -> dict:
    return {"lignes": 0, "hors_territoire": 0, "rejets": []}


def _check_rows(
    raw: pd.DataFrame,
    frame: pd.DataFrame,
    decoded: pd.DataFrame,
    keep: np.ndarray,
    id_col: str | None,
    first_line: int,
    stats: dict,
) -> np.ndarray:
    """Reject rows whose cell id cannot be read, or (inside the territory) whose population
    ``ind`` is missing, not a number or negative; return the rows to keep.

    ``first_line`` is the line (CSV, header = 1) or feature number of the chunk's first row.
    """
    original = {v: k for k, v in _rename_columns(list(raw.columns)).items()}
    n = len(frame)
    lines = np.arange(first_line, first_line + n)
    bad_id = decoded["x0"].isna().to_numpy() if id_col is not None else np.zeros(n, dtype=bool)
    ind = frame["ind"].to_numpy(dtype="float64", na_value=np.nan)
    bad_ind = keep & ~(np.isfinite(ind) & (ind >= 0))
    stats["lignes"] += n
    stats["hors_territoire"] += int((~keep & ~bad_id).sum())
    if bad_id.any() or bad_ind.any():
        ids = raw[original[id_col]].astype("string").fillna("") if id_col else None
        given = raw[original["ind"]].astype("string").fillna("")
        for pos in np.flatnonzero(bad_id):
            stats["rejets"].append(
                (
                    int(lines[pos]),
                    original[id_col],
                    f"identifiant de carreau illisible « {ids.iloc[pos]} » (attendu : "
                    "CRS3035RES200mN…E…) : carreau impossible à placer",
                )
            )
        for pos in np.flatnonzero(bad_ind):
            value = str(given.iloc[pos]).strip()
            what = f"population « {value} »" if value else "population vide"
            stats["rejets"].append(
                (
                    int(lines[pos]),
                    original["ind"],
                    f"{what} : un nombre d'habitants positif ou nul est attendu",
                )
            )
    return keep & ~bad_ind


def rejects_frame(cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Rows of the file rejected by :func:`load_carreaux`: ``ligne``, ``champ``, ``motif``."""
    rows = sorted(cells.attrs.get("lecture", {}).get("rejets", []))
    return pd.DataFrame(rows, columns=["ligne", "champ", "motif"])


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def _sniff_csv(path: Path) -> tuple[str, list[str]]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        header = f.readline()
    if not header.strip():
        raise DataError(f"Le fichier de carreaux « {path.name} » est vide.")
    sep = sniff_delimiter(header)
    columns = next(csv.reader(io.StringIO(header), delimiter=sep))
    return sep, columns


def _pandas_batches(
    path: Path, sep: str, columns: list[str], renamed: dict[str, str], chunksize: int
) -> Iterator[pd.DataFrame]:
    dtype = {c: "string" for c in columns if renamed[c] in _TEXT_COLUMNS}
    yield from pd.read_csv(
        path,
        sep=sep,
        dtype=dtype,
        chunksize=chunksize,
        encoding="utf-8-sig",
        encoding_errors="replace",
        low_memory=False,
    )


def _arrow_batches(
    path: Path, sep: str, columns: list[str], renamed: dict[str, str], chunksize: int
) -> Iterator[pd.DataFrame]:
    """Multi-threaded streaming read (pyarrow): ids and codes as text, every other column float.

    Raises ``pyarrow.ArrowInvalid`` on a column that is not numbers: the caller then reads the
    file again with pandas.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.string() if renamed[c] in _TEXT_COLUMNS else pa.float64() for c in columns}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=max(1 << 20, chunksize * 64)),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        convert_options=pacsv.ConvertOptions(
            column_types=types, check_utf8=False, strings_can_be_null=True
        ),
    )
    for batch in reader:
        yield batch.to_pandas()


def _read_csv(
    path: Path,
    filt: _MaskFilter,
    *,
    chunksize: int,
    progress: bool,
    resolution: int | None,
    stats: dict | None = None,
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    sep, columns = _sniff_csv(path)
    renamed = _rename_columns(columns)
    id_col = _id_column(list(renamed.values()))
    if id_col is None:
        raise DataError(
            f"Le fichier « {path.name} » n'a pas d'identifiant de carreau (idcar_200m, "
            "Idcar_200m, IdINSPIRE ou idcar_1km) : ce n'est pas un fichier Filosofi carroyé."
        )
    try:
        import pyarrow as pa

        readers = [_arrow_batches, _pandas_batches]
        fallback_errors: tuple[type[Exception], ...] = (pa.ArrowInvalid,)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        readers, fallback_errors = [_pandas_batches], ()
    for attempt, batches in enumerate(readers):
        pieces = []
        run_stats = _new_stats()
        line = 2  # first data line, the header being line 1
        try:
            with tqdm(
                desc="Lecture des carreaux",
                unit=" carreaux",
                unit_scale=True,
                disable=None if progress else True,
                file=sys.stderr,
            ) as bar:
                for raw in batches(path, sep, columns, renamed, chunksize):
                    bar.update(len(raw))
                    frame = _prepare_chunk(raw, path.name)
                    decoded = parse_idcar(frame[id_col], default_resolution=resolution)
                    keep = _check_rows(
                        raw, frame, decoded, filt.keep(decoded), id_col, line, run_stats
                    )
                    line += len(raw)
                    if keep.any():
                        pieces.append((frame[keep], decoded[keep]))
            if stats is not None:
                stats.update(run_stats)
            return pieces
        except fallback_errors:
            if attempt == len(readers) - 1:  # pragma: no cover - pandas is the last reader
                raise
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(
                f"Le fichier de carreaux « {path.name} » est illisible ou abîmé ({exc})."
            ) from exc
    return []  # pragma: no cover


def _pick_layer(path: Path, layer: str | None, resolution: int | None, territory: str) -> str:
    layers = [str(name) for name, *_ in pyogrio.list_layers(path)]
    if layer is not None:
        if layer not in layers:
            raise DataError(
                f"La couche « {layer} » n'existe pas dans « {path.name} ». Couches : "
                + ", ".join(layers)
                + "."
            )
        return layer
    if len(layers) == 1:
        return layers[0]
    token = {200: "200m", 1000: "1km"}.get(resolution or 0, "")
    ranked = [name for name in layers if territory in name.lower() and token in name.lower()] or [
        name for name in layers if territory in name.lower()
    ]
    if ranked:
        return sorted(ranked, key=len)[0]
    raise DataError(
        f"Plusieurs couches dans « {path.name} » ({', '.join(layers)}) : précisez laquelle lire."
    )


def _read_vector(
    path: Path,
    filt: _MaskFilter,
    *,
    layer: str | None,
    resolution: int | None,
    territory: str,
    stats: dict | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    try:
        name = _pick_layer(path, layer, resolution, territory)
        info = pyogrio.read_info(path, layer=name)
        bbox = None
        if filt.mask is not None and info.get("crs"):
            bbox = tuple(filt.in_crs(info["crs"]).bounds)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise DataError(
            f"Le fichier de carreaux « {path.name} » est illisible (corrompu ou pas un GeoPackage)."
        ) from exc
    frame, _gdal_notes = read_vector(path, layer=name, bbox=bbox, what="Le fichier de carreaux")
    geometry = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else None
    raw = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    table = _prepare_chunk(raw, path.name)
    id_col = _id_column(list(table.columns))
    if id_col is not None:
        decoded = parse_idcar(table[id_col], default_resolution=resolution)
    elif geometry is not None and geometry.notna().any():
        # No id: keep the file's squares, described by their lower-left corner in the file CRS.
        crs = geometry.crs.to_string() if geometry.crs else WGS84
        decoded = pd.DataFrame(index=table.index)
        b = geometry.bounds
        decoded["epsg"] = geometry.crs.to_epsg() if geometry.crs else 4326
        decoded["resolution"] = (b["maxx"] - b["minx"]).round()
        decoded["x0"], decoded["y0"] = b["minx"], b["miny"]
        table["geometry"] = geometry.values
        table.attrs["file_crs"] = crs
    else:
        raise DataError(
            f"Le fichier de carreaux « {path.name} » n'a ni identifiant de carreau ni géométrie."
        )
    stats = stats if stats is not None else _new_stats()
    keep = _check_rows(raw, table, decoded, filt.keep(decoded), id_col, 1, stats)
    if keep.any():
        yield table[keep], decoded[keep]


# --------------------------------------------------------------------------------------------
# Archives and download
# --------------------------------------------------------------------------------------------


def _member_patterns(resolution: int | None, territory: str, exts: Sequence[str]) -> list[str]:
    tokens = {200: ["200m"], 1000: ["1km", "1000m"]}.get(resolution or 0, ["200m", "1km"])
    pats = [f"*{tok}*{territory}*.{ext}" for ext in exts for tok in tokens]
    pats += [f"*{territory}*.{ext}" for ext in exts]
    pats += [f"*.{ext}" for ext in exts]
    return pats


def _open_archive(
    path: Path, resolution: int | None, territory: str, cache: str | os.PathLike | None
) -> Path:
    """Return the data file inside a zip (possibly holding a .7z) or a .7z archive."""
    exts = ("csv", "gpkg")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        inner = datagouv.extract_from_zip(
            path,
            _member_patterns(resolution, territory, exts) + ["*.7z"],
            dest_dir=datagouv.extraction_dir(path, cache),
            what="l'archive des carreaux",
        )
        if inner.suffix.lower() != ".7z":
            return inner
        path, suffix = inner, ".7z"
    if suffix == ".7z":
        try:
            import py7zr
        except ImportError as exc:  # pragma: no cover - py7zr is a dependency
            raise DataError(
                f"L'archive « {path.name} » est au format 7z : installez le paquet py7zr, ou "
                "décompressez-la vous-même et passez le fichier CSV ou GPKG avec --carreaux."
            ) from exc
        dest = datagouv.extraction_dir(path, cache)
        try:
            with py7zr.SevenZipFile(path, mode="r") as z:
                names = z.getnames()
                member = datagouv.choose_member(
                    names, _member_patterns(resolution, territory, exts)
                )
                if member is None:
                    raise DataError(
                        f"L'archive « {path.name} » ne contient pas de fichier de carreaux "
                        f"(CSV ou GPKG). Contenu : {', '.join(names[:20])}."
                    )
                target = dest / member
                if not target.is_file():
                    z.extract(path=dest, targets=[member])
        except py7zr.exceptions.Bad7zFile as exc:
            raise DataError(f"L'archive « {path.name} » n'est pas un 7z lisible.") from exc
        if not target.is_file():
            raise DataError(f"Extraction de « {member} » depuis « {path.name} » impossible.")
        return target
    return path


def filosofi_hint(vintage: int = 2021, resolution: int = 200, file_format: str = "csv") -> str:
    """French instructions for getting the Filosofi file by hand and passing it."""
    entry = FILOSOFI_ARCHIVES.get((vintage, resolution, file_format))
    page = entry[1] if entry else "https://www.insee.fr/fr/statistiques/8735162"
    name = PurePosixPath(entry[0]).name if entry else "Filosofi2021_carreaux_200m_csv.zip"
    size = "200 m" if resolution == 200 else "1 km"
    return (
        f"Téléchargez à la main l'archive « {name} » (INSEE, Filosofi {vintage}, carreaux de "
        f"{size}) depuis {page}, puis passez-la avec --carreaux FICHIER (l'archive zip, ou le "
        "fichier CSV ou GPKG qu'elle contient). Sans carroyage, la population des communes est "
        "utilisée."
    )


def filosofi_url(
    vintage: int = 2021,
    resolution: int = 200,
    file_format: str = "csv",
    *,
    base_url: str | None = None,
) -> str:
    """URL of INSEE's archive for a vintage, resolution and format.

    The base is ``base_url``, else ``$ZONESBLANCHES_INSEE_URL``, else :data:`INSEE_BASE_URL`.

    Raises
    ------
    ParameterError
        Combination not published (or not known to this toolkit).
    """
    key = (int(vintage), int(resolution), str(file_format).lower())
    if key not in FILOSOFI_ARCHIVES:
        known = ", ".join(f"{v} {r} m {f}" for v, r, f in sorted(FILOSOFI_ARCHIVES))
        raise ParameterError(
            f"Pas d'archive INSEE connue pour Filosofi {vintage}, carreaux de {resolution} m, "
            f"format {file_format}. Combinaisons connues : {known}."
        )
    base = base_url or settings.insee_files_url()
    return base.rstrip("/") + "/" + FILOSOFI_ARCHIVES[key][0]


def download_carreaux(
    vintage: int = 2021,
    resolution: int = 200,
    file_format: str = "csv",
    *,
    base_url: str | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Download (or re-use from the cache) INSEE's Filosofi archive; return the zip's path.

    The 200 m archives weigh hundreds of megabytes; they are downloaded once into
    ``telechargements/insee/`` of the cache.

    Raises
    ------
    NetworkUnavailableError
        Offline or refused, with the French instructions of :func:`filosofi_hint`.
    """
    url = filosofi_url(vintage, resolution, file_format, base_url=base_url)
    hint = filosofi_hint(vintage, resolution, file_format)
    dest = cache_dir("telechargements", base=cache) / "insee" / PurePosixPath(url).name
    if not force and dest.is_file() and datagouv._check_file(dest, None, None) is None:
        return dest
    return datagouv.download(
        url,
        dest,
        progress=progress,
        label=f"Téléchargement de {dest.name} (INSEE)",
        what=f"l'archive INSEE « {dest.name} »",
        hint=hint,
    )


# --------------------------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------------------------


def _assemble(
    pieces: list[tuple[pd.DataFrame, pd.DataFrame]], crs: str, source: str
) -> gpd.GeoDataFrame:
    table = pd.concat([p[0] for p in pieces], ignore_index=True)
    decoded = pd.concat([p[1] for p in pieces], ignore_index=True)
    id_col = _id_column(list(table.columns))
    out = pd.DataFrame(index=table.index)
    out["idcar"] = table[id_col].astype("string").str.strip() if id_col else pd.NA
    out["resolution"] = decoded["resolution"].astype("int64")
    data_cols = [
        c
        for c in table.columns
        if c not in _TEXT_COLUMNS and c != "geometry" and pd.api.types.is_numeric_dtype(table[c])
    ]
    first = [c for c in ("ind", "men", "men_pauv") if c in data_cols]
    ages = [c for c in AGE_BANDS if c in data_cols]
    rest = [c for c in data_cols if c not in first and c not in ages and c not in _FLAG_COLUMNS]
    flags = [c for c in data_cols if c in _FLAG_COLUMNS]
    for col in first + ages + rest:
        out[col] = table[col].astype("float64")
    if "idcar_1km" in table.columns and id_col != "idcar_1km":
        out["idcar_1km"] = table["idcar_1km"].astype("string")
    if "idcar_nat" in table.columns:
        out["idcar_nat"] = table["idcar_nat"].astype("string")
    for col in flags:
        out[col] = table[col]
    own_flag = "i_est_1km" if id_col == "idcar_1km" else "i_est_200"
    if own_flag in table.columns:
        out["i_est"] = table[own_flag].fillna(0).astype("int64")
    out["communes_insee"] = (
        [parse_lcog_geo(v) for v in table["lcog_geo"]] if "lcog_geo" in table.columns else ""
    )
    if "geometry" in table.columns and id_col is None:
        geometry = gpd.GeoSeries(table["geometry"].values, crs=table.attrs.get("file_crs"))
        geometry = geometry.to_crs(crs)
    else:
        geometry = cell_squares(decoded, crs)
    return gpd.GeoDataFrame(out, geometry=geometry.values, crs=crs)


def aggregate_carreaux(cells: gpd.GeoDataFrame, resolution: int = 1000) -> gpd.GeoDataFrame:
    """Sum 200 m cells into coarser cells (1 km by default) using their ``idcar_1km``.

    Counts are summed (imputed fractions included); ``i_est`` of the result is the file's
    ``i_est_1km`` when present, else 1 if any summed cell was imputed. Sums of imputed 200 m
    cells can differ slightly from INSEE's own 1 km file (2021), whose imputation is done at
    1 km; prefer that file when it exists.

    Raises
    ------
    ParameterError
        No ``idcar_1km`` column, or a resolution other than 1000.
    """
    if int(resolution) != 1000:
        raise ParameterError("Seule l'agrégation en carreaux de 1 km est possible.")
    if "idcar_1km" not in cells.columns:
        raise ParameterError(
            "Agrégation en 1 km impossible : le fichier n'a pas de colonne idcar_1km."
        )
    flags = [c for c in cells.columns if c in _FLAG_COLUMNS]
    counts = [
        c
        for c in cells.columns
        if c not in flags and c not in ("resolution", "geometry") and cells[c].dtype.kind == "f"
    ]
    frame = pd.DataFrame(cells.drop(columns="geometry"))
    grouped = frame.groupby("idcar_1km", sort=True)
    out = grouped[counts].sum()
    if "i_est_1km" in frame.columns:
        out["i_est"] = grouped["i_est_1km"].max().fillna(0).astype("int64")
    elif "i_est" in frame.columns:
        out["i_est"] = grouped["i_est"].max().astype("int64")
    out["communes_insee"] = grouped["communes_insee"].agg(
        lambda s: "; ".join(sorted({c for v in s for c in str(v).split("; ") if c}))
    )
    out = out.reset_index().rename(columns={"idcar_1km": "idcar"})
    decoded = parse_idcar(out["idcar"])
    out.insert(1, "resolution", decoded["resolution"].astype("int64"))
    return gpd.GeoDataFrame(out, geometry=cell_squares(decoded, cells.crs).values, crs=cells.crs)


def carreaux_demand(
    cells: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame | None = None,
    *,
    as_points: bool = True,
) -> gpd.GeoDataFrame:
    """Demand units from Filosofi cells, in the units-frame contract of the coverage analysis.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Output of :func:`load_carreaux`.
    communes : geopandas.GeoDataFrame, optional
        Communes (``code_insee``, optional ``nom``, ``code_epci``, ``nom_epci``, polygons), e.g.
        ``reference.load_communes()``: each cell gets the commune holding its centre (the
        nearest commune when the centre falls in a gap of simplified outlines).
    as_points : bool
        Cell centres (default: travel times are computed from points; equity and zones rebuild
        the squares from ``idcar``) or the squares.

    Returns
    -------
    geopandas.GeoDataFrame
        Same CRS, one row per cell: ``unit_id`` (= ``idcar``), ``idcar``, ``population``
        (= ``ind``), ``men``, ``men_pauv`` (when present), ``i_est``, the commune columns, then
        ``geometry``.
    """
    if "ind" not in cells.columns:
        raise ParameterError("Les carreaux doivent avoir une colonne « ind ».")
    out = pd.DataFrame(index=cells.index)
    out["unit_id"] = cells["idcar"]
    out["idcar"] = cells["idcar"]
    out["population"] = cells["ind"].astype("float64")
    for col in ("men", "men_pauv", "i_est"):
        if col in cells.columns:
            out[col] = cells[col]
    metric_centres = cells.geometry.to_crs("EPSG:3035").centroid
    if communes is not None:
        if "code_insee" not in communes.columns or communes.crs is None:
            raise ParameterError("La table des communes doit avoir « code_insee » et un CRS.")
        keep = [c for c in ("code_insee", "nom", "code_epci", "nom_epci") if c in communes]
        polys = communes[[*keep, "geometry"]].to_crs("EPSG:3035").reset_index(drop=True)
        points = gpd.GeoDataFrame(geometry=metric_centres.values, crs="EPSG:3035")
        joined = gpd.sjoin(points, polys, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        lost = joined["index_right"].isna().to_numpy()
        if lost.any():
            near = gpd.sjoin_nearest(points[lost], polys, how="left")
            near = near[~near.index.duplicated(keep="first")]
            joined.loc[near.index, keep] = near[keep]
        for col in keep:
            out[col] = joined[col].to_numpy()
    geometry = metric_centres.to_crs(cells.crs) if as_points else cells.geometry
    return gpd.GeoDataFrame(out, geometry=geometry.values, crs=cells.crs)


def load_carreaux(
    path: str | os.PathLike | None = None,
    *,
    mask: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    download: bool = False,
    vintage: int = 2021,
    resolution: int | None = None,
    file_format: str = "csv",
    territory: str = "met",
    layer: str | None = None,
    crs: str = WGS84,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    chunksize: int = 250_000,
) -> gpd.GeoDataFrame:
    """Load INSEE Filosofi cells (200 m or 1 km), clipped to a territory.

    Parameters
    ----------
    path : path-like, optional
        CSV or GeoPackage file, or INSEE's zip (a ``.7z`` inside is handled). When omitted,
        ``download`` must be true.
    mask : shapely geometry (WGS84), GeoSeries or GeoDataFrame, optional
        Territory; cells whose centre lies in it are kept. Strongly advised: the national file
        has 2.3 million cells.
    download : bool
        Without ``path``, download INSEE's archive (``vintage``, ``resolution`` or 200 m,
        ``file_format``) into the cache.
    vintage : int
        Income year of the file to download (2015, 2017, 2019, 2021).
    resolution : int, optional
        200 or 1000 (metres). ``None`` keeps the file's own. ``1000`` on a 200 m file sums the
        cells into 1 km squares (:func:`aggregate_carreaux`).
    file_format : {"csv", "gpkg"}
        Format to download.
    territory : str
        Part of the member or layer name to pick in a multi-territory archive or GeoPackage:
        ``"met"`` (metropolitan France), ``"mart"``, ``"reun"``.
    layer : str, optional
        GeoPackage layer (default: the one matching ``resolution`` and ``territory``).
    crs : str
        Output CRS (default EPSG:4326).
    cache : path-like, optional
        Cache root (downloads and extracted archives).
    progress : bool
        Show progress bars.
    chunksize : int
        Rows read at a time from a CSV.

    Returns
    -------
    geopandas.GeoDataFrame
        See the module docstring; sorted as in the file. ``attrs["lecture"]`` accounts for every
        row read: ``lignes`` = ``retenus`` + ``hors_territoire`` + rejected rows
        (``rejets``: line, field, reason; see :func:`rejects_frame`). A row is rejected when its
        cell id cannot be read, or, inside the territory, when ``ind`` is missing, not a number
        or negative (such a row used to print « nan habitants » or lower the total).

    Raises
    ------
    DataError
        Missing, corrupt or non-Filosofi file, or no cell in the territory.
    NetworkUnavailableError
        ``download=True`` while offline (message says where to get the file and to pass
        ``--carreaux FICHIER``).
    ParameterError
        Invalid ``mask``, ``resolution`` or download combination.
    """
    if resolution is not None and int(resolution) not in (200, 1000):
        raise ParameterError("La taille des carreaux doit être 200 ou 1000 mètres.")
    if path is None:
        if not download:
            raise DataError(
                "Aucun fichier de carreaux fourni. "
                + filosofi_hint(vintage, resolution or 200, file_format)
            )
        path = download_carreaux(
            vintage, resolution or 200, file_format, cache=cache, progress=progress
        )
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"Fichier de carreaux introuvable : « {path} ». "
            + filosofi_hint(vintage, resolution or 200, file_format)
        )
    data = _open_archive(path, resolution, territory.lower(), cache)
    if data.stat().st_size == 0:
        raise DataError(f"Le fichier de carreaux « {data.name} » est vide.")
    filt = _MaskFilter(None if mask is None else mask_geometry(mask))
    stats = _new_stats()
    if data.suffix.lower() in (".csv", ".txt"):
        # Only for ids without the RES part [UNVERIFIED]: the size the file name says.
        default = 1000 if "1km" in data.name.lower() else 200
        pieces = _read_csv(
            data, filt, chunksize=chunksize, progress=progress, resolution=default, stats=stats
        )
    else:
        pieces = list(
            _read_vector(
                data, filt, layer=layer, resolution=None, territory=territory.lower(), stats=stats
            )
        )
    if not pieces:
        where = "dans le territoire demandé" if mask is not None else "lisible"
        raise DataError(
            f"Aucun carreau {where} dans « {data.name} » (fichier d'une autre région, ou "
            "identifiants de carreaux illisibles ?)."
        )
    cells = _assemble(pieces, crs, data.name)
    if resolution == 1000 and (cells["resolution"] == 200).all():
        cells = aggregate_carreaux(cells, 1000)
    cells.attrs["lecture"] = {**stats, "retenus": len(cells)}
    return cells
