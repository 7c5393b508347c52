"""Where to open the next service: maximal covering site selection.

The question of an intercommunalité: « si nous finançons *k* garages solidaires de plus, où les
installer pour toucher le plus d'habitants à moins de 20 minutes ? ». Existing services are kept;
a demand unit already within the threshold of one of them counts for nothing; each candidate site
serves the units within the threshold of it (its *reach*, :mod:`zonesblanches.coverage.reach`).
Choosing *k* sites to maximise the weight of newly served units is the *maximal covering location
problem* (Church and ReVelle, 1974).

Two solvers:

- **Greedy with lazy evaluation** (default): pick the site that serves the most people not yet
  served, *k* times. The objective is monotone and submodular, so the greedy choice is within a
  factor ``1 − (1 − 1/k)^k ≥ 1 − 1/e ≈ 63.2 %`` of the best possible (Nemhauser, Wolsey and
  Fisher, 1978); marginal gains only shrink, so a stale gain kept in a priority queue is an upper
  bound and only the top of the queue needs recomputing (Minoux, 1978). Besides the a-priori
  factor, the data give a sharper a-posteriori bound: for any selection ``S``, the best value is
  at most ``f(S)`` plus the *k* largest marginal gains given ``S`` (computed at the start and at
  the end).
- **Exact** (mixed-integer programme solved by CBC through PuLP) when the instance, after merging
  units reached by the same set of candidates, is small enough:
  ``max Σ w_j y_j`` subject to ``y_j ≤ Σ_{i reaches j} x_i``, ``Σ x_i ≤ k``, ``x`` binary,
  ``0 ≤ y ≤ 1``. The greedy gap ``(exact − greedy) / exact`` is then reported.

Weights: ``population`` (default), ``qpv`` (residents of QPV: needs grid cells and QPV
perimeters, or a ``population_qpv`` column), ``men_pauv`` (poor households of the Filosofi grid),
or a dict mixing them, e.g. ``{"population": 1, "qpv": 2}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from zonesblanches._text import fr_count, fr_num
from zonesblanches._text import fr_int as _fr_int
from zonesblanches._text import fr_pct as _fr_pct
from zonesblanches.columns import time_col
from zonesblanches.coverage.analysis import CoverageResult, compute_coverage
from zonesblanches.coverage.candidates import COLUMNS as CANDIDATE_COLUMNS
from zonesblanches.coverage.candidates import commune_candidates
from zonesblanches.coverage.equity import WEIGHTS, unit_weights
from zonesblanches.coverage.maxcover import (
    EXACT_MAX_PAIRS,
    Selection,
    exact_max_cover,
    greedy_bound_factor,
    greedy_max_cover,
    greedy_prefix,
)
from zonesblanches.coverage.reach import ReachMatrix, reach_matrix
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.categories import CATEGORIES, category_code, category_label
from zonesblanches.geodata.reference import load_communes
from zonesblanches.modes import mode_code

METHODS = ("greedy", "exact", "both")
"""Accepted values of ``method``: greedy only, exact only, or both (with the gap)."""

GAIN_CURVE_K = 10
"""Sites of the gain curve (« combien de garages valent la peine », issue 15): the greedy
selection always runs to at least this many sites, its first ``k`` are the suggestion."""

# --------------------------------------------------------------------------------------------
# The suggestion
# --------------------------------------------------------------------------------------------


@dataclass
class SiteSuggestion:
    """Sites suggested for one category and mode, with their figures and the solver's proof.

    Attributes
    ----------
    table : pandas.DataFrame
        Ranked picks of the main method (exact when asked for and solved, else greedy), French
        columns: ``rang``, ``candidate_id``, ``origine``, ``libelle``, ``code_insee``, ``nom``
        (commune), ``code_epci``, ``nom_epci``, ``population_gagnee``, ``habitants_qpv_gagnes``
        (only when QPV residents are known), ``menages_pauvres_gagnes`` (when known),
        ``valeur_gagnee`` (the objective, when it is not the population), ``unites_gagnees``,
        ``couverture_cumulee`` (people within the threshold after this pick, existing services
        included), ``part_couverte_cumulee`` (0–1).
    sites : geopandas.GeoDataFrame
        The same rows as points: the map layer of the suggested sites.
    catchments : geopandas.GeoDataFrame
        Units newly within the threshold, each attributed to the first pick that reaches it:
        ``rang``, ``candidate_id``, unit keys, ``population``, ``temps_min`` (to that site) and
        the unit's geometry: the map layer of the new catchments.
    greedy, exact : Selection or None
        The solvers' selections (``None`` when not run).
    greedy_table, exact_table : pandas.DataFrame or None
        The ranked table of each selection that ran (columns of ``table``).
    gain_table : pandas.DataFrame or None
        The greedy selection continued to ``max(k, GAIN_CURVE_K)`` sites, columns of
        ``table``: the gain curve and the next-best sites. The greedy order is nested, so its
        first ``k`` rows are ``greedy_table``; one greedy run gives both. ``None`` with
        ``method="exact"`` alone: exact optima are not nested (the best 3 sites need not
        contain the best 2), so an exact curve would take one solve per k; no curve is drawn.
    gap : float or None
        ``(exact − greedy) / exact`` when both ran (0 when both are 0).
    notes : list of str
        French notes to print with the table.
    coverage : CoverageResult or None
        The coverage with the existing services the suggestion started from (drawn under the
        suggested sites by :func:`zonesblanches.maps.suggestion_map`).
    """

    table: pd.DataFrame
    sites: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    categorie: str
    mode: str
    threshold: float
    k: int
    weights_label: str
    population: float
    covered_before: float
    n_candidates: int
    greedy: Selection | None = None
    exact: Selection | None = None
    gap: float | None = None
    territory: str = ""
    method_description: str = ""
    exact_table: pd.DataFrame | None = None
    greedy_table: pd.DataFrame | None = None
    gain_table: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    coverage: CoverageResult | None = field(default=None, repr=False)

    @property
    def main(self) -> Selection:
        """The selection shown in :attr:`table`."""
        if self.exact is not None and self.exact.status == "optimal":
            return self.exact
        return self.greedy if self.greedy is not None else self.exact  # type: ignore[return-value]

    def bound_text(self) -> str:
        """French sentence stating the greedy guarantee (empty if greedy did not run)."""
        g = self.greedy
        if g is None:
            return ""
        factor = greedy_bound_factor(max(self.k, 1))
        text = (
            f"Garantie de la sélection gloutonne : au moins {_fr_pct(factor)} du meilleur choix "
            f"possible pour {fr_count(self.k, 'site')} (1 − (1 − 1/k)^k, jamais moins de 1 − 1/e ≈ 63,2 %)."
        )
        if math.isfinite(g.upper_bound) and g.upper_bound > 0:
            text += (
                f" Sur ces données, le meilleur choix ne peut pas dépasser "
                f"{_fr_int(g.upper_bound)} {self.weights_label} gagnés : la sélection gloutonne "
                f"en atteint au moins {_fr_pct(g.value / g.upper_bound)}."
            )
        return text

    def __repr__(self) -> str:
        return (
            f"SiteSuggestion(categorie={self.categorie!r}, mode={self.mode!r}, "
            f"threshold={self.threshold}, k={self.k}, picks={list(self.table['candidate_id'])})"
        )


def _fr_num(value: float, digits: int = 1) -> str:
    return fr_num(value, digits, trim=True)


def _as_result(result_or_inputs: CoverageResult | Mapping) -> CoverageResult:
    if isinstance(result_or_inputs, CoverageResult):
        return result_or_inputs
    if isinstance(result_or_inputs, Mapping):
        inputs = dict(result_or_inputs)
        missing = [k for k in ("demand", "services", "thresholds") if k not in inputs]
        if missing:
            raise ParameterError(
                "Entrées incomplètes pour la suggestion de sites : il manque "
                + ", ".join(missing)
                + " (ou passez directement un résultat de compute_coverage)."
            )
        return compute_coverage(
            inputs["demand"],
            inputs["services"],
            inputs["thresholds"],
            categories=inputs.get("categories"),
            models=inputs.get("models"),
            territory=inputs.get("territory", ""),
            unit_kind=inputs.get("unit_kind", "commune"),
        )
    raise ParameterError(
        "suggest_sites attend un résultat de compute_coverage ou un dictionnaire "
        "{demand, services, thresholds, models}."
    )


def _check_category(categorie: str) -> str:
    code = categorie if categorie in CATEGORIES else category_code(categorie)
    if code is None:
        raise ParameterError(
            f"Catégorie inconnue : « {categorie} ». Catégories possibles : "
            + ", ".join(CATEGORIES)
            + "."
        )
    return code


def _default_candidates(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "code_insee" not in units:
        raise ParameterError(
            "Indiquez les sites candidats (candidates=...) : les unités n'ont pas de code commune."
        )
    communes = load_communes()
    communes = communes[communes["code_insee"].isin(set(units["code_insee"].astype(str)))]
    return commune_candidates(communes.reset_index(drop=True))


def _selection_table(
    selection: Selection,
    candidates: gpd.GeoDataFrame,
    reach: ReachMatrix,
    open_units: np.ndarray,
    components: dict[str, np.ndarray],
    objective: np.ndarray,
    weights_is_population: bool,
    population: float,
    covered_before: float,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Ranked table of a selection, and for each open unit the rank that first reaches it."""
    m = reach.matrix
    first_rank = np.zeros(m.shape[1], dtype=np.int64)  # 0: not reached
    first_time = np.full(m.shape[1], np.nan)
    rows = []
    cumulative = covered_before
    for rank, i in enumerate(selection.picks, start=1):
        cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
        times = m.data[m.indptr[i] : m.indptr[i + 1]]
        new = first_rank[cols] == 0
        cols, times = cols[new], times[new]
        first_rank[cols] = rank
        first_time[cols] = times
        units = open_units[cols]
        pop = float(components["population"][units].sum())
        cumulative += pop
        cand = candidates.iloc[i]
        row = {
            "rang": rank,
            "candidate_id": cand["candidate_id"],
            "origine": cand.get("origine", ""),
            "libelle": cand.get("libelle", ""),
            "code_insee": cand.get("code_insee", ""),
            "nom": cand.get("nom", ""),
            "code_epci": cand.get("code_epci", ""),
            "nom_epci": cand.get("nom_epci", ""),
            "population_gagnee": pop,
        }
        if "qpv" in components:
            row["habitants_qpv_gagnes"] = float(components["qpv"][units].sum())
        if "men_pauv" in components:
            row["menages_pauvres_gagnes"] = float(components["men_pauv"][units].sum())
        if not weights_is_population:
            row["valeur_gagnee"] = float(objective[units].sum())
        row["unites_gagnees"] = len(units)
        row["couverture_cumulee"] = cumulative
        row["part_couverte_cumulee"] = cumulative / population if population > 0 else np.nan
        rows.append(row)
    columns = [
        "rang",
        *(c for c in CANDIDATE_COLUMNS if c != "geometry"),
        "population_gagnee",
        *(["habitants_qpv_gagnes"] if "qpv" in components else []),
        *(["menages_pauvres_gagnes"] if "men_pauv" in components else []),
        *([] if weights_is_population else ["valeur_gagnee"]),
        "unites_gagnees",
        "couverture_cumulee",
        "part_couverte_cumulee",
    ]
    return pd.DataFrame(rows, columns=columns), first_rank, first_time


def suggest_sites(
    result_or_inputs: CoverageResult | Mapping,
    categorie: str,
    mode: str,
    k: int,
    *,
    candidates: gpd.GeoDataFrame | None = None,
    weights: str | Mapping[str, float] = "population",
    method: str = "greedy",
    threshold: float | None = None,
    model=None,
    qpv: gpd.GeoDataFrame | None = None,
    reach: ReachMatrix | None = None,
    exact_max_pairs: int | None = EXACT_MAX_PAIRS,
    time_limit_s: float = 120.0,
    progress: bool = True,
) -> SiteSuggestion:
    """Choose ``k`` new sites for a category to serve the most people not yet served.

    Parameters
    ----------
    result_or_inputs : CoverageResult or mapping
        The coverage of the territory with the existing services (kept), or the inputs of
        :func:`~zonesblanches.coverage.analysis.compute_coverage` as a dict (``demand``,
        ``services``, ``thresholds``, optional ``models``).
    categorie : str
        Category code (or a label, e.g. « garage solidaire »).
    mode : str
        Travel mode; must be one of the result's modes.
    k : int
        Number of new sites (1 or more).
    candidates : geopandas.GeoDataFrame, optional
        Candidate sites (:mod:`zonesblanches.coverage.candidates`); default: one per commune of
        the demand units.
    weights : str or dict
        ``population``, ``qpv``, ``men_pauv`` or a mix ``{"population": 1, "qpv": 2}``.
    method : {"greedy", "exact", "both"}
        Greedy only (default), exact only, or both with the greedy gap.
    threshold : float, optional
        Minutes; default the result's threshold for ``mode``.
    model : TravelTimeModel, optional
        Default: the result's model for ``mode``.
    qpv : geopandas.GeoDataFrame, optional
        QPV perimeters, to count QPV residents of grid cells.
    reach : ReachMatrix, optional
        A precomputed reach over all the result's units (skips its computation).
    exact_max_pairs : int, optional
        Larger reduced instances are not solved exactly (a note says so).
    time_limit_s : float
        Time limit of the exact solver.
    progress : bool
        Progress bars.

    Returns
    -------
    SiteSuggestion
    """
    result = _as_result(result_or_inputs)
    categorie = _check_category(categorie)
    if categorie not in result.categories:
        raise ParameterError(
            f"La catégorie « {category_label(categorie)} » n'a pas été analysée dans ce "
            "résultat : relancez l'analyse avec cette catégorie."
        )
    mode = mode_code(mode)
    if mode not in result.thresholds:
        raise ParameterError(
            f"Le mode « {mode} » n'a pas été analysé dans ce résultat (modes analysés : "
            + ", ".join(result.thresholds)
            + ")."
        )
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise ParameterError(f"Nombre de sites illisible : « {k} ».") from None
    if k < 1:
        raise ParameterError(f"Le nombre de sites à proposer doit être au moins 1 (reçu {k}).")
    if method not in METHODS:
        raise ParameterError(
            f"Méthode inconnue : « {method} ». Méthodes possibles : greedy (gloutonne), "
            "exact (exacte), both (les deux)."
        )
    threshold = float(result.thresholds[mode] if threshold is None else threshold)
    if not (math.isfinite(threshold) and threshold > 0):
        raise ParameterError(f"Le seuil doit être un nombre de minutes positif (reçu {threshold}).")
    model = model or result.models[mode]
    units = result.units
    if candidates is None:
        candidates = _default_candidates(units)
    if not isinstance(candidates, gpd.GeoDataFrame) or "candidate_id" not in candidates:
        raise ParameterError(
            "Les sites candidats doivent être un GeoDataFrame avec une colonne « candidate_id » "
            "(voir zonesblanches.coverage.candidates)."
        )
    if len(candidates) == 0:
        raise DataError("Aucun site candidat : rien à proposer.")
    candidates = candidates.reset_index(drop=True)

    objective, components, label = unit_weights(units, weights, qpv=qpv, unit_kind=result.unit_kind)
    weights_is_population = label == WEIGHTS["population"]
    population = float(components["population"].sum())
    times = units[time_col(categorie, mode)].to_numpy(dtype=float)
    covered = times <= threshold
    covered_before = float(components["population"][covered].sum())
    open_units = np.flatnonzero(~covered & ((objective > 0) | (components["population"] > 0)))

    notes: list[str] = []
    if reach is None:
        r = reach_matrix(model, candidates, units.iloc[open_units], threshold, progress=progress)
    else:
        if reach.shape != (len(candidates), len(units)):
            raise ParameterError(
                "La matrice d'accessibilité fournie ne correspond pas aux candidats et aux unités."
            )
        sub = reach.matrix[:, open_units].tocsr()
        r = ReachMatrix(sp.csr_matrix(sub), threshold, reach.mode, reach.method)
    w_open = objective[open_units]

    greedy = exact = curve = None

    def run_greedy() -> Selection:
        # One run to the end of the gain curve; its first k picks are the greedy choice of k.
        nonlocal curve
        curve = greedy_max_cover(r, w_open, max(k, GAIN_CURVE_K))
        return greedy_prefix(curve, r, w_open, k)

    if method in ("greedy", "both"):
        greedy = run_greedy()
        if len(greedy.picks) < k:
            notes.append(
                (
                    f"Seulement {fr_count(len(greedy.picks), 'site apporte', 'sites apportent')} "
                    if len(greedy.picks)
                    else "Aucun site n'apporte "
                )
                + f"des {label} supplémentaires : "
                "les autres candidats ne touchent personne de plus."
            )
    if method in ("exact", "both"):
        try:
            exact = exact_max_cover(
                r,
                w_open,
                k,
                time_limit_s=time_limit_s,
                warm_start=greedy.picks if greedy is not None else None,
                max_pairs=exact_max_pairs,
            )
        except ParameterError as err:
            notes.append(f"{err} Résultat glouton seul.")
            if greedy is None:
                greedy = run_greedy()
        else:
            if exact.status != "optimal":
                notes.append(
                    f"Résolution exacte arrêtée avant la preuve d'optimalité (statut CBC : "
                    f"{exact.status}, limite {_fr_num(time_limit_s, 0)} s) : sa valeur est la "
                    "meilleure trouvée, pas forcément l'optimum."
                )
    gap = None
    if greedy is not None and exact is not None and exact.status == "optimal":
        gap = 0.0 if exact.value <= 0 else max(0.0, (exact.value - greedy.value) / exact.value)

    def table_of(sel: Selection):
        return _selection_table(
            sel,
            candidates,
            r,
            open_units,
            components,
            objective,
            weights_is_population,
            population,
            covered_before,
        )

    tables = {sel.method: table_of(sel) for sel in (greedy, exact) if sel is not None}
    gain_table = None
    if curve is not None:
        gain_table = table_of(curve)[0]
        if exact is not None and set(exact.picks) != set(greedy.picks):
            notes.append(
                "La courbe de gain suit la sélection gloutonne (un site après l'autre) ; "
                "les sites du tableau sont l'optimum exact, qui en diffère."
            )
    elif method == "exact":
        notes.append(
            "Pas de courbe de gain avec la méthode exacte : les meilleurs emplacements pour k "
            "sites ne contiennent pas toujours ceux pour k − 1 (méthode « les-deux » : courbe "
            "gloutonne et optimum exact)."
        )
    main = "exact" if exact is not None and exact.status == "optimal" else "greedy"
    if main not in tables:
        main = "exact"
    table, first_rank, first_time = tables[main]
    ranks = first_rank

    sites = gpd.GeoDataFrame(
        table.copy(),
        geometry=candidates.geometry.iloc[
            [int(i) for i in (exact if main == "exact" else greedy).picks]
        ].to_numpy(),
        crs=candidates.crs,
    )
    reached = np.flatnonzero(ranks > 0)
    keys = [c for c in ("unit_id", "code_insee", "nom", "code_epci", "population") if c in units]
    catch = units.iloc[open_units[reached]][[*keys, units.geometry.name]].copy()
    pick_ids = table.set_index("rang")["candidate_id"]
    catch.insert(0, "rang", ranks[reached])
    catch.insert(1, "candidate_id", pick_ids.reindex(ranks[reached]).to_numpy())
    catch["temps_min"] = first_time[reached]
    catch = gpd.GeoDataFrame(
        catch.sort_values(["rang", "population"], ascending=[True, False]).reset_index(drop=True),
        geometry=units.geometry.name,
        crs=units.crs,
    )

    if "qpv" not in components:
        notes.append(
            "Habitants des QPV non comptés : il faut le carroyage INSEE et les périmètres des "
            "QPV (avec un point par commune, on ne sait pas où vivent les habitants des "
            "quartiers)."
            if result.unit_kind == "commune"
            else "Habitants des QPV non comptés : passez les périmètres des QPV (--qpv FICHIER) "
            "pour les compter."
        )
    if result.unit_kind == "commune":
        notes.append(
            "Population rattachée au point intérieur de chaque commune : une commune entière "
            "est gagnée ou non."
        )
    model_desc = getattr(model, "description", "")
    if model_desc:
        notes.append(model_desc)
    solver = {
        "greedy": "sélection gloutonne (évaluation paresseuse)",
        "exact": "programme linéaire en nombres entiers (CBC)",
    }
    described = " et ".join(solver[s.method] for s in (greedy, exact) if s is not None)
    return SiteSuggestion(
        table=table,
        sites=sites,
        catchments=catch,
        categorie=categorie,
        mode=mode,
        threshold=threshold,
        k=k,
        weights_label=label,
        population=population,
        covered_before=covered_before,
        n_candidates=len(candidates),
        greedy=greedy,
        exact=exact,
        gap=gap,
        territory=result.territory,
        method_description=described,
        exact_table=tables["exact"][0] if "exact" in tables else None,
        greedy_table=tables["greedy"][0] if "greedy" in tables else None,
        gain_table=gain_table,
        notes=list(dict.fromkeys(notes)),
        coverage=result,
    )


__all__ = [
    "GAIN_CURVE_K",
    "METHODS",
    "SiteSuggestion",
    "suggest_sites",
]
