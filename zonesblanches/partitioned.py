"""A territory analysed on Dask: one task per département, the numbers of one single run.

Large territories (a region, all of metropolitan France: 34,746 communes) are split by
département and computed as tasks of a ``dask.distributed`` cluster: a ``LocalCluster`` on the
machine, or any scheduler (Kubernetes, HPC through dask-jobqueue, a cloud) given by its address.
Each task receives the demand units of its département and what they need to get the times of
an unpartitioned run, **bit for bit** (tested on Hauts-de-France):

- straight-line model: the services of the analysis (the territory plus its margin, as
  :func:`zonesblanches.api.diagnostic` keeps them), sent once per worker. They are few (the
  national data·inclusion inventory is about 100,000 points) and sending them all keeps even
  the ties between two services at the same place resolved as in one run (the k-d tree is
  the same);
- road network: the network of the département plus a margin, cut from the network of the
  whole run (:func:`zonesblanches.api.network_models`: territory plus the margin of the longest
  threshold at the fastest speed, widened to every commune's nearest service). The task starts
  with that margin and *proves* it was wide enough: a route of ``t`` minutes never leaves the
  disc of radius ``t × v`` around its start (``v``: the fastest edge of the network or the
  walking leg), so when every unit's time is below ``radius / v`` the cut network holds every
  route of the whole network that could beat it. Otherwise the task is sent again with the
  radius its own times give (then proven), or with the whole network when a unit was left
  without a route. Services are those whose node of the whole network lies in the cut, and
  points snap to the whole network's largest strongly connected component, as in one run.

Results of each département are written as Parquet in a checkpoint folder, under a key made of
every input of the task (units, services, thresholds, model and network, package version; with
a grid file read by the workers, the file's path, size and modification time and the
territory's communes stand for the units): a
rerun after a failure, or with a département added, reads them back instead of computing. A task
that fails is retried (``retries``); if it still fails, the other départements finish, are
checkpointed, and a French error names the département that failed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches._text import fr_count, fr_num
from zonesblanches._version import __version__
from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.coverage.analysis import CoverageResult, commune_demand
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.coverage.partition_parts import (  # noqa: F401 - the tests reach some here
    _network_part,
    _NetworkShare,
    _share,
    task_inputs,
)
from zonesblanches.coverage.traveltime import (
    NearestTimes,
    StraightLineModel,
    TravelTimeModel,
)
from zonesblanches.errors import ParameterError, ZonesBlanchesError
from zonesblanches.geodata import reference
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.territory import Territory, select_territory
from zonesblanches.partition_osm import OsmSource
from zonesblanches.partition_run import (  # noqa: F401 - the tests and the bench reach them here
    _client,
    _coverage_columns,
    _run_tasks,
    _straight_line_reach,
)

FRANCE_KEYS = {"france", "france metropolitaine", "metropole", "fr"}
"""``--territoire`` values meaning all of metropolitan France."""


def is_france(spec: str | Sequence[str] | Territory | None) -> bool:
    """Whether ``spec`` (a ``--territoire`` value or a territory) means all of France, before
    anything is read."""
    if isinstance(spec, Territory):
        return spec.kind == "france"
    from zonesblanches._text import normalize

    return isinstance(spec, str) and normalize(spec) in FRANCE_KEYS


class PartitionError(ZonesBlanchesError):
    """Some départements could not be computed (the others are done and checkpointed)."""


@dataclass
class PartitionedRun:
    """What :func:`partitioned_diagnostic` produced.

    Attributes
    ----------
    result : CoverageResult
        The analysis, identical to an unpartitioned :func:`zonesblanches.api.diagnostic`.
    partitions : pandas.DataFrame
        One row per département: ``departement``, ``nom``, ``unites``, ``statut`` (« calculé »,
        « repris » from a checkpoint), ``secondes`` (task time on its worker), ``passes``
        (1, or 2 when the network margin had to be widened), ``rayon_km`` (radius of the cut
        network per mode), ``worker``.
    checkpoint_dir : pathlib.Path or None
        Where the départements' results were written.
    network_reads : dict or None
        With ``osm=``: what the workers read (see
        :meth:`zonesblanches.partition_osm.WorkerReads.network_notes`), for
        :func:`zonesblanches.summaries.format_worker_network`; ``None`` otherwise.
    grid_reads : list of dict or None
        With ``carreaux=``: per group of départements, what its worker read
        (``departements``, ``carreaux``, ``secondes``, ``worker``); ``None`` otherwise.
    grid_rows : dict or None
        With ``carreaux=``: the accounting of the grid file's rows (``lignes``, ``retenus``,
        ``hors_territoire``, ``rejets``), as ``attrs["lecture"]`` of
        :func:`zonesblanches.api.read_demand`.
    """

    result: CoverageResult
    partitions: pd.DataFrame
    checkpoint_dir: Path | None = None
    events: list[dict] = field(default_factory=list)
    network_reads: dict | None = None
    grid_reads: list[dict] | None = None
    grid_rows: dict | None = None


def france() -> Territory:
    """All of metropolitan France (34,746 communes, Corsica included)."""
    return Territory("France métropolitaine", "france", "FR", reference.load_communes(None))


def select_territories(spec: str | Sequence[str] | Territory | None) -> Territory:
    """A territory from ``--territoire``: ``france``, anything :func:`select_territory` takes,
    or several régions / départements separated by commas (``"59,62,80"``,
    ``"Bretagne, Normandie"``), merged into one territory."""
    if isinstance(spec, Territory):
        return spec
    if is_france(spec):
        return france()
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if len(parts) > 1 and not all(len(p) == 5 and p[:2].isalnum() for p in parts):
            spec = parts
        else:
            return select_territory(spec)
    if spec is None:
        return select_territory(None)
    parts = [select_territory(p) for p in spec]
    if len(parts) == 1:
        return parts[0]
    communes = pd.concat([p.communes for p in parts])
    communes = communes.loc[~communes["code_insee"].duplicated()].sort_values("code_insee")
    label = ", ".join(p.label for p in parts)
    return Territory(label, "liste", ";".join(p.code for p in parts), communes)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def _digest(*parts: object) -> str:
    """sha256 of the inputs of a task (frames by content, arrays by bytes, the rest by repr)."""
    h = hashlib.sha256(__version__.encode())
    for part in parts:
        if isinstance(part, gpd.GeoDataFrame | gpd.GeoSeries):
            h.update(b"".join(part.geometry.to_wkb().tolist()))
            part = pd.DataFrame(part).drop(columns=part.geometry.name, errors="ignore")
        if isinstance(part, pd.DataFrame):
            h.update(repr(list(part.columns)).encode())
            h.update(pd.util.hash_pandas_object(part.astype(str), index=True).to_numpy().tobytes())
        elif isinstance(part, np.ndarray):
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, RoadNetwork):
            for name in ("node_id", "x", "y", "tail", "head", "length_m", "time_s"):
                h.update(np.ascontiguousarray(getattr(part, name)).tobytes())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()


def _model_key(model: object) -> object:
    if isinstance(model, _NetworkShare):
        return (model.network, model.snappable, model.service_node, repr(model.options))
    return repr(model)


def _read_checkpoint(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError):  # truncated or foreign file: computed again
        return None


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


class _Described:
    """Stands for a network model where only its notes are needed (the whole-run notes are
    built once by :func:`zonesblanches.api.diagnostic` on one unit, without a Dijkstra pass)."""

    def __init__(self, model: TravelTimeModel):
        self.mode, self.method, self.description = model.mode, model.method, model.description

    def nearest(self, origins, destinations) -> NearestTimes:
        n = len(origins)
        return NearestTimes(np.full(n, np.inf), np.full(n, -1, dtype=np.int64))


class _Pending(_Described):
    """A network mode the workers will read (``osm=``): a road-network model for the margin
    of the run's services; its notes come once the workers have read the network."""

    def __init__(self, mode: str):
        from zonesblanches.coverage.network import NETWORK

        self.mode, self.method, self.description = mode, NETWORK, ""


def _departement_names() -> dict[str, str]:
    deps = reference.load_departements(None)
    return dict(zip(deps["code_departement"], deps["nom"], strict=True))


def _partition_keys(demand: gpd.GeoDataFrame, territory: Territory) -> np.ndarray:
    if "code_departement" in demand:
        return demand["code_departement"].astype(str).to_numpy()
    if "code_insee" in demand:
        by_commune = territory.communes.set_index("code_insee")["code_departement"]
        return demand["code_insee"].map(by_commune).astype(str).to_numpy()
    raise ParameterError(
        "Les unités de demande doivent porter « code_departement » ou « code_insee » pour être "
        "réparties par département."
    )


def partitioned_diagnostic(
    territory: Territory | str | Sequence[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    *,
    services: object = None,
    categories: Sequence[str] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    demand: gpd.GeoDataFrame | None = None,
    margin_km: float | None = None,
    client: object = None,
    n_workers: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    retries: int = 2,
    on_partition: Callable[[dict], None] | None = None,
    osm: str | os.PathLike | None = None,
    network_modes: Sequence[str] | None = None,
    carreaux: str | os.PathLike | None = None,
) -> PartitionedRun:
    """:func:`zonesblanches.api.diagnostic`, one Dask task per département.

    Parameters
    ----------
    territory, thresholds, services, categories, models, demand, margin_km
        As for :func:`zonesblanches.api.diagnostic` (``territory`` also takes ``"france"`` and
        comma-separated régions or départements, see :func:`select_territories`); ``models``
        may hold road-network models (:func:`zonesblanches.api.network_models` of the whole
        territory): each département gets its cut of them.
    client : dask.distributed.Client or str, optional
        An existing client, or a scheduler address (``tcp://HOTE:8786``); default: a
        ``LocalCluster`` of ``n_workers`` processes, closed at the end.
    n_workers : int, optional
        Workers of the ``LocalCluster`` (default: one per core).
    checkpoint_dir : path-like, optional
        Folder of the départements' results (Parquet, keyed by a hash of their inputs): a
        rerun resumes from it.
    retries : int
        Times a failed task is tried again before its département is reported.
    on_partition : callable, optional
        Called with a dict (``departement``, ``nom``, ``statut``, ``secondes``, ``unites``,
        ``fait``, ``total``…) each time a département is done, resumed or failed.
    osm : path-like, optional
        OSM file (PBF or XML) read **by the workers** (same path on each), instead of a
        network read here and sent: one read per group of départements, for the modes of
        ``network_modes`` (default: every road mode of ``thresholds``), with the margins of
        :func:`zonesblanches.api.network_models`; see :mod:`zonesblanches.partition_osm`.
        Same results as ``models=network_models(territory, modes, osm=osm, ...)``.
    carreaux : path-like, optional
        INSEE Filosofi grid file read **by the workers** (same path on each), one read per
        group of départements, instead of ``demand=api.read_demand(territory, carreaux)``
        read here: same units, same results (see :mod:`zonesblanches.partition_inputs`).
        The checkpoints are then keyed by the file (path, size, modification time).

    Raises
    ------
    PartitionError
        A département still failed after its retries (French message naming it); the others
        are finished and checkpointed.
    """
    from zonesblanches import api

    territory = select_territories(territory)
    thresholds = dict(thresholds or api.DEFAULT_THRESHOLDS)
    grid = None if carreaux is None else _grid_source(carreaux, demand)
    demand = commune_demand(territory.communes) if demand is None and grid is None else demand
    network = {m: x for m, x in (models or {}).items() if isinstance(x, NetworkModel)}
    resolved = api.resolve_services(
        territory,
        services,
        thresholds=thresholds,
        models=models,
        margin_km=margin_km,
        network=bool(network),
    )
    # The client first, and the whole networks' graphs sent to its workers while this
    # process prepares the run (see partition_run._Connection); not when checkpoints may
    # hold every département (no cluster is then started).
    # (Both closed by the ``finally`` below, whatever fails.)
    connection = grid_connection = grid_reads = None
    try:
        if grid is not None:  # the workers read the grid file before anything else
            from zonesblanches.partition_inputs import read_grid_on_workers
            from zonesblanches.partition_run import _Connection

            grid_connection = _Connection(*_client(client, n_workers))
            client = grid_connection.client
            demand, grid_reads = read_grid_on_workers(client, grid, territory)
        resumable = checkpoint_dir is not None and any(Path(checkpoint_dir).glob("*.parquet"))
        if network and not resumable:
            from zonesblanches.coverage.traveltime import _metric_xy
            from zonesblanches.partition_run import _open

            connection = _open(
                client, n_workers, network, _metric_xy(demand.geometry), resolved, thresholds,
                categories,
            )  # fmt: skip
            client = connection
        source = None
        if osm is not None:
            from zonesblanches.modes import MODES

            wanted = network_modes or [m for m in thresholds if m in MODES]
            margins = api.network_margins(
                territory, wanted, thresholds, margin_km, resolved.services
            )
            if not isinstance(margins, dict):
                margins = dict.fromkeys(wanted, margins)
            top = {m: max(np.atleast_1d(thresholds[m])) for m in wanted}
            source = OsmSource(str(osm), list(wanted), margins, top, {}, _checked_xy(resolved))
            models = {**(models or {}), **{m: _Pending(m) for m in wanted}}
        # The notes, kept services and categories of the whole run, from the workflow itself.
        described = {m: _Described(x) if m in network else x for m, x in (models or {}).items()}

        def whole_shell():
            return api.diagnostic(
                territory,
                thresholds,
                services=resolved,
                categories=categories,
                models=described or None,
                demand=demand.iloc[:1],
                margin_km=margin_km,
            )

        shell = whole_shell()
        kept, modes, cats = shell.services, shell.modes, shell.categories
        thresholds = shell.thresholds
        specs: dict[str, object] = {}
        for mode in modes:
            given = (models or {}).get(mode)
            if mode in network:
                specs[mode] = _share(network[mode], kept, thresholds[mode])
            elif isinstance(given, _Pending):
                specs[mode] = source
            else:
                specs[mode] = given or StraightLineModel(mode)

        keys = _partition_keys(demand, territory)
        names = _departement_names()
        folder = None if checkpoint_dir is None else Path(checkpoint_dir)
        base = demand.copy()
        base["population"] = base["population"].astype(float)
        parts = {d: np.flatnonzero(keys == d) for d in sorted(set(keys))}
        digest_common = None
        if folder is not None:
            digest_common = _digest(kept, thresholds, cats, *(_model_key(specs[m]) for m in modes))
            if source is not None:
                stat = Path(source.path).stat()
                digest_common = _digest(digest_common, source, stat.st_size, stat.st_mtime_ns)
            if grid is not None:  # the units: the file and the territory they come from
                digest_common = _digest(digest_common, grid, _territory_key(territory))
        rows: dict[str, dict] = {}
        frames: dict[str, pd.DataFrame] = {}
        events: list[dict] = []
        total = len(parts)

        def report(dept: str, **info) -> None:
            row = {"departement": dept, "nom": names.get(dept, dept), **info}
            rows[dept] = {**rows.get(dept, {}), **row}
            event = {**rows[dept], "fait": len(frames), "total": total}
            events.append(event)
            if on_partition is not None:
                on_partition(event)

        todo: dict[str, str] = {}
        for dept, pos in parts.items():
            key = (
                ""
                if folder is None
                else _digest(digest_common, dept if grid is not None else base.iloc[pos])
            )
            path = None if folder is None else folder / f"{dept}-{key[:20]}.parquet"
            frame = None if path is None else _read_checkpoint(path)
            if frame is not None:
                frames[dept] = frame
                report(dept, unites=len(pos), statut="repris", secondes=0.0, passes=0)
            else:
                todo[dept] = key
        notes: dict[str, object] = {}
        network_reads: dict = {}
        if todo or source is not None:
            _run_tasks(
                todo, parts, base, kept, thresholds, cats, specs, client, n_workers, retries,
                folder, frames, report, (territory, source, notes, network_reads),
            )  # fmt: skip
        if source is not None:  # the whole network's notes, from the workers' reads
            described.update({m: _Described(x) for m, x in notes.items()})
            shell = whole_shell()
        failed = [r for r in rows.values() if r.get("statut") == "échec"]
        if failed:
            lines = [f"{r['nom']} ({r['departement']}) : {r['erreur']}" for r in failed]
            where = (
                f" Les résultats des autres départements sont enregistrés dans {folder} : relancez "
                "la même commande pour reprendre sans les recalculer."
                if folder is not None
                else ""
            )
            raise PartitionError(
                f"Calcul échoué pour {fr_count(len(failed), 'département')} sur {total} "
                f"(après {retries + 1} essais) : " + " ; ".join(lines) + "." + where
            )
        columns = pd.concat([frames[d] for d in parts]).loc[base.index]
        order = _column_order(columns, modes, cats)
        columns = columns[order]
        for mode in modes:
            if f"remarque_{mode}" in columns:
                columns[f"remarque_{mode}"] = columns[f"remarque_{mode}"].fillna("")
        units = pd.concat([base, columns], axis=1)
        shell.units = gpd.GeoDataFrame(units, geometry=demand.geometry.name, crs=demand.crs)
        shell.models = {m: (models or {}).get(m) or shell.models[m] for m in modes}
        shell.models.update({m: described[m] for m in notes})
        table = pd.DataFrame([rows[d] for d in parts])
        grid_rows = None if grid is None else demand.attrs.get("lecture")
        return PartitionedRun(
            shell, table, folder, events, network_reads or None, grid_reads, grid_rows
        )
    finally:
        if connection is not None:
            connection.close()
        if grid_connection is not None:
            grid_connection.close()


def _grid_source(carreaux: str | os.PathLike, demand: object):
    """The grid file the workers will read (``carreaux=``), checked here."""
    from zonesblanches.partition_inputs import GridSource

    if demand is not None:
        raise ParameterError(
            "Donnez soit les unités de demande (demand=), soit le fichier de carreaux que les "
            "workers lisent (carreaux=), pas les deux."
        )
    return GridSource.of(carreaux)


def _territory_key(territory: Territory) -> str:
    """The territory's communes (codes and outlines): which cells a grid file gives it, and
    their communes."""
    kept = ("code_insee", "code_departement", "code_epci", "nom", "nom_epci")
    return _digest(territory.communes[[c for c in kept if c in territory.communes] + ["geometry"]])


def _checked_xy(resolved) -> np.ndarray:
    """Lambert-93 points of the services read (all of them, as the command line counts
    those far from a network read on the driver), without the ones with no geometry."""
    from zonesblanches.crs import LAMBERT93

    points = resolved.services.geometry.to_crs(LAMBERT93)
    points = points[~(points.isna() | points.is_empty).to_numpy()]
    return np.column_stack([points.x.to_numpy(float), points.y.to_numpy(float)])


def _column_order(columns: pd.DataFrame, modes: Sequence[str], cats: Sequence[str]) -> list[str]:
    """Columns in :func:`compute_coverage`'s order: per mode, per category time, service,
    flag; then the mode's remarks when any unit has one."""
    order = []
    for mode in modes:
        for cat in cats:
            order += [time_col(cat, mode), service_col(cat, mode), blank_col(cat, mode)]
        remark = f"remarque_{mode}"
        if remark in columns and (columns[remark].fillna("") != "").any():
            order.append(remark)
    return order


def format_partition(event: Mapping) -> str:
    """One French progress line: « [3/5] Nord (59) : 648 communes en 1,2 s (worker 0) »."""
    head = f"[{event['fait']}/{event['total']}] {event['nom']} ({event['departement']})"
    if event["statut"] == "échec":
        return f"{head} : ÉCHEC — {event.get('erreur', '')}"
    if event["statut"] == "repris":
        return f"{head} : repris du point de reprise ({fr_count(event['unites'], 'unité')})"
    widened = " (marge du réseau élargie)" if event.get("passes", 1) > 1 else ""
    return (
        f"{head} : {fr_count(event['unites'], 'unité')} en {fr_num(event['secondes'])} s "
        f"(worker {event.get('worker', '?')}){widened}"
    )
