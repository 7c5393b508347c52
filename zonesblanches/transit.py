"""Public transport in an analysis: GTFS feeds, a day, a window and a walking model → a
:class:`~zonesblanches.coverage.raptor.TransitModel`.

This is the workflow behind ``--mode transport:45 --gtfs FICHIER --jour … --depart | --arrivee
… --fenetre …``: :func:`check_transit_options` validates the options before anything is read
(French errors that say what to do), :func:`transit_setup` reads the feeds (or downloads those
covering the territory from transport.data.gouv.fr), checks that the day is one the feeds
serve (else says which dates they cover), and builds the model; :func:`write_gtfs_rejects`
writes the rows the loader could not use to ``gtfs_rejets.csv`` (feed, file, line, field,
reason).

Walking legs (home → stop, stop → service, home → service) use the walking model given: the
walking network's :class:`~zonesblanches.coverage.network.NetworkModel` when the analysis has an
OSM file or download, otherwise the straight-line walking model (4.5 km/h, detour 1.3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from zonesblanches._text import fr_count, fr_plural
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.modes import TRANSIT_MODE

if TYPE_CHECKING:  # the engine (numba) and the loader are imported when first used
    from zonesblanches.coverage.raptor import TransitModel
    from zonesblanches.geodata.gtfs import GtfsData

TRANSIT = TRANSIT_MODE.code
DEFAULT_TRANSIT_MINUTES = 45.0
"""Threshold of ``--mode transport`` given without minutes."""
DEFAULT_ARRIVAL = "09:00"
"""Arrival deadline when neither ``--depart`` nor ``--arrivee`` is given (« arriver pour
l'ouverture à 9 h »)."""
DEFAULT_WINDOW_MIN = 120.0
"""Width of the window of departure or arrival minutes (two hours, e.g. 07:00–09:00)."""
DEFAULT_PERCENTILE = 50.0
"""Statistic of the door-to-door times over the window: the median."""
REJECTS_FILE = "gtfs_rejets.csv"
FEED_BBOX = None
"""Where a stop may lie (the loader's check: stops elsewhere are rejected with their line);
None: the loader's :data:`~zonesblanches.geodata.gtfs.FRANCE_BBOX`."""

_WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@dataclass
class TransitOptions:
    """The public-transport options of an analysis, checked (:func:`check_transit_options`)."""

    gtfs: list[Path] = field(default_factory=list)
    download: bool = False
    day: date | None = None
    direction: str = "arrive"
    time: str = DEFAULT_ARRIVAL
    window_min: float = DEFAULT_WINDOW_MIN
    percentile: float = DEFAULT_PERCENTILE


@dataclass
class TransitSetup:
    """What :func:`transit_setup` built: the model, the feeds read and their rejected rows."""

    model: TransitModel
    data: GtfsData
    day: date
    lines: list[str]
    """French lines saying what was read (to print)."""

    @property
    def rejects(self) -> pd.DataFrame:
        """Rows the loader could not use: ``flux``, ``fichier``, ``ligne``, ``champ``,
        ``motif``."""
        return self.data.rejects


def check_transit_options(
    modes: Sequence[str],
    *,
    gtfs: Sequence[str | os.PathLike] | None = None,
    download: bool = False,
    day: str | date | None = None,
    depart: str | None = None,
    arrive: str | None = None,
    window_min: float | None = None,
    percentile: float | None = None,
) -> TransitOptions | None:
    """Validate the public-transport options before anything is read.

    Returns None when the analysis has no ``transport`` mode (and no transport option was given).

    Raises
    ------
    ParameterError
        In French, saying what to add or remove: the transport mode without timetables
        (``--gtfs`` or ``--telecharger-gtfs``), timetables or transport options without the
        transport mode, ``--depart`` with ``--arrivee``, an unreadable day or time, a window or
        percentile out of range.
    """
    wanted = TRANSIT in modes
    given = [
        name
        for name, value in (
            ("--gtfs", gtfs),
            ("--telecharger-gtfs", download),
            ("--jour", day),
            ("--depart", depart),
            ("--arrivee", arrive),
        )
        if value
    ]
    if not wanted:
        if given:
            raise ParameterError(
                f"{', '.join(given)} ne sert qu'au mode transports en commun : ajoutez "
                "--mode transport:45 (seuil en minutes), ou retirez "
                + ("ces options." if len(given) > 1 else "cette option.")
            )
        return None
    # the engine (numba, ~50 MB resident) and the GTFS loader only for a transport analysis:
    # a road-only run does not hold them while it reads its networks (issue 17: memory)
    from zonesblanches.coverage.raptor import parse_clock
    from zonesblanches.geodata.gtfs import parse_day

    if not gtfs and not download:
        raise ParameterError(
            "Le mode « transport » (transports en commun) se calcule sur des horaires GTFS : "
            "donnez-les avec --gtfs FICHIER.zip (répétable : un fichier par réseau), ou "
            "--telecharger-gtfs pour prendre ceux qui couvrent le territoire sur "
            "transport.data.gouv.fr (connexion Internet)."
        )
    if depart and arrive:
        raise ParameterError(
            "Choisissez --depart (« en partant à 8 h ») ou --arrivee (« pour arriver avant "
            "9 h »), pas les deux."
        )
    if day is None:
        raise ParameterError(
            "Le mode « transport » demande un jour : --jour AAAA-MM-JJ (ex. --jour 2026-12-01), "
            "un jour de semaine où circulent les horaires donnés."
        )
    direction, time = ("depart", depart) if depart else ("arrive", arrive or DEFAULT_ARRIVAL)
    parse_clock(time)  # French error on a bad time
    window = DEFAULT_WINDOW_MIN if window_min is None else float(window_min)
    if not 0 <= window <= 24 * 60:
        raise ParameterError(
            f"--fenetre : une durée en minutes entre 0 et 1440 (reçu {window:g}), "
            "par exemple --fenetre 120."
        )
    q = DEFAULT_PERCENTILE if percentile is None else float(percentile)
    if not 0 < q <= 100:
        raise ParameterError(f"--centile : entre 1 et 100 (reçu {q:g}), par exemple 50 ou 80.")
    return TransitOptions(
        gtfs=[Path(p) for p in gtfs or ()],
        download=bool(download),
        day=parse_day(day),
        direction=direction,
        time=str(time),
        window_min=window,
        percentile=q,
    )


def service_periods(data: GtfsData) -> list[tuple[str, date | None, date | None]]:
    """Per feed, the first and last dates its calendars mention
    (:meth:`~zonesblanches.geodata.gtfs.GtfsData.service_periods`)."""
    return data.service_periods()


def _fr_date(day: date) -> str:
    return f"{_WEEKDAYS_FR[day.weekday()]} {day:%d/%m/%Y}"


def _periods_text(data: GtfsData) -> str:
    parts = []
    for name, first, last in service_periods(data):
        if first is None:
            parts.append(f"« {name} » : aucune date")
        else:
            parts.append(f"« {name} » du {first:%d/%m/%Y} au {last:%d/%m/%Y}")
    return "; ".join(parts)


def _read_feeds(territory, options: TransitOptions, progress: bool) -> list:
    sources: list = list(options.gtfs)
    if options.download:
        from zonesblanches.geodata.gtfs_download import TerritoryCodes, download_territory_gtfs

        region = territory.region or "32"
        codes = TerritoryCodes.from_communes(territory.communes, region=region)
        sources += download_territory_gtfs(codes, progress=progress)
    for s in sources:
        path = Path(getattr(s, "path", s))
        if not path.exists():
            raise DataError(f"Fichier GTFS introuvable : {path}")
    return sources


def transit_setup(
    territory,
    options: TransitOptions,
    *,
    walk_model=None,
    max_walk_min: float | None = None,
    bbox=None,
    progress: bool = True,
) -> TransitSetup:
    """Read the feeds, resolve the day, and build the transit model.

    Parameters
    ----------
    territory : Territory
        The territory analysed (for ``--telecharger-gtfs``: the feeds covering it).
    options : TransitOptions
        From :func:`check_transit_options`.
    walk_model : TravelTimeModel, optional
        Walking legs: the walking network's model when the analysis has one; default the
        straight-line walking model.
    max_walk_min : float, optional
        Longest walking leg (minutes; default the engine's, 20).
    bbox : box or boxes, optional
        Where stops may lie; default :data:`FEED_BBOX`, else France (overseas included).

    Raises
    ------
    DataError
        A feed that cannot be read, or no trip running on the day (the message gives the dates
        the feeds cover).
    """
    from zonesblanches.coverage.raptor import DEFAULT_MAX_WALK_MIN, TransitModel
    from zonesblanches.geodata.gtfs import FRANCE_BBOX, load_gtfs

    sources = _read_feeds(territory, options, progress)
    box = bbox if bbox is not None else FEED_BBOX if FEED_BBOX is not None else FRANCE_BBOX
    data = load_gtfs(sources, bbox=box)
    day = options.day
    schedule = data.day(day)
    if schedule.n_trips == 0:
        raise DataError(
            f"Aucune course ne circule le {_fr_date(day)} dans les horaires GTFS donnés. "
            f"Leurs calendriers couvrent : {_periods_text(data)}. Choisissez un jour de cette "
            "période (--jour AAAA-MM-JJ), de préférence un mardi ou un jeudi hors vacances "
            "scolaires, ou donnez des horaires à jour (transport.data.gouv.fr)."
        )
    model = TransitModel(
        schedule,
        options.time,
        direction=options.direction,
        window_min=options.window_min,
        percentile=options.percentile,
        walk_model=walk_model,
        max_walk_min=DEFAULT_MAX_WALK_MIN if max_walk_min is None else max_walk_min,
    )
    n_rej = len(data.rejects)
    lines = [
        f"Horaires GTFS : {len(data.feeds)} flux ({', '.join(f.name for f in data.feeds)}), "
        f"{schedule.n_stops} arrêts, {schedule.n_trips} courses le {_fr_date(day)}"
        + (f", {fr_count(n_rej, 'ligne écartée', 'lignes écartées')}" if n_rej else "")
    ]
    for name, first, last in service_periods(data):
        if first is not None and not first <= day <= last:
            lines.append(
                f"  ⚠ « {name} » ne couvre pas le {day:%d/%m/%Y} (du {first:%d/%m/%Y} au "
                f"{last:%d/%m/%Y}) : aucune de ses courses n'est comptée."
            )
    return TransitSetup(model, data, day, lines)


def write_gtfs_rejects(setup: TransitSetup, folder: str | os.PathLike) -> Path | None:
    """Write the feeds' rejected rows to ``gtfs_rejets.csv`` in ``folder`` (None when there
    are none)."""
    from zonesblanches.geodata.gtfs import write_rejects

    return write_rejects(setup.data, Path(folder) / REJECTS_FILE)


def add_transit_model(
    territory,
    options: TransitOptions | None,
    models: Mapping[str, object] | None,
    folder: str | os.PathLike,
    *,
    say: Callable[[str], object] = print,
    progress: bool = False,
) -> tuple[dict | None, int]:
    """The analysis' models with the transit model added (walking legs on the walking network
    of ``models`` when there is one), and the number of GTFS rows rejected (a count of
    « Problèmes signalés », like the rows rejected from the services file); the rejected rows
    written to ``gtfs_rejets.csv`` in ``folder``; what was read told in French lines through
    ``say``. Without ``options``, ``models`` unchanged and 0."""
    if options is None:
        return (dict(models) if models else None), 0
    walk = walking_model(models)
    setup = transit_setup(territory, options, walk_model=walk, progress=progress)
    lines = list(setup.lines)
    lines.append(
        "  Marche vers et depuis les arrêts : "
        + ("sur le réseau piéton OpenStreetMap." if walk is not None else "à vol d'oiseau.")
    )
    written = write_gtfs_rejects(setup, folder)
    if written is not None:
        lines.append(
            f"  ⚠ {fr_count(len(setup.rejects), 'ligne')} d'horaires "
            f"{fr_plural(len(setup.rejects), 'écartée')}, détail dans {written}"
        )
        rejects = setup.rejects
        # Causes first: a trip rejected in trips.txt before its stop_times rejected with it.
        follow = rejects["motif"].str.startswith("course rejetée (voir")
        shown = pd.concat([rejects[~follow], rejects[follow]]).head(5)
        for row in shown.itertuples(index=False):
            lines.append(
                f"    {row.flux} — {row.fichier} ligne {row.ligne} ({row.champ}) : {row.motif}"
            )
    for line in lines:
        say(line)
    return {**(models or {}), TRANSIT: setup.model}, len(setup.rejects)


def road_modes(modes: Sequence[str]) -> list[str]:
    """The modes that need a road network: the analysis' road modes, plus walking when public
    transport is asked (its access and egress legs)."""
    road = [m for m in modes if m != TRANSIT]
    if TRANSIT in modes and "marche" not in road:
        road.append("marche")
    return road


def walking_model(models: Mapping[str, object] | None):
    """The walking network's model among ``models`` (None: straight line)."""
    return (models or {}).get("marche")


__all__ = [
    "DEFAULT_ARRIVAL",
    "DEFAULT_TRANSIT_MINUTES",
    "DEFAULT_WINDOW_MIN",
    "REJECTS_FILE",
    "TransitOptions",
    "add_transit_model",
    "TransitSetup",
    "check_transit_options",
    "road_modes",
    "service_periods",
    "transit_setup",
    "walking_model",
    "write_gtfs_rejects",
]
