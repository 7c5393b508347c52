"""Small text helpers shared by the subpackages: matching of French names, and the one set of
French number formatters (CLI, report, maps and tables all print numbers through them)."""

from __future__ import annotations

import difflib
import math
import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(text: object) -> str:
    """Return a lower-case, accent-free, punctuation-free key for matching names.

    ``"Valenciennes Métropole"``, ``"valenciennes-metropole"`` and
    ``"VALENCIENNES MÉTROPOLE"`` all give ``"valenciennes metropole"``.
    Ligatures (œ, æ) are expanded and the French "saint"/"st" forms are unified.
    """
    if text is None:
        return ""
    s = str(text).strip().lower().replace("œ", "oe").replace("æ", "ae")
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = _NON_ALNUM.sub(" ", s).strip()
    s = re.sub(r"\bste\b", "sainte", s)
    s = re.sub(r"\bst\b", "saint", s)
    return s


def closest(query: str, choices: dict[str, str], n: int = 3) -> list[str]:
    """Return up to ``n`` display names whose normalized key is closest to ``query``.

    ``choices`` maps normalized keys to display names.
    """
    key = normalize(query)
    hits = difflib.get_close_matches(key, list(choices), n=n, cutoff=0.5)
    # Also offer names that contain every word of the query (typed fragments).
    words = key.split()
    if words and len(hits) < n:
        for k in choices:
            if k not in hits and all(w in k.split() for w in words):
                hits.append(k)
            if len(hits) >= n:
                break
    return [choices[k] for k in hits]


def _missing(value: object) -> bool:
    """None, NaN or pandas' NA (anything that is not a number to print)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NA
    except (TypeError, ValueError):
        return True


def fr_int(value: float) -> str:
    """A whole number the French way, with narrow no-break spaces: ``5 992 194``; ``–`` for a
    missing or infinite value."""
    if _missing(value) or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):,.0f}".replace(",", "\u202f")


def fr_plural(value: float, singular: str, plural: str | None = None) -> str:
    """The word agreeing with ``value`` in French (singular below 2): ``fr_plural(3, "retenu")``
    gives « retenus », ``fr_plural(1, "nouveau", "nouveaux")`` « nouveau »."""
    return singular if abs(float(value)) < 2 else (plural or singular + "s")


def fr_count(value: float, singular: str, plural: str | None = None) -> str:
    """« 0 habitant », « 1 habitant », « 1 234 habitants » (French: singular below 2)."""
    return f"{fr_int(value)} {fr_plural(value, singular, plural)}"


def fr_num(value: float, digits: int = 1, *, trim: bool = False) -> str:
    """A decimal number the French way: ``12,5``, ``1 234,5`` (narrow no-break space between
    thousands); ``–`` for a missing value, « inaccessible » for infinity.

    With ``trim``, trailing zeros are dropped (``20,0`` → ``20``).
    """
    if _missing(value):
        return "–"
    if math.isinf(float(value)):
        return "inaccessible"
    text = f"{float(value):,.{digits}f}".replace(",", "\u202f").replace(".", ",")
    if trim and "," in text:
        text = text.rstrip("0").rstrip(",")
    return text


def fr_g(value: float) -> str:
    """A number in its shortest form (``%g``) with a decimal comma: ``4,5``, ``20``, ``1,3``."""
    return f"{float(value):g}".replace(".", ",")


def fr_pct(share: float) -> str:
    """A share (0-1) as a French percentage, no-break space before the sign: ``18,6 %``; ``–``
    for a missing value."""
    if _missing(share):
        return "–"
    return f"{100 * float(share):.1f}".replace(".", ",") + "\u00a0%"
