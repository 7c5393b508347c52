"""Benchmark of the transit engine on a region-sized synthetic feed (ratios, not timed tests).

Measured in one run, on the feed of ``scripts/make_synthetic_gtfs.py`` (generated if missing):

1. loading the feed (target ≤ 10 s) and resolving one day;
2. building the RAPTOR structure;
3. one arrive-by search giving every stop its latest departure towards the nearest service;
4. all 3,782 Hauts-de-France communes' median door-to-door time to the nearest service over a
   2-hour window at one-minute steps (arrive by 09:00, and depart from 07:00), target ≤ 60 s;
5. peak memory (resident set);
6. the networkx time-expanded oracle on the same schedule restricted to a time slice (the whole
   day does not fit a networkx graph in memory on a shared machine): one earliest-arrival query,
   RAPTOR against Dijkstra, results compared, ratio printed.

pyraptor (PyPI 1.3.10) pins ``pandas<2`` and would downgrade the shared environment; it is not
installed, so no ratio against it is printed (see docs/transport.md).

Usage::

    python scripts/bench_transit.py [--feed PATH] [--categorie garage_solidaire] [--slice 7-9]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Transit engine benchmark")
    p.add_argument("--feed", type=Path, default=None)
    p.add_argument("--jour", default="2026-12-01")
    p.add_argument("--categorie", default=None, help="service category (default: all services)")
    p.add_argument("--slice", default="7-9", help="hours of the oracle slice, e.g. 7-9")
    p.add_argument("--no-oracle", action="store_true")
    a = p.parse_args(argv)

    import geopandas as gpd

    from zonesblanches.coverage.raptor import INF, Engine, TransitModel, build_timetable
    from zonesblanches.geodata.gtfs import load_gtfs
    from zonesblanches.geodata.reference import load_communes, load_registry

    feed = a.feed
    if feed is None:
        from make_synthetic_gtfs import DEFAULT_OUT, make_feed  # noqa: E402

        feed = DEFAULT_OUT
        if not feed.exists():
            print("Generating the synthetic feed…")
            print(make_feed(feed))
    print(f"machine: {os.cpu_count()} CPU, load average {os.getloadavg()[0]:.1f} (shared)")
    print(f"feed: {feed} ({feed.stat().st_size / 2**20:.1f} MB)")

    t, c = time.perf_counter(), time.process_time()
    data = load_gtfs(feed)
    t_load, c_load = time.perf_counter() - t, time.process_time() - c
    print(f"[1] load_gtfs: {t_load:.2f} s wall ({c_load:.2f} s CPU) for {data.n_stop_times:,} "
          f"stop_times in the file (target ≤ 10 s: ratio {t_load / 10:.2f}); "
          f"rejects: {len(data.rejects)}")
    t = time.perf_counter()
    sched = data.day(a.jour)
    t_day = time.perf_counter() - t
    print(f"    day {a.jour}: {t_day:.2f} s, {sched.n_trips:,} trips, "
          f"{len(sched.st_stop):,} stop_times, {sched.n_stops:,} stops")

    t = time.perf_counter()
    tt = build_timetable(sched)
    t_build = time.perf_counter() - t
    engine = Engine(tt)
    print(f"[2] build_timetable + engine: {t_build:.2f} s ({tt.n_routes:,} FIFO routes, "
          f"{len(tt.foot_to):,} footpaths)")

    communes = load_communes()
    origins = gpd.GeoSeries(gpd.points_from_xy(communes["lon"], communes["lat"]), crs="EPSG:4326")
    reg = load_registry()
    if a.categorie:
        reg = reg[reg["categorie"] == a.categorie]
    services = reg.geometry.to_crs("EPSG:4326") if hasattr(reg, "geometry") else reg
    print(f"    {len(origins):,} communes, {len(services):,} services"
          + (f" ({a.categorie})" if a.categorie else ""))

    model = TransitModel(sched, "09:00", direction="arrive", window_min=120)
    model.timetable, model.engine = tt, engine  # same structure as measured above
    egress = model._walk(services, model._stops).tocoo()
    engine.latest_departures(egress.row[:1], egress.data[:1].astype(np.int64), [9 * 3600])  # JIT
    t = time.perf_counter()
    ld, _ = engine.latest_departures(egress.row, egress.data.astype(np.int64), [9 * 3600])
    t_one = time.perf_counter() - t
    print(f"[3] one arrive-by search (by 09:00, {len(egress.row):,} service-stop links): "
          f"{t_one * 1000:.1f} ms; {int((ld[0] > -INF).sum()):,} stops can make it")

    t = time.perf_counter()
    res_a = model.nearest(origins, services)
    t_win_a = time.perf_counter() - t
    ok = np.isfinite(res_a.minutes)
    print(f"[4] communes' median, arrive by 09:00, window 120 min, 1-min steps: {t_win_a:.2f} s "
          f"(target ≤ 60 s: ratio {t_win_a / 60:.2f}); {int(ok.sum()):,} communes with a trip, "
          f"median of medians {np.median(res_a.minutes[ok]):.0f} min")
    model_d = TransitModel(sched, "07:00", direction="depart", window_min=120)
    model_d.timetable, model_d.engine = tt, engine
    t = time.perf_counter()
    res_d = model_d.nearest(origins, services)
    t_win_d = time.perf_counter() - t
    ok = np.isfinite(res_d.minutes)
    print(f"    depart from 07:00, window 120 min (deadlines 07:00–12:00 on the minute grid): "
          f"{t_win_d:.2f} s (ratio to 60 s: {t_win_d / 60:.2f}); {int(ok.sum()):,} communes")
    print(f"[5] memory: resident {rss_mb():.0f} MB, peak {peak_mb():.0f} MB")

    if a.no_oracle:
        return
    from transit_oracle import TimeExpandedOracle

    h0, h1 = (int(x) for x in a.slice.split("-"))
    keep = []
    for tr in range(sched.n_trips):
        d0 = sched.st_dep[sched.st_ptr[tr]]
        if h0 * 3600 <= d0 < h1 * 3600:
            keep.append(tr)
    trips = []
    for tr in keep:
        sl = slice(sched.st_ptr[tr], sched.st_ptr[tr + 1])
        trips.append(list(zip(sched.st_stop[sl].tolist(), sched.st_arr[sl].tolist(),
                              sched.st_dep[sl].tolist(), sched.st_pickup[sl].tolist(),
                              sched.st_dropoff[sl].tolist(), strict=True)))
    # The same slice for RAPTOR: a schedule holding only those trips.
    from dataclasses import replace

    lens = np.diff(sched.st_ptr)[keep]
    idx = np.concatenate([np.arange(sched.st_ptr[tr], sched.st_ptr[tr + 1]) for tr in keep])
    sub = replace(sched, trip_id=sched.trip_id[keep], trip_route=sched.trip_route[keep],
                  st_ptr=np.r_[0, np.cumsum(lens)], st_stop=sched.st_stop[idx],
                  st_arr=sched.st_arr[idx], st_dep=sched.st_dep[idx],
                  st_pickup=sched.st_pickup[idx], st_dropoff=sched.st_dropoff[idx])
    rounds = 3
    tt_sub = build_timetable(sub)
    eng_sub = Engine(tt_sub, max_rounds=rounds, max_duration_s=10**7)
    foot = {}
    for s in range(tt_sub.n_stops):
        for e in range(tt_sub.foot_ptr[s], tt_sub.foot_ptr[s + 1]):
            foot[(s, int(tt_sub.foot_to[e]))] = int(tt_sub.foot_s[e])
    change = {s: int(c) for s, c in enumerate(tt_sub.change_s.tolist())}
    before = rss_mb()
    t = time.perf_counter()
    oracle = TimeExpandedOracle(trips, foot, change, rounds, tt_sub.n_stops)
    oracle._build()
    t_ob = time.perf_counter() - t
    o_mem = rss_mb() - before
    src = int(sub.st_stop[0])
    tau = h0 * 3600
    eng_sub.earliest_arrivals([src], [0], [tau])
    t = time.perf_counter()
    best, _ = eng_sub.earliest_arrivals([src], [0], [tau])
    t_r = time.perf_counter() - t
    t = time.perf_counter()
    exp = oracle.earliest(src, tau)
    t_o = time.perf_counter() - t
    got = best[0].astype(float)
    got[best[0] >= INF] = np.inf
    same = np.array_equal(got, exp)
    print(f"[6] oracle slice {h0}h–{h1}h: {len(trips):,} trips, {sum(map(len, trips)):,} "
          f"stop_times, {oracle.graph.number_of_nodes():,} nodes / "
          f"{oracle.graph.number_of_edges():,} edges (build {t_ob:.1f} s, +{o_mem:.0f} MB)")
    print(f"    one earliest-arrival query, {rounds} vehicles max: RAPTOR {t_r * 1000:.2f} ms, "
          f"networkx Dijkstra {t_o * 1000:.0f} ms → ratio {t_o / t_r:.0f}× "
          f"({(t_o + t_ob) / t_r:.0f}× with the graph build); identical arrivals: {same}")
    print(f"    peak memory {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
