"""The partitioned run (issue 18): one Dask task per département gives the region run's bytes.

A ``LocalCluster`` of two single-threaded worker processes on 127.0.0.1, started here. The road
network is the **synthetic** regional extract of ``scripts/make_region_pbf.py`` (street grids on
the real commune points of Hauts-de-France; no real street in it), at a small scale.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from synthetic_osm import synthetic_region_pbf  # noqa: E402

from zonesblanches import api, partitioned  # noqa: E402
from zonesblanches.coverage import partition_parts  # noqa: E402
from zonesblanches.coverage.traveltime import StraightLineModel  # noqa: E402
from zonesblanches.jobs import write_level_syntheses  # noqa: E402
from zonesblanches.maps.tables import communes_table, synthesis_table  # noqa: E402
from zonesblanches.partitioned import (  # noqa: E402
    PartitionError,
    format_partition,
    partitioned_diagnostic,
    select_territories,
)
from zonesblanches.writers import write_csv  # noqa: E402

THRESHOLDS = {"voiture": 20.0, "marche": 30.0}


@pytest.fixture(scope="module")
def region():
    return api.as_territory(None)


@pytest.fixture(scope="module")
def region_run(region):
    return api.diagnostic(region, THRESHOLDS)


def _csv(result, path: Path) -> bytes:
    return write_csv(communes_table(result), path).read_bytes()


def test_straight_line_partitioned_run_gives_the_region_bytes(client, region, region_run, tmp_path):
    events = []
    run = partitioned_diagnostic(region, THRESHOLDS, client=client, on_partition=events.append)
    assert list(run.partitions["departement"]) == ["02", "59", "60", "62", "80"]
    assert (run.partitions["statut"] == "calculé").all()
    assert run.partitions["unites"].sum() == len(region.communes) == 3782
    assert _csv(run.result, tmp_path / "a.csv") == _csv(region_run, tmp_path / "b.csv")
    assert run.result.notes == region_run.notes
    assert run.result.margin_km == region_run.margin_km
    assert [e["fait"] for e in events] == [1, 2, 3, 4, 5]
    assert format_partition(events[-1]).startswith("[5/5] ")
    workers = set(run.partitions["worker"])
    assert len(workers) == 2, workers  # both workers took départements
    assert _plugins(client) == []  # the run's numba plugin left the caller's cluster


def _plugins(client) -> list[str]:
    """This package's worker plugins the scheduler gives workers that join later (Dask's own,
    such as « shuffle », left out)."""
    names = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    return sorted(n for n in names if n.startswith("zonesblanches"))


def _syntheses(result, folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    paths = [write_csv(synthesis_table(result), folder / "synthese.csv")]
    paths += write_level_syntheses(result, folder)
    return {p.name: p.read_bytes() for p in paths}


def test_syntheses_per_epci_departement_region_are_the_region_runs_and_add_up(
    client, region, region_run, tmp_path
):
    run = partitioned_diagnostic(region, THRESHOLDS, client=client)
    parts = _syntheses(run.result, tmp_path / "dask")
    whole = _syntheses(region_run, tmp_path / "seul")
    assert sorted(parts) == [
        "synthese.csv",
        "synthese_departements.csv",
        "synthese_regions.csv",
        "synthese_territoire.csv",
    ]
    assert parts == whole  # byte for byte
    read = {n: pd.read_csv(tmp_path / "seul" / n, dtype={"code_departement": str}) for n in whole}
    deps, regions = read["synthese_departements.csv"], read["synthese_regions.csv"]
    total, epci = read["synthese_territoire.csv"], read["synthese.csv"]
    n_indicators = len(region_run.categories) * len(region_run.modes)
    assert list(deps["code_departement"].unique()) == ["02", "59", "60", "62", "80"]
    assert len(deps) == 5 * n_indicators
    assert list(regions["nom_region"].unique()) == ["Hauts-de-France"]
    assert len(regions) == len(total) == n_indicators
    assert (total["population"] == region.communes["population"].sum()).all()
    figures = ["population", "population_couverte", "population_zone_blanche"]
    figures.append("unites_zone_blanche")
    keys = ["categorie", "mode"]
    by_dep = deps.groupby(keys, sort=False)[figures].sum().reset_index()
    assert by_dep.equals(regions[keys + figures])  # départements add up to the région
    assert regions[keys + figures].equals(total[keys + figures])  # régions to the whole
    # every commune of Hauts-de-France is in an EPCI: the EPCI add up too
    assert epci.groupby(keys, sort=False)[figures].sum().reset_index().equals(by_dep)
    share = (total["population_couverte"] / total["population"]).round(4)
    assert np.allclose(share, total["part_couverte"])


def test_checkpoints_resume_a_rerun(client, region, region_run, tmp_path):
    folder = tmp_path / "reprise"
    first = partitioned_diagnostic(region, THRESHOLDS, client=client, checkpoint_dir=folder)
    files = sorted(p.name for p in folder.glob("*.parquet"))
    assert [f[:3] for f in files] == ["02-", "59-", "60-", "62-", "80-"]
    again = partitioned_diagnostic(region, THRESHOLDS, client=client, checkpoint_dir=folder)
    assert (again.partitions["statut"] == "repris").all()
    expected = _csv(region_run, tmp_path / "ref.csv")
    assert _csv(first.result, tmp_path / "a.csv") == expected
    assert _csv(again.result, tmp_path / "b.csv") == expected


class FailsOnSomme(StraightLineModel):
    """A straight-line model that breaks on the Somme's 771 communes (a simulated bug); its
    ``repr`` is the healthy model's, so a healthy rerun finds the other checkpoints."""

    def nearest(self, origins, destinations):
        if len(origins) == 771:
            raise RuntimeError("panne simulée")
        return super().nearest(origins, destinations)


def test_a_failing_departement_is_named_and_the_others_finish(client, region, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    folder = tmp_path / "reprise"
    models = {"voiture": FailsOnSomme("voiture"), "marche": StraightLineModel("marche")}
    with pytest.raises(PartitionError) as err:
        partitioned_diagnostic(
            region, THRESHOLDS, client=client, models=models, checkpoint_dir=folder, retries=1
        )
    message = str(err.value)
    assert "1 département sur 5" in message and "Somme (80)" in message
    assert "panne simulée" in message and "après 2 essais" in message
    assert str(folder) in message
    assert len(list(folder.glob("*.parquet"))) == 4  # the others finished
    assert _plugins(client) == []  # a failed run removes its numba plugin too
    healthy = {m: StraightLineModel(m) for m in THRESHOLDS}
    rerun = partitioned_diagnostic(
        region, THRESHOLDS, client=client, models=healthy, checkpoint_dir=folder
    )
    status = dict(zip(rerun.partitions["departement"], rerun.partitions["statut"], strict=True))
    assert status == {
        "02": "repris",
        "59": "repris",
        "60": "repris",
        "62": "repris",
        "80": "calculé",
    }


@pytest.fixture(scope="module")
def region_pbf(tmp_path_factory) -> Path:
    return synthetic_region_pbf(tmp_path_factory, 0.003)


@pytest.fixture(scope="module")
def network_inputs(region, region_pbf, tmp_path_factory):
    resolved = api.resolve_services(region, None, thresholds=THRESHOLDS, network=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZONESBLANCHES_CACHE", str(tmp_path_factory.mktemp("cache")))
        models = api.network_models(
            region,
            ["voiture"],
            osm=region_pbf,
            thresholds={"voiture": [20.0]},
            services=resolved.services,
            progress=False,
        )
    models["marche"] = StraightLineModel("marche")
    whole = api.diagnostic(
        region, THRESHOLDS, services=resolved, models=models, categories=CATEGORIES
    )
    return resolved, models, whole


CATEGORIES = ["garage_solidaire", "atelier_velo"]


def _network_run_gives_the_region_bytes(client, region, inputs, tmp_path, **options):
    """The partitioned run of ``inputs`` (services, network models, unpartitioned result),
    checked against the unpartitioned run: same communes.csv bytes, same notes."""
    resolved, models, whole = inputs
    run = partitioned_diagnostic(
        region,
        THRESHOLDS,
        services=resolved,
        models=models,
        categories=CATEGORIES,
        client=client,
        **options,
    )
    assert _csv(run.result, tmp_path / "a.csv") == _csv(whole, tmp_path / "b.csv")
    assert run.result.notes == whole.notes
    return run


def test_road_network_partitioned_run_gives_the_region_bytes(
    client, region, network_inputs, tmp_path
):
    _, models, _ = network_inputs
    before = client.run(_thread_share)
    during = []  # each worker's share of numba's threads while the run goes on

    def seen(event: dict) -> None:
        during.extend(client.run(_thread_share).values())

    run = _network_run_gives_the_region_bytes(
        client, region, network_inputs, tmp_path, on_partition=seen
    )
    assert run.result.models["voiture"] is models["voiture"]
    # the run gave each worker its share of numba's threads, and took it back at its end
    assert set(during) == {partition_parts.thread_share(_cores(), 2)}
    assert client.run(_thread_share) == before
    assert _plugins(client) == []


def _pass_that_fails(*args, **kwargs):
    raise RuntimeError("passe en panne simulée")


def test_a_failing_whole_network_pass_fails_the_departements_that_need_it(
    client, region, network_inputs, tmp_path, monkeypatch
):
    """A (mode, category) pass that fails on the whole network: every département waiting
    for that mode's node times is reported with the pass's error, none is left waiting."""
    import cloudpickle

    from zonesblanches import partition_run

    cloudpickle.register_pickle_by_value(__import__(__name__))
    monkeypatch.setattr(partition_run, "_whole_node_times", _pass_that_fails)
    resolved, models, _ = network_inputs
    with pytest.raises(PartitionError) as err:
        partitioned_diagnostic(
            region, THRESHOLDS, services=resolved, models=models, categories=CATEGORIES,
            client=client,
        )  # fmt: skip
    assert "5 départements sur 5" in str(err.value)
    assert "RuntimeError : passe en panne simulée" in str(err.value)
    assert _plugins(client) == []


def test_a_cut_network_gives_the_whole_networks_times_where_its_margin_is_proven(
    region, network_inputs
):
    """The bound behind the cuts: a unit whose time t fits in its radius (t × fastest speed)
    gets, on the cut network, exactly the time and service of the whole network."""
    from zonesblanches.coverage.analysis import commune_demand
    from zonesblanches.crs import LAMBERT93

    _, models, whole_run = network_inputs
    demand = commune_demand(region.communes)
    kept = whole_run.services
    share = partitioned._share(models["voiture"], kept, 20.0)
    nord = demand.loc[demand["code_departement"] == "59"].copy()
    nord["population"] = nord["population"].astype(float)
    xy = nord.geometry.to_crs(LAMBERT93)
    unit_xy = np.column_stack([xy.x.to_numpy(), xy.y.to_numpy()])
    cats = CATEGORIES
    units, services = partitioned.task_inputs(nord, kept)
    whole, _ = partitioned._coverage_columns(
        units, services, {"voiture": 20.0}, cats, {"voiture": models["voiture"]}
    )
    for radius_km in (15.0, 45.0):
        part = partitioned._network_part(share, unit_xy, np.full(len(nord), radius_km * 1000))
        assert part.share < 1.0  # a real cut
        cut, needed = partitioned._coverage_columns(
            units, services, {"voiture": 20.0}, cats, {"voiture": part}
        )
        proven = needed["voiture"] <= radius_km * 1000
        assert proven.any()
        assert cut.loc[proven].equals(whole.loc[proven])
        # elsewhere the cut never finds a shorter route than the whole network
        for cat in cats:
            col = f"temps_{cat}_voiture"
            assert (cut[col].to_numpy() >= whole[col].to_numpy()).all()


def test_the_whole_network_goes_to_the_workers_with_its_snapping_table_not_its_tree(
    region, network_inputs
):
    """What a worker gets of the whole network: the graph, and the k-d tree's answers for the
    run's units and services (the only points its tasks snap), bit for bit; any other point
    raises instead of being snapped wrong. A fraction of the tree's bytes."""
    import pickle

    from zonesblanches.coverage.analysis import commune_demand

    _, models, whole_run = network_inputs
    kept = whole_run.services
    units, services = partitioned.task_inputs(commune_demand(region.communes), kept)
    points = np.vstack(
        [np.column_stack([units.x, units.y]), np.column_stack([services.x, services.y])]
    )
    share = partitioned._share(models["voiture"], kept, 20.0)
    sent = partition_parts._whole_share(share, points)
    table, tree = sent.tree, share.tree
    assert isinstance(table, partition_parts._SnapTable)
    assert len(pickle.dumps(table)) < len(pickle.dumps(tree)) / 4
    shuffled = points[np.random.default_rng(0).permutation(len(points))]
    for got, expected in zip(table.query(shuffled, k=1), tree.query(shuffled, k=1), strict=True):
        assert np.array_equal(got, expected)
    assert [a.size for a in table.query(points[:0], k=1)] == [0, 0]
    with pytest.raises(IndexError):
        table.query(points[:1] + 0.5, k=1)


def test_a_killed_run_s_shared_memory_folder_is_removed_by_the_next_run(tmp_path):
    """A run killed by SIGKILL leaves its folder of graphs in shared memory: the next run
    removes the folders of this package, user and host whose process is gone, and no other
    (a live process's, another host's, another program's)."""
    import subprocess
    import sys

    import scipy.sparse as sp

    from zonesblanches import partition_run

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host, prefix = partition_run._host_token(), partition_run.SHARED_PREFIX
    dead = tmp_path / f"{prefix}{gone.pid}-{host}-abc"
    live = tmp_path / f"{prefix}{os.getpid()}-{host}-abc"
    elsewhere = tmp_path / f"{prefix}{gone.pid}-00000000-abc"
    other = tmp_path / f"autre-{gone.pid}-{host}-abc"
    for folder in (dead, live, elsewhere, other):
        (folder / "voiture").mkdir(parents=True)
        (folder / "voiture" / "data.npy").write_bytes(b"x")
    made = partition_run._shared_folder({"voiture": sp.csr_matrix(np.eye(3))}, tmp_path)
    assert made is not None and made.name.startswith(f"{prefix}{os.getpid()}-{host}-")
    assert not dead.exists()
    assert live.is_dir() and elsewhere.is_dir() and other.is_dir() and made.is_dir()


def _graph_digest(graph) -> str:
    import hashlib

    if hasattr(graph, "load"):
        graph = graph.load()
    h = hashlib.sha256(repr(graph.shape).encode())
    for name in ("indptr", "indices", "data"):
        h.update(np.ascontiguousarray(getattr(graph, name)).tobytes())
    return h.hexdigest()


def test_whole_graphs_go_through_shared_memory_or_through_dask_when_a_worker_cannot_see_it(
    client, two_network_inputs, monkeypatch
):
    """The whole network's graph leaves for the workers as soon as the run's client exists:
    written once to shared memory when every worker sees the files (workers on this
    machine), mapped there with the very arrays; sent through Dask when a worker does not
    see them (a remote cluster: here, a worker that finds another run's token). Shared files
    are removed when the run closes."""
    from zonesblanches import partition_run

    _, models, _ = two_network_inputs
    graph = models["voiture"].graph
    expected = _graph_digest(graph)

    connection = partition_run._Connection(client, False, {"voiture": graph})
    sent = connection.graphs()["voiture"]
    folder = connection._folder
    assert connection.shared and folder is not None and folder.is_dir()
    digests = client.gather([client.submit(_graph_digest, sent, workers=[w], pure=False)
                             for w in client.scheduler_info()["workers"]])  # fmt: skip
    assert digests == [expected, expected]
    connection.close()
    assert not folder.exists() and client.status == "running"  # not our cluster: kept

    write = partition_run._SharedGraph.write.__func__

    def seen_elsewhere(cls, graph, folder, token):
        handle = write(cls, graph, folder, token)
        (folder / "jeton").write_text("autre-machine", encoding="ascii")
        return handle

    monkeypatch.setattr(partition_run._SharedGraph, "write", classmethod(seen_elsewhere))
    connection = partition_run._Connection(client, False, {"voiture": graph})
    sent = connection.graphs()["voiture"]
    assert not connection.shared and connection._folder is None
    assert client.submit(_graph_digest, sent, pure=False).result() == expected
    connection.close()


@pytest.fixture(scope="module")
def two_network_inputs(region, region_pbf, tmp_path_factory):
    """Car and walking on the synthetic network: both on the whole network (the example
    registry leaves most communes far from every service)."""
    resolved = api.resolve_services(region, None, thresholds=THRESHOLDS, network=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZONESBLANCHES_CACHE", str(tmp_path_factory.mktemp("cache")))
        models = api.network_models(
            region,
            list(THRESHOLDS),
            osm=region_pbf,
            thresholds={m: [t] for m, t in THRESHOLDS.items()},
            services=resolved.services,
            progress=False,
        )
    whole = api.diagnostic(
        region, THRESHOLDS, services=resolved, models=models, categories=CATEGORIES
    )
    return resolved, models, whole


def test_two_network_modes_on_the_whole_network_give_the_region_bytes(
    client, region, two_network_inputs, tmp_path
):
    """Two modes on the whole network, their networks sent to every worker before any task
    runs: 2 × 2 (mode, category) passes, sent one per worker at a time, largest network
    first; then one task per département and mode, sent with that mode's node times once
    its passes are done. Still the region run's bytes."""
    from distributed import get_task_stream

    _, models, _ = two_network_inputs
    with get_task_stream(client) as stream:
        run = _network_run_gives_the_region_bytes(client, region, two_network_inputs, tmp_path)
    assert (run.partitions["passes"] == 1).all()
    keys = [str(t["key"]) for t in stream.data]
    assert not [k for k in keys if k.startswith(("departement-", "_network_part-"))]  # no cut
    assert sum(k.startswith("partie-") for k in keys) == 5 * 2
    assert sum(k.startswith("_whole_node_times-") for k in keys) == 2 * len(CATEGORIES)
    start = {
        str(t["key"]): min(p["start"] for p in t["startstops"] if p["action"] == "compute")
        for t in stream.data
    }
    large, small = sorted(THRESHOLDS, key=lambda m: -models[m].network.n_edges)
    first = {m: [v for k, v in start.items() if k.startswith(f"_whole_node_times-{m}-")]
             for m in THRESHOLDS}  # fmt: skip
    assert max(first[large]) <= min(first[small])  # each free worker took the longest left
    for key, when in start.items():  # a département's mode waits for that mode's passes only
        if key.startswith("partie-"):
            mode = next(m for m in THRESHOLDS if f"-{m}-" in key)
            ends = [
                p["stop"] for t in stream.data if str(t["key"]).startswith(f"_whole_node_times-{mode}-")
                for p in t["startstops"] if p["action"] == "compute"
            ]  # fmt: skip
            assert when >= max(ends)


def test_the_run_s_own_cluster_sends_one_task_at_a_time_and_reaches_its_workers(
    region, region_run, tmp_path
):
    """Without a client, the run starts a LocalCluster whose scheduler sends each worker one
    task at a time (a task waiting behind a pass that holds the GIL could not be taken back
    by an idle worker) and whose client talks to the workers directly; then closes it."""
    client, owned = partitioned._client(None, 1)
    try:
        saturation = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.WORKER_SATURATION
        )
        assert owned and saturation == 1.0 and client.direct_to_workers
        # Dask's monitoring less often (partition_run.QUIET_CLUSTER): the scheduler's and
        # the nannies' callbacks run in the launching process, beside the workers
        ticks = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.periodic_callbacks["tick"].callback_time
        )
        nanny = next(iter(client.cluster.workers.values()))
        assert ticks == 1000 and nanny.memory_manager.memory_monitor_interval == 0.5
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    run = partitioned_diagnostic(region, THRESHOLDS, n_workers=1)
    assert _csv(run.result, tmp_path / "a.csv") == _csv(region_run, tmp_path / "b.csv")


def _thread_share() -> int | None:
    from zonesblanches.coverage import partition_parts

    return partition_parts.THREAD_SHARE


def _cores() -> int:
    from zonesblanches.worker_threads import _cores

    return _cores()


def test_thread_share_splits_the_cores_between_the_workers_of_a_host():
    assert partition_parts.thread_share(2, 2) == 1
    assert partition_parts.thread_share(8, 3) == 2
    assert partition_parts.thread_share(8, 2, threads_per_worker=2) == 2
    assert partition_parts.thread_share(2, 4) == 1  # never 0


def test_each_worker_limits_numba_threads_in_its_tasks_to_its_share(client, request):
    """numba's thread count is per thread: a task (run in the worker's executor thread, not
    where the plugin ran) sees the worker's share, which the hierarchy's rounds take by
    default (``threads=None``: ``numba.get_num_threads()``)."""
    from zonesblanches.worker_threads import limit_numba_threads, unlimit_numba_threads

    name = limit_numba_threads(client)
    request.addfinalizer(lambda: unlimit_numba_threads(client, name))

    def probe() -> tuple:
        import numba

        partition_parts.apply_thread_share()
        return (
            partition_parts.THREAD_SHARE,
            numba.get_num_threads(),
            os.environ.get("NUMBA_NUM_THREADS"),
        )

    workers = sorted(client.scheduler_info()["workers"])
    assert len(workers) == 2
    share = partition_parts.thread_share(_cores(), 2)
    for w in workers:
        got = client.submit(probe, workers=[w], allow_other_workers=False, pure=False).result()
        assert got == (share, share, str(share)), (w, got)


def _worker_numba_state() -> tuple:
    from zonesblanches.coverage import partition_parts

    return partition_parts.THREAD_SHARE, os.environ.get("NUMBA_NUM_THREADS")


def test_the_numba_plugin_on_a_callers_cluster_is_removed_with_its_settings(client):
    """A caller's cluster gets its workers back as they were: the plugin's teardown puts back
    each worker's share and NUMBA_NUM_THREADS, and the scheduler no longer holds the plugin
    (workers joining later are not limited). Removing it twice, or unregistered, is harmless."""
    from zonesblanches.worker_threads import (
        NumbaThreads,
        limit_numba_threads,
        unlimit_numba_threads,
    )

    unlimit_numba_threads(client, NumbaThreads.name)  # not registered: nothing happens
    before = client.run(_worker_numba_state)
    name = limit_numba_threads(client)
    assert _plugins(client) == [name] and name.startswith(NumbaThreads.name)
    share = partition_parts.thread_share(_cores(), 2)
    assert set(client.run(_worker_numba_state).values()) == {(share, str(share))}
    unlimit_numba_threads(client, name)
    assert _plugins(client) == []
    assert client.run(_worker_numba_state) == before
    unlimit_numba_threads(client, name)


def test_two_runs_at_once_on_one_client_each_remove_only_their_own_numba_plugin(client):
    """Two runs on one client register the plugin under names of their own: the first run's
    end leaves the second one's plugin, and its workers' limit, in place; the workers get
    their settings back when the last one leaves."""
    from zonesblanches.worker_threads import limit_numba_threads, unlimit_numba_threads

    before = client.run(_worker_numba_state)
    share = partition_parts.thread_share(_cores(), 2)
    first, second = limit_numba_threads(client), limit_numba_threads(client)
    assert first != second and _plugins(client) == sorted([first, second])
    unlimit_numba_threads(client, first)
    assert _plugins(client) == [second]
    assert set(client.run(_worker_numba_state).values()) == {(share, str(share))}
    unlimit_numba_threads(client, second)
    assert _plugins(client) == []
    assert client.run(_worker_numba_state) == before


def test_node_times_kept_at_the_units_nodes_read_as_the_whole_arrays_or_raise():
    """What a département's task gets of the whole network's node times: the values at the
    nodes where the run's units snap; read anywhere else, it raises (never a silent inf)."""
    seconds = np.array([5.0, np.inf, 7.0, 1.0, 3.0])
    kept = partition_parts._AtNodes(np.array([0, 3, 4]), seconds[[0, 3, 4]], len(seconds))
    assert len(kept) == 5
    assert kept[np.array([4, 0, 3, 3])].tolist() == [3.0, 5.0, 1.0, 1.0]
    assert kept[np.array([], dtype=np.int64)].size == 0
    with pytest.raises(IndexError):
        kept[np.array([0, 2])]
    with pytest.raises(IndexError):
        kept[np.array([9])]
    with pytest.raises(TypeError):
        kept[np.array([True, False, True, False, True])]


def test_france_and_lists_of_departements_are_territories():
    france = select_territories("france")
    assert len(france.communes) == 34746 and france.label == "France métropolitaine"
    two = select_territories("59, 62")
    assert set(two.communes["code_departement"]) == {"59", "62"}
    assert len(two.communes) == 647 + 887


class KillFirstTask(distributed.WorkerPlugin):
    """Kills its worker process (as the OOM killer would) when the first département's task
    starts on it."""

    def __init__(self, flag: str):
        self.flag = flag

    def transition(self, key, start, finish, **kwargs):
        first = finish == "executing" and str(key).startswith("departement-")
        if first and not os.path.exists(self.flag):
            Path(self.flag).write_text(str(key))
            os._exit(1)


def test_a_worker_killed_mid_run_still_gives_the_whole_result(client, region, region_run, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    flag = tmp_path / "tue"
    client.register_plugin(KillFirstTask(str(flag)), name="tue")
    try:
        run = partitioned_diagnostic(region, THRESHOLDS, client=client)
    finally:
        client.unregister_worker_plugin("tue")
    assert flag.read_text().startswith("departement-")  # a worker died during a task
    assert (run.partitions["statut"] == "calculé").all()
    assert _csv(run.result, tmp_path / "a.csv") == _csv(region_run, tmp_path / "b.csv")


def test_cli_analyse_on_a_cluster_writes_the_unpartitioned_tables(client, tmp_path, capsys):
    from zonesblanches.cli import main

    address = client.scheduler.address
    args = ["analyse", "--territoire", "80", "--sans-carte", "--mode", "voiture:20"]
    assert main([*args, "--sortie", str(tmp_path / "seul")]) == 0
    assert main([*args, "--cluster", address, "--sortie", str(tmp_path / "dask")]) == 0
    out = capsys.readouterr().out
    assert f"Calcul par département (Dask, {address})" in out
    assert "[1/1] Somme (80) : 771 unités en " in out
    for name in ("communes.csv", "synthese.csv", "communes_zone_blanche.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "seul" / name).read_bytes()
    assert len(list((tmp_path / "dask" / "reprise").glob("80-*.parquet"))) == 1
    # maps per région need several départements, and it is said before computing
    code = main([*args, "--cartes-regions", "--sortie", str(tmp_path / "x")])
    assert code == 2
    assert "--cartes-regions s'utilise avec plusieurs départements" in capsys.readouterr().err


def test_national_syntheses_add_up_from_departements_to_regions_to_france(tmp_path):
    """All of metropolitan France, straight line (no cluster: the same figures, see above)."""
    france = select_territories("france")
    result = api.diagnostic(france, {"voiture": 20.0})
    written = _syntheses(result, tmp_path / "france")
    read = {n: pd.read_csv(tmp_path / "france" / n, dtype=str) for n in written}
    figures = ["population", "population_couverte", "population_zone_blanche"]
    figures.append("unites_zone_blanche")
    for table in read.values():
        table[figures] = table[figures].astype("int64")
    deps, regions = read["synthese_departements.csv"], read["synthese_regions.csv"]
    total = read["synthese_territoire.csv"]
    n = len(result.categories)
    assert len(deps) == 96 * n and len(regions) == 13 * n and len(total) == n
    assert (deps["nom_departement"].fillna("") != "").all()
    assert (regions["nom_region"].fillna("") != "").all()
    assert list(total["territoire"].unique()) == [result.territory]
    assert (total["population"] == france.communes["population"].sum()).all()
    keys = ["categorie", "mode"]
    for finer, coarser, key in ((deps, regions, "code_region"), (regions, total, None)):
        if key is not None:  # each région is the sum of its départements
            of = france.communes.drop_duplicates("code_departement")
            finer = finer.assign(
                code_region=finer["code_departement"].map(
                    of.set_index("code_departement")["code_region"]
                )
            )
        group = [key, *keys] if key else keys
        sums = finer.groupby(group, sort=True)[figures].sum()
        assert sums.equals(coarser.set_index(group).sort_index()[figures]), key


def test_workers_reading_the_osm_file_per_group_give_the_region_bytes(
    client, region, region_pbf, network_inputs, tmp_path
):
    """``osm=``: no network read here; each worker reads the file once for its group of
    départements (plus margins) and cuts its départements from it, or the whole territory's
    network when a département needs more: the bytes of the run on the network read here.

    Units: the communes within 15 km of a garage and of a bike workshop (Nord and
    Pas-de-Calais: cut from their group's read) and 40 communes of the Somme (far from
    them: the whole territory's read)."""
    from distributed import get_task_stream

    from zonesblanches.coverage.analysis import commune_demand
    from zonesblanches.partitioned import _straight_line_reach

    resolved, models, _ = network_inputs
    demand = commune_demand(region.communes)
    units, services = partitioned.task_inputs(demand, resolved.services)
    near = _straight_line_reach(units, services, CATEGORIES) <= 15_000.0
    somme = np.flatnonzero(demand["code_departement"].to_numpy() == "80")[:40]
    near[somme] = True
    demand = demand.loc[near]
    assert set(demand["code_departement"]) == {"59", "62", "80"}
    options = {"services": resolved, "categories": CATEGORIES, "demand": demand}
    whole = api.diagnostic(region, THRESHOLDS, models=models, **options)
    with get_task_stream(client) as stream:
        run = partitioned_diagnostic(
            region,
            THRESHOLDS,
            models={"marche": models["marche"]},
            client=client,
            osm=region_pbf,
            network_modes=["voiture"],
            **options,
        )
    assert _csv(run.result, tmp_path / "a.csv") == _csv(whole, tmp_path / "b.csv")
    assert run.result.notes == whole.notes
    reads = [str(t["key"]) for t in stream.data if str(t["key"]).startswith("lecture-osm-")]
    assert len([k for k in reads if "groupe" in k]) == 2  # one read per worker's group
    assert len([k for k in reads if "territoire" in k]) == 1
    used = dict(zip(run.partitions["departement"], run.partitions["lecture"], strict=True))
    assert used["59"]["voiture"].startswith("groupe"), used
    assert used["62"]["voiture"].startswith("groupe"), used
    assert used["80"]["voiture"] == "territoire", used
    # what the workers read, for the command line's lines: the whole read is the one here
    reads = run.network_reads
    assert reads["territoire"]["voiture"]["nodes"] == models["voiture"].network.n_nodes
    assert reads["territoire"]["voiture"]["edges"] == models["voiture"].network.n_edges
    assert len(reads["groupes"]) == 2  # one read per worker's group


def test_cli_analyse_on_a_cluster_has_the_workers_read_the_osm_file(
    client, region_pbf, tmp_path, capsys, monkeypatch
):
    """``analyse --osm FICHIER`` with ``--cluster``: the workers read the file (per group of
    départements, ``partitioned_diagnostic(osm=...)``), this process does not; the tables are
    those of the run on the network read here, byte for byte."""
    from zonesblanches.cli import main

    monkeypatch.setenv("ZONESBLANCHES_CACHE", str(tmp_path / "cache"))
    # A garage of the registry (Denain), and a test point in Ypres (Belgium, in the margin):
    # the synthetic extract has streets on French communes only, it is beyond the network.
    services = tmp_path / "services.csv"
    services.write_text(
        "service_id,nom,categorie,commune,lon,lat\n"
        "T-1,Garage Solidaire du Hainaut - Denain,garage_solidaire,Denain,3.386652,50.330827\n"
        "T-2,Point d'essai hors de l'extrait (Ypres),garage_solidaire,,2.885,50.851\n",
        encoding="utf-8",
    )
    args = ["analyse", "--territoire", "59,62", "--sans-carte", "--mode", "voiture:20"]
    args += ["--categorie", "garage_solidaire", "--osm", str(region_pbf)]
    args += ["--services", str(services)]
    assert main([*args, "--sortie", str(tmp_path / "seul")]) == 0
    here = capsys.readouterr().out
    address = client.scheduler.address
    with distributed.get_task_stream(client) as stream:
        assert main([*args, "--cluster", address, "--sortie", str(tmp_path / "dask")]) == 0
    out = capsys.readouterr().out
    assert "lu par les workers Dask" in out
    keys = [str(t["key"]) for t in stream.data]
    assert any(k.startswith("lecture-osm-territoire-") for k in keys)
    for name in ("communes.csv", "synthese.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "seul" / name).read_bytes()

    # Two garages leave communes far from a garage: a worker read the whole territory's
    # network, as this process did; same network lines, same count of services beyond it
    # (Ypres), same « Problèmes signalés » line.
    def network_lines(text: str) -> list[str]:
        return [
            line
            for line in text.splitlines()
            if line.startswith("  voiture :")
            or line.startswith("  ⚠ voiture :")
            or line.startswith("Problèmes signalés")
        ]

    assert network_lines(out) == network_lines(here)
    assert any(line.startswith("  voiture :") for line in network_lines(here))
    assert "Problèmes signalés : 2" in network_lines(
        here
    )  # Ypres: outside the territory, beyond the network
    assert "  ⚠ voiture : 1 service à plus de 1000 m du réseau routier" in here
    assert "Réseau routier lu par un worker Dask pour tout le territoire" in out
    assert "voiture, groupe 0 (" in out  # the groups' reads, labelled as such


def test_network_lines_of_group_reads_say_what_they_count():
    """Without the whole territory's read, the lines give each group's network and count the
    services beyond every group's network, saying the count may differ from the whole one."""
    from zonesblanches._text import fr_int
    from zonesblanches.summaries import format_worker_network

    def notes(nodes, far):
        return {"nodes": nodes, "edges": 2 * nodes, "max_snap_m": 1000.0, "far": np.array(far)}

    reads = {
        "groupes": [
            (["59"], {"voiture": notes(1200, [True, True, False])}),
            (["02", "62"], {"voiture": notes(3400, [True, False, False])}),
        ],
        "territoire": None,
    }
    lines, far = format_worker_network(reads)
    assert far == 1  # only the first service is beyond both networks
    sizes = "{} nœuds, {} tronçons"
    assert f"  voiture, groupe 0 (59) : {sizes.format(fr_int(1200), fr_int(2400))}" in lines
    assert f"  voiture, groupe 1 (02, 62) : {sizes.format(fr_int(3400), fr_int(6800))}" in lines
    assert lines[-1].startswith("  ⚠ voiture : 1 service à plus de 1000 m de chacun des réseaux")
    assert "peut différer" in lines[-1]
    reads["groupes"][1][1]["voiture"]["far"][0] = False
    lines, far = format_worker_network(reads)
    assert far == 0 and lines[-1].startswith("  voiture : aucun service à plus de 1000 m")


def test_grid_read_by_the_workers_with_a_road_network_sent_gives_the_region_bytes(
    client, region, network_inputs, tmp_path
):
    """``carreaux=`` with the network read here and sent (the grid read first, on the same
    client): the bytes of the run with ``demand=api.read_demand(...)``; the test grid's cells
    are all in Nord, the other group of départements keeps none."""
    from grid_rows import grid_file

    path = grid_file(tmp_path / "carreaux.csv")
    resolved, models, _ = network_inputs
    demand = api.read_demand(region, path, progress=False)
    options = {"services": resolved, "models": models, "categories": CATEGORIES}
    whole = api.diagnostic(region, THRESHOLDS, demand=demand, **options)
    run = partitioned_diagnostic(region, THRESHOLDS, client=client, carreaux=path, **options)
    assert _csv(run.result, tmp_path / "a.csv") == _csv(whole, tmp_path / "b.csv")
    assert run.grid_rows == demand.attrs["lecture"]
    assert sorted(r["carreaux"] for r in run.grid_reads) == [0, 20]
