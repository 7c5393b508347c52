"""Tables written next to the maps: per commune, per EPCI, uncovered communes.

They are written by :func:`zonesblanches.writers.write_csv` (the project's CSV dialect);
unreachable times are left empty. Rows and columns are in a fixed order so the same inputs give
the same bytes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.coverage.sites import GAIN_CURVE_K
from zonesblanches.coverage.transit_gap import ratio_col
from zonesblanches.errors import ParameterError
from zonesblanches.maps.transit_layer import gap_table_columns


def _minutes(values) -> pd.Series:
    v = pd.Series(np.asarray(values, dtype=float)).round(1)
    return v.where(np.isfinite(v))


def communes_table(result: CoverageResult) -> pd.DataFrame:
    """One row per demand unit: identity, population, then per category × mode the time in
    minutes (``temps_{categorie}_{mode}_min``), the nearest service and the zone-blanche flag
    (``zone_blanche_{categorie}_{mode}``: 1 or 0)."""
    units = result.units
    base = [
        c for c in ("code_insee", "nom", "code_departement", "code_epci", "nom_epci") if c in units
    ]
    out = pd.DataFrame(units[base]).reset_index(drop=True)
    out["population"] = units["population"].round().astype("int64").to_numpy()
    gaps = gap_table_columns(result)  # rapport_transport_voiture_<categorie> (issue 14)
    for cat in result.categories:
        for mode in result.modes:
            out[f"{time_col(cat, mode)}_min"] = _minutes(units[time_col(cat, mode)]).to_numpy()
            out[service_col(cat, mode)] = units[service_col(cat, mode)].to_numpy()
            out[blank_col(cat, mode)] = units[blank_col(cat, mode)].astype(int).to_numpy()
        if ratio_col(cat) in gaps:
            out[ratio_col(cat)] = gaps[ratio_col(cat)]
    for col in units.columns:
        if col.startswith("temps_offre_marchande_"):  # context, not services
            out[f"{col}_min"] = _minutes(units[col]).to_numpy()
    for mode in result.modes:
        if f"remarque_{mode}" in units:
            out[f"remarque_{mode}"] = units[f"remarque_{mode}"].to_numpy()
    sort = [c for c in ("code_insee",) if c in out] or list(out.columns[:1])
    return out.sort_values(sort, kind="stable").reset_index(drop=True)


def uncovered_table(
    result: CoverageResult, principal: tuple[str, str] | None = None
) -> pd.DataFrame:
    """The units in zone blanche for at least one indicator, one row each with one column per
    indicator (as :func:`communes_table`), those without the principal indicator (default: the
    first category and mode) first, most populated first.

    Times stay numbers (minutes, for computing), even beyond the 60-min cap at which maps and
    the report say « plus de 60 min »; unreachable times are empty.
    """
    table = communes_table(result)
    if principal is None:
        principal = (result.categories[0], result.modes[0])
    blanks = [blank_col(c, m) for c in result.categories for m in result.modes]
    table = table[table[blanks].to_numpy().any(axis=1)]
    key = "code_insee" if "code_insee" in table else table.columns[0]
    return table.sort_values(
        [blank_col(*principal), "population", key], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


NO_EPCI_LABEL = "Communes sans EPCI"
"""``nom_epci`` of the group of the communes outside any EPCI (empty ``code_epci``): the four
island communes of metropolitan France (L'Île-d'Yeu 85113, Île-de-Bréhat 22016, Île-de-Sein
29083, Ouessant 29155), which is why a national ``synthese.csv`` has one group more than the 1,232
EPCI."""


def synthesis_table(
    result: CoverageResult, by: str | None = "code_epci", names: pd.Series | None = None
) -> pd.DataFrame:
    """One row per group × category × mode (see :meth:`CoverageResult.summary`; default: per
    EPCI, ``by=None``: the whole territory), with the method of the travel times.

    ``by`` may be ``code_departement``, or ``code_region`` when ``names`` is given and the units
    carry ``code_departement`` (the region is then looked up from it). ``names``: code → French
    name of the groups (``nom_departement``, ``nom_region``), a column after the code; with
    ``by="code_region"``, a frame ``code_departement`` → ``code_region``, ``nom_region``.
    """
    if by == "code_region" and "code_region" not in result.units:
        if names is None or "code_region" not in names:
            raise ParameterError(
                "La synthèse par région demande la table des départements et de leur région."
            )
        regions = names.set_index("code_departement")["code_region"]
        units = result.units.assign(code_region=result.units["code_departement"].map(regions))
        result = replace(result, units=units)
        names = names.drop_duplicates("code_region").set_index("code_region")["nom_region"]
    table = result.summary(by=by)
    if by == "code_epci" and "nom_epci" in table:
        alone = table["code_epci"].fillna("") == ""
        table.loc[alone, "nom_epci"] = NO_EPCI_LABEL
    if names is not None and by is not None:
        label = "nom_" + by.removeprefix("code_")
        table.insert(1, label, table[by].map(names).fillna("").to_numpy())
    methods = {m: result.models[m].method for m in result.modes}
    table["methode"] = table["mode"].map(methods)
    for col in ("population", "population_couverte", "population_zone_blanche"):
        table[col] = table[col].round().astype("int64")
    table["part_couverte"] = table["part_couverte"].round(4)
    table["temps_median_min"] = _minutes(table["temps_median_min"]).to_numpy()
    return table


SYNTHESIS_LEVELS = ("code_departement", "code_region", None)
"""The levels above the EPCI of a multi-département run (issue 18); ``None``: the whole
territory."""


def level_syntheses(result: CoverageResult, departements: pd.DataFrame) -> dict:
    """The synthesis per département, per région and for the whole territory (one table per
    level, :func:`synthesis_table`), for a run whose units span several départements.

    ``departements``: ``code_departement``, ``nom`` (French name), ``code_region`` and
    ``nom_region``. Populations are summed from the units, so the départements of a région add
    up to the région, and the régions to the whole territory. Keyed by level (``None`` last).
    """
    names = departements.rename(columns={"nom": "nom_departement"})
    return {
        "code_departement": synthesis_table(
            result, "code_departement", names.set_index("code_departement")["nom_departement"]
        ),
        "code_region": synthesis_table(result, "code_region", names),
        None: synthesis_table(result, None),
    }


def gain_curve(suggestion) -> pd.DataFrame:
    """Population newly covered by the k-th site, k = 1… (at most :data:`GAIN_CURVE_K`), in the
    order of the greedy selection the sites solver returned (``gain_table``, else
    ``greedy_table``).

    The greedy order is nested (its first k picks are the greedy choice for k):
    :func:`~zonesblanches.coverage.sites.suggest_sites` runs the greedy selection once to
    ``max(k, GAIN_CURVE_K)`` sites and keeps its first k as the suggestion, so a suggestion of
    3 sites carries the whole curve, its first 3 points being the 3 sites. Columns:
    ``k``, ``site`` (label of the pick), ``nom`` (its commune), ``population_gagnee`` (people
    newly within the threshold thanks to this site, after the k − 1 before it),
    ``population_couverte`` (cumulated, existing services included), ``part_couverte``
    (0–1) and ``part_du_premier`` (gain of this site / gain of the first: where the curve
    flattens).

    Raises a French :class:`~zonesblanches.errors.ParameterError` when the suggestion carries
    no greedy selection (``method="exact"`` alone).
    """
    table = getattr(suggestion, "gain_table", None)
    if table is None:
        table = getattr(suggestion, "greedy_table", None)
    if table is None or not len(table):
        raise ParameterError(
            "La courbe de gain suit l'ordre de la sélection gloutonne : lancez la suggestion "
            "avec la méthode gloutonne (par défaut)."
        )
    table = table.sort_values("rang", kind="stable").head(GAIN_CURVE_K)
    gains = table["population_gagnee"].to_numpy(dtype=float)
    first = gains[0] if len(gains) and gains[0] > 0 else np.nan
    return pd.DataFrame(
        {
            "k": table["rang"].astype("int64").to_numpy(),
            "site": table["libelle"].astype(str).to_numpy()
            if "libelle" in table
            else table["candidate_id"].astype(str).to_numpy(),
            "nom": table["nom"].astype(str).to_numpy() if "nom" in table else "",
            "population_gagnee": np.round(gains).astype("int64"),
            "population_couverte": np.round(table["couverture_cumulee"].to_numpy(float)).astype(
                "int64"
            ),
            "part_couverte": np.round(table["part_couverte_cumulee"].to_numpy(float), 4),
            "part_du_premier": np.round(gains / first, 3),
        }
    )
