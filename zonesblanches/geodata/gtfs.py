"""Read GTFS timetables (zip or folder, several feeds merged) and resolve them for one day.

What this module does
---------------------
- :func:`load_gtfs` reads one or more feeds. Every id is prefixed with the feed's name
  (``"ter:StopPoint:OCETrain TER-87286005"``), so two feeds can never collide. Files are parsed
  with :mod:`pyarrow.csv` (every column as text, then converted column by column with vectorised
  pyarrow/numpy code): a region-sized feed (1.2 million stop_times) loads in a few seconds. The
  GTFS libraries were considered: gtfs-kit and partridge both go through pandas' text parser and
  convert times row by row (``"08:05:00"`` → seconds in Python), which is the slow part on
  millions of rows, and neither reports rejected rows with their line; hence this small reader.
- Bad rows are never fatal and never silently dropped: a stop without valid coordinates, a
  stop_time whose stop is unknown or whose time is unreadable, a trip without at least two usable
  stop_times, a trip whose times go backwards, a transfer rule the engine cannot honour… each
  becomes a :class:`Reject` with file, line, field and a French reason, and the feed still loads.
- :meth:`GtfsData.day` resolves ``calendar.txt`` + ``calendar_dates.txt`` for one date, expands
  ``frequencies.txt`` and returns a :class:`DaySchedule`: plain arrays (stops, trips, stop_times
  in seconds from midnight of that day) that the engine (:mod:`zonesblanches.coverage.raptor`)
  turns into its own structure. Trips of the previous service day that run past midnight
  (``25:10:00``) are included, shifted by 24 h.

Conventions
-----------
- Times are integer seconds after midnight of the service day; ``HH:MM:SS`` and ``H:MM:SS`` are
  read, hours may exceed 23. A stop_time with only one of arrival/departure gets the other; a
  stop_time with neither (a non-timepoint) is interpolated linearly along the trip's sequence
  between the surrounding timed stops.
- ``frequencies.txt``: a template trip is repeated every ``headway_secs`` from ``start_time``
  while the start is before ``end_time``, for ``exact_times`` 1 (scheduled) *and* 0
  (headway-based, where the real phase is unknown: the expansion spreads departures evenly, so
  a window statistic sees the average wait). The template's own times are ignored except as
  offsets from its first departure, as the GTFS reference says.
- ``location_type`` 0 (or empty) rows are stops; stations (1) are kept for names and parents only;
  entrances, generic nodes and boarding areas (2, 3, 4) are not stops a vehicle serves.
- ``transfers.txt``: types 0, 1 and 2 give a walking link (``min_transfer_time`` when given, else
  the walking time) between two stops, or the minimum change time at one stop; type 3 forbids the
  link (no walking transfer is generated between those stops). Rules restricted to a route or a
  trip (``from_route_id``…, GTFS 2022) are rejected with that reason: the engine applies rules
  per stop only.

One module per job, like OSMnx; this one holds the entry point (:func:`load_gtfs`), the merged
feeds (:class:`GtfsData`) and the day's schedule (:class:`DaySchedule`), and re-exports the public
names of the others: :mod:`~zonesblanches.geodata._gtfs_files` (zip or folder, text columns,
times), :mod:`~zonesblanches.geodata._gtfs_feed` (one feed read and checked),
:mod:`~zonesblanches.geodata._gtfs_calendar` (calendars, the services of a day) and
:mod:`~zonesblanches.geodata._gtfs_frequencies` (frequencies expanded into trips).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches._text import fr_count
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata._gtfs_calendar import WEEKDAYS, active_services, parse_day
from zonesblanches.geodata._gtfs_feed import (
    FRANCE_BBOX,
    REQUIRED,
    FeedInfo,
    GtfsSource,
    Reject,
    _Feed,
    _feed_name,
    _read_feed,
)
from zonesblanches.geodata._gtfs_files import parse_times
from zonesblanches.geodata._gtfs_frequencies import DayParts, expand_trips

__all__ = [
    "DAY_S",
    "FRANCE_BBOX",
    "REQUIRED",
    "WEEKDAYS",
    "DaySchedule",
    "FeedInfo",
    "GtfsData",
    "GtfsSource",
    "Reject",
    "feed_metadata_json",
    "feeds_description",
    "load_gtfs",
    "parse_day",
    "parse_times",
    "write_rejects",
]

DAY_S = 86400


@dataclass
class DaySchedule:
    """Every trip running on one day, as arrays (input of the transit engine).

    Times are seconds after midnight of ``day``; trips of the previous service day that run past
    midnight are included with their times minus 24 h (their ``trip_id`` ends with ``@veille``).
    Frequency-based trips get one trip per departure, ``trip_id`` suffixed ``#k``.

    Attributes
    ----------
    day : datetime.date
    stop_id, stop_name : numpy.ndarray of str
        Prefixed ids and names of every usable stop (position = stop index).
    stop_lat, stop_lon : numpy.ndarray of float
    trip_id, trip_route : numpy.ndarray of str
    st_ptr : numpy.ndarray
        int64, CSR pointer: stop_times of trip ``t`` are ``st_ptr[t]:st_ptr[t + 1]``.
    st_stop, st_arr, st_dep : numpy.ndarray
        int32 / int64 stop index and times of each stop_time, in sequence order.
    st_pickup, st_dropoff : numpy.ndarray of bool
        Boarding / alighting allowed.
    transfers : pandas.DataFrame
        ``from``, ``to`` (stop indices), ``type`` (0-3) and ``seconds`` (-1 when not given).
    feeds : list of FeedInfo
    """

    day: date
    stop_id: np.ndarray
    stop_name: np.ndarray
    stop_lat: np.ndarray
    stop_lon: np.ndarray
    trip_id: np.ndarray
    trip_route: np.ndarray
    st_ptr: np.ndarray
    st_stop: np.ndarray
    st_arr: np.ndarray
    st_dep: np.ndarray
    st_pickup: np.ndarray
    st_dropoff: np.ndarray
    transfers: pd.DataFrame
    feeds: list[FeedInfo]

    @property
    def n_stops(self) -> int:
        return len(self.stop_id)

    @property
    def n_trips(self) -> int:
        return len(self.trip_id)


@dataclass
class GtfsData:
    """One or several GTFS feeds read by :func:`load_gtfs` (ids prefixed per feed)."""

    feeds: list[FeedInfo]
    _parts: list[_Feed]

    @property
    def rejects(self) -> pd.DataFrame:
        """Every rejected row: ``flux``, ``fichier``, ``ligne``, ``champ``, ``motif``."""
        rows = [(r.feed, r.file, r.line, r.field, r.reason) for f in self._parts for r in f.rejects]
        frame = pd.DataFrame(rows, columns=["flux", "fichier", "ligne", "champ", "motif"])
        return frame.sort_values(["flux", "fichier", "ligne"], kind="stable").reset_index(drop=True)

    @property
    def n_stop_times(self) -> int:
        return int(sum(len(f.st_trip) for f in self._parts))

    def service_periods(self) -> list[tuple[str, date | None, date | None]]:
        """Per feed, its name and the first and last dates its calendars mention
        (``calendar.txt`` periods and ``calendar_dates.txt`` additions); ``None`` when it
        mentions none (unreadable dates were rejected when the feed was read)."""
        out = []
        for part in self._parts:
            cal, cd = part.calendar, part.calendar_dates
            texts = []
            if len(cal):
                texts += cal["start_date"].tolist() + cal["end_date"].tolist()
            if len(cd):
                texts += cd.loc[cd["exception_type"] == 1, "date"].tolist()
            days = [d for d in map(_ymd, texts) if d is not None]
            out.append((part.info.name, min(days, default=None), max(days, default=None)))
        return out

    def active_services(self, day: date, feed: int) -> set[str]:
        """Service ids of feed number ``feed`` running on ``day``."""
        part = self._parts[feed]
        return active_services(part.calendar, part.calendar_dates, day)

    def day(self, day: str | date) -> DaySchedule:
        """Resolve calendars and frequencies for ``day`` (see :class:`DaySchedule`)."""
        day = parse_day(day)
        stop_parts, parts = [], DayParts()
        transfers = []
        offset = 0
        for k, part in enumerate(self._parts):
            name = part.info.name
            usable = part.stops["usable"].to_numpy()
            remap = np.full(len(part.stops), -1, dtype=np.int64)
            remap[usable] = offset + np.arange(int(usable.sum()))
            stop_parts.append(part.stops[usable])
            for shift, d in ((0, day), (-DAY_S, day - timedelta(days=1))):
                services = self.active_services(d, k)
                tr = part.trips
                run = (tr["valid"] & tr["service_id"].isin(services)).to_numpy()
                if not run.any():
                    continue
                expand_trips(part, run, shift, remap, name, parts)
            t = part.transfers
            if len(t):
                f, to = remap[t["from"].to_numpy()], remap[t["to"].to_numpy()]
                ok = (f >= 0) & (to >= 0)
                transfers.append(
                    pd.DataFrame(
                        {
                            "from": f[ok],
                            "to": to[ok],
                            "type": t["type"].to_numpy()[ok],
                            "seconds": t["seconds"].to_numpy()[ok],
                        }
                    )
                )
            offset += int(usable.sum())
        stops = (
            pd.concat(stop_parts, ignore_index=True)
            if stop_parts
            else pd.DataFrame(columns=["stop_id", "stop_name", "lat", "lon"])
        )
        sid = (
            np.concatenate(
                [
                    np.array(
                        [f"{p.info.name}:{s}" for s in p.stops["stop_id"][p.stops["usable"]]],
                        dtype=object,
                    )
                    for p in self._parts
                ]
            )
            if self._parts
            else np.zeros(0, object)
        )
        ptr = np.zeros(int(sum(len(p) for p in parts.ptrs)) + 1, dtype=np.int64)
        lens = np.concatenate(parts.ptrs) if parts.ptrs else np.zeros(0, np.int64)
        np.cumsum(lens, out=ptr[1:])

        def cat(xs, dt):
            return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)

        return DaySchedule(
            day=day,
            stop_id=sid,
            stop_name=stops["stop_name"].to_numpy(dtype=object),
            stop_lat=stops["lat"].to_numpy(float),
            stop_lon=stops["lon"].to_numpy(float),
            trip_id=cat(parts.trip_ids, object),
            trip_route=cat(parts.trip_routes, object),
            st_ptr=ptr,
            st_stop=cat(parts.stops, np.int32),
            st_arr=cat(parts.arrs, np.int64),
            st_dep=cat(parts.deps, np.int64),
            st_pickup=cat(parts.picks, bool),
            st_dropoff=cat(parts.drops, bool),
            transfers=(
                pd.concat(transfers, ignore_index=True)
                if transfers
                else pd.DataFrame(columns=["from", "to", "type", "seconds"])
            ),
            feeds=list(self.feeds),
        )


def _ymd(text: object) -> date | None:
    try:
        return datetime.strptime(str(text), "%Y%m%d").date()
    except ValueError:
        return None


def load_gtfs(
    sources: str | os.PathLike | GtfsSource | Sequence[str | os.PathLike | GtfsSource],
    *,
    bbox: Sequence | None = FRANCE_BBOX,
) -> GtfsData:
    """Read one or several GTFS feeds (zip files or folders).

    Parameters
    ----------
    sources : path, GtfsSource, or a list of them
        Feeds to merge. A feed's name (its id prefix) is the file stem unless given.
    bbox : box or sequence of boxes, default :data:`FRANCE_BBOX`
        Stops outside every (lon min, lat min, lon max, lat max) box are rejected; None: no check
        (feeds outside France, such as the GTFS reference sample).

    Returns
    -------
    GtfsData
        Use :meth:`GtfsData.day` for a day's schedule, :attr:`GtfsData.rejects` for the rows
        that could not be used.

    Raises
    ------
    DataError
        A file that is not a GTFS feed at all (missing required file, not a zip, not CSV), or a
        feed with no usable trip left.
    """
    if isinstance(sources, (str, os.PathLike, GtfsSource)):
        sources = [sources]
    if not sources:
        raise ParameterError("Aucun fichier GTFS donné.")
    parts, taken = [], set()
    for s in sources:
        src = s if isinstance(s, GtfsSource) else GtfsSource(s)
        name = _feed_name(Path(src.path), src.name, taken)
        taken.add(name)
        part = _read_feed(src, name, bbox)
        if not part.trips["valid"].any():
            raise DataError(
                f"Le flux GTFS « {Path(src.path).name} » n'a aucune course utilisable "
                f"({fr_count(len(part.rejects), 'ligne rejetée', 'lignes rejetées')} ; la première : "
                + (
                    f"{part.rejects[0].file} ligne {part.rejects[0].line}, {part.rejects[0].reason}"
                    if part.rejects
                    else "aucune course dans trips.txt"
                )
                + ")."
            )
        parts.append(part)
    return GtfsData(feeds=[p.info for p in parts], _parts=parts)


def write_rejects(data: GtfsData, path: str | os.PathLike) -> Path | None:
    """Write :attr:`GtfsData.rejects` to a CSV in the project's dialect
    (:func:`zonesblanches.writers.write_csv`: atomic, UTF-8 with BOM, text neutralised for
    spreadsheets); callers pass an output path inside their output folder, never a file the user
    chose. Returns the path, or None when nothing was rejected."""
    from zonesblanches.writers import write_csv

    frame = data.rejects
    if frame.empty:
        return None
    return write_csv(frame, path)


def feeds_description(feeds: Sequence[FeedInfo]) -> str:
    """One French sentence naming each feed, its publisher and licence (for method notes)."""
    parts = []
    for f in feeds:
        who = f.publisher or "éditeur non précisé"
        parts.append(f"« {f.name} » ({who}, licence {f.licence})")
    return "Horaires GTFS : " + ", ".join(parts) + "."


def feed_metadata_json(feeds: Sequence[FeedInfo]) -> str:
    """The feeds' metadata as JSON text (stable key order)."""
    return json.dumps([f.__dict__ for f in feeds], ensure_ascii=False, sort_keys=True, indent=1)
