"""Names of the per category × mode columns of a coverage result, built and parsed in one place.

Every table of units carries, for each category of service and each mode, three columns:
``temps_{categorie}_{mode}`` (minutes to the nearest service), ``service_{categorie}_{mode}``
(its ``service_id``) and ``zone_blanche_{categorie}_{mode}`` (beyond the threshold).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zonesblanches.modes import ALL_MODES

_TIME_RE = re.compile(r"^temps_(?P<cat>.+)_(?P<mode>" + "|".join(ALL_MODES) + r")$")


def time_col(categorie: str, mode: str) -> str:
    """Name of the column holding minutes to the nearest service (``temps_atelier_velo_marche``)."""
    return f"temps_{categorie}_{mode}"


def service_col(categorie: str, mode: str) -> str:
    """Name of the column holding the ``service_id`` of the nearest service."""
    return f"service_{categorie}_{mode}"


def blank_col(categorie: str, mode: str) -> str:
    """Name of the zone-blanche flag column."""
    return f"zone_blanche_{categorie}_{mode}"


def time_pairs(columns: Iterable[object]) -> list[tuple[str, str]]:
    """(categorie, mode) of every time column among ``columns``, in column order."""
    pairs = []
    for col in columns:
        m = _TIME_RE.match(str(col))
        if m:
            pairs.append((m.group("cat"), m.group("mode")))
    return pairs


__all__ = ["blank_col", "service_col", "time_col", "time_pairs"]
