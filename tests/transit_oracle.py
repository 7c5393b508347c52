"""Independent oracle for the transit engine: a time-expanded graph searched with networkx.

Nothing here uses the engine's structures (patterns, FIFO routes, rounds, label re-use). The
input is a plain list of trips ``[(stop, arr, dep, can_board, can_alight), ...]``, a dict of
footpaths ``{(p, q): seconds}``, change times per stop, and the maximum number of vehicles.

Graph (every node has a time; every edge weight is the time difference, so a Dijkstra distance
from the origin is the elapsed time and reachability is what matters):

- ``("W", s, t, k)``: standing at stop ``s`` at time ``t`` ready to board, ``k`` vehicles used;
  consecutive ones at a stop are chained (waiting).
- ``("A", trip, i, k)``: the vehicle arrives at position ``i``; ``("D", trip, i, k)``: it
  leaves it. ``D(i) → A(i+1) → D(i+1)``: staying on board.
- boarding ``W(s, dep, k) → D(trip, i, k+1)`` when allowed and ``k+1 <= max_vehicles``;
  alighting ``A(trip, j, k) → W(s, arr + change, k)``, and ``→ W(q, arr + walk, k)`` for each
  footpath (arrivals at ``s`` at ``arr`` and at ``q`` at ``arr + walk`` are recorded).
- the origin: ``W(s0, tau, 0)`` and one footpath from it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import networkx as nx
import numpy as np

INF = float("inf")


class TimeExpandedOracle:
    def __init__(self, trips, footpaths, change, max_vehicles, n_stops):
        self.trips = trips
        self.foot = defaultdict(list)
        for (p, q), w in footpaths.items():
            self.foot[p].append((q, int(w)))
        self.change = change
        self.K = max_vehicles
        self.n_stops = n_stops

    def _build(self) -> None:
        g = nx.DiGraph()
        waits = defaultdict(set)  # (stop, k) -> times
        arrivals = defaultdict(list)  # node -> (stop, time) arrivals it stands for
        for ti, trip in enumerate(self.trips):
            for k in range(self.K + 1):
                for i, (s, a, d, board, alight) in enumerate(trip):
                    if i + 1 < len(trip):
                        a2 = trip[i + 1][1]
                        g.add_edge(("D", ti, i, k), ("A", ti, i + 1, k), weight=a2 - d)
                    if i > 0:
                        g.add_edge(("A", ti, i, k), ("D", ti, i, k), weight=d - a)
                    if board and k + 1 <= self.K and i + 1 < len(trip):
                        waits[(s, k)].add(d)
                        g.add_edge(("W", s, d, k), ("D", ti, i, k + 1), weight=0)
                    if alight and i > 0 and k >= 1:
                        node = ("A", ti, i, k)
                        arrivals[node].append((s, a))
                        c = self.change.get(s, 0)
                        if c < INF:
                            waits[(s, k)].add(a + c)
                            g.add_edge(node, ("W", s, a + c, k), weight=c)
                        for q, w in self.foot[s]:
                            waits[(q, k)].add(a + w)
                            g.add_edge(node, ("W", q, a + w, k), weight=w)
                            arrivals[node].append((q, a + w))
        self.chain0 = {}
        for (s, k), times in waits.items():
            ts = sorted(times)
            for t1, t2 in zip(ts, ts[1:], strict=False):
                g.add_edge(("W", s, t1, k), ("W", s, t2, k), weight=t2 - t1)
            if k == 0:
                self.chain0[s] = ts
        self.graph, self.arrivals = g, arrivals

    def _enter(self, origin, s: int, t: int) -> None:
        """Edge from the origin to the first waiting node at s at or after t (round 0)."""
        ts = self.chain0.get(s, [])
        j = bisect.bisect_left(ts, t)
        if j < len(ts):
            self.graph.add_edge(origin, ("W", s, ts[j], 0), weight=ts[j] - t + (t - self._tau))

    def earliest(self, s0: int, tau: int, horizon: float = INF) -> np.ndarray:
        """Earliest arrival at every stop (INF where unreachable) departing s0 at tau."""
        if not hasattr(self, "graph"):
            self._build()
        origin = ("O",)
        self._tau = tau
        self.graph.add_node(origin)
        found = [(s0, tau)]
        self._enter(origin, s0, tau)
        for q, w in self.foot[s0]:
            self._enter(origin, q, tau + w)
            found.append((q, tau + w))
        try:
            # Distances are elapsed times: nothing beyond the horizon can arrive within it.
            cutoff = None if horizon == INF else horizon
            dist = nx.single_source_dijkstra_path_length(
                self.graph, origin, cutoff=cutoff, weight="weight"
            )
        finally:
            self.graph.remove_node(origin)
        best = np.full(self.n_stops, INF)
        for s, t in found:
            best[s] = min(best[s], t)
        for node, d in dist.items():
            for s, t in self.arrivals.get(node, ()):
                assert node[0] != "A" or d == self._node_time(node) - tau
                if t <= tau + horizon and t < best[s]:
                    best[s] = t
        return best

    def _node_time(self, node) -> int:
        return self.trips[node[1]][node[2]][1]


def expand_day(spec: dict, day: str):
    """Trips running on ``day`` (YYYYMMDD) from a generated spec, resolved independently of the
    loader: calendar + calendar_dates, frequencies, previous-day trips past midnight."""
    from datetime import datetime, timedelta

    d0 = datetime.strptime(day, "%Y%m%d")
    out = []
    for shift, d in ((0, d0), (-86400, d0 - timedelta(days=1))):
        key = d.strftime("%Y%m%d")
        wd = d.weekday()
        active = set()
        for sid, (days, start, end) in spec["calendar"].items():
            if days[wd] and start <= key <= end:
                active.add(sid)
        for sid, date, typ in spec["calendar_dates"]:
            if date == key:
                (active.add if typ == 1 else active.discard)(sid)
        for trip in spec["trips"]:
            if trip["service"] not in active:
                continue
            rows = trip["rows"]  # (stop, arr, dep, board, alight) in sequence
            if trip.get("freq"):
                t0 = rows[0][2]
                for start, end, headway in trip["freq"]:
                    s = start
                    while s < end:
                        new = [
                            (st, a - t0 + s + shift, dp - t0 + s + shift, b, al)
                            for st, a, dp, b, al in rows
                        ]
                        if new[-1][1] >= 0 or shift == 0:
                            out.append(new)
                        s += headway
            else:
                new = [(st, a + shift, dp + shift, b, al) for st, a, dp, b, al in rows]
                if new[-1][1] >= 0 or shift == 0:
                    out.append(new)
    return out


def oracle_from(schedule, timetable, k):
    """The oracle for a loaded day (:class:`DaySchedule`) and the engine's footpaths and change
    times (taken from ``timetable`` so both search the same walking links), ``k`` vehicles."""
    from zonesblanches.coverage.raptor import INF as ENGINE_INF

    trips = []
    for t in range(schedule.n_trips):
        sl = slice(schedule.st_ptr[t], schedule.st_ptr[t + 1])
        trips.append(
            list(
                zip(
                    schedule.st_stop[sl].tolist(),
                    schedule.st_arr[sl].tolist(),
                    schedule.st_dep[sl].tolist(),
                    schedule.st_pickup[sl].tolist(),
                    schedule.st_dropoff[sl].tolist(),
                    strict=True,
                )
            )
        )
    foot = {}
    for s in range(timetable.n_stops):
        for e in range(timetable.foot_ptr[s], timetable.foot_ptr[s + 1]):
            foot[(s, int(timetable.foot_to[e]))] = int(timetable.foot_s[e])
    change = {
        s: (INF if c >= ENGINE_INF // 8 else int(c))
        for s, c in enumerate(timetable.change_s.tolist())
    }
    return TimeExpandedOracle(trips, foot, change, k, schedule.n_stops)


def door_to_door(oracle, access, egress, direct, horizon=INF):
    """``arrival(o, t)``: the oracle's earliest arrival at any destination leaving origin ``o``
    at ``t``: walk to a stop (``access``, origins × stops, seconds), ride, walk from a stop to a
    destination (``egress``, stops × destinations, seconds), or walk straight there
    (``direct``, origins × destinations)."""
    eg = egress.tocoo()

    def arrival(o, t):
        best = INF
        row = access.getrow(o)
        for s, a in zip(row.indices, row.data, strict=True):
            ea = oracle.earliest(int(s), int(t + a), horizon)
            for g, e in zip(eg.row, eg.data, strict=True):
                best = min(best, ea[g] + e)
        d = direct.getrow(o)
        if d.nnz:
            best = min(best, t + d.data.min())
        return best

    return arrival


def as_float(a):
    """The engine's integer times as floats, its INF as ``inf`` (the oracle's convention)."""
    from zonesblanches.coverage.raptor import INF as ENGINE_INF

    out = a.astype(float)
    out[a >= ENGINE_INF] = INF
    return out


def probe_times(schedule, s0, n=8):
    """Departure times that matter from stop ``s0``: ``n`` of its boarding times spread over the
    day, each also one second later and ten minutes earlier."""
    deps = []
    for t in range(schedule.n_trips):
        sl = slice(schedule.st_ptr[t], schedule.st_ptr[t + 1] - 1)
        deps += schedule.st_dep[sl][schedule.st_stop[sl] == s0].tolist()
    deps = sorted(set(deps))
    if not deps:
        return np.array([8 * 3600])
    pick = np.unique(np.linspace(0, len(deps) - 1, n).round().astype(int))
    chosen = [deps[i] for i in pick]
    return np.array(sorted(set(chosen + [c + 1 for c in chosen] + [c - 600 for c in chosen])))
