"""One GTFS feed read and checked: feed info, stops, routes, trips, stop_times, transfers.

Bad rows are never fatal and never silently dropped: each becomes a :class:`Reject` with file,
line, field and a French reason, and the feed still loads (conventions in
:mod:`zonesblanches.geodata.gtfs`). Calendars are read by
:mod:`~zonesblanches.geodata._gtfs_calendar`, frequencies by
:mod:`~zonesblanches.geodata._gtfs_frequencies`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches.errors import DataError
from zonesblanches.geodata._gtfs_calendar import read_calendars
from zonesblanches.geodata._gtfs_files import (
    RejectFn,
    _acol,
    _col,
    _floats,
    _ints,
    _lookup,
    _Reader,
    drop_rejected,
    parse_times,
)
from zonesblanches.geodata._gtfs_frequencies import read_frequencies

REQUIRED = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
"""Files every feed must contain."""

FRANCE_BBOX = (
    (-5.5, 41.2, 10.0, 51.2),  # metropolitan France and Corsica
    (-63.2, 14.3, -60.7, 18.2),  # Antilles (Guadeloupe, Martinique, Saint-Martin, Saint-Barthélemy)
    (-54.7, 2.0, -51.5, 6.0),  # Guyane
    (55.1, -21.5, 55.9, -20.8),  # La Réunion
    (44.9, -13.1, 45.4, -12.6),  # Mayotte
    (-56.5, 46.7, -56.1, 47.2),  # Saint-Pierre-et-Miquelon
)
"""Boxes (lon min, lat min, lon max, lat max) where a French stop may lie; a stop outside all
of them is rejected (a real SNCF export once put TER stops in the Algerian desert)."""


@dataclass(frozen=True)
class Reject:
    """One input row the loader could not use, and why (French reason)."""

    feed: str
    file: str
    line: int
    field: str
    reason: str


@dataclass
class FeedInfo:
    """Where a feed comes from and under which terms.

    Attributes
    ----------
    name : str
        Prefix of every id of the feed.
    source : str
        File, folder or URL it was read from.
    publisher : str
        ``feed_info.txt`` publisher, else the download's publisher, else the agencies' names.
    licence : str
        Licence declared by the download (transport.data.gouv.fr ``licence``), or given by the
        caller; ``"non précisée"`` otherwise.
    agencies : list of str
        ``agency_name`` values.
    start_date, end_date : str
        Validity declared in ``feed_info.txt`` (``YYYYMMDD``) when present.
    """

    name: str
    source: str
    publisher: str = ""
    licence: str = "non précisée"
    agencies: list[str] = field(default_factory=list)
    start_date: str = ""
    end_date: str = ""


@dataclass
class GtfsSource:
    """A feed to read, with optional metadata (name, licence, publisher)."""

    path: str | os.PathLike
    name: str | None = None
    licence: str | None = None
    publisher: str | None = None


@dataclass
class _Feed:
    info: FeedInfo
    stops: pd.DataFrame
    routes: pd.DataFrame
    trips: pd.DataFrame
    st_trip: np.ndarray  # int64 position in trips
    st_stop: np.ndarray  # int64 position in stops
    st_seq: np.ndarray
    st_arr: np.ndarray
    st_dep: np.ndarray
    st_pickup: np.ndarray  # bool: boarding allowed
    st_dropoff: np.ndarray  # bool: alighting allowed
    calendar: pd.DataFrame
    calendar_dates: pd.DataFrame
    frequencies: pd.DataFrame
    transfers: pd.DataFrame
    rejects: list[Reject]


def _feed_name(path: Path, given: str | None, taken: set[str]) -> str:
    base = given or re.sub(r"[^\w\-]+", "_", path.stem if path.is_file() else path.name).strip("_")
    base = base or "gtfs"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _read_feed(src: GtfsSource, name: str, bbox: Sequence | None) -> _Feed:
    path = Path(src.path)
    reader = _Reader(path)
    try:
        missing = [f for f in REQUIRED if not reader.has(f)]
        if missing:
            raise DataError(
                f"« {path.name} » n'est pas un GTFS complet : il manque "
                + ", ".join(missing)
                + ". Un flux GTFS contient au moins stops.txt, routes.txt, trips.txt et "
                "stop_times.txt."
            )
        if not reader.has("calendar.txt") and not reader.has("calendar_dates.txt"):
            raise DataError(
                f"« {path.name} » n'a ni calendar.txt ni calendar_dates.txt : impossible de "
                "savoir quels jours circulent les courses."
            )
        rejects: list[Reject] = []

        def reject(file: str, lines: Iterable[int], fld: str, reason: str) -> None:
            rejects.extend(Reject(name, file, int(ln), fld, reason) for ln in lines)

        info = _read_info(reader, src, name, path)
        stops = _read_stops(reader, reject, bbox)
        routes = _read_routes(reader, reject)
        trips = _read_trips(reader, reject, routes)
        valid, stop_times = _read_stop_times(reader, reject, stops, trips)
        trips["valid"] = valid
        calendar, cdates = read_calendars(reader, reject)
        freq = read_frequencies(reader, reject, trips)
        transfers = _read_transfers(reader, reject, stops)

        return _Feed(
            info=info,
            stops=stops,
            routes=routes,
            trips=trips,
            **stop_times,
            calendar=calendar,
            calendar_dates=cdates,
            frequencies=freq,
            transfers=transfers,
            rejects=rejects,
        )
    finally:
        reader.close()


def _read_info(reader: _Reader, src: GtfsSource, name: str, path: Path) -> FeedInfo:
    """Name, source, publisher, licence, agencies and validity of a feed."""
    info = FeedInfo(name=name, source=str(path))
    agency = reader.read("agency.txt")
    if agency is not None:
        info.agencies = [a for a in _col(agency, "agency_name") if a]
    fi = reader.read("feed_info.txt")
    if fi is not None and fi.num_rows:
        info.publisher = str(_col(fi, "feed_publisher_name")[0])
        info.start_date = str(_col(fi, "feed_start_date")[0])
        info.end_date = str(_col(fi, "feed_end_date")[0])
    if src.publisher:
        info.publisher = src.publisher
    if not info.publisher:
        info.publisher = ", ".join(info.agencies)
    if src.licence:
        info.licence = src.licence
    return info


def _read_stops(reader: _Reader, reject: RejectFn, bbox: Sequence | None) -> pd.DataFrame:
    """``stops.txt``: every row with an id (column ``usable``: a stop with valid coordinates)."""
    t = reader.read("stops.txt")
    sid = _col(t, "stop_id")
    lat, lon = _floats(_col(t, "stop_lat")), _floats(_col(t, "stop_lon"))
    ltype, bad_lt = _ints(_col(t, "location_type"), 0)
    lines = np.arange(len(sid)) + 2
    dup = pd.Series(sid).duplicated().to_numpy()
    reject("stops.txt", lines[dup], "stop_id", "identifiant d'arrêt en double")
    reject("stops.txt", lines[(sid == "") & ~dup], "stop_id", "identifiant d'arrêt vide")
    is_stop = (ltype == 0) & ~bad_lt
    nocoord = ~(np.isfinite(lat) & np.isfinite(lon))
    out = np.zeros(len(sid), dtype=bool)
    if bbox is not None:
        boxes = [bbox] if np.ndim(bbox) == 1 else list(bbox)
        inside = np.zeros(len(sid), dtype=bool)
        for b in boxes:
            inside |= (lon >= b[0]) & (lon <= b[2]) & (lat >= b[1]) & (lat <= b[3])
        out = ~nocoord & ~inside
    keep = ~dup & (sid != "")
    reject(
        "stops.txt",
        lines[keep & is_stop & nocoord],
        "stop_lat",
        "arrêt sans coordonnées valides",
    )
    reject(
        "stops.txt",
        lines[keep & is_stop & out],
        "stop_lat",
        "coordonnées hors de la zone attendue (France)",
    )
    reject("stops.txt", lines[keep & bad_lt], "location_type", "location_type illisible")
    usable = keep & is_stop & ~nocoord & ~out
    stops = pd.DataFrame(
        {
            "stop_id": sid[keep],
            "stop_name": _col(t, "stop_name")[keep],
            "lat": lat[keep],
            "lon": lon[keep],
            "location_type": ltype[keep],
            "parent_station": _col(t, "parent_station")[keep],
            "usable": usable[keep],
        }
    )
    return stops


def _read_routes(reader: _Reader, reject: RejectFn) -> pd.DataFrame:
    """``routes.txt`` without duplicate ids."""
    t = reader.read("routes.txt")
    routes = pd.DataFrame(
        {
            "route_id": _col(t, "route_id"),
            "route_short_name": _col(t, "route_short_name"),
            "route_long_name": _col(t, "route_long_name"),
            "route_type": _col(t, "route_type"),
        }
    )
    dup = routes["route_id"].duplicated().to_numpy()
    return drop_rejected(
        routes, dup, reject, "routes.txt", "route_id", "identifiant de ligne en double"
    )


def _read_trips(reader: _Reader, reject: RejectFn, routes: pd.DataFrame) -> pd.DataFrame:
    """``trips.txt`` without duplicate ids or unknown routes; ``line``: the row's line."""
    t = reader.read("trips.txt")
    trips = pd.DataFrame(
        {
            "trip_id": _col(t, "trip_id"),
            "route_id": _col(t, "route_id"),
            "service_id": _col(t, "service_id"),
        }
    )
    trips["line"] = np.arange(len(trips)) + 2
    dup = trips["trip_id"].duplicated().to_numpy()
    reject("trips.txt", trips["line"][dup], "trip_id", "identifiant de course en double")
    noroute = ~trips["route_id"].isin(routes["route_id"]).to_numpy() & ~dup
    reject(
        "trips.txt",
        trips["line"][noroute],
        "route_id",
        "ligne inconnue (absente de routes.txt)",
    )
    trips = trips[~dup & ~noroute].reset_index(drop=True)
    return trips


def _read_stop_times(
    reader: _Reader, reject: RejectFn, stops: pd.DataFrame, trips: pd.DataFrame
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``stop_times.txt`` checked, sorted by trip and sequence, untimed stops interpolated.

    Returns the usable-trip mask (a trip needs two timed stop_times going forward) and the
    ``st_*`` arrays of :class:`_Feed`.
    """
    t = reader.read("stop_times.txt")
    n = t.num_rows
    st_lines = np.arange(n, dtype=np.int64) + 2
    tix = _lookup(_acol(t, "trip_id"), trips["trip_id"].to_numpy(dtype=object))
    six = _lookup(_acol(t, "stop_id"), stops["stop_id"].to_numpy(dtype=object))
    seq, bad_seq = _ints(_acol(t, "stop_sequence"), -1)
    arr, bad_a = parse_times(t["arrival_time"] if "arrival_time" in t.column_names else [""] * n)
    dep, bad_d = parse_times(
        t["departure_time"] if "departure_time" in t.column_names else [""] * n
    )
    pick, _ = _ints(_acol(t, "pickup_type"), 0)
    drop, _ = _ints(_acol(t, "drop_off_type"), 0)
    ok = np.ones(n, dtype=bool)

    def drop_rows(mask: np.ndarray, fld: str, reason: str) -> None:
        nonlocal ok
        mask = mask & ok
        reject("stop_times.txt", st_lines[mask], fld, reason)
        ok &= ~mask

    drop_rows(tix < 0, "trip_id", "course inconnue ou rejetée (trips.txt)")
    drop_rows(six < 0, "stop_id", "arrêt inconnu (absent de stops.txt)")
    usable_stop = np.zeros(n, dtype=bool)
    usable_stop[six >= 0] = stops["usable"].to_numpy()[six[six >= 0]]
    drop_rows(~usable_stop, "stop_id", "arrêt rejeté ou qui n'est pas un point d'arrêt")
    drop_rows(bad_seq | (seq < 0), "stop_sequence", "stop_sequence absent ou illisible")
    drop_rows(bad_a, "arrival_time", "heure d'arrivée illisible")
    drop_rows(bad_d, "departure_time", "heure de départ illisible")
    # Fill one from the other.
    arr = np.where(arr < 0, dep, arr)
    dep = np.where(dep < 0, arr, dep)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((seq[idx], tix[idx]))]
    trip_o = tix[order]
    dupseq = np.zeros(len(order), dtype=bool)
    if len(order) > 1:
        dupseq[1:] = (trip_o[1:] == trip_o[:-1]) & (seq[order][1:] == seq[order][:-1])
    drop_rows(
        np.isin(np.arange(n), order[dupseq]),
        "stop_sequence",
        "stop_sequence en double dans la course",
    )
    order = order[~dupseq]
    trip_o = tix[order]
    # Interpolate untimed stops between timed ones, within each trip.
    starts = np.flatnonzero(np.r_[True, trip_o[1:] != trip_o[:-1]]) if len(order) else order
    ends = np.r_[starts[1:], len(order)] if len(order) else order
    a, d = arr[order].astype(np.float64), dep[order].astype(np.float64)
    timed = a >= 0
    bad_trip = np.zeros(len(trips), dtype=bool)
    reason_trip: dict[int, tuple[int, str]] = {}
    first_untimed = ~timed[starts] | ~timed[ends - 1] if len(order) else np.zeros(0, bool)
    for k in np.flatnonzero(first_untimed):
        tp = trip_o[starts[k]]
        bad_trip[tp] = True
        reason_trip[tp] = (
            int(st_lines[order[starts[k]]]),
            "premier ou dernier arrêt sans horaire",
        )
    if not timed.all() and len(order):
        pos = np.arange(len(order))
        prev = np.maximum.accumulate(np.where(timed, pos, -1))
        nxt = np.minimum.accumulate(np.where(timed, pos, len(order))[::-1])[::-1]
        gap = ~timed & (prev >= 0) & (nxt < len(order))
        g = np.flatnonzero(gap)
        same = trip_o[prev[g]] == trip_o[np.minimum(nxt[g], len(order) - 1)]
        g = g[same]
        frac = (g - prev[g]) / (nxt[g] - prev[g])
        val = np.round(d[prev[g]] + frac * (a[nxt[g]] - d[prev[g]]))
        a[g] = val
        d[g] = val
    # Trips with fewer than two stop_times, or times going backwards.
    counts = np.bincount(trip_o, minlength=len(trips)) if len(order) else np.zeros(len(trips), int)
    backwards = np.zeros(len(order), dtype=bool)
    if len(order):
        backwards |= d < a
        backwards[1:] |= (trip_o[1:] == trip_o[:-1]) & (a[1:] < d[:-1])
        backwards &= np.isfinite(a)
    for k in np.flatnonzero(backwards):
        tp = trip_o[k]
        if not bad_trip[tp]:
            bad_trip[tp] = True
            reason_trip[tp] = (
                int(st_lines[order[k]]),
                "horaires décroissants (le temps recule le long de la course)",
            )
    tl = trips["line"].to_numpy()
    for tp in np.flatnonzero(counts < 2):
        if not bad_trip[tp]:
            bad_trip[tp] = True
            reject(
                "trips.txt",
                [tl[tp]],
                "trip_id",
                "course sans au moins deux horaires utilisables dans stop_times.txt",
            )
    for tp, (ln, why) in sorted(reason_trip.items()):
        reject("trips.txt", [tl[tp]], "trip_id", f"{why} (stop_times.txt ligne {ln})")
    if len(order):
        keep = ~bad_trip[trip_o]
        dropped = order[~keep]
        reject("stop_times.txt", st_lines[dropped], "trip_id", "course rejetée (voir trips.txt)")
        order, a, d = order[keep], a[keep], d[keep]
    return ~bad_trip, {
        "st_trip": tix[order],
        "st_stop": six[order],
        "st_seq": seq[order],
        "st_arr": a.astype(np.int64),
        "st_dep": d.astype(np.int64),
        "st_pickup": pick[order] != 1,
        "st_dropoff": drop[order] != 1,
    }


def _read_transfers(reader: _Reader, reject: RejectFn, stops: pd.DataFrame) -> pd.DataFrame:
    """``transfers.txt`` rules the engine applies: ``from``, ``to`` (stop positions), ``type``,
    ``seconds``."""
    stop_pos = pd.Index(stops["stop_id"])
    tr = reader.read("transfers.txt")
    transfers = pd.DataFrame(
        {
            "from": stop_pos.get_indexer(_col(tr, "from_stop_id")),
            "to": stop_pos.get_indexer(_col(tr, "to_stop_id")),
        }
    )
    if len(transfers):
        ttype, tb1 = _ints(_col(tr, "transfer_type", len(transfers)), 0)
        mtt, tb2 = _ints(_col(tr, "min_transfer_time", len(transfers)), -1)
        transfers["type"], transfers["seconds"] = ttype, mtt
        tl_ = np.arange(len(transfers)) + 2
        scoped = np.zeros(len(transfers), dtype=bool)
        for c in ("from_route_id", "to_route_id", "from_trip_id", "to_trip_id"):
            scoped |= _col(tr, c, len(transfers)) != ""
        tbad = tb1 | tb2 | ~np.isin(ttype, [0, 1, 2, 3])
        unk = (transfers["from"].to_numpy() < 0) | (transfers["to"].to_numpy() < 0)
        reject("transfers.txt", tl_[tbad], "transfer_type", "correspondance illisible")
        reject("transfers.txt", tl_[~tbad & unk], "from_stop_id", "arrêt inconnu ou rejeté")
        reject(
            "transfers.txt",
            tl_[~tbad & ~unk & scoped],
            "from_route_id",
            "correspondance propre à une ligne ou une course : non prise en compte "
            "(seules les règles par arrêt sont appliquées)",
        )
        ok_t = ~tbad & ~unk & ~scoped
        ok_t[ok_t] &= ~np.isin(ttype[ok_t], [4, 5])
        transfers = transfers[ok_t].reset_index(drop=True)
    else:
        transfers = pd.DataFrame(columns=["from", "to", "type", "seconds"])
    return transfers
