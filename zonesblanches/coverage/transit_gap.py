"""The transit-versus-car gap: how many times longer public transport takes than the car.

« Une heure de trajet en transports en commun contre quinze minutes en voiture » is how the field
describes the problem of the people these services exist for. From a
:class:`~zonesblanches.coverage.analysis.CoverageResult` computed with both the ``transport``
and ``voiture`` modes, :func:`gap_columns` gives per unit and category the ratio
``rapport_transport_voiture_<categorie>`` (transit minutes / car minutes: ``inf`` when no
transit trip exists in the window, missing when the car time is zero or unknown), and
:func:`worst_gaps` lists the most populated units where transit takes more than ``factor`` times
the car time or where no transit trip exists (the report table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zonesblanches.coverage.analysis import CoverageResult, time_col
from zonesblanches.errors import ParameterError

TRANSIT = "transport"
CAR = "voiture"
DEFAULT_FACTOR = 3.0
"""Transit taking more than this many times the car time is flagged."""


def ratio_col(categorie: str) -> str:
    """Column of the transit / car ratio of a category."""
    return f"rapport_transport_voiture_{categorie}"


def _check(result: CoverageResult) -> None:
    missing = [m for m in (TRANSIT, CAR) if m not in result.modes]
    if missing:
        raise ParameterError(
            "Le rapport transports en commun / voiture demande les deux modes : ajoutez "
            + " et ".join(f"--mode {m}" for m in missing)
            + "."
        )


def gap_columns(result: CoverageResult) -> pd.DataFrame:
    """Per unit, for each category, ``rapport_transport_voiture_<categorie>`` (same row order
    as ``result.units``)."""
    _check(result)
    out = pd.DataFrame(index=result.units.index)
    for cat in result.categories:
        t = result.units[time_col(cat, TRANSIT)].to_numpy(dtype=float)
        c = result.units[time_col(cat, CAR)].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((c > 0) & np.isfinite(c), t / c, np.nan)
        out[ratio_col(cat)] = ratio
    return out


def worst_gaps(
    result: CoverageResult, *, factor: float = DEFAULT_FACTOR, top: int = 20
) -> pd.DataFrame:
    """Most populated units where transit takes more than ``factor`` × the car time, or where
    no transit trip exists in the window; one row per unit and category, sorted by population
    (then name), at most ``top`` per category.

    Columns: ``categorie``, the unit's identity columns, ``population``, ``temps_transport_min``,
    ``temps_voiture_min``, ``rapport`` and ``motif`` (French).
    """
    if not factor > 0:
        raise ParameterError(f"Le facteur doit être positif (reçu {factor}).")
    ratios = gap_columns(result)
    ident = [c for c in ("code_insee", "nom", "code_epci", "nom_epci") if c in result.units]
    rows = []
    for cat in result.categories:
        t = result.units[time_col(cat, TRANSIT)].to_numpy(dtype=float)
        c = result.units[time_col(cat, CAR)].to_numpy(dtype=float)
        r = ratios[ratio_col(cat)].to_numpy()
        none = ~np.isfinite(t)
        slow = np.isfinite(r) & (r > factor)
        sel = none | slow
        frame = pd.DataFrame(result.units.loc[sel, ident]).reset_index(drop=True)
        frame.insert(0, "categorie", cat)
        frame["population"] = result.units.loc[sel, "population"].to_numpy()
        frame["temps_transport_min"] = np.where(none[sel], np.nan, t[sel].round(1))
        frame["temps_voiture_min"] = c[sel].round(1)
        frame["rapport"] = np.where(none[sel], np.nan, np.round(r[sel], 1))
        frame["motif"] = np.where(
            none[sel],
            "aucun trajet en transports en commun dans la fenêtre",
            "transports en commun plus de "
            + f"{factor:g}".replace(".", ",")
            + " fois plus longs que la voiture",
        )
        # Why no trip, when it is that no stop lies within walking distance of the unit's
        # point (the model's remark, « Aucun arrêt … à moins de 20 min à pied. »): said so.
        remark = f"remarque_{TRANSIT}"
        if remark in result.units:
            flag = result.units[remark].fillna("").astype(str).to_numpy()[sel]
            no_stop = none[sel] & (flag != "")
            frame.loc[no_stop, "motif"] = [
                "aucun trajet : " + f[0].lower() + f[1:].rstrip(".") for f in flag[no_stop]
            ]
        sort = ["population"] + (["nom"] if "nom" in frame else [])
        frame = frame.sort_values(
            sort, ascending=[False] + [True] * (len(sort) - 1), kind="stable"
        ).head(top)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
