"""Travel modes and their default speeds.

Mode codes are French because they appear in the user's tables and command line
(``marche``, ``velo``, ``voiture``); English aliases are accepted everywhere.

Defaults and where they come from:

- walking 4.5 km/h: the usual planning value for adults (HCM and most accessibility studies
  use 1.2-1.4 m/s, i.e. 4.3-5 km/h); we take the lower half because the public served includes
  older people and parents with children;
- cycling 15 km/h: the usual average speed of utility cycling in French planning documents
  (a city cyclist averages 14-16 km/h including stops);
- car 50 km/h straight-line model only: an average door-to-door speed over a mix of urban and
  rural roads, combined with the detour coefficient below; the road-network engine replaces it
  with speeds per way (``maxspeed`` or highway class);
- detour coefficient 1.3: ratio of road distance to straight-line distance; Ballou, Rahardja and
  Sakai (2002, *Transportation Research Part A* 36(9)) report circuity factors of about 1.2-1.4
  for road travel in the countries they studied.

Every one of these is a parameter; none is hard-coded in the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

from zonesblanches.errors import ParameterError


@dataclass(frozen=True)
class Mode:
    """A travel mode with its straight-line defaults."""

    code: str
    label: str
    speed_kmh: float
    detour: float = 1.3


MODES: dict[str, Mode] = {
    m.code: m
    for m in (
        Mode("marche", "à pied", 4.5),
        Mode("velo", "à vélo", 15.0),
        Mode("voiture", "en voiture", 50.0),
    )
}

TRANSIT_MODE = Mode("transport", "en transports en commun", float("nan"), 1.0)
"""Public transport: times from GTFS timetables (:class:`zonesblanches.coverage.raptor.
TransitModel`), never from a speed. Kept out of :data:`MODES` (the modes with a road network and
a straight-line model); :func:`mode_code` accepts it only with ``allow_transit=True``."""

ALL_MODES: dict[str, Mode] = {**MODES, TRANSIT_MODE.code: TRANSIT_MODE}
"""Every mode, public transport included (labels for outputs)."""

_TRANSIT_ALIASES = {
    "transport",
    "transports",
    "tc",
    "transports en commun",
    "transit",
    "public transport",
    "pt",
    "bus",
}

_ALIASES = {
    "marche": "marche",
    "pied": "marche",
    "a pied": "marche",
    "walk": "marche",
    "walking": "marche",
    "foot": "marche",
    "velo": "velo",
    "vélo": "velo",
    "bike": "velo",
    "bicycle": "velo",
    "cycling": "velo",
    "voiture": "voiture",
    "auto": "voiture",
    "car": "voiture",
    "drive": "voiture",
    "driving": "voiture",
}


def mode_code(name: str, *, allow_transit: bool = False) -> str:
    """Return the canonical mode code for ``name`` (French or English), or raise.

    Parameters
    ----------
    name : str
        Mode name or alias.
    allow_transit : bool, default False
        Accept public transport (``transport``); callers that only know road modes leave it
        False and get a French error saying that timetables are needed.

    Raises
    ------
    ParameterError
        If the mode is unknown (message in French listing the valid modes).
    """
    key = str(name).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _TRANSIT_ALIASES:
        if allow_transit:
            return TRANSIT_MODE.code
        raise ParameterError(
            "Le mode « transport » (transports en commun) se calcule sur des horaires GTFS : "
            "il n'a pas de vitesse à vol d'oiseau ni de réseau routier. Donnez les horaires "
            "(« analyse --gtfs FICHIER.zip ») ou choisissez marche, velo ou voiture."
        )
    raise ParameterError(
        f"Mode de déplacement inconnu : « {name} ». Modes possibles : " + ", ".join(MODES) + "."
    )
