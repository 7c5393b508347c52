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
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from zonesblanches.errors import DataError, ParameterError

REQUIRED = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
"""Files every feed must contain."""

DAY_S = 86400

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

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


class _Reader:
    """Open ``*.txt`` members of a zip or a folder (nested one level deep in a zip is accepted)."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if path.is_dir():
            for p in path.iterdir():
                if p.is_file() and p.suffix.lower() == ".txt":
                    self._names[p.name.lower()] = str(p)
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(
                    f"Le fichier GTFS « {path} » n'est pas une archive zip lisible ({exc})."
                ) from None
            for name in self._zip.namelist():
                base = name.rsplit("/", 1)[-1].lower()
                if base.endswith(".txt") and base not in self._names:
                    self._names[base] = name
        else:
            raise DataError(f"Fichier GTFS introuvable : « {path} ».")

    def has(self, name: str) -> bool:
        return name in self._names

    def read(self, name: str) -> pa.Table | None:
        """The file as a table of text columns (empty strings for missing values), or None."""
        if name not in self._names:
            return None
        try:
            if self._zip is not None:
                data = self._zip.read(self._names[name])
            else:
                data = Path(self._names[name]).read_bytes()
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise DataError(f"Lecture impossible de {name} dans « {self.path} » ({exc}).") from None
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        first = data.split(b"\n", 1)[0].rstrip(b"\r")
        if not first.strip():
            return pa.table({})
        try:
            header = next(iter(pacsv.read_csv(
                io.BytesIO(first + b"\n"),
                read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
            ).to_pylist()), None)
            names = [str(v).strip() for v in header.values()] if header else []
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid:
            # Rows with missing trailing fields (common in real feeds): pandas pads them.
            table = self._read_padded(name, data)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{name} de « {self.path.name} » est illisible comme CSV ({exc}). "
                "Vérifiez qu'il s'agit bien d'un fichier GTFS (texte UTF-8, séparé par des virgules)."
            ) from None
        return table

    def _read_padded(self, name: str, data: bytes) -> pa.Table:
        try:
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                                skipinitialspace=False, encoding="utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(
                f"{name} de « {self.path.name} » est illisible comme CSV ({exc}). "
                "Vérifiez qu'il s'agit bien d'un fichier GTFS (texte UTF-8, séparé par des virgules)."
            ) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return pa.Table.from_pandas(frame.astype(object), preserve_index=False)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _col(table: pa.Table | None, name: str, n: int | None = None) -> np.ndarray:
    """A text column as a numpy object array of stripped strings ('' when absent)."""
    if table is None or name not in table.column_names:
        rows = n if n is not None else (table.num_rows if table is not None else 0)
        return np.full(rows, "", dtype=object)
    return np.asarray(pc.utf8_trim_whitespace(table[name]).to_numpy(zero_copy_only=False),
                      dtype=object)


def parse_times(values: pa.ChunkedArray | pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse GTFS times (``H:MM:SS``, hours may exceed 23) to seconds.

    Returns
    -------
    seconds : numpy.ndarray
        int64, ``-1`` where the value is empty or unreadable.
    bad : numpy.ndarray
        bool, True where a non-empty value could not be read.
    """
    arr = pa.chunked_array([pa.array(values, pa.string())]) if not isinstance(
        values, (pa.Array, pa.ChunkedArray)) else values
    arr = pc.utf8_trim_whitespace(arr)
    empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(arr, r"^\d{1,3}:\d{2}:\d{2}$").to_numpy(zero_copy_only=False)
    out = np.full(len(empty), -1, dtype=np.int64)
    if ok.any():
        good = pc.filter(arr, pa.array(ok))
        parts = pc.list_flatten(pc.split_pattern(good, ":"))
        hms = pc.cast(parts, pa.int64()).to_numpy().reshape(-1, 3)
        sec = hms[:, 0] * 3600 + hms[:, 1] * 60 + hms[:, 2]
        valid = (hms[:, 1] < 60) & (hms[:, 2] < 60)
        sec[~valid] = -1
        out[ok] = sec
        ok = ok.copy()
        ok[ok] = valid
    bad = ~empty & ~ok
    return out, bad


def _arrow(values) -> pa.Array:
    """Trimmed text as one arrow array (from an arrow column or a sequence of str)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    elif not isinstance(values, pa.Array):
        values = pa.array(np.asarray(values, dtype=object), pa.string())
    return pc.utf8_trim_whitespace(values)


def _acol(table: pa.Table | None, name: str, n: int = 0) -> pa.Array:
    """A column as trimmed arrow text; empty strings when the column is absent."""
    if table is None or name not in table.column_names:
        return pa.array([""] * (table.num_rows if table is not None else n), pa.string())
    return _arrow(table[name])


def _ints(values, default: int) -> tuple[np.ndarray, np.ndarray]:
    """Integers from text (vectorised); empty → default; returns (values, bad mask)."""
    arr = _arrow(values)
    empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(arr, r"^[+-]?\d{1,18}$").to_numpy(zero_copy_only=False)
    out = np.full(len(arr), default, dtype=np.int64)
    if ok.any():
        out[ok] = pc.cast(pc.filter(arr, pa.array(ok)), pa.int64()).to_numpy()
    return out, ~empty & ~ok


def _floats(values) -> np.ndarray:
    """Floats from text (vectorised); NaN where empty or unreadable."""
    arr = _arrow(values)
    ok = pc.match_substring_regex(
        arr, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$").to_numpy(zero_copy_only=False)
    out = np.full(len(arr), np.nan)
    if ok.any():
        out[ok] = pc.cast(pc.filter(arr, pa.array(ok)), pa.float64()).to_numpy()
    return out


def _lookup(values, ids: np.ndarray) -> np.ndarray:
    """Position of each value in ``ids`` (hash join in arrow), -1 when absent."""
    idx = pc.index_in(_arrow(values), value_set=pa.array(np.asarray(ids, dtype=object), pa.string()))
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


# --------------------------------------------------------------------------------------------
# One feed
# --------------------------------------------------------------------------------------------


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


def _read_feed(
    src: GtfsSource, name: str, bbox: Sequence | None
) -> _Feed:
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

        # stops
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
        reject("stops.txt", lines[keep & is_stop & nocoord], "stop_lat",
               "arrêt sans coordonnées valides")
        reject("stops.txt", lines[keep & is_stop & out], "stop_lat",
               "coordonnées hors de la zone attendue (France)")
        reject("stops.txt", lines[keep & bad_lt], "location_type", "location_type illisible")
        usable = keep & is_stop & ~nocoord & ~out
        stops = pd.DataFrame({
            "stop_id": sid[keep], "stop_name": _col(t, "stop_name")[keep],
            "lat": lat[keep], "lon": lon[keep], "location_type": ltype[keep],
            "parent_station": _col(t, "parent_station")[keep], "usable": usable[keep],
        })
        stop_pos = pd.Index(stops["stop_id"])

        # routes
        t = reader.read("routes.txt")
        routes = pd.DataFrame({
            "route_id": _col(t, "route_id"), "route_short_name": _col(t, "route_short_name"),
            "route_long_name": _col(t, "route_long_name"), "route_type": _col(t, "route_type"),
        })
        dup = routes["route_id"].duplicated().to_numpy()
        reject("routes.txt", np.flatnonzero(dup) + 2, "route_id", "identifiant de ligne en double")
        routes = routes[~dup].reset_index(drop=True)

        # trips
        t = reader.read("trips.txt")
        trips = pd.DataFrame({
            "trip_id": _col(t, "trip_id"), "route_id": _col(t, "route_id"),
            "service_id": _col(t, "service_id"),
        })
        trips["line"] = np.arange(len(trips)) + 2
        dup = trips["trip_id"].duplicated().to_numpy()
        reject("trips.txt", trips["line"][dup], "trip_id", "identifiant de course en double")
        noroute = ~trips["route_id"].isin(routes["route_id"]).to_numpy() & ~dup
        reject("trips.txt", trips["line"][noroute], "route_id", "ligne inconnue (absente de routes.txt)")
        trips = trips[~dup & ~noroute].reset_index(drop=True)
        trip_pos = pd.Index(trips["trip_id"])

        # stop_times
        t = reader.read("stop_times.txt")
        n = t.num_rows
        st_lines = np.arange(n, dtype=np.int64) + 2
        tix = _lookup(_acol(t, "trip_id"), trips["trip_id"].to_numpy(dtype=object))
        six = _lookup(_acol(t, "stop_id"), stops["stop_id"].to_numpy(dtype=object))
        seq, bad_seq = _ints(_acol(t, "stop_sequence"), -1)
        arr, bad_a = parse_times(t["arrival_time"] if "arrival_time" in t.column_names else [""] * n)
        dep, bad_d = parse_times(t["departure_time"] if "departure_time" in t.column_names else [""] * n)
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
        drop_rows(np.isin(np.arange(n), order[dupseq]), "stop_sequence",
                  "stop_sequence en double dans la course")
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
            reason_trip[tp] = (int(st_lines[order[starts[k]]]),
                               "premier ou dernier arrêt sans horaire")
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
                reason_trip[tp] = (int(st_lines[order[k]]),
                                   "horaires décroissants (le temps recule le long de la course)")
        tl = trips["line"].to_numpy()
        for tp in np.flatnonzero(counts < 2):
            if not bad_trip[tp]:
                bad_trip[tp] = True
                reject("trips.txt", [tl[tp]], "trip_id",
                       "course sans au moins deux horaires utilisables dans stop_times.txt")
        for tp, (ln, why) in sorted(reason_trip.items()):
            reject("trips.txt", [tl[tp]], "trip_id", f"{why} (stop_times.txt ligne {ln})")
        if len(order):
            keep = ~bad_trip[trip_o]
            dropped = order[~keep]
            reject("stop_times.txt", st_lines[dropped], "trip_id",
                   "course rejetée (voir trips.txt)")
            order, a, d = order[keep], a[keep], d[keep]
        trips["valid"] = ~bad_trip

        # calendar
        cal = reader.read("calendar.txt")
        calendar = pd.DataFrame({"service_id": _col(cal, "service_id")})
        cal_bad = np.zeros(len(calendar), dtype=bool)
        for wd in WEEKDAYS:
            v, b = _ints(_col(cal, wd, len(calendar)), 0)
            calendar[wd] = v == 1
            cal_bad |= b
        calendar["start_date"] = _col(cal, "start_date", len(calendar))
        calendar["end_date"] = _col(cal, "end_date", len(calendar))
        for c in ("start_date", "end_date"):
            cal_bad |= ~calendar[c].str.fullmatch(r"\d{8}").fillna(False).to_numpy()
        reject("calendar.txt", np.flatnonzero(cal_bad) + 2, "start_date",
               "ligne de calendrier illisible (jours 0/1, dates AAAAMMJJ)")
        calendar = calendar[~cal_bad].reset_index(drop=True)
        cd = reader.read("calendar_dates.txt")
        cdates = pd.DataFrame({"service_id": _col(cd, "service_id"), "date": _col(cd, "date")})
        exc, exb = _ints(_col(cd, "exception_type", len(cdates)), 0)
        cdates["exception_type"] = exc
        cd_bad = exb | ~np.isin(exc, [1, 2]) | ~cdates["date"].str.fullmatch(r"\d{8}").fillna(False).to_numpy()
        reject("calendar_dates.txt", np.flatnonzero(cd_bad) + 2, "exception_type",
               "exception illisible (date AAAAMMJJ, type 1 ou 2)")
        cdates = cdates[~cd_bad].reset_index(drop=True)

        # frequencies
        fq = reader.read("frequencies.txt")
        freq = pd.DataFrame({"trip_id": _col(fq, "trip_id")})
        if len(freq):
            fs, fb1 = parse_times(fq["start_time"] if "start_time" in fq.column_names else [""] * len(freq))
            fe, fb2 = parse_times(fq["end_time"] if "end_time" in fq.column_names else [""] * len(freq))
            hw, fb3 = _ints(_col(fq, "headway_secs", len(freq)), 0)
            ex, fb4 = _ints(_col(fq, "exact_times", len(freq)), 0)
            freq["start"], freq["end"], freq["headway"], freq["exact_times"] = fs, fe, hw, ex
            freq["trip"] = trip_pos.get_indexer(freq["trip_id"])
            freq["line"] = np.arange(len(freq)) + 2
            fbad = fb1 | fb2 | fb3 | fb4 | (fs < 0) | (fe < 0) | (hw <= 0) | (fe <= fs)
            reject("frequencies.txt", freq["line"][fbad], "headway_secs",
                   "fréquence illisible (heures de début et fin, intervalle positif)")
            unknown = ~fbad & (freq["trip"].to_numpy() < 0)
            reject("frequencies.txt", freq["line"][unknown], "trip_id", "course inconnue ou rejetée")
            ok_f = ~fbad & ~unknown
            ok_f[ok_f] = trips["valid"].to_numpy()[freq["trip"].to_numpy()[ok_f]]
            reject("frequencies.txt", freq["line"][~fbad & ~unknown & ~ok_f], "trip_id",
                   "course modèle rejetée (voir trips.txt)")
            freq = freq[ok_f].reset_index(drop=True)
        else:
            freq = pd.DataFrame(columns=["trip_id", "start", "end", "headway", "exact_times", "trip", "line"])

        # transfers
        tr = reader.read("transfers.txt")
        transfers = pd.DataFrame({
            "from": stop_pos.get_indexer(_col(tr, "from_stop_id")),
            "to": stop_pos.get_indexer(_col(tr, "to_stop_id")),
        })
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
            reject("transfers.txt", tl_[~tbad & ~unk & scoped], "from_route_id",
                   "correspondance propre à une ligne ou une course : non prise en compte "
                   "(seules les règles par arrêt sont appliquées)")
            ok_t = ~tbad & ~unk & ~scoped
            ok_t[ok_t] &= ~np.isin(ttype[ok_t], [4, 5])
            transfers = transfers[ok_t].reset_index(drop=True)
        else:
            transfers = pd.DataFrame(columns=["from", "to", "type", "seconds"])

        return _Feed(
            info=info, stops=stops, routes=routes, trips=trips,
            st_trip=tix[order], st_stop=six[order], st_seq=seq[order],
            st_arr=a.astype(np.int64), st_dep=d.astype(np.int64),
            st_pickup=pick[order] != 1, st_dropoff=drop[order] != 1,
            calendar=calendar, calendar_dates=cdates, frequencies=freq,
            transfers=transfers, rejects=rejects,
        )
    finally:
        reader.close()


# --------------------------------------------------------------------------------------------
# Merged feeds and the day's schedule
# --------------------------------------------------------------------------------------------


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


def parse_day(value: str | date | datetime) -> date:
    """A date from ``2026-12-01``, ``20261201`` or a date object; French error otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ParameterError(
        f"Date invalide : « {value} ». Écrivez-la AAAA-MM-JJ, par exemple 2026-12-01."
    )


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

    def active_services(self, day: date, feed: int) -> set[str]:
        """Service ids of feed number ``feed`` running on ``day``."""
        part = self._parts[feed]
        key = day.strftime("%Y%m%d")
        cal = part.calendar
        on = cal[(cal[WEEKDAYS[day.weekday()]]) & (cal["start_date"] <= key) & (cal["end_date"] >= key)]
        active = set(on["service_id"])
        cd = part.calendar_dates[part.calendar_dates["date"] == key]
        active |= set(cd.loc[cd["exception_type"] == 1, "service_id"])
        active -= set(cd.loc[cd["exception_type"] == 2, "service_id"])
        return active

    def day(self, day: str | date) -> DaySchedule:
        """Resolve calendars and frequencies for ``day`` (see :class:`DaySchedule`)."""
        day = parse_day(day)
        stop_parts, trip_ids, trip_routes = [], [], []
        ptrs, stops_, arrs, deps, picks, drops = [], [], [], [], [], []
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
                self._expand(part, run, shift, remap, name, trip_ids, trip_routes,
                             ptrs, stops_, arrs, deps, picks, drops)
            t = part.transfers
            if len(t):
                f, to = remap[t["from"].to_numpy()], remap[t["to"].to_numpy()]
                ok = (f >= 0) & (to >= 0)
                transfers.append(pd.DataFrame({"from": f[ok], "to": to[ok],
                                               "type": t["type"].to_numpy()[ok],
                                               "seconds": t["seconds"].to_numpy()[ok]}))
            offset += int(usable.sum())
        stops = pd.concat(stop_parts, ignore_index=True) if stop_parts else pd.DataFrame(
            columns=["stop_id", "stop_name", "lat", "lon"])
        sid = np.concatenate([
            np.array([f"{p.info.name}:{s}" for s in p.stops["stop_id"][p.stops["usable"]]], dtype=object)
            for p in self._parts]) if self._parts else np.zeros(0, object)
        ptr = np.zeros(int(sum(len(p) for p in ptrs)) + 1, dtype=np.int64)
        lens = np.concatenate(ptrs) if ptrs else np.zeros(0, np.int64)
        np.cumsum(lens, out=ptr[1:])
        def cat(xs, dt):
            return (np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        return DaySchedule(
            day=day, stop_id=sid, stop_name=stops["stop_name"].to_numpy(dtype=object),
            stop_lat=stops["lat"].to_numpy(float), stop_lon=stops["lon"].to_numpy(float),
            trip_id=cat(trip_ids, object), trip_route=cat(trip_routes, object), st_ptr=ptr,
            st_stop=cat(stops_, np.int32), st_arr=cat(arrs, np.int64), st_dep=cat(deps, np.int64),
            st_pickup=cat(picks, bool), st_dropoff=cat(drops, bool),
            transfers=(pd.concat(transfers, ignore_index=True) if transfers
                       else pd.DataFrame(columns=["from", "to", "type", "seconds"])),
            feeds=list(self.feeds),
        )

    @staticmethod
    def _expand(part, run, shift, remap, name, trip_ids, trip_routes, ptrs, stops_, arrs,
                deps, picks, drops) -> None:
        """Append the running trips of one feed (frequencies expanded) to the output lists."""
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
            trip_ids.append(np.array([f"{name}:{x}{suffix}" for x in tid[plain]], dtype=object))
            trip_routes.append(np.array([f"{name}:{x}" for x in rid[plain]], dtype=object))
            ptrs.append(ln.astype(np.int64))
            stops_.append(remap[part.st_stop[sel]])
            arrs.append(a)
            deps.append(d)
            picks.append(part.st_pickup[sel])
            drops.append(part.st_dropoff[sel])
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
            trip_ids.append(np.array([f"{name}:{tid[t]}#{k0}.{j}{suffix}" for j in range(n)],
                                     dtype=object))
            trip_routes.append(np.full(n, f"{name}:{rid[t]}", dtype=object))
            ptrs.append(np.full(n, lengths[t], dtype=np.int64))
            stops_.append(np.tile(remap[part.st_stop[sl]], n))
            arrs.append((starts[:, None] + base_a[None, :]).ravel())
            deps.append((starts[:, None] + base_d[None, :]).ravel())
            picks.append(np.tile(part.st_pickup[sl], n))
            drops.append(np.tile(part.st_dropoff[sl], n))


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for every pair, vectorised."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens)
    return np.arange(total, dtype=np.int64) + offs


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
                f"({len(part.rejects)} ligne(s) rejetée(s) ; la première : "
                + (f"{part.rejects[0].file} ligne {part.rejects[0].line}, {part.rejects[0].reason}"
                   if part.rejects else "aucune course dans trips.txt")
                + ")."
            )
        parts.append(part)
    return GtfsData(feeds=[p.info for p in parts], _parts=parts)


def write_rejects(data: GtfsData, path: str | os.PathLike) -> Path | None:
    """Write :attr:`GtfsData.rejects` to a CSV (atomic, never over an existing file's name
    chosen by the user: callers pass an output path inside their output folder). Returns the
    path, or None when nothing was rejected."""
    from zonesblanches.geodata.cache import atomic_path

    frame = data.rejects
    if frame.empty:
        return None
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8")
    return path


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
