"""Coverage: time from every inhabitant's unit to the nearest service, and zones blanches.

A *demand unit* is a point carrying a population: for now one interior point per commune; the
gridded population (200 m cells) plugs in the same way. For each category of service and each
mode, the analysis asks the mode's travel-time model for the time to the nearest service, and
flags the units beyond the mode's threshold: the zones blanches.

Column names of the result are the contract with maps and exports:
``temps_{categorie}_{mode}`` (minutes, ``inf`` when unreachable), ``service_{categorie}_{mode}``
(``service_id`` of the nearest service) and ``zone_blanche_{categorie}_{mode}`` (bool).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.coverage.traveltime import StraightLineModel, TravelTimeModel
from zonesblanches.errors import ParameterError, unknown_values
from zonesblanches.geodata.categories import CATEGORIES, category_label
from zonesblanches.modes import MODES, mode_code


@dataclass
class CoverageResult:
    """Everything an analysis produced, ready for tables, maps and notebooks.

    Attributes
    ----------
    units : geopandas.GeoDataFrame
        Demand units (EPSG:4326) with their population and, per category × mode, the time,
        nearest service and zone-blanche flag (see the module docstring for column names).
    services : geopandas.GeoDataFrame
        The services the times were computed to.
    thresholds : dict
        Mode code → threshold in minutes.
    categories : list of str
        Category codes analysed.
    models : dict
        Mode code → the travel-time model used.
    territory : str
        French label of the territory.
    unit_kind : str
        ``commune`` (one point per commune) or ``carreau`` (grid cells).
    notes : list of str
        French notes that every output must repeat (method, fallbacks, data caveats).
    margin_km : float or None
        Services were taken in the territory plus this margin (km); ``None``: no margin applied
        (every service given was used).
    services_caveat : str
        French caveat to show *next to the headline figures* (CLI summary, report key-figure
        card, map subtitle), e.g. « Registre d'exemple : 19 services, non exhaustif — … » when
        the analysis runs on the bundled example registry; empty otherwise.
    market : geopandas.GeoDataFrame or None
        The market offer (INSEE BPE driving schools and garages) used as context, a grey layer
        for maps; never counted as services.
    services_outside : geopandas.GeoDataFrame or None
        The services used that lie outside the territory (in the margin), with
        ``distance_territoire_km``, ``unites_servies`` and ``population_servie``
        (:func:`zonesblanches.coverage.margin.outside_services`); ``None``: no margin applied.
    border_countries : list of str
        ISO codes of the neighbouring countries whose land border the territory plus its margin
        reaches (their services are in no French inventory), e.g. ``["BE"]``.
    """

    units: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    thresholds: dict[str, float]
    categories: list[str]
    models: dict[str, TravelTimeModel]
    territory: str = ""
    unit_kind: str = "commune"
    notes: list[str] = field(default_factory=list)
    margin_km: float | None = None
    services_caveat: str = ""
    market: gpd.GeoDataFrame | None = None
    services_outside: gpd.GeoDataFrame | None = None
    border_countries: list[str] = field(default_factory=list)
    _memo: ClassVar[dict | None] = None
    """Tables kept within :meth:`reused_tables`: an instance attribute only inside the block
    (not a field: ``CoverageResult(**result.__dict__)`` keeps working)."""

    @contextmanager
    def reused_tables(self) -> Iterator[CoverageResult]:
        """Within this block, :meth:`long` and :meth:`summary` are computed once per argument
        and each call gets a copy: the writers of the outputs ask for them tens of times (the
        report of the region: 23 summaries, about a second; issue 16 item 9, issue 17).
        Nothing may change the result inside the block; blocks may nest."""
        outer = self._memo
        if outer is None:
            self._memo = {}
        try:
            yield self
        finally:
            if outer is None:
                del self._memo  # back to the class's None

    def reuse(self, key: tuple, build) -> pd.DataFrame:
        """``build()``, or within :meth:`reused_tables` a copy of the table built the first
        time for ``key`` (a table derived from this result alone)."""
        memo = self._memo
        if memo is None:
            return build()
        if key not in memo:
            memo[key] = build()
        return memo[key].copy()

    @property
    def modes(self) -> list[str]:
        """Mode codes analysed, in the order given."""
        return list(self.thresholds)

    @property
    def population(self) -> float:
        """Total population of the demand units."""
        return float(self.units["population"].sum())

    def specs(self) -> pd.DataFrame:
        """One row per category × mode: threshold, method and its French description."""
        rows = []
        for cat in self.categories:
            for mode in self.modes:
                model = self.models[mode]
                rows.append(
                    {
                        "categorie": cat,
                        "libelle": category_label(cat),
                        "mode": mode,
                        "seuil_min": self.thresholds[mode],
                        "methode": model.method,
                        "description": model.description,
                    }
                )
        return pd.DataFrame(rows)

    def long(self) -> pd.DataFrame:
        """The result in long form: one row per unit × category × mode."""
        return self.reuse(("long",), self._long)

    def _long(self) -> pd.DataFrame:
        keys = [
            c
            for c in ("unit_id", "code_insee", "nom", "code_epci", "population")
            if c in self.units
        ]
        # One frame built by repetition, not one frame per indicator then a concat: the report
        # asks for it about twenty times (0.12 s each on an EPCI with ten indicators).
        specs = [(cat, mode) for cat in self.categories for mode in self.modes]
        n = len(self.units)
        base = pd.DataFrame(self.units[keys]).reset_index(drop=True)
        out = base.iloc[np.tile(np.arange(n), len(specs))].reset_index(drop=True)
        out["categorie"] = np.repeat([c for c, _ in specs], n).astype(object)
        out["mode"] = np.repeat([m for _, m in specs], n).astype(object)
        out["seuil_min"] = np.repeat([self.thresholds[m] for _, m in specs], n)
        for name, col in (("temps_min", time_col), ("service_id", service_col)):
            out[name] = pd.concat(
                [self.units[col(c, m)] for c, m in specs], ignore_index=True
            ).to_numpy()
        out["zone_blanche"] = pd.concat(
            [self.units[blank_col(c, m)] for c, m in specs], ignore_index=True
        ).to_numpy()
        return out

    def summary(self, by: str | None = "code_epci") -> pd.DataFrame:
        """Coverage figures per group (default: per EPCI) × category × mode.

        Columns: the group keys, ``categorie``, ``mode``, ``seuil_min``, ``population``,
        ``population_couverte``, ``part_couverte`` (0-1), ``temps_median_min`` (population-
        weighted median, as :func:`weighted_median`), ``population_zone_blanche``,
        ``unites_zone_blanche``. ``by=None`` gives one row per category × mode for the whole
        territory. ``by`` may be any column of :attr:`units` (``code_departement``…). Rows
        whose group key is missing are left out.
        """
        return self.reuse(("summary", by), lambda: self._summary(by))

    def _summary(self, by: str | None) -> pd.DataFrame:
        data = self.long()
        if by is None:
            data["_tout"] = self.territory or "territoire"
            keys = ["_tout"]
        else:
            keys = [by]
            if by not in data and by in self.units:  # another unit column (département…)
                data[by] = np.tile(
                    self.units[by].to_numpy(), len(self.categories) * len(self.modes)
                )
            if by == "code_epci" and "nom_epci" in self.units:
                data["nom_epci"] = np.tile(
                    self.units["nom_epci"].to_numpy(), len(self.categories) * len(self.modes)
                )
                keys = ["code_epci", "nom_epci"]
        # Vectorised over groups (the region by commune has ~57k groups): group numbers in
        # sorted key order, then sums by bincount and medians on one sorted array.
        grouped = data.groupby([*keys, "categorie", "mode"], sort=True)
        group = grouped.ngroup().to_numpy(dtype=float, na_value=np.nan)
        out = grouped.size().index.to_frame(index=False)
        n = len(out)
        rows = ~np.isnan(group)  # a missing key leaves its row out, as groupby does
        group = group[rows].astype(np.intp)
        pop = data["population"].to_numpy(dtype=float)[rows]
        blank = data["zone_blanche"].to_numpy(dtype=bool)[rows]
        first = np.full(n, -1)
        first[group[::-1]] = np.arange(len(group))[::-1]
        total = np.bincount(group, weights=pop, minlength=n)
        covered = np.bincount(group, weights=np.where(blank, 0.0, pop), minlength=n)
        out["seuil_min"] = data["seuil_min"].to_numpy(dtype=float)[rows][first]
        out["population"] = total
        out["population_couverte"] = covered
        with np.errstate(divide="ignore", invalid="ignore"):
            out["part_couverte"] = np.where(total > 0, covered / total, np.nan)
        out["temps_median_min"] = grouped_weighted_median(
            data["temps_min"].to_numpy(dtype=float)[rows], pop, group, n
        )
        out["population_zone_blanche"] = np.bincount(
            group, weights=np.where(blank, pop, 0.0), minlength=n
        )
        out["unites_zone_blanche"] = np.bincount(group[blank], minlength=n).astype(np.int64)
        # Keep the order the user asked for (categories, then modes), not alphabetical order.
        out["_c"] = out["categorie"].map({c: i for i, c in enumerate(self.categories)})
        out["_m"] = out["mode"].map({m: i for i, m in enumerate(self.modes)})
        out = out.sort_values([*keys, "_c", "_m"], kind="stable").drop(columns=["_c", "_m"])
        out = out.reset_index(drop=True)
        if by is None:
            out = out.rename(columns={"_tout": "territoire"})
        return out

    def uncovered(self, categorie: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """Zone-blanche units sorted by population (largest first)."""
        data = self.long()
        data = data[data["zone_blanche"]]
        if categorie is not None:
            data = data[data["categorie"] == categorie]
        if mode is not None:
            data = data[data["mode"] == mode_code(mode, allow_transit=True)]
        return data.sort_values(
            ["population", "temps_min"], ascending=[False, False], kind="stable"
        ).reset_index(drop=True)

    def _repr_html_(self) -> str:  # notebook display
        table = self.summary(by=None)[
            ["categorie", "mode", "seuil_min", "part_couverte", "population_zone_blanche"]
        ]
        notes = "".join(f"<li>{_escape(n)}</li>" for n in self.notes)
        return (
            f"<b>Diagnostic — {_escape(self.territory)}</b> : {len(self.units)} unités, "
            f"{self.population:,.0f} habitants".replace(",", "\u202f")
            + f"<ul>{notes}</ul>"
            + table.to_html(index=False)
        )

    def __repr__(self) -> str:
        return (
            f"CoverageResult(territory={self.territory!r}, units={len(self.units)}, "
            f"categories={self.categories}, thresholds={self.thresholds})"
        )


def reusing_tables(func):
    """Decorate a function whose first argument is a :class:`CoverageResult`: it runs within
    :meth:`CoverageResult.reused_tables` (the output writers)."""

    @functools.wraps(func)
    def wrapper(result, *args, **kwargs):
        with result.reused_tables():
            return func(result, *args, **kwargs)

    return wrapper


def _escape(text: str) -> str:
    import html

    return html.escape(str(text))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` weighted by ``weights`` (lower weighted median; ``nan`` if no weight).

    ``inf`` values (unreachable) count: if more than half the weight is unreachable, the median
    is ``inf``.
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    if not keep.any():
        return float("nan")
    values, weights = values[keep], weights[keep]
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _grouped_cumsum(weights: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cumulative sums restarted at each group (contiguous rows), added left to right.

    Bit for bit the ``np.cumsum`` of each group (a global running total minus the group's
    offset is not, and pandas' grouped cumsum compensates its sums). All groups advance together
    one row per step while more than 64 are still running; the few longest get their own
    ``np.cumsum``. Steps are therefore fewer than ``len(weights) / 64``.
    """
    cum = weights.copy()
    order = np.argsort(-sizes, kind="stable")
    starts, sizes = starts[order], sizes[order]
    k, active = 1, int(np.count_nonzero(sizes > 1))
    while active > 64:
        pos = starts[:active] + k
        cum[pos] += cum[pos - 1]
        k += 1
        active = int(np.searchsorted(-sizes, -k, side="left"))  # sizes decrease: a prefix
    for start, size in zip(starts[:active], sizes[:active], strict=True):
        np.cumsum(weights[start : start + size], out=cum[start : start + size])
    return cum


def grouped_weighted_median(
    values: np.ndarray, weights: np.ndarray, group: np.ndarray, n_groups: int
) -> np.ndarray:
    """:func:`weighted_median` of each group, for all groups at once.

    ``group`` holds each row's group number (0 to ``n_groups - 1``). Same definition, same
    float operations: rows without a positive weight are left out, each group is sorted by
    value (ties in row order), and the median is the first value whose cumulative weight
    reaches half the group's weight; ``nan`` for a group without weight.
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    values, weights, group = values[keep], weights[keep], np.asarray(group)[keep]
    out = np.full(n_groups, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, group))  # stable: ties keep their row order
    values, weights, group = values[order], weights[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, len(group)])
    cum = _grouped_cumsum(weights, starts, sizes)
    half = np.repeat(cum[starts + sizes - 1] / 2.0, sizes)
    reached = np.flatnonzero(cum >= half)
    firsts = reached[np.r_[True, group[reached][1:] != group[reached][:-1]]]
    out[group[firsts]] = values[firsts]
    return out


def _check_thresholds(thresholds: Mapping[str, float]) -> dict[str, float]:
    if not thresholds:
        raise ParameterError("Indiquez au moins un mode de déplacement et son seuil (minutes).")
    out: dict[str, float] = {}
    for mode, minutes in thresholds.items():
        try:
            value = float(minutes)
        except (TypeError, ValueError):
            raise ParameterError(f"Seuil invalide pour {mode} : « {minutes} » (minutes).") from None
        if not np.isfinite(value) or value <= 0:
            raise ParameterError(
                f"Le seuil doit être un nombre de minutes positif (reçu {minutes} pour {mode})."
            )
        out[mode_code(mode, allow_transit=True)] = value
    return out


def _merged_flags(flags_by_cat: Sequence[np.ndarray], categories: Sequence[str]) -> np.ndarray:
    """One remark per unit from the flags of each category's nearest-service query.

    A flag the same for every category (the unit's own point far from the network, or
    nothing) is kept as it is; where the categories differ (the nearest service of one category
    is far from the network, say), each distinct flag is kept, after the categories it concerns:
    « Garage solidaire : Destination la plus proche à 1073 m du réseau routier… ». Keeping only
    one category's flags lost the others' (a remark missing for the time it explained).
    """
    first = np.asarray(flags_by_cat[0], dtype=object)
    out = first.copy()
    differ = np.zeros(len(first), dtype=bool)
    for flags in flags_by_cat[1:]:
        differ |= np.asarray(flags, dtype=object) != first
    labels = [category_label(c) for c in categories]
    for j in np.flatnonzero(differ):
        by_flag: dict[str, list[str]] = {}
        for label, flags in zip(labels, flags_by_cat, strict=True):
            if flags[j]:
                by_flag.setdefault(str(flags[j]), []).append(label)
        out[j] = " ".join(f"{', '.join(cats)} : {flag}" for flag, cats in by_flag.items())
    return out


_LABELS = "|".join(re.escape(CATEGORIES[c].label) for c in CATEGORIES)
_CATEGORY_HEAD = re.compile(rf"(?:^|(?<= ))((?:{_LABELS})(?:, (?:{_LABELS}))*) : ")
"""The head « Garage solidaire, Atelier vélo : » of a flag in a remark of :func:`_merged_flags`."""


def category_remark(remark: str, categorie: str) -> str:
    """The part of a ``remarque_<mode>`` cell (:func:`_merged_flags`) that concerns one
    category: the whole remark when it is common to every category, the flag after the
    category's name otherwise, ``""`` when nothing concerns it."""
    remark = str(remark or "")
    heads = list(_CATEGORY_HEAD.finditer(remark))
    if not heads:
        return remark
    label = category_label(categorie)
    for k, head in enumerate(heads):
        if label in head.group(1).split(", "):
            end = heads[k + 1].start() if k + 1 < len(heads) else len(remark)
            return remark[head.end() : end].strip()
    return ""


def compute_coverage(
    demand: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    thresholds: Mapping[str, float],
    *,
    categories: Sequence[str] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    territory: str = "",
    unit_kind: str = "commune",
) -> CoverageResult:
    """Time from each demand unit to the nearest service of each category, by mode.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Points with a ``population`` column (e.g. :func:`commune_demand`).
    services : geopandas.GeoDataFrame
        Points with ``service_id`` and ``categorie`` columns. Services outside the territory
        count: people cross boundaries.
    thresholds : mapping
        Mode → threshold in minutes, e.g. ``{"voiture": 20, "marche": 30}``.
    categories : sequence of str, optional
        Category codes; default: every category present in ``services``.
    models : mapping, optional
        Mode → travel-time model; default :class:`StraightLineModel` for each mode.
    territory : str
        French label of the territory, carried into outputs.
    unit_kind : str
        ``commune`` or ``carreau``.

    Returns
    -------
    CoverageResult
    """
    thresholds = _check_thresholds(thresholds)
    if "population" not in demand:
        raise ParameterError("Les unités de demande doivent avoir une colonne « population ».")
    if len(demand) == 0:
        raise ParameterError("Aucune unité de demande (commune ou carreau) dans le territoire.")
    for col in ("service_id", "categorie"):
        if col not in services:
            raise ParameterError(f"La table des services doit avoir une colonne « {col} ».")
    if categories is None:
        present = set(services["categorie"])
        categories = [c for c in CATEGORIES if c in present]
    else:
        categories = list(dict.fromkeys(categories))
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise unknown_values("Catégorie inconnue", unknown, "Catégories possibles", CATEGORIES)
    if not categories:
        raise ParameterError("Aucune catégorie de service à analyser.")
    models = {m: (models or {}).get(m) or StraightLineModel(m) for m in thresholds}

    units = demand.copy()
    units["population"] = units["population"].astype(float)
    origins = units.geometry
    notes: list[str] = []
    new_cols: dict[str, object] = {}
    # Each category's points and ids, taken once for every mode (not the whole table: 100,000
    # services × every column × every mode was seconds of copying).
    all_ids = services["service_id"].to_numpy(dtype=object)
    in_category = {cat: (services["categorie"] == cat).to_numpy(dtype=bool) for cat in categories}
    points = {cat: services.geometry[mask] for cat, mask in in_category.items()}
    for mode, threshold in thresholds.items():
        model = models[mode]
        flags_by_cat: list[np.ndarray] = []
        for cat in categories:
            res = model.nearest(origins, points[cat])
            flags_by_cat.append(res.flags)
            ids = all_ids[in_category[cat]]
            nearest = np.where(
                res.nearest >= 0, ids[np.clip(res.nearest, 0, None)] if len(ids) else "", ""
            )
            new_cols[time_col(cat, mode)] = res.minutes
            new_cols[service_col(cat, mode)] = nearest
            new_cols[blank_col(cat, mode)] = ~(res.minutes <= threshold)
            if len(ids) == 0:
                notes.append(
                    f"Aucun service « {category_label(cat)} » : toute la population "
                    "est en zone blanche pour cette catégorie."
                )
        flags = _merged_flags(flags_by_cat, categories) if len(categories) else None
        if flags is not None and any(flags):
            new_cols[f"remarque_{mode}"] = flags
        notes.append(model.description)
    units = pd.concat([units, pd.DataFrame(new_cols, index=units.index)], axis=1)
    units = gpd.GeoDataFrame(units, geometry=demand.geometry.name, crs=demand.crs)
    if "precision" in services and (services["precision"] == "commune").any():
        n = int((services["precision"] == "commune").sum())
        one = n < 2
        notes.append(
            f"{n} service{'' if one else 's'} géocodé{'' if one else 's'} à la commune "
            f"(adresse inconnue) : placé{'' if one else 's'} au point intérieur de "
            f"{'sa' if one else 'leur'} commune."
        )
    if unit_kind == "commune":
        notes.append(
            "Population rattachée à un point par commune (point intérieur de la "
            "commune) : une commune entière est soit couverte, soit en zone blanche."
        )
    elif unit_kind == "carreau":
        notes.append(
            "Population par carreau INSEE Filosofi (ménages fiscaux) : temps mesuré depuis le "
            "centre de chaque carreau habité."
        )
    return CoverageResult(
        units,
        services,
        thresholds,
        list(categories),
        dict(models),
        territory,
        unit_kind,
        list(dict.fromkeys(notes)),
    )


def commune_demand(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Demand units from communes: one interior point per commune carrying its population.

    Keeps ``code_insee``, ``nom``, ``code_departement``, ``code_epci``, ``nom_epci`` and
    ``population``; ``unit_id`` is the commune code.
    """
    from zonesblanches.geodata.reference import commune_points

    points = commune_points(communes)
    keep = [
        c
        for c in ("code_insee", "nom", "code_departement", "code_epci", "nom_epci", "population")
        if c in points
    ]
    out = points[[*keep, "geometry"]].copy()
    out.insert(0, "unit_id", out["code_insee"])
    return out.reset_index(drop=True)


__all__ = [
    "MODES",
    "CoverageResult",
    "blank_col",
    "category_remark",
    "commune_demand",
    "compute_coverage",
    "service_col",
    "time_col",
    "weighted_median",
]
