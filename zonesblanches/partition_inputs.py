"""The grid file (INSEE Filosofi « carreaux ») of a partitioned run, read by the workers.

Without this module the process that starts a partitioned run reads the grid file
(:func:`zonesblanches.api.read_demand`: every row of the file, every column of the cells of
the territory) and sends each task its cells. With ``carreaux=`` given to
:func:`zonesblanches.partitioned.partitioned_diagnostic`, the départements are split in
**groups** (one per worker, neighbours together: :func:`zonesblanches.partition_osm.groups_of`
on the communes), and one task per group reads the file **once**, keeping the cells of its
départements only, and sends back the compact demand units (the columns of
:func:`~zonesblanches.geodata.carreaux.carreaux_demand`, the points as two arrays, the line of
each cell). The launching process never opens the file: it puts the groups' cells back in the
file's order and runs the départements' tasks on them.

Why a group keeps exactly the cells an unpartitioned run gives its départements:

- a cell is in the territory by the test of :func:`~zonesblanches.geodata.carreaux.load_carreaux`
  (its centre in the territory's outline, boundary included), made on every row by every
  group;
- its commune is the one :func:`~zonesblanches.geodata.carreaux.carreaux_demand` gives it (the
  commune holding its centre, else the nearest), decided by the centre alone
  (:func:`~zonesblanches.geodata.carreaux.commune_of_centres`, the same function, against the
  same communes in the same order); the group of that commune's département keeps the cell.
  Only centres within :data:`NEAR_M` of the group's communes are joined (a centre in the
  territory is in or on one of its communes);
- each group counts the territory's cells it saw; the launching process checks that the cells
  kept by all groups are that count, each once (:class:`GridReadError` otherwise).

Rejected rows (``rejets_carreaux.csv``): a row whose population is not a number, is negative or
missing has a place: the group that would have kept its cell reports it. A row whose cell id
cannot be read has no place: **the first group** (the first in the order of the groups,
i.e. the first on the territory's longer axis) reports it; the others see it and say nothing.
Rows are merged by line number, every row of the file used, outside or rejected exactly once.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ZonesBlanchesError
from zonesblanches.geodata._carreaux_read import _MaskFilter
from zonesblanches.geodata.carreaux import (
    _assemble,
    carreaux_demand,
    cell_centres,
    commune_of_centres,
    communes_for_join,
    no_cells_error,
    read_pieces,
)
from zonesblanches.geodata.idcar import cell_squares
from zonesblanches.geodata.territory import mask_geometry
from zonesblanches.partition_run import _worker_name

NEAR_M = 1000.0
"""Metres around a group's communes within which a cell centre is joined to its commune (a
centre the group could own is in or on one of them: 0 m, plus the outlines' rounding)."""

_COMMUNE_COLUMNS = ("code_insee", "nom", "code_epci", "nom_epci", "code_departement")


class GridReadError(ZonesBlanchesError):
    """The groups' cells do not add up to the territory's (a cell lost or kept twice)."""


@dataclass(frozen=True)
class GridSource:
    """The grid file the workers read: its path (the same on every worker), size and
    modification time (nanoseconds) as the launching process sees them, for the checkpoints'
    keys and the workers' cache."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> GridSource:
        """The source of ``path``; a French error when this process cannot see the file."""
        try:
            stat = Path(path).stat()
        except OSError:
            raise DataError(
                f"Fichier de carreaux introuvable : « {path} ». Les workers Dask le lisent au "
                "même chemin : il doit exister sur cette machine et sur chaque worker."
            ) from None
        return cls(str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)


class _GroupCells(_MaskFilter):
    """Keeps, in the rows of each chunk, the cells of the territory whose commune is in the
    group's départements (see the module docstring); counts the territory's cells and notes
    the rows kept (0-based, in the file's order)."""

    def __init__(self, territory, communes: gpd.GeoDataFrame, group: Sequence[str]):
        super().__init__(territory)
        self.polys = communes_for_join(communes)
        self.dept_of = dict(
            zip(communes["code_insee"], communes["code_departement"].astype(str), strict=True)
        )
        self.group = set(group)
        mine = communes.loc[communes["code_departement"].astype(str).isin(self.group)]
        near = shapely.union_all(mine.to_crs("EPSG:3035").geometry.values).buffer(NEAR_M)
        shapely.prepare(near)
        self.near = near
        self.row = 0
        self.inside = 0
        self.kept_rows: list[np.ndarray] = []
        self.communes: list[pd.DataFrame] = []  # the commune columns of the rows kept

    def keep(self, decoded: pd.DataFrame) -> np.ndarray:
        inside = super().keep(decoded)
        owned = np.zeros(len(decoded), dtype=bool)
        idx = np.flatnonzero(inside)
        self.inside += len(idx)
        if len(idx):  # first the centre in the ids' own LAEA grid (to a few mm), then exact
            sub = decoded.iloc[idx]
            half = sub["resolution"].to_numpy(float) / 2
            laea = (sub["epsg"] == 3035).to_numpy()
            cx, cy = sub["x0"].to_numpy(float) + half, sub["y0"].to_numpy(float) + half
            idx = idx[~laea | shapely.intersects_xy(self.near, cx, cy)]
        if len(idx):
            centres = cell_centres(cell_squares(decoded.iloc[idx], WGS84))
            joined = commune_of_centres(centres, self.polys, prepared=True)
            mine = joined["code_insee"].map(self.dept_of).isin(self.group).to_numpy()
            owned[idx[mine]] = True
            self.communes.append(joined.loc[mine])
        self.kept_rows.append(self.row + np.flatnonzero(owned))
        self.row += len(decoded)
        return owned


def read_group_cells(
    source: GridSource,
    group: Sequence[str],
    first: bool,
    territory_wkb: bytes,
    communes: gpd.GeoDataFrame,
) -> dict:
    """Read the grid file once for a group of départements (on a worker): the group's demand
    units as compact columns, the line of each, the group's rejected rows (and, for the
    ``first`` group, the rows without a place), the rows read and the territory's cells.

    Nothing is cached in the worker process: the result stays on the worker as the task's
    result until the launching process has gathered it (then released), so that a worker's
    memory goes to its départements' tasks (a national grid split in two groups is about
    0.4 GB of units per worker)."""
    start = time.perf_counter()
    _same_file(source)
    filt = _GroupCells(mask_geometry(shapely.from_wkb(territory_wkb)), communes, group)
    pieces, stats, data = read_pieces(source.path, filt, progress=False)
    if pieces and "geometry" in pieces[0][0].columns:  # squares of the file, no cell id
        raise DataError(
            f"Le fichier de carreaux « {data.name} » n'a pas d'identifiant de carreau : la "
            "lecture par les workers place chaque carreau par son identifiant INSPIRE "
            "(CRS3035RES200mN…E…). Lancez le calcul sans --workers ni --cluster, ou donnez un "
            "fichier Filosofi avec ses identifiants."
        )
    base = 2 if data.suffix.lower() in (".csv", ".txt") else 1  # first row's line number
    lines = np.concatenate([np.zeros(0, dtype=np.int64), *filt.kept_rows]) + base
    located = np.isin([r[0] for r in stats["rejets"]], lines)
    mine = [r for r, o in zip(stats["rejets"], located, strict=True) if o]  # invalid populations
    placeless = [r for r, o in zip(stats["rejets"], located, strict=True) if not o]  # ids
    valid = ~np.isin(lines, [r[0] for r in mine])
    lines = lines[valid]
    columns, x, y = None, np.zeros(0), np.zeros(0)
    if pieces:
        # carreaux_demand's units, with the commune columns the filter joined (same function,
        # same centres: not joined twice)
        demand = carreaux_demand(_assemble(pieces, WGS84, data.name))
        columns = pd.DataFrame(demand.drop(columns=demand.geometry.name))
        joined = pd.concat(filt.communes, ignore_index=True).loc[valid]
        for col in joined.columns:
            columns[col] = joined[col].to_numpy()
        x, y = demand.geometry.x.to_numpy(float), demand.geometry.y.to_numpy(float)
    out = {
        "departements": list(group),
        "columns": columns,
        "x": x,
        "y": y,
        "lines": lines,
        "rejets": mine,
        "sans_lieu": placeless if first else [],
        "lignes": int(stats["lignes"]),
        "territoire": int(filt.inside),
        "fichier": data.name,
        "secondes": time.perf_counter() - start,
        "worker": _worker_name(),
    }
    return out


def _same_file(source: GridSource) -> None:
    """On a worker: a French error unless the file at the source's path is the one the
    launching process saw (same size): a worker reading another file would give other
    cells."""
    where = f"sur le worker {_worker_name()}"
    try:
        size = Path(source.path).stat().st_size
    except OSError:
        raise DataError(
            f"Fichier de carreaux introuvable {where} : « {source.path} ». Les workers lisent "
            "le fichier au chemin donné : il doit exister au même chemin sur chaque worker "
            "(disque partagé, volume, ou copie)."
        ) from None
    if size != source.size:
        raise DataError(
            f"Le fichier de carreaux « {source.path} » {where} n'est pas celui du poste "
            f"({size} octets contre {source.size}) : copiez le même fichier sur chaque worker."
        )


def grid_groups(communes: gpd.GeoDataFrame, n_groups: int) -> list[list[str]]:
    """The départements of the territory in ``n_groups`` groups of neighbours with about the
    same number of communes (:func:`zonesblanches.partition_osm.groups_of`)."""
    from zonesblanches.partition_osm import groups_of

    if {"lon", "lat"} <= set(communes.columns):
        xy = np.column_stack([communes["lon"].to_numpy(float), communes["lat"].to_numpy(float)])
    if not {"lon", "lat"} <= set(communes.columns) or np.isnan(xy).any():
        points = communes.geometry.representative_point()
        xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    return groups_of(communes["code_departement"].astype(str).to_numpy(), xy, n_groups)


def read_grid_on_workers(client, source: GridSource, territory) -> tuple[gpd.GeoDataFrame, list]:
    """The territory's demand units from the grid file, read by the workers of ``client``
    (one task per group of départements, as many groups as workers): the frame
    :func:`zonesblanches.api.read_demand` gives (same rows, order, columns and
    ``attrs["lecture"]``), and per group what it read (``departements``, ``carreaux``,
    ``secondes``, ``worker``). Errors of the file (not Filosofi, corrupt) are raised here
    as the workers raise them."""
    n = max(len(client.scheduler_info().get("workers", {})), 1)
    communes = territory.communes
    groups = grid_groups(communes, n)
    kept = [c for c in (*_COMMUNE_COLUMNS, "geometry") if c in communes]
    shared = client.scatter(communes[kept], broadcast=True, hash=False)
    wkb = shapely.to_wkb(territory.geometry)
    run = uuid.uuid4().hex[:10]
    futures = [
        client.submit(
            read_group_cells,
            source,
            group,
            i == 0,
            wkb,
            shared,
            key=f"lecture-carreaux-groupe{i}-{run}",
            pure=False,
        )
        for i, group in enumerate(groups)
    ]
    try:
        reads = client.gather(futures)
    finally:
        for f in [*futures, shared]:
            f.release()
    return merge_groups(reads), [
        {k: r[k] for k in ("departements", "secondes", "worker")} | {"carreaux": len(r["lines"])}
        for r in reads
    ]


def merge_groups(reads: Sequence[dict]) -> gpd.GeoDataFrame:
    """The groups' cells in the file's order, with the accounting of every row of the file
    (as :func:`~zonesblanches.geodata.carreaux.load_carreaux` gives it)."""
    lines = np.concatenate([r["lines"] for r in reads])
    # every row of the territory kept or rejected by exactly one group
    located = np.concatenate([lines, [row[0] for r in reads for row in r["rejets"]]])
    if {r["territoire"] for r in reads} != {len(located)} or len(np.unique(located)) != len(
        located
    ):
        raise GridReadError(
            "Lecture des carreaux par les workers incohérente : des carreaux du territoire "
            "sont perdus ou comptés deux fois entre les groupes de départements. Relancez "
            "sans --workers ni --cluster, et signalez-le."
        )
    rejets = sorted([row for r in reads for row in r["rejets"] + r["sans_lieu"]])
    frames = [r["columns"] for r in reads if r["columns"] is not None]
    if not frames:
        raise no_cells_error(reads[0]["fichier"])
    order = np.argsort(lines, kind="stable")
    columns = pd.concat(frames, ignore_index=True).iloc[order].reset_index(drop=True)
    x = np.concatenate([r["x"] for r in reads])[order]
    y = np.concatenate([r["y"] for r in reads])[order]
    demand = gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(x, y), crs=WGS84)
    total = reads[0]["lignes"]
    demand.attrs["lecture"] = {
        "lignes": total,
        "hors_territoire": total - len(demand) - len(rejets),
        "rejets": rejets,
        "retenus": len(demand),
    }
    return demand
