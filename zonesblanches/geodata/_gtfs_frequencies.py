"""GTFS ``frequencies.txt``: read and checked, then expanded, with the plain trips of the same
feed, into the trips of one day.

A template trip is repeated every ``headway_secs`` from ``start_time`` while the start is
before ``end_time``, for ``exact_times`` 1 and 0 alike; the template's own times only give the
offsets from its first departure. Each copy is a trip ``<trip_id>#<line>.<k>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from zonesblanches.geodata._gtfs_files import RejectFn, _col, _ints, _Reader, parse_times


def read_frequencies(reader: _Reader, reject: RejectFn, trips: pd.DataFrame) -> pd.DataFrame:
    """``frequencies.txt`` checked against ``trips`` (needs its ``valid`` column); columns
    ``trip_id``, ``start``, ``end``, ``headway``, ``exact_times``, ``trip`` (position in
    ``trips``), ``line``."""
    trip_pos = pd.Index(trips["trip_id"])
    fq = reader.read("frequencies.txt")
    freq = pd.DataFrame({"trip_id": _col(fq, "trip_id")})
    if len(freq):
        fs, fb1 = parse_times(
            fq["start_time"] if "start_time" in fq.column_names else [""] * len(freq)
        )
        fe, fb2 = parse_times(fq["end_time"] if "end_time" in fq.column_names else [""] * len(freq))
        hw, fb3 = _ints(_col(fq, "headway_secs", len(freq)), 0)
        ex, fb4 = _ints(_col(fq, "exact_times", len(freq)), 0)
        freq["start"], freq["end"], freq["headway"], freq["exact_times"] = fs, fe, hw, ex
        freq["trip"] = trip_pos.get_indexer(freq["trip_id"])
        freq["line"] = np.arange(len(freq)) + 2
        fbad = fb1 | fb2 | fb3 | fb4 | (fs < 0) | (fe < 0) | (hw <= 0) | (fe <= fs)
        reject(
            "frequencies.txt",
            freq["line"][fbad],
            "headway_secs",
            "fréquence illisible (heures de début et fin, intervalle positif)",
        )
        unknown = ~fbad & (freq["trip"].to_numpy() < 0)
        reject("frequencies.txt", freq["line"][unknown], "trip_id", "course inconnue ou rejetée")
        ok_f = ~fbad & ~unknown
        ok_f[ok_f] = trips["valid"].to_numpy()[freq["trip"].to_numpy()[ok_f]]
        reject(
            "frequencies.txt",
            freq["line"][~fbad & ~unknown & ~ok_f],
            "trip_id",
            "course modèle rejetée (voir trips.txt)",
        )
        freq = freq[ok_f].reset_index(drop=True)
    else:
        freq = pd.DataFrame(
            columns=["trip_id", "start", "end", "headway", "exact_times", "trip", "line"]
        )
    return freq


@dataclass
class DayParts:
    """Pieces of a day's schedule, appended trip block by trip block, feed by feed."""

    trip_ids: list[np.ndarray] = field(default_factory=list)
    trip_routes: list[np.ndarray] = field(default_factory=list)
    ptrs: list[np.ndarray] = field(default_factory=list)
    stops: list[np.ndarray] = field(default_factory=list)
    arrs: list[np.ndarray] = field(default_factory=list)
    deps: list[np.ndarray] = field(default_factory=list)
    picks: list[np.ndarray] = field(default_factory=list)
    drops: list[np.ndarray] = field(default_factory=list)


def expand_trips(
    part, run: np.ndarray, shift: int, remap: np.ndarray, name: str, out: DayParts
) -> None:
    """Append the running trips of one feed (frequencies expanded) to ``out``."""
    ntrips = len(part.trips)
    st_trip = part.st_trip
    bounds = np.searchsorted(st_trip, np.arange(ntrips + 1))
    lengths = np.diff(bounds)
    freq = part.frequencies
    templated = np.zeros(ntrips, dtype=bool)
    if len(freq):
        templated[freq["trip"].to_numpy()] = True
    suffix = "@veille" if shift else ""
    tid = part.trips["trip_id"].to_numpy(dtype=object)
    rid = part.trips["route_id"].to_numpy(dtype=object)
    # Plain trips: whole blocks of stop_times.
    plain = np.flatnonzero(run & ~templated & (lengths > 0))
    if len(plain):
        sel = _ranges(bounds[plain], bounds[plain + 1])
        a, d = part.st_arr[sel] + shift, part.st_dep[sel] + shift
        ln = lengths[plain]
        last = np.cumsum(ln) - 1
        keep_trip = a[last] >= 0 if shift else np.ones(len(plain), bool)
        keep_rows = np.repeat(keep_trip, ln)
        plain, ln = plain[keep_trip], ln[keep_trip]
        sel, a, d = sel[keep_rows], a[keep_rows], d[keep_rows]
        out.trip_ids.append(np.array([f"{name}:{x}{suffix}" for x in tid[plain]], dtype=object))
        out.trip_routes.append(np.array([f"{name}:{x}" for x in rid[plain]], dtype=object))
        out.ptrs.append(ln.astype(np.int64))
        out.stops.append(remap[part.st_stop[sel]])
        out.arrs.append(a)
        out.deps.append(d)
        out.picks.append(part.st_pickup[sel])
        out.drops.append(part.st_dropoff[sel])
    # Frequency-based trips: one copy per departure.
    for row in freq.itertuples(index=False):
        t = int(row.trip)
        if not run[t] or lengths[t] == 0:
            continue
        sl = slice(bounds[t], bounds[t + 1])
        base_a = part.st_arr[sl] - part.st_dep[sl][0]
        base_d = part.st_dep[sl] - part.st_dep[sl][0]
        starts = np.arange(int(row.start), int(row.end), int(row.headway), dtype=np.int64) + shift
        if shift:
            starts = starts[starts + base_a[-1] >= 0]
        k0 = int(row.line)
        n = len(starts)
        if n == 0:
            continue
        out.trip_ids.append(
            np.array([f"{name}:{tid[t]}#{k0}.{j}{suffix}" for j in range(n)], dtype=object)
        )
        out.trip_routes.append(np.full(n, f"{name}:{rid[t]}", dtype=object))
        out.ptrs.append(np.full(n, lengths[t], dtype=np.int64))
        out.stops.append(np.tile(remap[part.st_stop[sl]], n))
        out.arrs.append((starts[:, None] + base_a[None, :]).ravel())
        out.deps.append((starts[:, None] + base_d[None, :]).ravel())
        out.picks.append(np.tile(part.st_pickup[sl], n))
        out.drops.append(np.tile(part.st_dropoff[sl], n))


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for every pair, vectorised."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens)
    return np.arange(total, dtype=np.int64) + offs
