"""Benchmark of the partitioned (Dask) run: all of France in straight line, a region on a network.

Every figure is measured in the same run, on the same machine, so that ratios hold even when the
machine is loaded (say so when quoting them):

1. ``france``: straight-line diagnostic of all metropolitan France (34,746 communes, every
   category of the services, 3 modes: car 20 min, walking 30 min, cycling 15 min), one Dask task
   per département (96), on a ``LocalCluster`` of 1 then 2 single-threaded worker processes;
   the peer is the unpartitioned :func:`zonesblanches.api.diagnostic` in this process, and the
   ``communes.csv`` bytes of the three runs are compared. Target: ≤ 30 s with 2 workers.
2. ``reseau``: car and walking times on the **synthetic** regional extract of
   ``scripts/make_region_pbf.py`` (street grids on the real commune points of Hauts-de-France,
   no real street), the region split in its 5 départements, 1 vs 2 workers. Targets: speed-up
   ≥ 1.7×, peak memory per worker ≤ 1.5 GB (workers' resident memory sampled by Dask).

Cluster start-up (worker processes importing the package) is timed apart: a real cluster keeps
its workers. The scheduler's task stream gives, per worker, the time spent computing, receiving
data and idle, printed as the closing summary.

Usage::

    python scripts/make_region_pbf.py --scale 0.25 --output /tmp/region-0.25.osm.pbf
    python scripts/bench_france.py --osm /tmp/region-0.25.osm.pbf [--sans-france] [--carte]

Services: the bundled example registry (19 services, all in Hauts-de-France; for France, most
communes are far from every one of them: the time is computed all the same).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRANCE_THRESHOLDS = {"voiture": 20.0, "marche": 30.0, "velo": 15.0}
NETWORK_THRESHOLDS = {"voiture": 20.0, "marche": 30.0}


def _cluster(n: int):
    """The cluster ``analyse --workers n`` starts (:func:`zonesblanches.partitioned._client`),
    its start-up timed apart: a new ``LocalCluster`` of ``n`` single-threaded processes."""
    from zonesblanches.partitioned import _client

    start = time.perf_counter()
    client, _ = _client(None, n)
    client.run(lambda: __import__("zonesblanches.partitioned"))  # import once, as a cluster would
    return client.cluster, client, time.perf_counter() - start


def _peak_memory(client) -> dict:
    """Peak resident memory (bytes) of each worker process since it started.

    ``VmHWM`` of ``/proc/self/status`` on Linux: the high-water mark of the worker's own
    memory. Not ``ru_maxrss``: a process started by fork then exec keeps the larger of its own
    peak and its parent's resident size at the fork, and the workers of a ``LocalCluster`` are
    started from this process, which holds the region's network (measured at scale 1: 0.40 GB
    by ``ru_maxrss`` for a worker that had just started with 0.18 GB)."""

    def peak() -> int:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    return client.run(peak)


def _stream_summary(stream: list[dict], start: float, end: float) -> tuple[list[str], float, float]:
    """The run's phases from the task stream (worker clocks: the same machine's ``time.time``):
    the launching process alone before the first task and after the last one (serial; the
    ``_hold`` tasks, inputs handed to the cluster, do not count as tasks), then per worker in
    between: computing, receiving data, idle (waiting for a task or for data; at the start,
    at the end). Also returns the serial seconds (the launching process alone, before and
    after) and the seconds the workers spent computing (summed over workers)."""
    from collections import defaultdict

    compute, transfer, tasks = defaultdict(float), defaultdict(float), defaultdict(int)
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    first, last = end, start
    for item in stream:
        for part in item.get("startstops", ()):
            span = part["stop"] - part["start"]
            if part["action"] == "compute":
                kind = str(item["key"]).split("-")[0].lstrip("_")
                compute[item["worker"]] += span
                tasks[item["worker"]] += 1
                kinds[item["worker"]][kind] += span
                if kind == "hold":  # inputs handed to the cluster, not a computation
                    continue
                spans[item["worker"]].append((part["start"], part["stop"]))
                first, last = min(first, part["start"]), max(last, part["stop"])
            elif part["action"] == "transfer":
                transfer[item["worker"]] += span
    window = max(last - first, 1e-9)
    lines = [
        f"    flux de tâches : poste seul avant la première tâche {first - start:.1f} s, "
        f"tâches {window:.1f} s, poste seul après la dernière {end - last:.1f} s"
    ]
    for worker in sorted(compute):
        idle = max(window - compute[worker] - transfer[worker], 0.0)
        # idle before its first task, after its last one, and between (waiting for a task or
        # its data): which of them the schedule could fill
        own = sorted(spans[worker]) or [(first, first)]
        head, tail = own[0][0] - first, last - max(stop for _, stop in own)
        lines.append(
            f"    {worker}: {tasks[worker]} tâches, calcul {compute[worker]:.1f} s, "
            f"réception {transfer[worker]:.1f} s, inoccupé {idle:.1f} s (au début "
            f"{head:.1f} s, à la fin {tail:.1f} s) "
            f"({compute[worker] / window:.0%} du temps des tâches à calculer) ; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(kinds[worker].items()))
        )
    return lines, max(first - start, 0.0) + max(end - last, 0.0), sum(compute.values())


TASK_LABELS = {
    "departement": "départements (calcul des unités, ou jonction des modes)",
    "partie": "départements, un mode sur le réseau entier",
    "network_part": "découpe du réseau",
    "whole_node_times": "temps aux nœuds du réseau entier (1 par mode × catégorie)",
    "with_radius": "réseau entier pour un département",
    "hold": "envoi des services",
}


def _task_metrics(client) -> dict[str, dict[str, float]]:
    """Per task prefix, from the scheduler's fine performance metrics: seconds of CPU of the
    executing thread (``thread-cpu``: what a quiet machine would need) and seconds waited
    while running (``thread-noncpu``: the CPU taken by other processes, and I/O)."""

    def read(dask_scheduler) -> dict:
        return {k: v for k, v in dask_scheduler.cumulative_worker_metrics.items()}

    out: dict[str, dict[str, float]] = {}
    for key, value in client.run_on_scheduler(read).items():
        if isinstance(key, tuple) and len(key) == 4 and key[0] == "execute":
            _, prefix, what, unit = key
            prefix = str(prefix).split("-")[0]  # "whole_node_times-marche-…": one kind
            if unit == "seconds" and what in ("thread-cpu", "thread-noncpu"):
                out.setdefault(prefix, {}).setdefault(what, 0.0)
                out[prefix][what] += value
    return out


def _task_lines(stream: list[dict], metrics: dict) -> list[str]:
    """One line per kind of task: how many, CPU seconds, wall seconds."""
    from collections import Counter

    # task keys are "<function>-<hash>" (Dask's metrics drop the function's leading "_")
    count = Counter(str(item["key"]).split("-")[0].lstrip("_") for item in stream)
    lines = []
    for prefix, m in sorted(metrics.items(), key=lambda kv: -kv[1].get("thread-cpu", 0.0)):
        cpu = m.get("thread-cpu", 0.0)
        wall = cpu + m.get("thread-noncpu", 0.0)
        n = count.get(prefix, 0)
        lines.append(
            f"      {TASK_LABELS.get(prefix, prefix)} : {n} tâche(s), processeur {cpu:.1f} s "
            f"({cpu / max(n, 1):.2f} s par tâche), durée {wall:.1f} s"
        )
    return lines


def _run(label: str, n: int, call) -> dict:
    """One partitioned run on a new cluster of ``n`` workers: wall time, task stream, memory."""
    from distributed import get_task_stream

    cluster, client, boot = _cluster(n)
    try:
        before = client.run(time.process_time)
        with get_task_stream(client) as ts:
            start, driver, clock = time.perf_counter(), time.process_time(), time.time()
            run = call(client)
            wall, driver = time.perf_counter() - start, time.process_time() - driver
            clock_end = time.time()
        after = client.run(time.process_time)
        per_worker = {w: after[w] - t for w, t in before.items() if w in after}
        workers = sum(per_worker.values())
        memory = _peak_memory(client)
        metrics = _task_metrics(client)
    finally:
        client.close()
        cluster.close()
    per = run.partitions
    print(
        f"  {label}, {n} worker(s) : {wall:.1f} s (démarrage du cluster {boot:.1f} s à part) ; "
        f"{len(per)} départements, tâche médiane {per['secondes'].median():.2f} s, "
        f"max {per['secondes'].max():.2f} s ; mémoire max par worker "
        f"{max(memory.values()) / 2**30:.2f} Go"
    )
    print(
        f"    processeur : {driver:.1f} s dans ce processus, {workers:.1f} s dans les workers "
        f"(charge moyenne {os.getloadavg()[0]:.1f})"
    )
    lines, serial, computing = _stream_summary(ts.data, clock, clock_end)
    for line in lines:
        print(line)
    print("    par sorte de tâche (processeur du fil qui calcule ; durée = processeur + attente) :")
    for line in _task_lines(ts.data, metrics):
        print(line)
    # The wall time deflated by the load: times the tasks' processor time over their duration
    # (what the other processes on the machine stretched). Unlike the processor sums below,
    # it keeps the workers' idle time (waiting for data or for a task), which scales with the
    # durations it waits for.
    task_cpu = sum(m.get("thread-cpu", 0.0) for m in metrics.values())
    deflated = wall * min(task_cpu / max(computing, 1e-9), 1.0)
    print(f"    durée ramenée au processeur (× processeur / durée des tâches) : {deflated:.1f} s")
    return {"wall": wall, "run": run, "memory": max(memory.values()), "boot": boot,
            "cpu": driver + workers, "driver": driver, "metrics": metrics,
            "busiest": max(per_worker.values()), "serial": serial,
            "deflated": deflated}  # fmt: skip


def _csv(result, folder: Path, name: str) -> bytes:
    from zonesblanches.maps.tables import communes_table
    from zonesblanches.writers import write_csv

    return write_csv(communes_table(result), folder / name).read_bytes()


def bench_france(folder: Path) -> None:
    from zonesblanches import api
    from zonesblanches.partitioned import france, partitioned_diagnostic

    territory = france()
    print(
        f"France métropolitaine : {len(territory.communes)} communes, "
        f"modes {FRANCE_THRESHOLDS}, services du registre d'exemple"
    )
    start, cpu = time.perf_counter(), time.process_time()
    whole = api.diagnostic(territory, FRANCE_THRESHOLDS)
    peer, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"  pair : diagnostic non partitionné dans ce processus : {peer:.1f} s "
        f"({cpu:.1f} s de processeur)"
    )
    runs = {
        n: _run(
            "vol d'oiseau",
            n,
            lambda c: partitioned_diagnostic(territory, FRANCE_THRESHOLDS, client=c),
        )
        for n in (1, 2)
    }
    ref = _csv(whole, folder, "france.csv")
    same = all(_csv(r["run"].result, folder, f"france{n}.csv") == ref for n, r in runs.items())
    one, two = runs[1]["wall"], runs[2]["wall"]
    print(
        f"  → 2 workers : {two:.1f} s (cible ≤ 30 s) ; accélération 1 → 2 workers "
        f"{one / two:.2f}× ; 2 workers / non partitionné {two / peer:.2f}× ; communes.csv "
        f"identique aux octets près : {'oui' if same else 'NON'}"
    )
    per = runs[2]["run"].partitions
    print(
        f"  par département (2 workers) : médiane {per['secondes'].median():.2f} s, "
        f"total des tâches {per['secondes'].sum():.1f} s pour {len(per)} départements"
    )


def bench_map(folder: Path) -> None:
    """The national map of the France run: size (budget 15 MB), time to write it, and in
    headless Chromium at 1400×900 the time until it is ready (budget 5 s) and the time to show
    the communes of the Nord (59, 648 communes)."""
    from zonesblanches import api
    from zonesblanches.maps._browser import Browser, find_chromium
    from zonesblanches.maps.national import MAX_BYTES, write_national_map
    from zonesblanches.partitioned import france

    result = api.diagnostic(france(), FRANCE_THRESHOLDS)
    cpu, start = time.process_time(), time.perf_counter()
    path = write_national_map(result, folder / "carte.html")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = path.stat().st_size
    print(
        f"Carte nationale : {size / 2**20:.1f} Mio (budget {MAX_BYTES / 2**20:.0f} Mio), "
        f"écrite en {wall:.1f} s ({cpu:.1f} s de processeur)"
    )
    if find_chromium() is None:
        print("  Chromium absent : temps d'ouverture non mesuré")
        return
    with Browser(width=1400, height=900) as browser:
        report = browser.open(path, timeout=120)
        start = time.perf_counter()
        browser.evaluate("window.zbDrill('59')")
        drill = time.perf_counter() - start
    print(
        f"  Chromium 1400×900 : prête en {report.ready_seconds:.1f} s (budget 5 s) ; "
        f"communes du Nord affichées en {drill:.2f} s ; erreurs {len(report.console_errors)}, "
        f"requêtes externes {len(report.external_requests)}"
    )


def bench_network(osm: Path, folder: Path) -> None:
    from zonesblanches import api
    from zonesblanches.partitioned import partitioned_diagnostic

    region = api.as_territory(None)
    modes = list(NETWORK_THRESHOLDS)
    print(f"Réseau synthétique {osm.name} ({osm.stat().st_size / 2**20:.0f} Mo), {modes}")
    resolved = api.resolve_services(region, None, thresholds=NETWORK_THRESHOLDS, network=True)
    start = time.perf_counter()
    models = api.network_models(
        region,
        modes,
        osm=osm,
        thresholds={m: [t] for m, t in NETWORK_THRESHOLDS.items()},
        services=resolved.services,
        progress=False,
    )
    load = time.perf_counter() - start
    sizes = {m: f"{x.network.n_nodes:,} nœuds".replace(",", " ") for m, x in models.items()}
    print(f"  lecture du réseau de la région (une fois) : {load:.1f} s, {sizes}")
    start, cpu = time.perf_counter(), time.process_time()
    whole = api.diagnostic(region, NETWORK_THRESHOLDS, services=resolved, models=models)
    peer, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"  pair : diagnostic non partitionné dans ce processus : {peer:.1f} s "
        f"({cpu:.1f} s de processeur ; charge moyenne {os.getloadavg()[0]:.1f})"
    )

    def call(client):
        return partitioned_diagnostic(
            region, NETWORK_THRESHOLDS, services=resolved, models=models, client=client
        )

    runs = {n: _run("réseau", n, call) for n in (1, 2)}
    ref = _csv(whole, folder, "reseau.csv")
    same = all(_csv(r["run"].result, folder, f"reseau{n}.csv") == ref for n, r in runs.items())
    one, two = runs[1]["wall"], runs[2]["wall"]
    # What a quiet machine would do: this process's CPU plus the busiest worker's CPU (each
    # worker would have its core); a bound that ignores waits between dependent tasks.
    quiet = {n: r["driver"] + r["busiest"] for n, r in runs.items()}
    print(
        f"  au processeur (machine au repos) : 1 worker {quiet[1]:.1f} s, 2 workers "
        f"{quiet[2]:.1f} s (ce processus + le worker le plus chargé) → {quiet[1] / quiet[2]:.2f}×"
    )
    # Less pessimistic: only the launching process's time alone (before the first task,
    # after the last, from the task stream) is serial; the rest of its CPU overlaps the tasks.
    alone = {n: r["serial"] + r["busiest"] for n, r in runs.items()}
    print(
        f"  poste seul (flux de tâches) + worker le plus chargé au processeur : 1 worker "
        f"{alone[1]:.1f} s, 2 workers {alone[2]:.1f} s → {alone[1] / alone[2]:.2f}×"
    )
    low = {n: r["deflated"] for n, r in runs.items()}
    print(
        f"  durées ramenées au processeur (flux de tâches compris) : 1 worker {low[1]:.1f} s, "
        f"2 workers {low[2]:.1f} s → {low[1] / low[2]:.2f}×"
    )
    per = runs[2]["run"].partitions
    cut = per["part_reseau"].map(lambda d: max(d.values()) if isinstance(d, dict) else np.nan)
    print(
        f"  → accélération 1 → 2 workers {one / two:.2f}× (cible ≥ 1,7×) ; mémoire max par "
        f"worker {runs[2]['memory'] / 2**30:.2f} Go (cible ≤ 1,5 Go) ; communes.csv identique "
        f"aux octets près : {'oui' if same else 'NON'} ; passes par département "
        f"{per['passes'].tolist()} ; part du réseau de la région par département "
        f"{[round(float(v), 2) for v in cut]}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osm", type=Path, help="extrait synthétique (make_region_pbf.py)")
    parser.add_argument("--sans-france", action="store_true", help="sauter la partie France")
    parser.add_argument("--carte", action="store_true", help="mesurer la carte nationale")
    args = parser.parse_args(argv)

    print(f"Machine : {os.cpu_count()} cœurs ; charge moyenne {os.getloadavg()[0]:.1f} au départ")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.sans_france:
            bench_france(Path(tmp))
        if args.carte:
            bench_map(Path(tmp))
        if args.osm is not None:
            bench_network(args.osm, Path(tmp))
    print(f"Charge moyenne à la fin : {os.getloadavg()[0]:.1f} (autres travaux sur la machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
