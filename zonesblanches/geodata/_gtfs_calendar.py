"""GTFS service calendars: ``calendar.txt`` and ``calendar_dates.txt`` read, and resolved for
one day (the service ids running on that date).

A ``calendar.txt`` row runs on its weekdays between ``start_date`` and ``end_date``
(inclusive); ``calendar_dates.txt`` adds (``exception_type`` 1) or removes (2) a service on a
date. Unreadable rows are rejected with their line and a French reason.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from zonesblanches.errors import ParameterError
from zonesblanches.geodata._gtfs_files import RejectFn, _col, _ints, _Reader, drop_rejected

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


def read_calendars(reader: _Reader, reject: RejectFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``calendar.txt`` (one boolean column per weekday) and ``calendar_dates.txt``, checked."""
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
        cal_bad |= ~_is_date(calendar[c])
    calendar = drop_rejected(
        calendar,
        cal_bad,
        reject,
        "calendar.txt",
        "start_date",
        "ligne de calendrier illisible (jours 0/1, dates AAAAMMJJ)",
    )
    cd = reader.read("calendar_dates.txt")
    cdates = pd.DataFrame({"service_id": _col(cd, "service_id"), "date": _col(cd, "date")})
    exc, exb = _ints(_col(cd, "exception_type", len(cdates)), 0)
    cdates["exception_type"] = exc
    cd_bad = exb | ~np.isin(exc, [1, 2]) | ~_is_date(cdates["date"])
    cdates = drop_rejected(
        cdates,
        cd_bad,
        reject,
        "calendar_dates.txt",
        "exception_type",
        "exception illisible (date AAAAMMJJ, type 1 ou 2)",
    )
    return calendar, cdates


def _is_date(values: pd.Series) -> np.ndarray:
    """True where a text column holds a GTFS date (``YYYYMMDD``)."""
    return values.str.fullmatch(r"\d{8}").fillna(False).to_numpy()


def active_services(calendar: pd.DataFrame, calendar_dates: pd.DataFrame, day: date) -> set[str]:
    """Service ids running on ``day`` (tables of :func:`read_calendars`)."""
    key = day.strftime("%Y%m%d")
    cal = calendar
    on = cal[(cal[WEEKDAYS[day.weekday()]]) & (cal["start_date"] <= key) & (cal["end_date"] >= key)]
    active = set(on["service_id"])
    cd = calendar_dates[calendar_dates["date"] == key]
    active |= set(cd.loc[cd["exception_type"] == 1, "service_id"])
    active -= set(cd.loc[cd["exception_type"] == 2, "service_id"])
    return active
