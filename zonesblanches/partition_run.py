"""The Dask side of a partitioned run (:mod:`zonesblanches.partitioned`): the cluster, the
tasks, and the loop that submits the départements and gathers them.

- :func:`_partition_task`: one département (or one group of its modes) on its worker;
- :func:`_run_tasks`: the whole network's shares sent to the cluster once, the (mode, category)
  node-time passes, the départements' tasks, their retries and wider second passes, their
  checkpoints as they finish.

Split from :mod:`zonesblanches.partitioned` (which keeps the workflow, the checkpoints' keys and
the result), as :mod:`zonesblanches.partition_osm` holds the workers' reading of the OSM file
and :mod:`zonesblanches.partition_shm` the run's connection and its graphs in shared memory.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches.columns import time_col
from zonesblanches.coverage.analysis import compute_coverage
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.coverage.partition_parts import (
    _AtNodes,
    _category_points,
    _cut_share,
    _network_part,
    _NetworkPart,
    _NetworkShare,
    _part_model,
    _Services,
    _straight_line_columns,
    _Units,
    _whole_node_times,
    _whole_share,
    _with_radius,
    apply_thread_share,
    fastest_speed_ms,
    route_radius_m,
    task_inputs,
)
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.errors import ParameterError
from zonesblanches.partition_osm import OsmSource, WorkerReads
from zonesblanches.partition_shm import (  # noqa: F401 - the tests reach some here
    SHARED_PREFIX,
    _Connection,
    _host_token,
    _shared_folder,
    _SharedGraph,
    _visible,
)


def _coverage_columns(
    units: _Units,
    services: _Services,
    thresholds: Mapping[str, float],
    categories: Sequence[str],
    models: Mapping[str, object],
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The columns :func:`compute_coverage` adds to ``units`` (same order), and for each mode
    on a network the radius its times ask for (``inf``: a unit left without a route)."""
    frames, needed = [], {}
    plain = {m: t for m, t in thresholds.items() if not isinstance(models[m], _NetworkPart)}
    calls = []
    if plain and all(type(models[m]) is StraightLineModel for m in plain):
        cols = _straight_line_columns(units, services, plain, categories, models)
        frames.append(pd.DataFrame(cols, index=units.index))
    elif plain:
        calls.append((plain, services.frame(), {m: models[m] for m in plain}))
    for mode, spec in models.items():
        if isinstance(spec, _NetworkPart):
            model = _part_model(spec)
            for cat, times in (spec.fields or {}).items():
                if times is not None:
                    model.remember(_category_points(spec, services, cat), times)
            subset = services.frame().iloc[spec.services]
            calls.append(({mode: thresholds[mode]}, subset, {mode: model}))
    frame = units.frame() if calls else None
    for minutes, subset, chosen in calls:
        res = compute_coverage(frame, subset, minutes, categories=categories, models=chosen)
        added = res.units.iloc[:, len(frame.columns) :]
        frames.append(pd.DataFrame(added))
        for mode in minutes:
            spec = models[mode]
            if not isinstance(spec, _NetworkPart):
                continue
            # a route of t minutes stays within t × speed of its start: the radius each unit's
            # time asks for (inf: no route found, while the run has such services)
            present = [c for c in categories if (services.categories == c).any()]
            times = np.column_stack(
                [added[time_col(c, mode)].to_numpy(float) for c in present]
                or [np.zeros(len(frame))]
            )
            top = times.max(axis=1)
            needed[mode] = route_radius_m(top, spec.speed_ms)
    return pd.concat(frames, axis=1), needed


def _partition_task(
    units: _Units,
    services: _Services,
    thresholds: Mapping[str, float],
    categories: Sequence[str],
    models: Mapping[str, object],
) -> dict:
    """One département: its columns, the radius each network mode asks for, time, worker.

    A mode given as ``(whole part, radius, node times)`` computes on the whole network."""
    start = time.perf_counter()
    apply_thread_share()
    models = {m: _with_radius(*x) if isinstance(x, tuple) else x for m, x in models.items()}
    columns, needed = _coverage_columns(units, services, thresholds, categories, models)
    given = {m: s.radius_m for m, s in models.items() if isinstance(s, _NetworkPart)}
    return {
        "columns": columns,
        "wider": {m: r for m, r in needed.items() if (r > given[m]).any()},
        "radius": {m: float(np.max(r)) if len(r) else 0.0 for m, r in given.items()},
        "share": {m: s.share for m, s in models.items() if isinstance(s, _NetworkPart)},
        "seconds": time.perf_counter() - start,
        "worker": _worker_name(),
    }


def _join_pieces(pieces: Sequence[dict]) -> dict:
    """One département's result from the results of its tasks per group of modes."""
    return {
        "columns": pd.concat([p["columns"] for p in pieces], axis=1),
        "wider": {m: r for p in pieces for m, r in p["wider"].items()},
        "radius": {m: r for p in pieces for m, r in p["radius"].items()},
        "share": {m: v for p in pieces for m, v in p["share"].items()},
        "seconds": sum(p["seconds"] for p in pieces),
        "worker": max(pieces, key=lambda p: p["seconds"])["worker"],
    }


@dataclass
class _Attempt:
    """One try of a département (see ``_run_tasks``): its groups of modes, each a task, whose
    results are joined here; ``later``: the modes on the whole network whose task waits for
    their node times."""

    dept: str
    units: _Units
    models: dict
    groups: list[list[str]]
    later: list[str]
    key: str  # the département's key (its task when one group, else the base of its pieces)
    futures: dict = field(default_factory=dict)  # group → its task
    outs: dict = field(default_factory=dict)  # group → its result
    done: bool = False

    def key_of(self, slot: int) -> str:
        """The key of a group's task: the département's own when it is alone."""
        if len(self.groups) == 1:
            return self.key
        head, _, rest = self.key.partition("-")
        dept, _, tail = rest.partition("-")
        return f"partie-{dept}-{'-'.join(self.groups[slot])}-{tail}"


def _error(future) -> str:
    """A failed task's error, as the run reports it."""
    try:
        future.result()
        return "tâche annulée"
    except Exception as exc:  # noqa: BLE001 - any task error is reported by name
        return f"{type(exc).__name__} : {exc}"


def _fields_at(fields: Mapping[str, object], unit_nodes: np.ndarray | None, pos) -> dict:
    """A mode's node times (category → :func:`_whole_node_times`'s pair of
    :class:`_AtNodes`, or ``None``) kept only at the nodes of the units at ``pos``: what a
    département's task reads of them (all of them without ``unit_nodes``)."""
    if unit_nodes is None:
        return dict(fields)
    nodes = np.unique(unit_nodes[pos])
    nodes = nodes[nodes >= 0]
    out = {}
    for cat, times in fields.items():
        if times is None:
            out[cat] = None
            continue
        at = np.searchsorted(times[0].nodes, nodes)
        out[cat] = tuple(_AtNodes(nodes, t.values[at], t.size) for t in times)
    return out


def _hold(data: object) -> object:
    """Data sent to the cluster as a task's result rather than scattered: if the worker holding
    it dies, the scheduler computes it again (scattered data would be lost with its worker,
    and every task needing it cancelled)."""
    return data


def _straight_line_reach(units: _Units, services: _Services, categories) -> np.ndarray:
    """Per unit, the largest over the run's categories of the Lambert-93 distance to the
    category's nearest service (0 without any service).

    A route of ``t`` minutes is at least that distance long (to 0.5 %, Lambert-93 against
    edge lengths), so the radius it asks for (``t × speed × 1.02 + 100 m``) exceeds it: a
    first cut narrower than this distance is sure to fail its proof for that unit, and the
    département goes to the whole network at once instead of computing that cut for nothing.
    """
    xy = np.column_stack([units.x, units.y])
    reach = np.zeros(len(xy))
    for cat in categories:
        tree, _ = services.tree(cat)
        if tree is not None:
            reach = np.maximum(reach, tree.query(xy, k=1)[0])
    return reach


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "local"


def _write_checkpoint(frame: pd.DataFrame, path: Path) -> None:
    from zonesblanches.writers import atomic_path

    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=True)


QUIET_CLUSTER = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.worker.memory.monitor-interval": "500ms",
}
"""Dask's own monitoring, less often, in the ``LocalCluster`` a run starts: its scheduler and
the workers' nannies live in the launching process, whose event loop measured its own lag
every 20 ms, read the machine's counters (processor, network, disks) every 0.5 s and each
worker's memory every 0.1 s: 60 to 90 ms of processor per second of an idle cluster (2
workers), taken from the workers when they use every core (13 ms with these settings). Every
worker keeps its memory limit (checked twice a second); the dashboard's plots are coarser."""


def _client(client: object, n_workers: int | None):
    """``(client, owned)``: the given client, a client of the given scheduler address, or a
    new ``LocalCluster`` (one single-threaded process per core, or ``n_workers``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError(
            "Le calcul par département demande Dask : pip install 'zonesblanches[dask]' "
            "(ou pip install distributed)."
        ) from None
    if client is not None and not isinstance(client, str):
        return client, False
    if isinstance(client, str):
        try:
            return Client(client, timeout=30), True
        except OSError as exc:
            raise ParameterError(
                f"Ordonnanceur Dask injoignable à l'adresse « {client} » : {exc}. Vérifiez "
                "l'adresse (tcp://HOTE:8786) et que `dask scheduler` tourne."
            ) from None
    workers = n_workers or os.cpu_count() or 1
    if workers < 1:
        raise ParameterError(f"--workers doit être au moins 1 (reçu : {workers}).")
    import dask

    # One task per worker thread at a time (Dask's default sends 1.1 per thread, rounded up:
    # a second task waits on a busy worker). A pass on the whole network holds the GIL, so the
    # scheduler cannot take the waiting task back (stealing needs the worker's answer): at the
    # end of the passes one worker sat idle while the other ran its two (up to a pass, 2 s at
    # r28). With one at a time, each free worker takes the next task, largest first.
    # Nor does Dask's active memory manager drop, every 2 s, the copies of the run's inputs
    # (services, points, the whole networks' shares) on all workers but one: the next task
    # needing one on another worker fetched it from a worker whose pass held the GIL (0.8
    # and 1.7 s of waiting measured at r28, once the passes and départements were sent one
    # at a time, see _run_tasks).
    keep = {"distributed.scheduler.active-memory-manager.start": False}
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0, **QUIET_CLUSTER, **keep}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        )
    # Our own cluster, on this machine: the client reaches its workers, so scattered data and
    # results go straight between them and this process (not relayed by the scheduler, which
    # runs in this process too: each relay is another copy on this process's core).
    return Client(cluster, direct_to_workers=True), True


def _likely_whole_modes(
    network: Mapping[str, object],
    unit_xy: np.ndarray,
    services,
    thresholds: Mapping[str, object],
    categories: Sequence[str] | None,
) -> list[str]:
    """The network modes for which some unit is, in a straight line, farther from the
    nearest service of a category (among every service read) than the first radius of a cut:
    their tasks will need the whole network (:func:`_straight_line_reach`), so its graph can
    go to the workers before the run is prepared. An estimate made before the run's own
    services and categories are known (a superset of the services, every category read): a
    wrong guess only sends a graph for nothing, or sends it later, as before."""
    from scipy.spatial import cKDTree

    from zonesblanches.coverage.traveltime import _metric_xy

    frame = getattr(services, "services", services)
    if frame is None or not len(frame) or "categorie" not in frame or not len(unit_xy):
        return []
    xy = _metric_xy(frame.geometry)
    ok = np.isfinite(xy).all(axis=1)
    cats = frame["categorie"].to_numpy(dtype=object)
    units = unit_xy[np.isfinite(unit_xy).all(axis=1)]
    reach = np.zeros(len(units))
    for cat in categories or sorted(set(cats[ok].tolist())):
        mask = ok & (cats == cat)
        if mask.any():
            reach = np.maximum(reach, cKDTree(xy[mask]).query(units, k=1)[0])
    far = float(reach.max()) if len(reach) else 0.0
    modes = []
    for mode, model in network.items():
        if mode not in thresholds:
            continue
        minutes = float(np.max(np.atleast_1d(thresholds[mode])))
        if far > route_radius_m(minutes, fastest_speed_ms(model)):
            modes.append(mode)
    return modes


def _open(client, n_workers, network, unit_xy, services, thresholds, categories) -> _Connection:
    """The run's client (:func:`_client`), and the graphs of the modes likely to need the
    whole network (:func:`_likely_whole_modes`) sent to its workers from now on: only the
    graphs of the launching process's own models (``NetworkModel``, with their k-d tree),
    the ones :func:`_whole_share` sends."""
    client, owned = _client(client, n_workers)
    limited = None
    try:
        from zonesblanches.worker_threads import limit_numba_threads, plugin_name

        # before the graphs move: a round trip to workers receiving them waits for them
        limited = plugin_name()  # removed on failure even if registering it raised
        limit_numba_threads(client, limited)
        exact = {
            m: x
            for m, x in network.items()
            if type(x) is NetworkModel and getattr(x, "_tree", None) is not None
        }
        likely = _likely_whole_modes(exact, unit_xy, services, thresholds, categories)
        connection = _Connection(client, owned, {m: exact[m].graph for m in likely})
        connection.limited = limited
        return connection
    except BaseException:
        failed = _Connection(client, owned)
        failed.limited = limited
        failed.close()
        raise


def _run_tasks(
    todo, parts, base, kept, thresholds, cats, specs, client, n_workers, retries, folder,
    frames, report, read_by_workers,
) -> None:  # fmt: skip
    """Submit the départements of ``todo``, gather them as they finish (checkpointing each),
    send again with a wider cut those whose network margin was too narrow.

    ``read_by_workers``: ``(territory, OsmSource or None, notes, network_reads)``; with a
    source, the workers read the network (:mod:`zonesblanches.partition_osm`), ``notes``
    receives a stand-in model per mode for the whole network's notes and ``network_reads``
    what was read (:meth:`WorkerReads.network_notes`)."""
    from distributed import as_completed

    connection = (
        client if isinstance(client, _Connection) else _Connection(*_client(client, n_workers))
    )
    client = connection.client
    try:
        from zonesblanches.worker_threads import limit_numba_threads

        if not connection.limited:  # numba's threads: each worker its share of the cores
            # (removed at the end from a caller's cluster)
            connection.limited = limit_numba_threads(client)
        # Projected once here, as the straight-line model projects (same numbers), and sent
        # as arrays: the services once per worker, each département's units to its task.
        every, lean = task_inputs(base, kept)
        shared = client.submit(_hold, lean, pure=False)
        unit_xy = np.column_stack([every.x, every.y])
        # every point a task on the whole network snaps: the run's units and services
        snapped = np.vstack([unit_xy, np.column_stack([lean.x, lean.y])])
        # The straight-line distance from each unit to its farthest category's nearest
        # service: a cut narrower than it cannot prove that unit (see _straight_line_reach).
        reach = _straight_line_reach(every, lean, cats)
        started: dict[str, float] = {}

        radii: dict[str, dict[str, np.ndarray]] = {}
        whole: dict[str, object] = {}
        networks: dict[str, object] = {}
        fields: dict[str, dict] = {}
        held: dict[str, object] = {}
        run = uuid.uuid4().hex[:10]  # keys of this run only: a rerun never gets an old error
        graphs: dict[str, object] = {}  # mode → its whole graph, sent on its own (_Connection)

        def whole_share(mode: str):
            """What the tasks on the whole network get of a mode (:func:`_whole_share`),
            without the graph when it was sent on its own (then an argument of its tasks)."""
            share = _whole_share(specs[mode], snapped)
            return replace(share, graph=None) if mode in graphs else share

        reads = WorkerReads(client, read_by_workers[:3], parts, todo, unit_xy, shared, lean, run)

        network_modes = [m for m, x in specs.items() if isinstance(x, _NetworkShare | OsmSource)]
        names = sorted(client.scheduler_info().get("workers", {}))

        def pinned(mode: str) -> list[str] | None:
            """Networks read by the workers (``osm=``), with as many network modes as
            workers or more: each mode's whole-network tasks go to one worker (a hint: another
            takes them if it dies), which builds that mode's graph alone and never receives
            the other mode's network. A network sent from here is on every worker with its
            graph and snapping table: the (mode, category) tasks spread over all workers
            (modes differ in size: one mode per worker left one worker idle a third of the
            time)."""
            if reads.source is None or len(names) < 2 or len(network_modes) < len(names):
                return None
            return [names[network_modes.index(mode) % len(names)]]

        def cost(mode: str) -> int:
            """A mode's shortest-path cost, as its network's edges (0: not known here)."""
            spec = specs[mode]
            return int(spec.network.n_edges) if isinstance(spec, _NetworkShare) else 0

        # Largest network first: its (mode, category) passes are sent first and run first
        # (``priority``), the smaller mode's passes fill the workers' ends (longest first).
        by_cost = sorted(specs, key=cost, reverse=True)

        def first_radius(dept: str, mode: str) -> np.ndarray:
            """The radius of a département's first pass: the threshold's reach, or the whole
            network (``inf``) when a cut that narrow is sure to fail."""
            pos, spec = parts[dept], specs[mode]
            margin = reads.first_radius[mode] if reads.source else spec.margin_m
            if dept not in passes and (reach[pos] > margin).any():
                return np.full(len(pos), np.inf)  # the cut would fail: skip it
            return np.full(len(pos), margin)

        def submit(dept: str, wider: Mapping[str, np.ndarray]):
            pos = parts[dept]
            models = {}
            for mode in by_cost:
                spec = specs[mode]
                if isinstance(spec, _NetworkShare | OsmSource):
                    first = first_radius(dept, mode)
                    radius = wider.get(mode, radii.get(dept, {}).get(mode, first))
                    if passes.get(dept, 0) >= 2:  # never more than three passes
                        radius = np.full(len(pos), np.inf)
                    radii.setdefault(dept, {})[mode] = radius
                    # The whole network goes to the cluster once, scattered to the workers
                    # (not in the task graph, which goes through the scheduler), or read by
                    # a worker; each cut is a task of its own on a worker that holds it (the
                    # driver only sends coordinates).
                    group = reads.group_share(dept, mode, radius, unit_xy[pos])
                    if reads.source is not None:
                        where = "territoire" if group is None else f"groupe {reads.group_of[dept]}"
                        read_from.setdefault(dept, {})[mode] = where
                    if group is not None:
                        models[mode] = client.submit(
                            _network_part, group, unit_xy[pos], radius, pure=False
                        )
                        continue
                    if mode not in networks and (reads.source or not np.isinf(radius).any()):
                        networks[mode] = (
                            reads.whole(mode)
                            if reads.source
                            else client.scatter(_cut_share(spec), broadcast=True, hash=False)
                        )
                    if np.isinf(radius).any():  # the whole network: one part for all
                        if mode not in fields:
                            where = pinned(mode)
                            # sent from here: each worker holds the graph and the snapping
                            # table, and makes the whole part itself; read by a worker: a
                            # part there
                            if mode not in whole:
                                whole[mode] = (
                                    client.scatter(whole_share(mode), broadcast=True, hash=False)
                                    if reads.source is None
                                    else client.submit(
                                        _network_part, networks[mode], unit_xy[:1],
                                        np.full(1, np.inf), workers=where,
                                        allow_other_workers=where is not None,
                                    )
                                )  # fmt: skip
                            if "points" not in held:  # every unit, for the node times kept
                                held["points"] = client.submit(_hold, unit_xy, pure=False)

                            def one_pass(cat: str, mode: str = mode, where=where):
                                return client.submit(
                                    _whole_node_times, whole[mode], shared, cat,
                                    held["points"], graphs.get(mode), workers=where,
                                    allow_other_workers=where is not None, priority=cost(mode),
                                    key=f"_whole_node_times-{mode}-{cat}-{run}",
                                )  # fmt: skip

                            if early:  # sent by ``dispatch``, gathered here as they end
                                fields[mode] = {}
                                for cat in cats:
                                    later_work.append(((0, -cost(mode)), one_pass, cat, mode))
                            else:
                                fields[mode] = {cat: one_pass(cat) for cat in cats}
                        # the whole part itself, not a task's copy of it: one object per
                        # worker, whose model (graph, snapping) the worker builds once
                        models[mode] = (whole[mode], radius, fields[mode])
                    else:
                        models[mode] = client.submit(
                            _network_part, networks[mode], unit_xy[pos], radius, pure=False
                        )
                else:
                    models[mode] = spec
            models = {m: models[m] for m in specs}  # the run's order of modes
            started.setdefault(dept, time.perf_counter())
            key = f"departement-{dept}-{run}-{passes.get(dept, 0)}"
            units = every.take(pos)
            # Networks read by the workers (osm=): a mode on the whole network is a task of
            # its own on the worker that holds that mode's network and node times (nothing
            # big moves between workers), the other modes together, one task joins them.
            # Networks sent from here: a mode on the whole network is a task of its own,
            # sent once every node time of that mode is here (gathered as its passes end),
            # with them: it depends on no other task, so it never waits for a worker whose
            # pass holds the GIL (SciPy's Dijkstra) to hand them over. The first mode's
            # départements then run while the last passes of the other mode do, or on the
            # worker that ran out of passes first, instead of all after every pass.
            alone = [m for m, x in models.items() if isinstance(x, tuple) and pinned(m)]
            later = [m for m, x in models.items() if isinstance(x, tuple) and early]
            groups = [[m for m in models if m not in alone + later], *([m] for m in alone)]
            groups = [g for g in groups if g] + [[m] for m in later]
            attempt = _Attempt(dept, units, models, groups, later, key)
            if len(groups) == 1 and not later:
                send(attempt, 0, key)
            elif not later:
                pieces = [
                    client.submit(
                        _partition_task,
                        units,
                        shared,
                        {m: thresholds[m] for m in group},
                        cats,
                        {m: models[m] for m in group},
                        key=attempt.key_of(i),
                        retries=retries,
                        pure=False,
                        workers=pinned(group[0]) if group[0] in alone else None,
                        allow_other_workers=group[0] in alone,
                    )  # fmt: skip
                    for i, group in enumerate(groups)
                ]
                joined = client.submit(_join_pieces, pieces, key=key, retries=retries, pure=False)
                attempt.groups = [[m for g in groups for m in g]]
                track(attempt, 0, joined)
            else:
                for i, group in enumerate(groups):
                    if group[0] not in later:
                        send(attempt, i, attempt.key_of(i))
                    elif group[0] in gathered:
                        later_work.append(((1, 0), send, attempt, i, attempt.key_of(i)))
                    elif group[0] in lost:
                        fail(attempt, lost[group[0]])
                        break
                    else:
                        waiting.setdefault(group[0], []).append((attempt, i))

        def track(attempt: _Attempt, slot: int, future) -> None:
            attempt.futures[slot] = future
            piece_of[future.key] = (attempt, slot)
            pending.add(future)

        def send(attempt: _Attempt, slot: int, key: str, where=None):
            """Submit one group of modes of a département (its node times, if any, with it),
            on the worker ``where`` if given (another if it is gone)."""
            group = attempt.groups[slot]
            models = dict(attempt.models)
            for m in set(group) & set(attempt.later):
                part, radius, _ = models[m]
                models[m] = (
                    part,
                    radius,
                    _fields_at(gathered[m], unit_nodes(m), parts[attempt.dept]),
                )
            future = client.submit(
                _partition_task, attempt.units, shared, {m: thresholds[m] for m in group}, cats,
                {m: models[m] for m in group}, key=key, retries=retries, pure=False,
                workers=where, allow_other_workers=where is not None,
            )  # fmt: skip
            track(attempt, slot, future)
            return future

        def unit_nodes(mode: str) -> np.ndarray | None:
            """The node each unit of the run snaps to on the whole network (-1: none), from the
            driver's own k-d tree, the one the tasks' snapping table answers from (``None``:
            no tree here; the tasks then get the node times at every unit's node)."""
            if mode not in snapped_nodes:
                spec, nodes = specs[mode], None
                if getattr(spec, "tree", None) is not None:
                    nodes = np.full(len(unit_xy), -1, dtype=np.int64)
                    ok = np.isfinite(unit_xy).all(axis=1)
                    if ok.any():
                        nodes[ok] = np.flatnonzero(spec.snappable)[spec.tree.query(unit_xy[ok])[1]]
                snapped_nodes[mode] = nodes
            return snapped_nodes[mode]

        def fail(attempt: _Attempt, message: str) -> None:
            if attempt.done:
                return
            attempt.done = True
            for future in attempt.futures.values():
                future.release()
            dept = attempt.dept
            passes[dept] = passes.get(dept, 0) + 1
            report(
                dept, unites=len(parts[dept]), statut="échec", erreur=message, passes=passes[dept]
            )

        def finish(attempt: _Attempt) -> None:
            attempt.done = True
            dept = attempt.dept
            passes[dept] = passes.get(dept, 0) + 1
            pos = parts[dept]
            outs = [attempt.outs[i] for i in range(len(attempt.groups))]
            out = outs[0] if len(outs) == 1 else _join_pieces(outs)
            if out["wider"]:
                submit(dept, out["wider"])
                return
            frames[dept] = out["columns"]
            if folder is not None:
                _write_checkpoint(out["columns"], folder / f"{dept}-{todo[dept][:20]}.parquet")
            report(
                dept,
                unites=len(pos),
                statut="calculé",
                secondes=out["seconds"],
                passes=passes[dept],
                rayon_km={m: round(r / 1000.0, 1) for m, r in out["radius"].items()},
                part_reseau={m: round(v, 3) for m, v in out["share"].items()},
                worker=out["worker"],
                duree=time.perf_counter() - started[dept],
                **({"lecture": read_from[dept]} if dept in read_from else {}),
            )

        early = reads.source is None  # node times gathered here (see submit)
        # Networks sent from here: the (mode, category) passes and the groups of modes on
        # the whole network are sent from here, one per worker at a time, the next one when
        # one ends: passes largest network first, then those groups. Dask would place them
        # all at once (they depend on data already on every worker, so its scheduler does
        # not hold them back in its queue), half on each worker, then move some between
        # workers (work stealing, which waits for a worker whose pass holds the GIL): at r28,
        # the longest passes ran last, one worker idle seconds at the end. Sent one at a
        # time, each worker that ends takes the longest work left, and the groups of the
        # first mode fill the time a worker would wait for the other's last pass.
        later_work: list[tuple] = []  # (order, function sending it, its arguments)
        in_flight: dict[str, str | None] = {}  # key → the worker it was sent to
        slots = max(1, len(names))

        def dispatch() -> None:
            """Send the work left, first first, to the workers without any (each to one of
            them by name: Dask placed some on a busy worker, with an idle one beside)."""
            later_work.sort(key=lambda w: w[0])  # stable: in the order they came
            while later_work and len(in_flight) < slots:
                _, send_it, *args = later_work.pop(0)
                if isinstance(args[0], _Attempt) and args[0].done:
                    continue  # a département that failed meanwhile
                free = [w for w in names if w not in in_flight.values()]
                where = free[:1] or None
                future = send_it(*args, where=where)
                in_flight[future.key] = where[0] if where else None
                if not isinstance(args[0], _Attempt):  # a pass: (category, mode)
                    pass_of[future.key] = (args[1], args[0])
                    pending.add(future)

        def ended(future, value) -> None:
            """A pass or a département's task ended (finished or failed)."""
            if future.key in pass_of:  # a (mode, category) pass of a mode sent from here
                mode, cat = pass_of.pop(future.key)
                if future.status != "finished":
                    lost.setdefault(mode, _error(future))
                    for attempt, _ in waiting.pop(mode, []):
                        fail(attempt, lost[mode])
                elif mode not in lost:
                    arrived.setdefault(mode, {})[cat] = value
                    if len(arrived[mode]) == len(cats):
                        gathered[mode] = arrived[mode]
                        for attempt, slot in waiting.pop(mode, []):
                            later_work.append(((1, 0), send, attempt, slot, attempt.key_of(slot)))
                future.release()
                return
            attempt, slot = piece_of.pop(future.key)
            if attempt.done:  # another group of this département failed
                future.release()
                return
            if future.status != "finished":
                message = _error(future)
                future.release()
                fail(attempt, message)
                return
            future.release()
            attempt.outs[slot] = value
            if len(attempt.outs) == len(attempt.groups):
                finish(attempt)

        piece_of: dict[str, tuple[_Attempt, int]] = {}
        pass_of: dict[str, tuple[str, str]] = {}  # key of a (mode, category) pass
        arrived: dict[str, dict[str, object]] = {}  # mode → category → node times so far
        gathered: dict[str, dict[str, object]] = {}  # modes whose node times are all here
        lost: dict[str, str] = {}  # modes whose pass failed: the error
        waiting: dict[str, list[tuple[_Attempt, int]]] = {}  # mode → groups to send then
        snapped_nodes: dict[str, np.ndarray | None] = {}
        passes: dict[str, int] = {}
        read_from: dict[str, dict[str, str]] = {}  # osm=: the network each mode was cut from
        if reads.source is None:
            # The whole networks the first passes need, sent together before any task runs:
            # a worker computing a pass holds the GIL (SciPy's Dijkstra) and reads nothing
            # until it ends, so a network sent later waits for the workers' passes, and the
            # tasks that need it wait for the network (idle workers at 2.2 M nodes).
            first_whole = [
                m
                for m in by_cost
                if isinstance(specs[m], _NetworkShare)
                and any(np.isinf(first_radius(d, m)).any() for d in todo)
            ]
            graphs.update(connection.graphs())
            if first_whole:
                shares = [whole_share(m) for m in first_whole]
                sent = client.scatter(shares, broadcast=True, hash=False)
                whole.update(zip(first_whole, sent, strict=True))
        # results fetched as they end, without waiting for one held by a busy worker
        pending = as_completed(with_results=True, raise_errors=False)
        for dept in todo:
            submit(dept, {})
        dispatch()
        for future, value in pending:
            in_flight.pop(future.key, None)
            ended(future, value)
            dispatch()
        read_by_workers[3].update(reads.network_notes() or {})  # before the client closes
    finally:
        connection.close()
