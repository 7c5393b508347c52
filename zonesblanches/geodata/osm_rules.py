"""Which OpenStreetMap ways each travel mode may use, in which direction, and how fast.

All the mode rules live here, in :data:`HIGHWAY_TABLE` and a few value sets, and are applied
column-wise to a table of way tags (one row per way, one column per OSM key) by
:func:`evaluate_ways`. The same table, in French and with its sources, is in ``docs/reseau.md``
(a test checks that both agree).

Summary (details and sources in ``docs/reseau.md``):

- **classes**: each ``highway=*`` value says whether walking, cycling and driving are allowed by
  default (:data:`HIGHWAY_TABLE`); values not in the table (``construction``, ``proposed``,
  ``platform``, ``bus_guideway``...) and ``area=yes`` are never used;
- **access**: the most specific access key present decides: walking ``foot`` > ``access``;
  cycling ``bicycle`` > ``vehicle`` > ``access``; driving ``motorcar`` > ``motor_vehicle`` >
  ``vehicle`` > ``access``. Values in :data:`DENY_VALUES` forbid the way; a mode-specific
  ``yes``/``designated``/``permissive`` opens a class that is closed by default (a footway with
  ``bicycle=yes``); ``motorroad=yes`` (route pour automobiles) forbids walking and cycling;
- **one-way**: ``oneway=yes|true|1`` and ``-1|reverse``; implied on ``junction=roundabout|circular``
  and ``highway=motorway|motorway_link`` unless ``oneway=no``; ``oneway=reversible`` closes the way
  to cars. Cyclists follow one-ways except ``oneway:bicycle=no`` or an ``opposite*`` cycleway;
  ``oneway:bicycle=yes|-1`` replaces the general one-way for bikes (exactly that direction open);
  pedestrians walk both ways (except ``oneway:foot``);
- **speeds**: walking and cycling are constants (:mod:`zonesblanches.modes`), cycling
  drops to walking speed where the bike must be walked (``pedestrian``, ``steps``,
  ``bicycle=dismount``); driving uses the posted limit (``maxspeed``, direction-specific
  ``maxspeed:forward|backward``, else ``maxspeed:type``/``source:maxspeed``/``zone:maxspeed``,
  else the class default), multiplied by :attr:`NetworkRules.car_speed_factor` and, where the
  limit is 50 km/h or less, by :attr:`NetworkRules.car_urban_slowdown`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from zonesblanches.errors import ParameterError
from zonesblanches.modes import MODES, mode_code

RULES_VERSION = "2"
"""Bumped whenever a rule changes, so that cached networks are rebuilt."""


@dataclass(frozen=True)
class HighwayRule:
    """Default use of one ``highway=*`` class by each mode.

    Attributes
    ----------
    walk : bool
        Walking allowed by default.
    bike : str
        ``"oui"`` (ridden), ``"pied"`` (allowed, bike pushed at walking speed) or ``"non"``.
    car : bool
        Driving allowed by default.
    car_kmh : float or None
        Speed limit assumed when the way has no usable ``maxspeed`` (km/h).
    source : str
        Where the default limit or rule comes from (French, shown in the documentation).
    """

    walk: bool
    bike: str
    car: bool
    car_kmh: float | None
    source: str


_R4132 = "Code de la route art. R413-2"
_R4132_80 = "Code de la route art. R413-2 (80 km/h hors agglomération, décret 2018-487)"
_R4133 = "Code de la route art. R413-3 (50 km/h en agglomération)"

HIGHWAY_TABLE: dict[str, HighwayRule] = {
    "motorway": HighwayRule(False, "non", True, 130.0, _R4132 + " (autoroute)"),
    "motorway_link": HighwayRule(False, "non", True, 70.0, "choix : bretelles d'autoroute"),
    "trunk": HighwayRule(True, "oui", True, 110.0, _R4132 + " (2×2 voies séparées)"),
    "trunk_link": HighwayRule(True, "oui", True, 70.0, "choix : bretelles"),
    "primary": HighwayRule(True, "oui", True, 80.0, _R4132_80),
    "primary_link": HighwayRule(True, "oui", True, 50.0, "choix : bretelles"),
    "secondary": HighwayRule(True, "oui", True, 80.0, _R4132_80),
    "secondary_link": HighwayRule(True, "oui", True, 50.0, "choix : bretelles"),
    "tertiary": HighwayRule(True, "oui", True, 80.0, _R4132_80),
    "tertiary_link": HighwayRule(True, "oui", True, 50.0, "choix : bretelles"),
    "unclassified": HighwayRule(True, "oui", True, 50.0, "choix : petites routes étroites"),
    "residential": HighwayRule(True, "oui", True, 50.0, _R4133),
    "living_street": HighwayRule(
        True, "oui", True, 20.0, "Code de la route art. R110-2 (zone de rencontre)"
    ),
    "service": HighwayRule(True, "oui", True, 20.0, "choix : dessertes, parkings"),
    "road": HighwayRule(True, "oui", True, 50.0, "choix : classe inconnue"),
    "track": HighwayRule(True, "oui", False, 20.0, "choix : chemin ouvert explicitement"),
    "path": HighwayRule(True, "oui", False, None, "sentier : piétons et cycles"),
    "cycleway": HighwayRule(
        False,
        "oui",
        False,
        None,
        "piste cyclable (R110-2) : piétons seulement avec foot=yes (voie verte)",
    ),
    "footway": HighwayRule(
        True, "non", False, None, "trottoir : vélos interdits sauf enfants (R412-34) ou bicycle=yes"
    ),
    "pedestrian": HighwayRule(
        True, "pied", False, None, "aire piétonne : cycles à l'allure du pas (R431-9)"
    ),
    "steps": HighwayRule(
        True, "non", False, None, "escalier : vélo poussé seulement si bicycle=yes"
    ),
    "bridleway": HighwayRule(
        True, "non", False, None, "choix : chemin cavalier ouvert aux piétons"
    ),
    "corridor": HighwayRule(True, "non", False, None, "couloir intérieur (gare, bâtiment)"),
}
"""Default rules per ``highway=*`` class (same table as ``docs/reseau.md``)."""

TAG_KEYS: tuple[str, ...] = (
    "highway",
    "area",
    "access",
    "vehicle",
    "motor_vehicle",
    "motorcar",
    "bicycle",
    "foot",
    "motorroad",
    "service",
    "oneway",
    "oneway:bicycle",
    "oneway:foot",
    "junction",
    "cycleway",
    "cycleway:left",
    "cycleway:right",
    "cycleway:both",
    "maxspeed",
    "maxspeed:forward",
    "maxspeed:backward",
    "maxspeed:type",
    "source:maxspeed",
    "zone:maxspeed",
)
"""OSM way keys the rules read; every other key is ignored."""

ACCESS_KEYS: dict[str, tuple[str, ...]] = {
    "marche": ("foot", "access"),
    "velo": ("bicycle", "vehicle", "access"),
    "voiture": ("motorcar", "motor_vehicle", "vehicle", "access"),
}
"""Access keys per mode, most specific first (the first one present decides)."""

SPECIFIC_KEYS: dict[str, tuple[str, ...]] = {
    "marche": ("foot",),
    "velo": ("bicycle",),
    "voiture": ("motorcar", "motor_vehicle"),
}
"""Mode-specific keys that may open a class closed by default (e.g. ``bicycle=yes``)."""

ALLOW_VALUES = frozenset({"yes", "designated", "permissive", "official"})
"""Values of a mode-specific key that open a way whatever its class."""

DENY_VALUES = frozenset(
    {
        "no",
        "private",
        "agricultural",
        "forestry",
        "emergency",
        "psv",
        "bus",
        "military",
        "delivery",
        "restricted",
        "use_sidepath",
    }
)
"""Access values that close a way to the mode. ``destination`` and ``customers`` stay open:
people do drive to a service on such roads."""

ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
ONEWAY_NO = frozenset({"no", "false", "0", "alternating"})
IMPLIED_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})
IMPLIED_ONEWAY_HIGHWAYS = frozenset({"motorway", "motorway_link"})

MAXSPEED_ZONES: dict[str, float] = {
    "fr:urban": 50.0,
    "fr:rural": 80.0,
    "fr:trunk": 110.0,
    "fr:expressway": 110.0,
    "fr:motorway": 130.0,
    "fr:zone30": 30.0,
    "fr:zone:30": 30.0,
    "fr:zone20": 20.0,
    "fr:living_street": 20.0,
    "walk": 6.0,
}
"""Implicit limits written as text (French values from the Code de la route; ``walk`` = « allure
du pas », taken as 6 km/h)."""

MAXSPEED_ZONE_DEFAULTS: dict[str, float] = {
    "urban": 50.0,
    "rural": 90.0,
    "trunk": 110.0,
    "motorway": 130.0,
}
"""Other countries' ``XX:urban``-style values: OSRM's ``maxspeed_table_default`` (car profile)."""

MAXSPEED_NO_LIMIT = frozenset({"none", "signals", "variable", "unposted", "implicit", "national"})
"""Values that carry no number: the class default applies."""

_UNIT_FACTORS = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots)?$")
_ZONE_NUMBER = re.compile(r"^[a-z]{2}(?:-[a-z]+)?:(?:zone:?)?(\d+)$")


def parse_maxspeed(value: object) -> float:
    """Parse an OSM ``maxspeed`` value into km/h, or ``nan`` when it gives no number.

    Parameters
    ----------
    value : object
        The tag value: ``"50"``, ``"50 mph"``, ``"FR:urban"``, ``"FR:zone30"``, ``"walk"``,
        ``"none"``, ``"50;30"`` (several values: the lowest is kept)...

    Returns
    -------
    float
        Speed in km/h, or ``nan`` (unknown, ``none``, unparsable, zero or above 200).

    Examples
    --------
    >>> parse_maxspeed("30 mph")
    48.28032
    >>> parse_maxspeed("FR:rural")
    80.0
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return math.nan
    text = str(value).strip().lower()
    if not text:
        return math.nan
    if ";" in text or "|" in text:
        parts = [parse_maxspeed(p) for p in re.split(r"[;|]", text)]
        finite = [p for p in parts if not math.isnan(p)]
        return min(finite) if finite else math.nan
    if text in MAXSPEED_ZONES:
        return MAXSPEED_ZONES[text]
    if text in MAXSPEED_NO_LIMIT:
        return math.nan
    match = _NUMBER.match(text)
    if match:
        kmh = float(match.group(1).replace(",", ".")) * _UNIT_FACTORS[match.group(2) or ""]
        return kmh if 0 < kmh <= 200 else math.nan
    match = _ZONE_NUMBER.match(text)
    if match:
        kmh = float(match.group(1))
        return kmh if 0 < kmh <= 200 else math.nan
    if ":" in text:
        return MAXSPEED_ZONE_DEFAULTS.get(text.split(":", 1)[1], math.nan)
    return math.nan


@dataclass(frozen=True)
class NetworkRules:
    """Speed parameters of the mode rules; part of every cache key.

    Parameters
    ----------
    walk_kmh : float
        Walking speed (default: :data:`zonesblanches.modes.MODES` ``marche``, 4.5).
    bike_kmh : float
        Cycling speed (default: ``velo``, 15). Where the bike is pushed, ``walk_kmh`` applies.
    car_speed_factor : float
        Ratio of the actual free-flow speed to the speed limit, on every road (default 0.8, the
        ``speed_reduction`` of OSRM's car profile).
    car_urban_slowdown : float
        Extra factor where the limit is ``car_urban_limit_kmh`` or less (default 0.75: a
        50 km/h street is driven at 50 × 0.8 × 0.75 = 30 km/h), standing for crossings, lights,
        priorities and traffic, which the graph does not model.
    car_urban_limit_kmh : float
        Limit at or below which a road is treated as urban (default 50, the agglomeration limit).
    """

    walk_kmh: float = MODES["marche"].speed_kmh
    bike_kmh: float = MODES["velo"].speed_kmh
    car_speed_factor: float = 0.8
    car_urban_slowdown: float = 0.75
    car_urban_limit_kmh: float = 50.0

    def __post_init__(self) -> None:
        for name in ("walk_kmh", "bike_kmh", "car_urban_limit_kmh"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0):
                raise ParameterError(
                    f"Le paramètre « {name} » doit être un nombre positif (reçu : {value!r})."
                )
        for name in ("car_speed_factor", "car_urban_slowdown"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ParameterError(
                    f"Le paramètre « {name} » doit être compris entre 0 (exclu) et 1 "
                    f"(reçu : {value!r})."
                )

    def as_dict(self) -> dict:
        """Parameters as a plain dict (for cache keys and metadata)."""
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass
class WayAccess:
    """Result of the rules for one mode, one entry per way (row of the tag table).

    Attributes
    ----------
    forward, backward : numpy.ndarray
        Bool: the mode may travel along / against the order of the way's nodes.
    forward_kmh, backward_kmh : numpy.ndarray
        Travel speed in each direction (km/h; meaningful only where allowed).
    """

    forward: np.ndarray
    backward: np.ndarray
    forward_kmh: np.ndarray
    backward_kmh: np.ndarray


def _column(tags: pd.DataFrame, key: str) -> pd.Series:
    if key not in tags.columns:
        return pd.Series(pd.NA, index=tags.index, dtype="string")
    return tags[key].astype("string").str.strip().str.lower()


def _first_present(columns: list[pd.Series]) -> pd.Series:
    out = columns[0]
    for col in columns[1:]:
        out = out.where(out.notna(), col)
    return out


def _isin(col: pd.Series, values) -> np.ndarray:
    return col.isin(list(values)).to_numpy(dtype=bool)


def _lookup(col: pd.Series, mapping, default, dtype) -> np.ndarray:
    """``mapping(value)`` for each row (``default`` where missing), computed once per value."""
    codes, uniques = pd.factorize(col)
    values = [mapping(u) for u in uniques] + [default]
    return np.asarray(values, dtype=dtype)[codes]  # code -1 (missing) takes the last: default


def _speeds(col: pd.Series) -> np.ndarray:
    return _lookup(col, parse_maxspeed, np.nan, float)


def evaluate_ways(tags: pd.DataFrame, mode: str, rules: NetworkRules | None = None) -> WayAccess:
    """Apply the mode rules to a table of way tags.

    Parameters
    ----------
    tags : pandas.DataFrame
        One row per way, columns named after OSM keys (any of :data:`TAG_KEYS`; missing columns
        mean "tag absent"), values as in OSM (strings) or missing.
    mode : str
        ``marche``, ``velo`` or ``voiture`` (English aliases accepted).
    rules : NetworkRules, optional
        Speed parameters; defaults to ``NetworkRules()``.

    Returns
    -------
    WayAccess
        Directions allowed and speeds, aligned with the rows of ``tags``.
    """
    mode = mode_code(mode)
    rules = rules or NetworkRules()
    cols = {k: _column(tags, k) for k in TAG_KEYS}
    highway = cols["highway"]
    n = len(tags)

    default_allowed = {
        "marche": {k: r.walk for k, r in HIGHWAY_TABLE.items()},
        "velo": {k: r.bike != "non" for k, r in HIGHWAY_TABLE.items()},
        "voiture": {k: r.car for k, r in HIGHWAY_TABLE.items()},
    }[mode]
    known = _isin(highway, HIGHWAY_TABLE)
    by_class = _lookup(highway, lambda v: default_allowed.get(v, False), False, bool)

    specific = _first_present([cols[k] for k in SPECIFIC_KEYS[mode]])
    chain = [cols[k] for k in ACCESS_KEYS[mode]]
    if mode in ("marche", "velo"):
        motorroad = _isin(cols["motorroad"], {"yes"})
        chain.insert(
            1, pd.Series(np.where(motorroad, "no", None), index=tags.index, dtype="string")
        )
    access = _first_present(chain)

    explicit = _isin(specific, ALLOW_VALUES)
    if mode == "velo":
        explicit = explicit | _isin(specific, {"dismount"})
    denied = _isin(access, DENY_VALUES)
    allowed = known & ~_isin(cols["area"], {"yes"}) & ((by_class & ~denied) | explicit)

    oneway = cols["oneway"]
    fwd_only = _isin(oneway, ONEWAY_FORWARD)
    bwd_only = _isin(oneway, ONEWAY_BACKWARD)
    implied = (
        (
            _isin(cols["junction"], IMPLIED_ONEWAY_JUNCTIONS)
            | _isin(highway, IMPLIED_ONEWAY_HIGHWAYS)
        )
        & ~_isin(oneway, ONEWAY_NO)
        & ~fwd_only
        & ~bwd_only
    )
    fwd_only = fwd_only | implied

    if mode == "marche":
        foot_way = cols["oneway:foot"]
        forward = allowed & ~_isin(foot_way, ONEWAY_BACKWARD)
        backward = allowed & ~_isin(foot_way, ONEWAY_FORWARD)
        kmh = np.full(n, rules.walk_kmh)
        return WayAccess(forward, backward, kmh, kmh.copy())

    if mode == "velo":
        bike_way = cols["oneway:bicycle"]
        contraflow = np.zeros(n, dtype=bool)
        for key in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
            contraflow = contraflow | _lookup(
                cols[key], lambda v: v.startswith("opposite"), False, bool
            )
        two_way = _isin(bike_way, ONEWAY_NO) | contraflow
        # oneway:bicycle=yes|-1 replaces the general one-way: exactly its direction stays open
        bike_fwd, bike_bwd = _isin(bike_way, ONEWAY_FORWARD), _isin(bike_way, ONEWAY_BACKWARD)
        general = ~two_way & ~bike_fwd & ~bike_bwd
        b_fwd = bike_fwd | (fwd_only & general)
        b_bwd = bike_bwd | (bwd_only & general)
        forward = allowed & ~b_bwd
        backward = allowed & ~b_fwd
        pushed_class = _isin(highway, [k for k, r in HIGHWAY_TABLE.items() if r.bike == "pied"])
        pushed = (
            (pushed_class & ~_isin(specific, ALLOW_VALUES))
            | _isin(specific, {"dismount"})
            | _isin(highway, {"steps"})
        )
        kmh = np.where(pushed, rules.walk_kmh, rules.bike_kmh).astype(float)
        return WayAccess(forward, backward, kmh, kmh.copy())

    # voiture
    allowed = allowed & ~_isin(cols["service"], {"emergency_access"})
    allowed = allowed & ~_isin(oneway, {"reversible"})
    forward = allowed & ~bwd_only
    backward = allowed & ~fwd_only
    class_kmh = _lookup(
        highway,
        lambda v: HIGHWAY_TABLE[v].car_kmh if v in HIGHWAY_TABLE else np.nan,
        np.nan,
        float,
    )
    general = _speeds(cols["maxspeed"])
    for key in ("maxspeed:type", "source:maxspeed", "zone:maxspeed"):
        general = np.where(np.isnan(general), _speeds(cols[key]), general)
    general = np.where(np.isnan(general), class_kmh, general)
    # a car may be allowed on a class without default speed only through explicit tags:
    general = np.where(np.isnan(general), MAXSPEED_ZONE_DEFAULTS["urban"], general)
    limits = []
    for key in ("maxspeed:forward", "maxspeed:backward"):
        directional = _speeds(cols[key])
        limits.append(np.where(np.isnan(directional), general, directional))
    speeds = [car_speed_kmh(limit, rules) for limit in limits]
    return WayAccess(forward, backward, speeds[0], speeds[1])


def car_speed_kmh(limit_kmh: np.ndarray, rules: NetworkRules | None = None) -> np.ndarray:
    """Driving speed from the speed limit: ``limit × factor`` (× urban slowdown if urban).

    Parameters
    ----------
    limit_kmh : array-like
        Posted or default speed limits (km/h).
    rules : NetworkRules, optional
        Factors; defaults to ``NetworkRules()``.
    """
    rules = rules or NetworkRules()
    limit = np.asarray(limit_kmh, dtype=float)
    urban = limit <= rules.car_urban_limit_kmh
    return limit * rules.car_speed_factor * np.where(urban, rules.car_urban_slowdown, 1.0)
