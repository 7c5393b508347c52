"""Reading INSEE Filosofi grid files: CSV (pyarrow, pandas as fallback) and GeoPackage.

Headers of every vintage are lower-cased and renamed onto the 2019/2021 names; cells are kept
when their centre lies in the territory's mask; every row read is kept, outside the territory,
or rejected with its line, field and French reason. Each reader yields ``(table, decoded)``
pieces: data columns, and the cell ids decoded by
:func:`~zonesblanches.geodata.idcar.parse_idcar`, that
:func:`zonesblanches.geodata.carreaux.load_carreaux` assembles.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError
from zonesblanches.geodata._tables import read_vector, sniff_delimiter
from zonesblanches.geodata.idcar import parse_idcar

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
