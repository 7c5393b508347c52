"""Public transport travel times: RAPTOR on a day's GTFS schedule, depart-at and arrive-by.

Building blocks
---------------
- :func:`build_timetable` turns a :class:`~zonesblanches.geodata.gtfs.DaySchedule` into the
  RAPTOR structure: trips grouped by stop pattern (stops, boarding and alighting rules), each
  pattern split into FIFO *routes* (no trip
  overtakes another one anywhere along the pattern; trips that do overtake go to another route),
  so that finding the earliest catchable trip is a binary search; footpaths between stops closer
  than ``transfer_max_m`` (straight line × walking detour at walking speed, as the straight-line
  walking model), overridden or forbidden by ``transfers.txt``; a minimum change time per stop.
- :func:`earliest_arrivals` (depart at a time) and :func:`latest_departures` (arrive by a time)
  run the compiled kernel (:mod:`zonesblanches.coverage._raptor_kernels`) for one or many times
  at once (rRAPTOR label re-use). Arrive-by runs the same kernel on the time-reversed timetable
  (:meth:`Timetable.reversed`): one search gives every stop its latest departure towards the
  *nearest* destination, whatever the number of destinations.
- :class:`TransitModel` implements the
  :class:`~zonesblanches.coverage.traveltime.TravelTimeModel` interface (mode ``transport``):
  door-to-door minutes from every origin to its nearest destination, as a statistic (median by
  default, or another percentile) over a window of departure or arrival times.

Door to door
------------
Walking legs (home → first stop, last stop → service, or home → service directly) are computed
by a walking model: :class:`~zonesblanches.coverage.traveltime.StraightLineModel` ``("marche")``
by default, or a :class:`~zonesblanches.coverage.network.NetworkModel` on the walking network
when one is given; a leg longer than ``max_walk_min`` (20 min by default, about 1.1 km in a
straight line) is not taken. With ``depart`` the time counts from the chosen departure minute
(waiting at the first stop included); with ``arrive`` it counts back from the chosen arrival
deadline (waiting at the destination included). Depart-at window times are obtained from
arrive-by searches on a one-minute grid of deadlines, so they are rounded up to the whole minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from zonesblanches._text import fr_g
from zonesblanches.coverage import _raptor_kernels as kernels
from zonesblanches.coverage.traveltime import STRAIGHT_LINE, NearestTimes, StraightLineModel
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.gtfs import DaySchedule, feeds_description
from zonesblanches.modes import MODES

TRANSIT = "horaires"
"""Method code of the transit model, as written in outputs (timetable-based)."""

INF = int(kernels.INF)

DEFAULT_MAX_WALK_MIN = 20.0
"""Longest walking leg (access, egress or direct trip), minutes."""
DEFAULT_TRANSFER_MAX_M = 400.0
"""Walking transfers are generated between stops closer than this (straight line, metres)."""
DEFAULT_MIN_CHANGE_S = 60
"""Minimum time to change vehicles at the same stop when transfers.txt says nothing."""
DEFAULT_MAX_ROUNDS = 5
"""Most vehicles in one journey (4 transfers)."""
DEFAULT_MAX_DURATION_MIN = 180.0
"""Journeys longer than this are not searched (minutes)."""


@dataclass
class Timetable:
    """A day's schedule in RAPTOR layout (all arrays numpy, times int64 seconds)."""

    stop_id: np.ndarray
    stop_x: np.ndarray
    stop_y: np.ndarray
    route_stop_ptr: np.ndarray
    route_stops: np.ndarray
    route_trip_ptr: np.ndarray
    route_time_ptr: np.ndarray
    arr: np.ndarray
    dep: np.ndarray
    pick: np.ndarray
    drop: np.ndarray
    route_trips: np.ndarray  # trip index (in the schedule) of each route trip, route-major
    foot_ptr: np.ndarray
    foot_to: np.ndarray
    foot_s: np.ndarray
    change_s: np.ndarray
    is_reversed: bool = False

    @property
    def n_stops(self) -> int:
        return len(self.stop_id)

    @property
    def n_routes(self) -> int:
        return len(self.route_stop_ptr) - 1

    def stop_routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR from stop to (route, position in route)."""
        n = self.n_stops
        counts = np.diff(self.route_stop_ptr)
        route = np.repeat(np.arange(self.n_routes, dtype=np.int64), counts)
        pos = np.arange(len(self.route_stops), dtype=np.int64) - np.repeat(
            self.route_stop_ptr[:-1], counts
        )
        order = np.lexsort((pos, route, self.route_stops))
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.route_stops, minlength=n), out=ptr[1:])
        return ptr, route[order], pos[order]

    def reversed(self) -> Timetable:
        """The time-reversed timetable: earliest arrival on it from ``-T`` is ``-`` the latest
        departure arriving by ``T`` on this one (routes and footpaths reversed, trips in reverse
        order, arrivals and departures, boarding and alighting swapped)."""
        n_routes = self.n_routes
        rs, rt, rtp = self.route_stop_ptr, self.route_trip_ptr, self.route_time_ptr
        new_stops = np.empty_like(self.route_stops)
        arr = np.empty_like(self.arr)
        dep = np.empty_like(self.dep)
        pick = np.empty_like(self.pick)
        drop = np.empty_like(self.drop)
        trips = np.empty_like(self.route_trips)
        for r in range(n_routes):
            ns = rs[r + 1] - rs[r]
            nt = rt[r + 1] - rt[r]
            new_stops[rs[r] : rs[r + 1]] = self.route_stops[rs[r] : rs[r + 1]][::-1]
            sl = slice(rtp[r], rtp[r] + ns * nt)
            a = self.arr[sl].reshape(nt, ns)[::-1, ::-1]
            d = self.dep[sl].reshape(nt, ns)[::-1, ::-1]
            arr[sl] = (-d).ravel()
            dep[sl] = (-a).ravel()
            pick[sl] = self.drop[sl].reshape(nt, ns)[::-1, ::-1].ravel()
            drop[sl] = self.pick[sl].reshape(nt, ns)[::-1, ::-1].ravel()
            trips[rt[r] : rt[r + 1]] = self.route_trips[rt[r] : rt[r + 1]][::-1]
        n = self.n_stops
        src = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.foot_ptr))
        foot_ptr, foot_to, foot_s = _csr(self.foot_to, src, self.foot_s, n)
        return Timetable(
            self.stop_id,
            self.stop_x,
            self.stop_y,
            rs,
            new_stops,
            rt,
            rtp,
            arr,
            dep,
            pick,
            drop,
            trips,
            foot_ptr,
            foot_to,
            foot_s,
            self.change_s,
            not self.is_reversed,
        )


def _csr(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int):
    order = np.lexsort((cols, rows))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr, cols[order].astype(np.int64), w[order].astype(np.int64)


def _lambert(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    return _xy(pts)


def _xy(points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    if len(points) == 0:
        return np.zeros(0), np.zeros(0)
    # Lambert-93 is only meaningful in France; elsewhere (test feeds) use a local azimuthal
    # projection centred on the points, so that distances stay metric.
    p = points.to_crs("EPSG:4326")
    lon, lat = p.x.to_numpy(), p.y.to_numpy()
    if np.nanmin(lon) > -10 and np.nanmax(lon) < 12 and np.nanmin(lat) > 40 and np.nanmax(lat) < 52:
        q = points.to_crs(LAMBERT93)
    else:
        lon0, lat0 = float(np.nanmean(lon)), float(np.nanmean(lat))
        q = points.to_crs(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    return q.x.to_numpy(), q.y.to_numpy()


def walk_seconds(metres: np.ndarray, speed_kmh: float, detour: float) -> np.ndarray:
    """Walking time in whole seconds (rounded up) for straight-line distances."""
    return np.ceil(np.asarray(metres, float) * detour / (speed_kmh / 3.6)).astype(np.int64)


def build_timetable(
    schedule: DaySchedule,
    *,
    transfer_max_m: float = DEFAULT_TRANSFER_MAX_M,
    min_change_s: int = DEFAULT_MIN_CHANGE_S,
    walk_speed_kmh: float | None = None,
    walk_detour: float | None = None,
) -> Timetable:
    """RAPTOR structure of a day's schedule (see the module docstring).

    Parameters
    ----------
    schedule : DaySchedule
        From :meth:`zonesblanches.geodata.gtfs.GtfsData.day`.
    transfer_max_m : float, default 400
        Walking transfers between stops closer than this (straight-line metres); 0 disables.
    min_change_s : int, default 60
        Change time at a stop when ``transfers.txt`` gives none.
    walk_speed_kmh, walk_detour : float, optional
        Walking speed and detour (default: the ``marche`` mode's, 4.5 km/h and 1.3).
    """
    if schedule.n_trips == 0:
        raise DataError(
            f"Aucune course ne circule le {schedule.day:%d/%m/%Y} dans les flux GTFS donnés : "
            "vérifiez la date (--jour) et la période de validité des horaires."
        )
    if not (transfer_max_m >= 0 and min_change_s >= 0):
        raise ParameterError("Distance de correspondance et temps de changement : positifs.")
    speed = float(walk_speed_kmh or MODES["marche"].speed_kmh)
    detour = float(walk_detour or MODES["marche"].detour)
    n_stops = schedule.n_stops
    x, y = _lambert(schedule.stop_lon, schedule.stop_lat)
    ptr = schedule.st_ptr
    st_stop = schedule.st_stop.astype(np.int64)
    # Group trips by stop pattern.
    # Trips share a route only if they serve the same stops with the same boarding and
    # alighting rules: otherwise the earliest trip would not dominate the later ones (a trip
    # that cannot drop off at a stop must not hide a later one that can).
    patterns: dict[bytes, list[int]] = {}
    flags = schedule.st_pickup.astype(np.int64) + 2 * schedule.st_dropoff.astype(np.int64)
    for t in range(schedule.n_trips):
        sl = slice(ptr[t], ptr[t + 1])
        key = np.concatenate([st_stop[sl], flags[sl]]).tobytes()
        patterns.setdefault(key, []).append(t)
    r_stops, r_ntrips, r_trips = [], [], []
    arr_parts, dep_parts, pick_parts, drop_parts = [], [], [], []
    for key, trips in patterns.items():
        stops = np.frombuffer(key, dtype=np.int64)
        stops = stops[: len(stops) // 2]
        ns = len(stops)
        idx = ptr[np.asarray(trips)][:, None] + np.arange(ns)[None, :]
        a, d = schedule.st_arr[idx], schedule.st_dep[idx]
        order = np.lexsort((a[:, -1], d[:, 0]))
        # Greedy split into FIFO routes (no overtaking within a route).
        a_s, d_s = a[order], d[order]
        if len(order) == 1 or bool(np.all((a_s[1:] >= a_s[:-1]) & (d_s[1:] >= d_s[:-1]))):
            groups: list = [list(order)]  # the common case: nobody overtakes
        else:
            groups = []
        for j in order if not groups else ():
            for g in groups:
                last = g[-1]
                if np.all(a[j] >= a[last]) and np.all(d[j] >= d[last]):
                    g.append(j)
                    break
            else:
                groups.append([j])
        for g in groups:
            g = np.asarray(g)
            r_stops.append(stops)
            r_ntrips.append(len(g))
            r_trips.append(np.asarray(trips)[g])
            arr_parts.append(a[g].ravel())
            dep_parts.append(d[g].ravel())
            pick_parts.append(schedule.st_pickup[idx[g]].ravel())
            drop_parts.append(schedule.st_dropoff[idx[g]].ravel())
    route_stop_ptr = np.zeros(len(r_stops) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in r_stops], out=route_stop_ptr[1:])
    route_trip_ptr = np.zeros(len(r_stops) + 1, dtype=np.int64)
    np.cumsum(r_ntrips, out=route_trip_ptr[1:])
    route_time_ptr = np.zeros(len(r_stops) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in arr_parts], out=route_time_ptr[1:])

    # Footpaths and change times.
    change = np.full(n_stops, int(min_change_s), dtype=np.int64)
    pairs: dict[tuple[int, int], int] = {}
    if transfer_max_m > 0 and n_stops > 1:
        tree = cKDTree(np.column_stack([x, y]))
        pp = tree.query_pairs(transfer_max_m, output_type="ndarray")
        if len(pp):
            dist = np.hypot(x[pp[:, 0]] - x[pp[:, 1]], y[pp[:, 0]] - y[pp[:, 1]])
            w = walk_seconds(dist, speed, detour)
            for (i, j), s in zip(pp.tolist(), w.tolist(), strict=True):
                pairs[(i, j)] = s
                pairs[(j, i)] = s
    tr = schedule.transfers
    for f, t, typ, sec in zip(
        tr["from"].to_numpy(int),
        tr["to"].to_numpy(int),
        tr["type"].to_numpy(int),
        tr["seconds"].to_numpy(int),
        strict=True,
    ):
        if f == t:
            if typ == 3:
                change[f] = INF // 4
            elif sec >= 0:
                change[f] = sec
            continue
        if typ == 3:
            pairs.pop((f, t), None)
            continue
        if sec < 0:
            sec = int(walk_seconds(np.hypot(x[f] - x[t], y[f] - y[t]), speed, detour))
        pairs[(f, t)] = int(sec)
    if pairs:
        keys = np.array(list(pairs.keys()), dtype=np.int64)
        vals = np.array(list(pairs.values()), dtype=np.int64)
        foot_ptr, foot_to, foot_s = _csr(keys[:, 0], keys[:, 1], vals, n_stops)
    else:
        foot_ptr = np.zeros(n_stops + 1, dtype=np.int64)
        foot_to = np.zeros(0, dtype=np.int64)
        foot_s = np.zeros(0, dtype=np.int64)

    def cat(parts, dt):
        return np.concatenate(parts).astype(dt)

    return Timetable(
        stop_id=schedule.stop_id,
        stop_x=x,
        stop_y=y,
        route_stop_ptr=route_stop_ptr,
        route_stops=cat(r_stops, np.int64),
        route_trip_ptr=route_trip_ptr,
        route_time_ptr=route_time_ptr,
        arr=cat(arr_parts, np.int64),
        dep=cat(dep_parts, np.int64),
        pick=cat(pick_parts, bool),
        drop=cat(drop_parts, bool),
        route_trips=cat(r_trips, np.int64),
        foot_ptr=foot_ptr,
        foot_to=foot_to,
        foot_s=foot_s,
        change_s=change,
    )


class Engine:
    """A timetable ready for queries in both directions (the reversed copy built once)."""

    def __init__(
        self,
        timetable: Timetable,
        *,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        max_duration_s: int = int(DEFAULT_MAX_DURATION_MIN * 60),
    ):
        if timetable.is_reversed:
            raise ParameterError("Donnez l'horaire dans le sens normal du temps.")
        if not (isinstance(max_rounds, (int, np.integer)) and max_rounds >= 1):
            raise ParameterError(
                f"Nombre de véhicules par trajet : au moins 1 (reçu {max_rounds})."
            )
        self.forward = timetable
        self.backward = timetable.reversed()
        self.max_rounds = int(max_rounds)
        self.max_duration_s = int(max_duration_s)
        self._sr = {False: timetable.stop_routes(), True: self.backward.stop_routes()}

    def _run(self, tt: Timetable, src_stop, src_off, starts) -> tuple[np.ndarray, np.ndarray]:
        src_stop = np.asarray(src_stop, dtype=np.int64)
        src_off = np.asarray(src_off, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        if len(src_stop) != len(src_off):
            raise ParameterError("Un décalage par arrêt de départ.")
        if len(src_stop) and (src_stop.min() < 0 or src_stop.max() >= tt.n_stops):
            raise ParameterError("Arrêt de départ inconnu.")
        order = np.argsort(-starts, kind="stable")
        sp_, sr, spos = self._sr[tt.is_reversed]
        best, src = kernels.range_raptor(
            tt.route_stop_ptr,
            tt.route_stops,
            tt.route_trip_ptr,
            tt.route_time_ptr,
            tt.arr,
            tt.dep,
            tt.pick,
            tt.drop,
            sp_,
            sr,
            spos,
            tt.foot_ptr,
            tt.foot_to,
            tt.foot_s,
            tt.change_s,
            src_stop,
            src_off,
            starts[order],
            self.max_rounds,
            self.max_duration_s,
        )
        out = np.empty_like(best)
        out_src = np.empty_like(src)
        out[order] = best
        out_src[order] = src
        return out, out_src

    def earliest_arrivals(self, src_stop, src_off, departures) -> tuple[np.ndarray, np.ndarray]:
        """Earliest arrival (s) at every stop, one row per departure time; ``INF`` unreached.

        ``src_stop`` / ``src_off``: stops where the traveller can start and the seconds it takes
        to get there (access). Second array: index of the source used.
        """
        return self._run(self.forward, src_stop, src_off, departures)

    def latest_departures(self, dst_stop, dst_off, deadlines) -> tuple[np.ndarray, np.ndarray]:
        """Latest departure (s) from every stop arriving by each deadline at one of the
        destinations (``dst_off``: seconds from that stop to the destination); ``-INF`` when
        impossible. Second array: index of the destination reached."""
        lab, src = self._run(self.backward, dst_stop, dst_off, -np.asarray(deadlines, np.int64))
        out = np.where(lab >= INF, -INF, -lab)
        return out, src


def earliest_arrivals(timetable: Timetable, src_stop, src_off, departures, **kw):
    """Convenience: :meth:`Engine.earliest_arrivals` on a new engine."""
    return Engine(timetable, **kw).earliest_arrivals(src_stop, src_off, departures)


def latest_departures(timetable: Timetable, dst_stop, dst_off, deadlines, **kw):
    """Convenience: :meth:`Engine.latest_departures` on a new engine."""
    return Engine(timetable, **kw).latest_departures(dst_stop, dst_off, deadlines)


def parse_clock(value: str | int) -> int:
    """Seconds after midnight from ``08:00``, ``8h``, ``8h30`` or ``08:00:00``; French error."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value).strip().lower().replace("h", ":")
    parts = [p for p in text.split(":")]
    if text.endswith(":"):
        parts = parts[:-1]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if not 1 <= len(nums) <= 3 or any(n < 0 for n in nums) or any(n >= 60 for n in nums[1:]):
        raise ParameterError(f"Heure invalide : « {value} ». Écrivez-la HH:MM, par exemple 08:00.")
    nums += [0] * (3 - len(nums))
    return nums[0] * 3600 + nums[1] * 60 + nums[2]


def window_times(
    start_s: int, window_min: float, step_min: float = 1.0, *, backwards: bool = False
) -> np.ndarray:
    """The minute grid of a window: ``start, start+step, …`` (``window/step`` values, end
    excluded), or with ``backwards`` the deadlines ``start, start-step, …`` going back."""
    if not (window_min >= 0 and step_min > 0):
        raise ParameterError("Fenêtre et pas de temps : positifs (minutes).")
    n = max(1, int(math.floor(window_min / step_min + 1e-9)))
    k = np.arange(n, dtype=np.int64) * int(round(step_min * 60))
    return start_s - k if backwards else start_s + k


def percentile_nearest_rank(values: np.ndarray, q: float, axis: int = 0) -> np.ndarray:
    """Nearest-rank percentile (a value actually observed; ``inf`` kept): the smallest value
    with at least ``q`` % of the observations at or below it."""
    v = np.sort(np.asarray(values, dtype=float), axis=axis)
    n = v.shape[axis]
    rank = max(1, int(math.ceil(q / 100.0 * n)))
    return np.take(v, rank - 1, axis=axis)


@dataclass
class WindowTimes:
    """Door-to-door minutes over a window, per origin."""

    minutes: np.ndarray  # (n_times, n_origins) float, inf = no trip
    nearest: np.ndarray  # (n_times, n_origins) int, -1 = none
    times_s: np.ndarray  # departure (depart) or deadline (arrive) of each row
    no_stop: np.ndarray | None = None  # (n_origins,) bool: no stop within the longest walk

    def statistic(self, q: float) -> np.ndarray:
        """Nearest-rank percentile ``q`` over the window, per origin."""
        return percentile_nearest_rank(self.minutes, q, axis=0)


class TransitModel:
    """Public transport door-to-door times (implements ``TravelTimeModel``; mode ``transport``).

    Parameters
    ----------
    schedule : DaySchedule
        The day's trips (:meth:`zonesblanches.geodata.gtfs.GtfsData.day`).
    time : str or int
        Departure (``direction="depart"``) or arrival deadline (``"arrive"``), ``"08:00"``.
    direction : {"depart", "arrive"}
    window_min : float, default 120
        Width of the window of departure / deadline minutes (0: only ``time``); with
        ``depart`` the window is ``[time, time + window)``, with ``arrive`` ``(time - window,
        time]``.
    percentile : float, default 50
        Statistic reported by :meth:`nearest` (50: median; r5py also reports 80).
    walk_model : TravelTimeModel, optional
        Walking legs; default the straight-line walking model.
    max_walk_min, transfer_max_m, min_change_s, max_rounds, max_duration_min
        See the module constants.
    """

    mode = "transport"
    method = TRANSIT

    def __init__(
        self,
        schedule: DaySchedule,
        time: str | int = "08:00",
        *,
        direction: str = "arrive",
        window_min: float = 120.0,
        step_min: float = 1.0,
        percentile: float = 50.0,
        walk_model=None,
        max_walk_min: float = DEFAULT_MAX_WALK_MIN,
        transfer_max_m: float = DEFAULT_TRANSFER_MAX_M,
        min_change_s: int = DEFAULT_MIN_CHANGE_S,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        max_duration_min: float = DEFAULT_MAX_DURATION_MIN,
    ):
        if direction not in ("depart", "arrive"):
            raise ParameterError(
                f"Sens inconnu : « {direction} » (« depart » ou « arrive » attendu)."
            )
        if not 0 < percentile <= 100:
            raise ParameterError(f"Centile entre 0 et 100 (reçu {percentile}).")
        if not max_walk_min > 0:
            raise ParameterError(f"Marche maximale positive (reçu {max_walk_min} min).")
        self.schedule = schedule
        self.time_s = parse_clock(time)
        self.direction = direction
        self.window_min = float(window_min)
        self.step_min = float(step_min)
        self.percentile = float(percentile)
        self.max_walk_min = float(max_walk_min)
        self.max_duration_min = float(max_duration_min)
        self.walk_model = walk_model or StraightLineModel("marche")
        self.timetable = build_timetable(
            schedule, transfer_max_m=transfer_max_m, min_change_s=min_change_s
        )
        # Stop-to-stop searches reach a little further than the door-to-door limit, so that
        # the access walk added afterwards never hides a journey within it.
        self.engine = Engine(
            self.timetable,
            max_rounds=max_rounds,
            max_duration_s=int((max_duration_min + max_walk_min) * 60),
        )
        self._stops = gpd.GeoSeries(
            gpd.points_from_xy(schedule.stop_lon, schedule.stop_lat), crs="EPSG:4326"
        )

    def __repr__(self) -> str:
        return (
            f"TransitModel(day={self.schedule.day}, {self.direction} "
            f"{self.time_s // 3600:02d}:{self.time_s % 3600 // 60:02d}, "
            f"window={self.window_min:g} min, stops={self.timetable.n_stops}, "
            f"routes={self.timetable.n_routes})"
        )

    @property
    def description(self) -> str:
        hh = f"{self.time_s // 3600:02d}h{self.time_s % 3600 // 60:02d}"
        if self.direction == "depart":
            when = f"départs de {hh} à {self.window_min:g} min plus tard, chaque minute"
        else:
            when = f"arrivées au plus tard entre {self.window_min:g} min avant {hh} et {hh}"
        stat = "médiane" if self.percentile == 50 else f"{self.percentile:g}e centile"
        on_foot = (
            "à vol d'oiseau"
            if getattr(self.walk_model, "method", "") == STRAIGHT_LINE
            else "sur le réseau piéton"
        )
        return (
            f"Temps en transports en commun le {self.schedule.day:%d/%m/%Y} ({when}) : "
            f"{stat} des temps porte à porte sur la fenêtre, attente comprise ; marche "
            f"({on_foot}) d'au plus {self.max_walk_min:g} min pour rejoindre un arrêt ou le "
            f"service ; trajets de plus de {self.max_duration_min:g} min non comptés. "
            + feeds_description(self.schedule.feeds)
        )

    # -- walking legs --------------------------------------------------------------------------
    def _walk(self, candidates: gpd.GeoSeries, units: gpd.GeoSeries) -> sp.csr_matrix:
        """Seconds from each unit to each candidate within ``max_walk_min`` (units × candidates)."""
        from zonesblanches.coverage.reach import reach_matrix

        if len(candidates) == 0 or len(units) == 0:
            return sp.csr_matrix((len(units), len(candidates)))
        rm = reach_matrix(self.walk_model, candidates, units, self.max_walk_min, progress=False)
        m = rm.matrix.T.tocsr()  # units × candidates, minutes (explicit zeros kept)
        m.data = np.ceil(m.data * 60.0 - 1e-6)
        return m

    def window(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries) -> WindowTimes:
        """Door-to-door minutes from every origin to its nearest destination, per window time."""
        n_o = len(origins)
        deadlines_main = window_times(
            self.time_s, self.window_min, self.step_min, backwards=self.direction == "arrive"
        )
        if self.direction == "depart":
            last = int(deadlines_main.max()) + int(self.max_duration_min * 60)
            deadlines = np.arange(int(deadlines_main.min()), last + 60, 60, dtype=np.int64)
        else:
            deadlines = deadlines_main
        egress = self._walk(destinations, self._stops).tocoo()  # stops × destinations
        access = self._walk(self._stops, origins)  # origins × stops
        direct = self._walk(destinations, origins)  # origins × destinations
        no_stop = np.diff(access.indptr) == 0
        ld, which = self.engine.latest_departures(
            egress.row, egress.data.astype(np.int64), deadlines
        )
        dest_of_src = egress.col.astype(np.int64)
        # Home labels in the reversed-time domain: -(latest departure from home).
        stop_lab = np.where(ld <= -INF, INF, -ld)
        extra = np.full((len(deadlines), n_o), INF, dtype=np.int64)
        extra_dest = np.full((len(deadlines), n_o), -1, dtype=np.int64)
        if direct.nnz:
            # Walking all the way: the nearest destination on foot, the same at every time.
            dcoo = direct.tocoo()
            order = np.lexsort((dcoo.col, dcoo.data, dcoo.row))
            r_, first = np.unique(dcoo.row[order], return_index=True)
            wmin = dcoo.data[order][first].astype(np.int64)
            extra[:, r_] = -deadlines[:, None] + wmin[None, :]
            extra_dest[:, r_] = dcoo.col[order][first]
        home, via = kernels.min_plus_rows(
            stop_lab,
            access.indptr.astype(np.int64),
            access.indices.astype(np.int64),
            access.data.astype(np.int64),
            extra,
        )
        # Destination of each home label.
        dest = np.where(via >= 0, -1, extra_dest)
        rows, cols = np.nonzero(via >= 0)
        if len(rows):
            s = which[rows, via[rows, cols]]
            dest[rows, cols] = np.where(s >= 0, dest_of_src[np.clip(s, 0, None)], -1)
        home_ld = np.where(home >= INF, -INF, -home)  # latest departure from each origin
        if self.direction == "arrive":
            minutes = np.where(home_ld <= -INF, np.inf, (deadlines[:, None] - home_ld) / 60.0)
            minutes[minutes > self.max_duration_min] = np.inf
            near = np.where(np.isfinite(minutes), dest, -1)
            return WindowTimes(minutes, near, deadlines, no_stop)
        # Depart at t: earliest deadline T on the grid with LD_T >= t (LD_T grows with T).
        mins = np.full((len(deadlines_main), n_o), np.inf)
        near = np.full((len(deadlines_main), n_o), -1, dtype=np.int64)
        for o in range(n_o):
            col = np.maximum.accumulate(home_ld[:, o])
            k = np.searchsorted(col, deadlines_main, side="left")
            ok = k < len(deadlines)
            kk = np.clip(k, 0, len(deadlines) - 1)
            mins[ok, o] = (deadlines[kk[ok]] - deadlines_main[ok]) / 60.0
            near[ok, o] = dest[kk[ok], o]
        over = mins > self.max_duration_min
        mins[over] = np.inf
        near[over] = -1
        return WindowTimes(mins, near, deadlines_main, no_stop)

    def nearest(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries) -> NearestTimes:
        """The window statistic (``percentile``) of door-to-door minutes to the nearest
        destination; ``nearest`` is the destination reached at the window time giving it."""
        wt = self.window(origins, destinations)
        n = len(origins)
        if n == 0:
            return NearestTimes(np.zeros(0), np.zeros(0, dtype=np.int64))
        v = wt.minutes
        order = np.argsort(v, axis=0, kind="stable")
        rank = max(1, int(math.ceil(self.percentile / 100.0 * v.shape[0]))) - 1
        pick = order[rank]
        minutes = v[pick, np.arange(n)]
        nearest = np.where(np.isfinite(minutes), wt.nearest[pick, np.arange(n)], -1)
        # Per origin, whatever the destinations (the analysis keeps one remark per mode): no
        # stop within walking distance. « No trip » depends on the category: the empty time
        # says it.
        flags = np.full(n, "", dtype=object)
        if wt.no_stop is not None:
            flags[wt.no_stop] = (
                f"Aucun arrêt de transport en commun à moins de {fr_g(self.max_walk_min)} min "
                "à pied."
            )
        return NearestTimes(minutes, nearest.astype(np.int64), flags)
