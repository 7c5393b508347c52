"""Generate a region-sized SYNTHETIC GTFS feed for benchmarks (never for analyses).

Stops are placed around the real Hauts-de-France communes (reference centroids, more stops where
more people live); lines, timetables and frequencies are invented. Defaults give about 8,000
stops, 1,500 routes, 60,000 trips in the expanded day (explicit trips plus urban lines run by
``frequencies.txt``) and 1.2 million stop_times. The output is written outside the repository
(default ``/tmp/zonesblanches-bench/synthetic_hdf_gtfs.zip``) and its agency is named
« SYNTHÉTIQUE » so it can never pass for real data.

Usage::

    python scripts/make_synthetic_gtfs.py [--out PATH] [--seed 1] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

DEFAULT_OUT = Path("/tmp/zonesblanches-bench/synthetic_hdf_gtfs.zip")


def _hms(sec: np.ndarray) -> np.ndarray:
    sec = np.asarray(sec, dtype=np.int64)
    h, m, s = sec // 3600, sec % 3600 // 60, sec % 60
    return np.char.add(np.char.add(np.char.add(h.astype(str), ":"),
                                   np.char.add(np.char.zfill(m.astype(str), 2), ":")),
                       np.char.zfill(s.astype(str), 2))


def make_feed(out: Path, *, seed: int = 1, scale: float = 1.0) -> dict:
    from zonesblanches.coverage.raptor import _lambert
    from zonesblanches.geodata.reference import load_communes

    rng = np.random.default_rng(seed)
    communes = load_communes()
    pop = communes["population"].to_numpy(float)
    lon0, lat0 = communes["lon"].to_numpy(float), communes["lat"].to_numpy(float)
    n_stops = int(8000 * scale)
    # Stops per commune ~ population^0.8, at least one in the larger half of the communes.
    w = np.power(np.maximum(pop, 1), 0.8)
    per = np.floor(w / w.sum() * n_stops * 0.85).astype(int)
    per[np.argsort(-pop)[: len(pop) // 2]] += 1
    while per.sum() > n_stops:
        per[np.argmax(per)] -= 1
    per[np.argsort(-pop)[: n_stops - per.sum()]] += 1
    owner = np.repeat(np.arange(len(pop)), per)
    spread = 0.004 + 0.00004 * np.sqrt(pop[owner])  # degrees, bigger towns spread wider
    lat = lat0[owner] + rng.normal(0, 1, len(owner)) * spread
    lon = lon0[owner] + rng.normal(0, 1, len(owner)) * spread * 1.5
    x, y = _lambert(lon, lat)
    tree = cKDTree(np.column_stack([x, y]))
    n_stops = len(owner)

    n_routes = int(1500 * scale)
    n_urban = int(n_routes * 0.14)
    big = np.argsort(-pop)[:40]  # urban lines in the 40 most populated communes
    big_stops = [np.flatnonzero(owner == c) for c in big]

    def walk_line(start: int, length: int, step_m: float) -> list[int]:
        """A line: successive stops roughly step_m apart, heading in a fixed direction."""
        line = [start]
        ang = rng.uniform(0, 2 * np.pi)
        for _ in range(length - 1):
            cx, cy = x[line[-1]], y[line[-1]]
            ang += rng.normal(0, 0.35)
            tx, ty = cx + step_m * np.cos(ang), cy + step_m * np.sin(ang)
            _, cand = tree.query([tx, ty], k=4)
            cand = [c for c in np.atleast_1d(cand) if c not in line]
            if not cand:
                break
            line.append(int(cand[0]))
        return line

    routes, trips, st_rows, freq_rows = [], [], [], []
    trip_no = 0

    def add_trip(route_id: str, service: str, stops: list[int], t0: int, speed_kmh: float,
                 dwell: int) -> tuple[str, np.ndarray]:
        nonlocal trip_no
        tid = f"T{trip_no}"
        trip_no += 1
        seg = np.hypot(np.diff(x[stops]), np.diff(y[stops])) * 1.3 / (speed_kmh / 3.6)
        seg = np.maximum(60, np.round(seg / 60) * 60).astype(np.int64)
        n = len(stops)
        arr = t0 + np.r_[0, np.cumsum(seg + dwell)].astype(np.int64) - np.r_[0, np.full(n - 1, dwell)]
        dep = arr + dwell
        dep[0], dep[-1] = t0, arr[-1]
        trips.append((route_id, service, tid))
        st_rows.append((tid, arr, dep, stops))
        return tid, arr

    for r in range(n_routes):
        rid = f"R{r}"
        if r < n_urban:
            pool = big_stops[r % len(big_stops)]
            line = walk_line(int(rng.choice(pool)), int(rng.integers(12, 20)), 450.0)
            routes.append((rid, f"U{r}", 3))
            for direction in (0, 1):
                stops = line if direction == 0 else line[::-1]
                tid, _ = add_trip(rid, "SEM", stops, 6 * 3600, 18.0, 0)
                for a, b, h in ((6, 9, 600), (9, 16, 1200), (16, 20, 600), (20, 22, 1800)):
                    freq_rows.append((tid, a * 3600, b * 3600, h, int(rng.integers(0, 2))))
        else:
            rail = r % 25 == 0
            line = walk_line(int(rng.integers(n_stops)), int(rng.integers(12, 30)),
                             6000.0 if rail else 2500.0)
            routes.append((rid, f"{'TER' if rail else 'C'}{r}", 2 if rail else 3))
            n = int(rng.integers(40, 50)) if not rail else 36
            starts = np.sort(rng.integers(5 * 3600, 21 * 3600, n))
            for k, t0 in enumerate(starts):
                stops = line if k % 2 == 0 else line[::-1]
                service = "SEM" if rng.random() < 0.9 else "SAM"
                add_trip(rid, service, stops, int(t0) // 60 * 60, 70.0 if rail else 30.0,
                         60 if rail else 0)

    st_trip = np.concatenate([np.full(len(s), t, dtype=object) for t, _, _, s in st_rows])
    st_arr = np.concatenate([a for _, a, _, _ in st_rows])
    st_dep = np.concatenate([d for _, _, d, _ in st_rows])
    st_stop = np.concatenate([np.asarray(s) for *_, s in st_rows])
    st_seq = np.concatenate([np.arange(1, len(s) + 1) for *_, s in st_rows])
    files = {
        "agency.txt": pd.DataFrame({"agency_id": ["SYN"], "agency_name": ["SYNTHÉTIQUE (banc d'essai)"],
                                    "agency_url": ["http://localhost"],
                                    "agency_timezone": ["Europe/Paris"]}),
        "stops.txt": pd.DataFrame({"stop_id": [f"S{i}" for i in range(n_stops)],
                                   "stop_name": [f"Arrêt synthétique {i}" for i in range(n_stops)],
                                   "stop_lat": np.round(lat, 6), "stop_lon": np.round(lon, 6)}),
        "routes.txt": pd.DataFrame(routes, columns=["route_id", "route_short_name", "route_type"])
        .assign(agency_id="SYN"),
        "trips.txt": pd.DataFrame(trips, columns=["route_id", "service_id", "trip_id"]),
        "stop_times.txt": pd.DataFrame({
            "trip_id": st_trip, "arrival_time": _hms(st_arr), "departure_time": _hms(st_dep),
            "stop_id": np.char.add("S", st_stop.astype(str)), "stop_sequence": st_seq}),
        "frequencies.txt": pd.DataFrame(freq_rows, columns=["trip_id", "start_time", "end_time",
                                                            "headway_secs", "exact_times"])
        .assign(start_time=lambda f: _hms(f["start_time"]), end_time=lambda f: _hms(f["end_time"])),
        "calendar.txt": pd.DataFrame({
            "service_id": ["SEM", "SAM"], "monday": [1, 0], "tuesday": [1, 0],
            "wednesday": [1, 0], "thursday": [1, 0], "friday": [1, 0], "saturday": [0, 1],
            "sunday": [0, 0], "start_date": ["20260901"] * 2, "end_date": ["20270704"] * 2}),
        "calendar_dates.txt": pd.DataFrame({"service_id": ["SEM", "SEM"],
                                            "date": ["20261111", "20261225"],
                                            "exception_type": [2, 2]}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, frame in files.items():
            buf = io.StringIO()
            frame.to_csv(buf, index=False)
            z.writestr(name, buf.getvalue())
    tmp.replace(out)
    return {"stops": n_stops, "routes": len(routes), "trips_txt": len(trips),
            "stop_times_txt": len(st_arr), "frequencies": len(freq_rows)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0)
    a = p.parse_args(argv)
    t = time.perf_counter()
    info = make_feed(a.out, seed=a.seed, scale=a.scale)
    print(f"{a.out} written in {time.perf_counter() - t:.1f} s: {info}")


if __name__ == "__main__":
    main()
