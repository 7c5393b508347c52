"""What the report says first: the answer for the principal indicator, how it moves with the
threshold, how far the data can be trusted, and why some figures are identical.

These are small read-outs of a :class:`~zonesblanches.coverage.analysis.CoverageResult`
(sums and sorts of its columns), shaped for the report's tables; no travel time is computed
here. Times are said as a planner reads them (:func:`zonesblanches.maps.style.time_text`:
« plus de 60 min » beyond the cap).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import fr_count, fr_int, fr_num, fr_pct
from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.coverage.analysis import CoverageResult, category_remark
from zonesblanches.coverage.traveltime import STRAIGHT_LINE
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps import style
from zonesblanches.modes import ALL_MODES, TRANSIT_MODE

SENSITIVITY_DELTAS: tuple[float, ...] = (-5.0, 0.0, 5.0, 10.0)
"""Threshold shifts (minutes) of the sensitivity table: the answer at threshold − 5 … + 10."""


def indicator_label(categorie: str, mode: str) -> str:
    """« Garage solidaire, en voiture »."""
    return f"{category_label(categorie)}, {ALL_MODES[mode].label}"


def specs(result: CoverageResult, principal: tuple[str, str] | None = None) -> list:
    """The indicators of ``result`` (category × mode), the principal one first."""
    out = [(c, m) for c in result.categories for m in result.modes]
    if principal is not None and principal in out:
        out.remove(principal)
        out.insert(0, principal)
    return out


def without_access(
    result: CoverageResult, categorie: str, mode: str, n: int | None = 10, *, legs: bool = False
) -> pd.DataFrame:
    """The ``n`` most populated units without access for one indicator.

    Columns: ``nom``, ``code_insee`` (or ``unit_id``), ``population``, ``part`` (share of the
    territory's population), ``temps_min`` (number), ``temps`` (words, capped),
    ``service_proche`` and ``commune_service`` (where the nearest service is); with ``legs``,
    ``hors_reseau`` too (:func:`off_network_legs`).
    """
    units = result.units
    blank = np.flatnonzero(units[blank_col(categorie, mode)].to_numpy(dtype=bool))
    codes = (
        units["code_insee"]
        if "code_insee" in units and result.unit_kind == "commune"
        else units["unit_id"]
    )
    # The order (population descending, unknown last, then code) is decided on the blank
    # units' two keys alone, and the other columns are read for the n rows returned only: the
    # region's report asks for 15 such lists of up to 3,559 communes (issue 17).
    population = units["population"].to_numpy(dtype=float)[blank]
    code = codes.iloc[blank].astype(str).to_numpy(dtype=object)
    order = np.lexsort((code, -population))  # stable; NaN last, by code
    if n is not None:
        order = order[:n]
    rows = blank[order]
    names = units["nom"] if "nom" in units else units["unit_id"]
    threshold = float(result.thresholds[mode])
    minutes = units[time_col(categorie, mode)].to_numpy(dtype=float)[rows]
    nearest = [str(v) for v in units[service_col(categorie, mode)].to_numpy(dtype=object)[rows]]
    services = result.services
    ids = services["service_id"].astype(str).tolist()
    service_names, service_communes = (
        dict(zip(ids, services[col].astype(str).tolist(), strict=True)) if col in services else {}
        for col in ("nom", "commune")
    )
    total = float(result.population) or np.nan
    frame = pd.DataFrame(
        {
            "nom": names.iloc[rows].astype(str).to_numpy(dtype=object),
            "code": code[order],
            "population": population[order],
            "temps_min": minutes,
            "part": population[order] / total,
            "temps": [style.time_text(t, threshold) for t in minutes],
            "service_proche": [service_names.get(i, "") for i in nearest],
            "commune_service": [service_communes.get(i, "") for i in nearest],
        }
    )
    if legs:
        frame["hors_reseau"] = off_network_legs(result, categorie, mode, rows)
    return frame


def off_network_legs(
    result: CoverageResult, categorie: str, mode: str, rows: np.ndarray
) -> list[str]:
    """For the units at positions ``rows``, what of the trip to the nearest service of
    ``categorie`` lies farther from the road network than the model's limit (walked in a
    straight line), read from the unit's ``remarque_<mode>``: « service le plus proche à
    1 073 m du réseau », « point de la commune à 1 250 m du réseau », or ``""`` (other
    remarks, a public-transport gap say, are not about the road network).

    A time that reads too long in the report's tables is explained next to it, not only in
    the CSV; the remark is what both the single and the partitioned run keep of the snapping
    (the network models are gone when the outputs are drawn).
    """
    column = f"remarque_{mode}"
    if column not in result.units:
        return [""] * len(rows)
    remarks = result.units[column].to_numpy(dtype=object)[rows]
    words = style.unit_words(result.unit_kind)
    unit_point = f"point {'de la' if words.feminine else 'du'} {words.singular}"
    notes = []
    for remark in remarks:
        flag = category_remark(remark if isinstance(remark, str) else "", categorie)
        origin = _ORIGIN_FAR.search(flag)
        service = _SERVICE_FAR.search(flag)
        parts = [f"{unit_point} à {fr_int(int(origin[1]))} m du réseau"] if origin else []
        if service:
            parts.append(f"service le plus proche à {fr_int(int(service[1]))} m du réseau")
        notes.append(", ".join(parts))
    return notes


_ORIGIN_FAR = re.compile(r"(?:^|(?<= ))À (\d+) m du réseau routier")
"""The distance in a unit's own flag (:meth:`NetworkModel.snap`)."""
_SERVICE_FAR = re.compile(r"Destination la plus proche à (\d+) m du réseau routier")
"""The distance in the flag of a unit's nearest service (:meth:`NetworkModel.nearest`)."""
_LIMIT = re.compile(r"\(plus de (\d+) m\)")
"""The model's limit, said in every one of those flags."""


def headline(result: CoverageResult, categorie: str, mode: str) -> str:
    """« 9 253 habitants (4,8 % de la population) sont à plus de 20 min en voiture du garage
    solidaire le plus proche. »"""
    row = result.summary(by=None)
    row = row[(row["categorie"] == categorie) & (row["mode"] == mode)].iloc[0]
    pop = float(row["population_zone_blanche"])
    share = pop / float(row["population"]) if row["population"] else float("nan")
    words = style.unit_words(result.unit_kind)
    threshold = fr_num(float(result.thresholds[mode]), 1, trim=True)
    if pop <= 0:
        return (
            f"Toute la population est à moins de {threshold} min {ALL_MODES[mode].label} d'un "
            f"service « {category_label(categorie)} »."
        )
    return (
        f"{fr_count(pop, 'habitant')} ({fr_pct(share)} de la population, "
        f"{words.count(row['unites_zone_blanche'])}) sont à plus de {threshold} min "
        f"{ALL_MODES[mode].label} du service « {category_label(categorie)} » le plus proche."
    )


def sensitivity(
    result: CoverageResult, deltas: Sequence[float] = SENSITIVITY_DELTAS
) -> pd.DataFrame:
    """People without access per indicator at threshold + each delta (minutes).

    Columns: ``indicateur``, ``categorie``, ``mode``, ``seuil_min``, then one column per delta
    named ``seuil{delta:+g}`` (``seuil-5``, ``seuil+0``, ``seuil+5``, ``seuil+10``): the
    population whose time exceeds the shifted threshold (unreachable units count as beyond).
    """
    pop = result.units["population"].to_numpy(dtype=float)
    rows = []
    for cat, mode in specs(result):
        times = result.units[time_col(cat, mode)].to_numpy(dtype=float)
        times = np.where(np.isnan(times), np.inf, times)
        base = float(result.thresholds[mode])
        row = {
            "indicateur": indicator_label(cat, mode),
            "categorie": cat,
            "mode": mode,
            "seuil_min": base,
        }
        for d in deltas:
            limit = max(base + float(d), 0.0)
            row[f"seuil{float(d):+g}"] = float(pop[times > limit].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def identical_groups(result: CoverageResult) -> list[tuple[list[str], str]]:
    """Categories whose times are identical in every unit and mode: ``[(categories, why)]``.

    ``why`` says whether their services stand at the same points (the usual cause: services
    located at their commune's point)."""
    cats = list(result.categories)
    groups: list[list[str]] = []
    for cat in cats:
        for group in groups:
            ref = group[0]
            if all(
                np.array_equal(
                    result.units[time_col(cat, m)].to_numpy(dtype=float),
                    result.units[time_col(ref, m)].to_numpy(dtype=float),
                    equal_nan=True,
                )
                for m in result.modes
            ):
                group.append(cat)
                break
        else:
            groups.append([cat])
    out = []
    svc = result.services
    for group in groups:
        if len(group) < 2:
            continue
        points = []
        for cat in group:
            geoms = svc.geometry[(svc["categorie"] == cat).to_numpy()]
            geoms = geoms[~geoms.isna().to_numpy()].to_numpy()
            # Coordinates read as arrays: a loop over points took 1.5 s at 100,000 services.
            xs = np.round(shapely.get_x(geoms), 6).tolist()
            ys = np.round(shapely.get_y(geoms), 6).tolist()
            points.append(set(zip(xs, ys, strict=True)))
        same = all(p == points[0] for p in points[1:])
        geocoded = (
            "precision" in svc
            and (svc[svc["categorie"].isin(group)]["precision"].astype(str) == "commune").all()
        )
        tail = " (géocodés au point de leur commune, adresse inconnue)" if geocoded else ""
        if same:
            why = "leurs services sont aux mêmes points" + tail
        else:
            # the nearest services coincide: say where they are
            nearest = set()
            names = svc.set_index(svc["service_id"].astype(str))
            for m in result.modes:
                ids = result.units[service_col(group[0], m)].dropna().astype(str)
                if "commune" in names:
                    nearest |= set(names.loc[names.index.intersection(ids), "commune"].astype(str))
            where = ", à " + ", ".join(sorted(nearest)) if 0 < len(nearest) <= 3 else ""
            why = (
                "pour chaque "
                + style.unit_words(result.unit_kind).singular
                + (f", leurs services les plus proches sont au même point{where}{tail}")
            )
        out.append((group, why))
    return out


def identical_notes(result: CoverageResult) -> list[str]:
    """French sentences explaining identical figures (empty when there are none)."""
    notes = []
    for group, why in identical_groups(result):
        labels = [category_label(c) for c in group]
        names = ", ".join(labels[:-1]) + " et " + labels[-1]
        notes.append(
            f"{names} ont des chiffres identiques : {why}. Ce n'est pas une erreur ; une "
            "adresse précise de chaque service les distinguerait."
        )
    return notes


def reliability(result: CoverageResult, example_registry: bool) -> list[str]:
    """Lines of the reliability box: data source and completeness, geocoding precision,
    straight-line or network times, example-registry warning (``example_registry``: the
    services are the bundled registry's; the caller knows, this module reads no file)."""
    svc = result.services
    lines = []
    if example_registry:
        lines.append(
            # « 5 services » alone read as the registry's size (19 on the map's headline).
            f"Services : registre d'exemple embarqué, dont {fr_count(len(svc), 'service')} "
            "pris en compte ici ; un échantillon documenté et non un recensement. Les zones blanches ci-dessous "
            "peuvent disparaître avec un inventaire complet : passez votre fichier avec "
            "--services."
        )
    else:
        lines.append(f"Services : fichier fourni, {fr_count(len(svc), 'service')} pris en compte.")
    if "precision" in svc and len(svc):
        counts = svc["precision"].astype(str).value_counts()
        at_commune = int(counts.get("commune", 0))
        if at_commune == len(svc):
            lines.append(
                "Localisation : chaque service est placé au point de sa commune (adresse "
                "inconnue) ; une commune voisine peut être plus proche en réalité."
            )
        elif at_commune:
            lines.append(
                f"Localisation : {fr_count(at_commune, 'service')} sur {len(svc)} placé"
                + ("s" if at_commune > 1 else "")
                + " au point de sa commune (adresse inconnue) ; les autres à l'adresse ou aux "
                "coordonnées fournies."
            )
        else:
            lines.append(
                "Localisation : tous les services à l'adresse ou aux coordonnées fournies."
            )
    for mode in result.modes:
        model = result.models[mode]
        method = getattr(model, "method", STRAIGHT_LINE)
        if mode == TRANSIT_MODE.code:  # timetables; only the walking legs have a method choice
            walk = getattr(getattr(model, "walk_model", None), "method", STRAIGHT_LINE)
            q = float(getattr(model, "percentile", 50.0))
            kind = (
                "horaires GTFS, "
                + ("médiane" if q == 50 else f"{q:g}e centile")
                + " des temps porte à porte sur la fenêtre horaire, attente comprise (voir la "
                "méthode) ; marche vers et depuis les arrêts "
                + ("à vol d'oiseau" if walk == STRAIGHT_LINE else "par le réseau OpenStreetMap")
            )
        elif method == STRAIGHT_LINE:
            kind = "à vol d'oiseau (distance en ligne droite × détour, vitesse constante)"
        else:
            kind = "par le réseau OpenStreetMap" + _far_from_network(result, mode)
        lines.append(f"Temps {ALL_MODES[mode].label} : {kind}.")
    words = style.unit_words(result.unit_kind)
    if result.unit_kind == "commune":
        lines.append(
            "Population : un point par commune ; une commune entière est soit couverte, soit "
            "en zone blanche (l'option --carreaux donne la population à 200 m)."
        )
    else:
        lines.append(
            f"Population : {words.count(len(result.units))} habité{'s' if len(result.units) > 1 else ''}."
        )
    return lines


def _far_from_network(result: CoverageResult, mode: str) -> str:
    """« ; 488 communes sur 3 782 dont le point ou le service le plus proche est à plus de
    1 000 m du réseau… »: how many units have an off-network leg beyond the model's limit
    (walked in a straight line) in their ``remarque`` of a road-network mode, or ``""``."""
    column = f"remarque_{mode}"
    if column not in result.units:
        return ""
    remarks = result.units[column].fillna("").astype(str)
    flagged = remarks[remarks.str.contains(" m du réseau routier (plus de ", regex=False)]
    if not len(flagged):
        return ""
    n = len(flagged)
    limit = _LIMIT.search(flagged.iloc[0])
    beyond = f"à plus de {fr_int(int(limit[1]))} m du réseau" if limit else "loin du réseau"
    words = style.unit_words(result.unit_kind)
    return (
        f" ; {fr_int(n)} {words.singular if n < 2 else words.plural} sur "
        f"{fr_int(len(result.units))} dont le point ou le service le plus proche est {beyond}, "
        f"bout de trajet compté en ligne droite (⚠ ; colonne remarque_{mode} de communes.csv)"
    )


QUASI_CONTINUOUS_SHARE = 0.8
"""A zone holding at least this share of the people without access makes the zones blanches
« quasi continue »: one blob, not a list of places."""


def zones_note(zones: pd.DataFrame, unit_kind: str = "commune") -> tuple[bool, str | None]:
    """Whether contiguous zones inform, and what to say instead when they do not.

    Returns ``(list_them, note)``. Zones are listed at grid-cell level, or when no single zone
    holds :data:`QUASI_CONTINUOUS_SHARE` of the uncovered population; otherwise the note says
    « zone blanche quasi continue » with its share and size (a zone of 4.8 million people over
    29,000 km² is no place to act on).
    """
    if zones is None or not len(zones) or "population" not in zones:
        return False, None
    pop = zones["population"].to_numpy(dtype=float)
    total = float(pop.sum())
    if unit_kind != "commune" or total <= 0:
        return True, None
    largest = int(np.argmax(pop))
    share = pop[largest] / total
    if share < QUASI_CONTINUOUS_SHARE:
        return True, None
    words = style.unit_words(unit_kind)
    n = zones["n_unites"].iloc[largest] if "n_unites" in zones else None
    size = f", {words.count(n)}" if n is not None else ""
    return False, (
        f"Zone blanche quasi continue : d'un seul tenant, elle regroupe {fr_pct(share)} des "
        f"habitants sans accès ({fr_count(pop[largest], 'habitant')}{size}) ; elle n'est pas "
        "découpée en zones."
    )
