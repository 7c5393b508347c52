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


def mode_code(name: str) -> str:
    """Return the canonical mode code for ``name`` (French or English), or raise.

    Raises
    ------
    ParameterError
        If the mode is unknown (message in French listing the valid modes).
    """
    key = str(name).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise ParameterError(
        f"Mode de déplacement inconnu : « {name} ». Modes possibles : " + ", ".join(MODES) + "."
    )
