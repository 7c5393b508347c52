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

One module per job: this one holds the loader (:func:`load_carreaux`), the output table, the 1 km
aggregation and the demand units; :mod:`~zonesblanches.geodata._carreaux_read` reads the CSV and
GeoPackage files (column names of every vintage, mask, row checks) and
:mod:`~zonesblanches.geodata._carreaux_download` finds, downloads and unpacks INSEE's archives
(its public names are re-exported here).
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata._carreaux_download import (
    FILOSOFI_ARCHIVES,
    INSEE_BASE_URL,
    INSEE_ENV_VAR,
    _open_archive,
    download_carreaux,
    filosofi_hint,
    filosofi_url,
)
from zonesblanches.geodata._carreaux_read import (
    _FLAG_COLUMNS,
    _TEXT_COLUMNS,
    _id_column,
    _MaskFilter,
    _new_stats,
    _read_csv,
    _read_vector,
)
from zonesblanches.geodata.idcar import cell_squares, parse_idcar, parse_lcog_geo
from zonesblanches.geodata.territory import mask_geometry

__all__ = [
    "AGE_BANDS",
    "FILOSOFI_ARCHIVES",
    "INSEE_BASE_URL",
    "INSEE_ENV_VAR",
    "aggregate_carreaux",
    "carreaux_demand",
    "download_carreaux",
    "filosofi_hint",
    "filosofi_url",
    "load_carreaux",
    "parse_idcar",
    "parse_lcog_geo",
    "rejects_frame",
]

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


def rejects_frame(cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Rows of the file rejected by :func:`load_carreaux`: ``ligne``, ``champ``, ``motif``."""
    rows = sorted(cells.attrs.get("lecture", {}).get("rejets", []))
    return pd.DataFrame(rows, columns=["ligne", "champ", "motif"])


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


def cell_centres(squares: gpd.GeoSeries) -> gpd.GeoSeries:
    """Centres (EPSG:3035) of cell squares, as :func:`carreaux_demand` places its units."""
    return squares.to_crs("EPSG:3035").centroid


def communes_for_join(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The communes :func:`commune_of_centres` joins (its columns, EPSG:3035, in order)."""
    if "code_insee" not in communes.columns or communes.crs is None:
        raise ParameterError("La table des communes doit avoir « code_insee » et un CRS.")
    keep = [c for c in ("code_insee", "nom", "code_epci", "nom_epci") if c in communes]
    return communes[[*keep, "geometry"]].to_crs("EPSG:3035").reset_index(drop=True)


def commune_of_centres(
    metric_centres: gpd.GeoSeries, communes: gpd.GeoDataFrame, *, prepared: bool = False
) -> pd.DataFrame:
    """The commune columns of each centre (EPSG:3035): the commune holding it, else the
    nearest (a centre in a gap of simplified outlines, or on a border). One row per centre,
    decided by that centre alone (the same whichever other centres are joined with it).
    ``prepared``: ``communes`` is already :func:`communes_for_join`'s."""
    polys = communes if prepared else communes_for_join(communes)
    keep = [c for c in polys.columns if c != "geometry"]
    points = gpd.GeoDataFrame(geometry=metric_centres.values, crs="EPSG:3035")
    joined = gpd.sjoin(points, polys, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    lost = joined["index_right"].isna().to_numpy()
    if lost.any():
        near = gpd.sjoin_nearest(points[lost], polys, how="left")
        near = near[~near.index.duplicated(keep="first")]
        joined.loc[near.index, keep] = near[keep]
    return pd.DataFrame(joined[keep])


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
    metric_centres = cell_centres(cells.geometry)
    if communes is not None:
        joined = commune_of_centres(metric_centres, communes)
        for col in joined.columns:
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
    filt = _MaskFilter(None if mask is None else mask_geometry(mask))
    pieces, stats, data = read_pieces(
        path, filt, download=download, vintage=vintage, resolution=resolution,
        file_format=file_format, territory=territory, layer=layer, cache=cache,
        progress=progress, chunksize=chunksize,
    )  # fmt: skip
    if not pieces:
        raise no_cells_error(data.name, masked=mask is not None)
    cells = _assemble(pieces, crs, data.name)
    if resolution == 1000 and (cells["resolution"] == 200).all():
        cells = aggregate_carreaux(cells, 1000)
    cells.attrs["lecture"] = {**stats, "retenus": len(cells)}
    return cells


def no_cells_error(name: str, *, masked: bool = True) -> DataError:
    """The error of a grid file ``name`` that gives no cell (in the territory, when
    ``masked``), read here or by the workers of a partitioned run."""
    where = "dans le territoire demandé" if masked else "lisible"
    return DataError(
        f"Aucun carreau {where} dans « {name} » (fichier d'une autre région, ou "
        "identifiants de carreaux illisibles ?)."
    )


def read_pieces(
    path: str | os.PathLike | None,
    filt: _MaskFilter,
    *,
    download: bool = False,
    vintage: int = 2021,
    resolution: int | None = None,
    file_format: str = "csv",
    territory: str = "met",
    layer: str | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    chunksize: int = 250_000,
) -> tuple[list[tuple[pd.DataFrame, pd.DataFrame]], dict, Path]:
    """The read of :func:`load_carreaux` before its cells are assembled: the ``(table,
    decoded)`` pieces of the rows ``filt`` keeps (``filt.keep`` is called once per chunk, in
    the file's order), the accounting of every row (``lignes``, ``hors_territoire``,
    ``rejets``) and the data file read (CSV: line 2 is the first row; GeoPackage: feature 1).
    Options as for :func:`load_carreaux`."""
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
    return pieces, stats, data
