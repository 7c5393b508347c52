"""Presentation constants of the maps and figures: colours, glyphs, time classes, unit words.

Everything a reader sees on a map that is not data lives here, so that the interactive map, the
static figures and the report agree.

Colour choices:

- time classes use ColorBrewer's *YlOrRd* sequential ramp (light = close, dark red = far). A
  single-hue-progression ramp reads in greyscale and is flagged "colour-blind safe" by
  ColorBrewer (Harrower and Brewer, 2003, *The Cartographic Journal* 40(1));
- unreachable units are dark grey, outside the ramp, so they never read as "very far";
- service categories use the Okabe-Ito palette (Okabe and Ito, 2008, "Color Universal Design"),
  designed to stay distinct for the common colour-vision deficiencies; the yellows and oranges
  that would clash with the time ramp are left out. Each category also has a letter, so the
  colour is never the only cue.

The French words for the analysis units (« communes », « carreaux ») live here too
(:func:`unit_words`), so that the maps, the report and the command line name them alike.
This module imports numpy only (no folium, no matplotlib): keep it so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zonesblanches._text import fr_g, fr_int, fr_num
from zonesblanches.errors import ParameterError


@dataclass(frozen=True)
class CategoryStyle:
    """How a service category is drawn."""

    color: str
    """Fill colour of the marker (hex)."""
    glyph: str
    """One letter drawn in the marker: the cue that does not rely on colour."""


CATEGORY_STYLES: dict[str, CategoryStyle] = {
    "garage_solidaire": CategoryStyle("#0072B2", "G"),
    "location_solidaire": CategoryStyle("#009E73", "L"),
    "auto_ecole_sociale": CategoryStyle("#CC79A7", "A"),
    "atelier_velo": CategoryStyle("#56B4E9", "V"),
    "plateforme_mobilite": CategoryStyle("#7A4EA3", "P"),
    "transport_solidaire": CategoryStyle("#222222", "T"),
}
DEFAULT_CATEGORY_STYLE = CategoryStyle("#555555", "?")
"""Style of a category code the taxonomy does not know."""

YLORRD_9 = (
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#bd0026",
    "#800026",
)
"""ColorBrewer YlOrRd, 9 classes (Cynthia Brewer, colorbrewer2.org, Apache 2.0)."""

UNREACHABLE_COLOR = "#4d4d4d"
"""Units from which no service can be reached (no road, no service of the category)."""

NO_DATA_COLOR = "#e8e8e8"
"""Communes drawn for context only (outside the analysed territory)."""

TIME_CLASSES: tuple[float, ...] = (10, 20, 30, 45, 60)
"""Default upper bounds (minutes) of the time classes: 0–10, 10–20, 20–30, 30–45, 45–60, > 60."""

BLANK_OUTLINE = "#111111"
"""Outline of the zones blanches."""

EPCI_OUTLINE = "#3b3b3b"
ISOCHRONE_COLORS = ("#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef")
"""Outlines of isochrones, darkest for the shortest time (ColorBrewer Blues)."""
QPV_OUTLINE = "#6a3d9a"

MAP_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"


def category_style(code: str) -> CategoryStyle:
    """Style of a category code (a neutral grey "?" for unknown codes)."""
    return CATEGORY_STYLES.get(code, DEFAULT_CATEGORY_STYLE)


def check_classes(bounds: Sequence[float] | None) -> tuple[float, ...]:
    """Validate the upper bounds of the time classes (minutes), default :data:`TIME_CLASSES`.

    Raises
    ------
    ParameterError
        Empty, non-positive, non-finite or non-increasing bounds (message in French).
    """
    if bounds is None:
        return TIME_CLASSES
    try:
        values = tuple(float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ParameterError(
            "Les classes de temps doivent être une liste de minutes, par ex. [10, 20, 30]."
        ) from None
    if not values or len(values) > 8:
        raise ParameterError("Indiquez entre 1 et 8 bornes de classes de temps (minutes).")
    arr = np.asarray(values)
    if not np.all(np.isfinite(arr)) or arr[0] <= 0 or np.any(np.diff(arr) <= 0):
        raise ParameterError(
            "Les bornes des classes de temps doivent être des minutes positives et croissantes "
            f"(reçu : {list(bounds)})."
        )
    return values


def class_colors(n_classes: int) -> list[str]:
    """``n_classes`` colours of the time ramp, from the closest class to the farthest."""
    if n_classes <= 1:
        return [YLORRD_9[4]]
    idx = np.round(np.linspace(1, len(YLORRD_9) - 1, n_classes)).astype(int)
    return [YLORRD_9[i] for i in idx]


def class_labels(bounds: Sequence[float]) -> list[str]:
    """French labels of the classes defined by ``bounds``: ``len(bounds) + 1`` labels."""
    labels = [f"moins de {fr_g(bounds[0])} min"]
    labels += [f"{fr_g(a)} à {fr_g(b)} min" for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    labels.append(f"plus de {fr_g(bounds[-1])} min")
    return labels


def class_index(minutes: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    """Class of each time: ``0..len(bounds)``, ``-1`` for unreachable (``inf`` or NaN).

    A time equal to a bound falls in the lower class (10 min is in « moins de 10 min »).
    """
    values = np.asarray(minutes, dtype=float)
    idx = np.searchsorted(np.asarray(bounds, dtype=float), values, side="left")
    return np.where(np.isfinite(values), idx, -1)


TIME_CAP_MIN = 60.0
"""Times beyond ``max(TIME_CAP_MIN, 2 × threshold)`` are said « plus de … min »: a straight-line
walk of 2,014 min is not a result a planner can use, only « far »."""


def time_cap(threshold: float) -> float:
    """Cap (minutes) beyond which a time is said in words: 60 min, or twice the threshold."""
    return max(TIME_CAP_MIN, 2.0 * float(threshold))


def cap_text(threshold: float) -> str:
    """« plus de 60 min »: a time beyond the cap of the indicator of ``threshold``."""
    return f"plus de {fr_g(time_cap(threshold))} min"


def none_text(threshold: float) -> str:
    """« aucun service connu à moins de 60 min »: no service reachable at all."""
    return f"aucun service connu à moins de {fr_g(time_cap(threshold))} min"


def time_text(minutes: float, threshold: float) -> str:
    """A time as a planner reads it: « 23 min », « plus de 60 min » beyond the cap, « aucun
    service connu à moins de 60 min » when no service is reachable (infinite or NaN).

    Near the threshold one decimal is kept so that the text agrees with the zone-blanche
    flag (« 20,4 min » is beyond 20 min; « 20 min » would not say so).
    """
    value = float(minutes)
    if not np.isfinite(value):
        return none_text(threshold)
    if value > time_cap(threshold):
        return cap_text(threshold)
    rounded = float(np.floor(value + 0.5))
    if (rounded > threshold) != (value > threshold):
        return f"{fr_num(value, 1)} min"
    return f"{fr_num(rounded, 0)} min"


UNREACHABLE_LABEL = "aucun service connu accessible"
"""Legend label of unreachable units."""

TRANSIT_UNREACHABLE_LABEL = "aucun trajet en transports en commun dans la fenêtre"
"""Legend label of units without a public-transport trip to a service in the time window (the
service exists; no bus or train, with the walks allowed, reaches it then)."""


def unreachable_label(mode: str) -> str:
    """Legend label of the units no service is reachable from, by ``mode``."""
    return TRANSIT_UNREACHABLE_LABEL if mode == "transport" else UNREACHABLE_LABEL


STATUS_LABELS = {"actif": "actif", "a_verifier": "à vérifier", "ferme": "fermé"}
"""French labels of the ``statut`` values of the registry."""

PRECISION_LABELS = {
    "adresse": "à l'adresse (géocodée)",
    "rue": "à la rue (adresse géocodée à la rue seulement)",
    "commune": "à la commune (point intérieur, adresse inconnue)",
    "coordonnees": "coordonnées fournies",
    "coordonnees_fournies": "coordonnées fournies par la source",
}


# --------------------------------------------------------------------------- unit words


@dataclass(frozen=True)
class UnitWords:
    """French words for one kind of analysis unit.

    Attributes
    ----------
    singular, plural : str
        Lower-case nouns (« commune », « communes »).
    feminine : bool
        Grammatical gender, for the agreement of adjectives (:meth:`agree`).
    id_label : str
        Header of the unit's identifier column (« Code INSEE », « Carreau »).
    """

    singular: str
    plural: str
    feminine: bool
    id_label: str

    @property
    def title(self) -> str:
        """The plural with a capital (« Communes », « Carreaux »)."""
        return self.plural[:1].upper() + self.plural[1:]

    def count(self, n: float) -> str:
        """« 1 commune », « 13 communes » (French: singular below 2)."""
        return f"{fr_int(n)} {self.singular if abs(float(n)) < 2 else self.plural}"

    def agree(self, participle: str, plural: bool = True) -> str:
        """``participle`` (masculine singular, e.g. « peuplé ») agreed with the unit noun."""
        return participle + ("e" if self.feminine else "") + ("s" if plural else "")


UNIT_WORDS = {
    "commune": UnitWords("commune", "communes", True, "Code INSEE"),
    "carreau": UnitWords("carreau", "carreaux", False, "Carreau"),
}
"""Words per ``CoverageResult.unit_kind`` (communes, or Filosofi grid cells with ``--carreaux``)."""
GENERIC_UNIT_WORDS = UnitWords("unité", "unités", True, "Identifiant")


def unit_words(kind: str) -> UnitWords:
    """French words for the unit kind of a result (« communes », « carreaux »); « unités » for
    a kind without its own words."""
    return UNIT_WORDS.get(str(kind), GENERIC_UNIT_WORDS)
