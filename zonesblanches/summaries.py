"""French summaries of results, as the command line prints them.

Every sentence a planner reads about a suggestion or a scenario is written here, from the result
objects of :mod:`zonesblanches.coverage` (which compute, and say nothing in prose), with the one
set of French number formatters of :mod:`zonesblanches._text`. The map helpers borrowed here are
imported where used: :mod:`zonesblanches.maps` brings folium, which the command does not hold
while it reads a region's networks (issue 17: memory).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from zonesblanches._text import fr_count, fr_num, fr_plural
from zonesblanches._text import fr_int as _fr_int
from zonesblanches._text import fr_pct as _fr_pct
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.coverage.scenarios import GAIN, LOSS, ScenarioResult
from zonesblanches.coverage.sites import SiteSuggestion
from zonesblanches.geodata.categories import category_label
from zonesblanches.modes import ALL_MODES


def _fr_num(value: float, digits: int = 1) -> str:
    return fr_num(value, digits, trim=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_suggestion(s: SiteSuggestion) -> str:
    """French text report of a suggestion, as ``zonesblanches suggerer`` prints it."""
    label = category_label(s.categorie)
    where = f" — {s.territory}" if s.territory else ""
    lines = [
        f"Où installer {s.k} {fr_plural(s.k, 'nouveau', 'nouveaux')} "
        f"{fr_plural(s.k, 'site')} « {label} » ({ALL_MODES[s.mode].label}, "
        f"{_fr_num(s.threshold)} min){where}",
        f"Aujourd'hui : {_fr_int(s.covered_before)} habitants sur {_fr_int(s.population)} à "
        f"moins de {_fr_num(s.threshold)} min d'un service existant"
        + (f" ({_fr_pct(s.covered_before / s.population)})." if s.population > 0 else "."),
        f"Objectif : {s.weights_label} gagnés. {_fr_int(s.n_candidates)} sites candidats ; "
        "méthode : "
        f"{s.method_description}.",
    ]
    if s.exact is not None and s.main is s.exact:
        lines.append(
            "Sites du tableau : la solution exacte, classée par gain marginal décroissant."
        )
    lines.append("")
    t = s.table
    if len(t) == 0:
        lines.append("Aucun site candidat n'apporte d'habitants supplémentaires.")
    else:
        qpv = "habitants_qpv_gagnes" in t
        rows = [
            [
                "rang",
                "site",
                "commune (EPCI)",
                "gagnés",
                *(["dont QPV"] if qpv else []),
                "couverts après",
                "part",
            ]
        ]
        for row in t.itertuples(index=False):
            rows.append(
                [
                    str(row.rang),
                    _cut(f"{row.libelle} [{row.candidate_id}]", 64),
                    _cut(f"{row.nom} ({row.nom_epci or row.code_epci})", 44),
                    _fr_int(row.population_gagnee),
                    *([_fr_int(row.habitants_qpv_gagnes)] if qpv else []),
                    _fr_int(row.couverture_cumulee),
                    _fr_pct(row.part_couverte_cumulee),
                ]
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        left = {1, 2}
        for r in rows:
            cells = [
                v.ljust(widths[c]) if c in left else v.rjust(widths[c]) for c, v in enumerate(r)
            ]
            lines.append("  ".join(cells).rstrip())
    lines.append("")
    if s.greedy is not None:
        lines.append(s.bound_text())
    if s.exact is not None:
        if s.exact.status == "optimal":
            text = (
                f"Solution exacte (CBC, {_fr_num(s.exact.seconds, 2)} s) : "
                f"{_fr_int(s.exact.value)} {s.weights_label} gagnés."
            )
            if s.gap is not None and s.greedy is not None:
                text += (
                    f" Sélection gloutonne : {_fr_int(s.greedy.value)}, écart à l'optimum "
                    f"{_fr_pct(s.gap)}."
                )
            lines.append(text)
        else:
            lines.append(
                f"Solution exacte non prouvée (statut {s.exact.status}) : "
                f"{_fr_int(s.exact.value)} {s.weights_label} gagnés."
            )
    lines += [f"Note : {n}" for n in s.notes]
    return "\n".join(lines).rstrip() + "\n"


def _fr_signed(value: float) -> str:
    return ("+" if value > 0 else "−" if value < 0 else "") + _fr_int(abs(value))


def _place(name: str, code: str) -> str:
    return f"{name} ({code})" if name and code else name or code or "coordonnées données"


def format_scenario(res: ScenarioResult, *, top: int = 10) -> str:
    """French text report of a scenario, as ``zonesblanches scenario`` prints it."""
    where = f" — {res.before.territory}" if res.before.territory else ""
    lines = [f"Scénario{where}", "Changements :"]
    for c in res.changes.itertuples(index=False):
        label = f"{c.nom} ({c.service_id})" if c.nom else c.service_id
        if c.action == "deplacement":
            lines.append(
                f"  • déplacement : {label}, {_place(c.commune_avant, c.code_insee_avant)} → "
                f"{_place(c.commune_apres, c.code_insee_apres)}"
            )
        elif c.action == "retrait":
            lines.append(f"  • retrait : {label}, {_place(c.commune_avant, c.code_insee_avant)}")
        else:
            lines.append(f"  • ajout : {label}, {_place(c.commune_apres, c.code_insee_apres)}")
    total = res.summary(by=None)
    for cat in res.categories:
        lines += ["", f"Effet sur l'accès à « {category_label(cat)} » :"]
        for row in total[total["categorie"] == cat].itertuples(index=False):
            lines.append(
                f"  {ALL_MODES[row.mode].label}, {_fr_num(row.seuil_min)} min : "
                f"{_fr_int(row.population_couverte_avant)} → "
                f"{_fr_int(row.population_couverte_apres)} habitants à portée "
                f"({_fr_signed(row.variation)}) ; gagnent l'accès : "
                f"{_fr_int(row.population_gagnante)} hab. "
                f"({fr_count(row.unites_gagnantes, 'unité')}), "
                f"le perdent : {_fr_int(row.population_perdante)} hab. "
                f"({fr_count(row.unites_perdantes, 'unité')})"
            )
            for what, title in ((GAIN, "gagnent"), (LOSS, "perdent")):
                sel = res._select(what, cat, row.mode)
                if len(sel):
                    names = ", ".join(
                        f"{r.nom} ({_fr_int(r.population)})" if "nom" in sel else str(r.unit_id)
                        for r in sel.head(top).itertuples(index=False)
                    )
                    more = f" et {fr_count(len(sel) - top, 'autre')}" if len(sel) > top else ""
                    lines.append(f"    {title} : {names}{more}")
    epci = res.by_epci()
    if len(epci) and "code_epci" in epci:
        changed = epci[(epci["population_gagnante"] > 0) | (epci["population_perdante"] > 0)]
        if len(changed):
            lines += ["", "EPCI concernés :"]
            for r in changed.itertuples(index=False):
                name = getattr(r, "nom_epci", "") or r.code_epci
                lines.append(
                    f"  {name} — {category_label(r.categorie)}, {ALL_MODES[r.mode].label} : "
                    f"{_fr_signed(r.variation)} hab. (gagnent {_fr_int(r.population_gagnante)}, "
                    f"perdent {_fr_int(r.population_perdante)})"
                )
    lines += [""] + [f"Note : {n}" for n in res.notes]
    return "\n".join(lines).rstrip() + "\n"


def format_results(result: CoverageResult, principal: tuple[str, str] | None = None) -> str:
    """The headline figures of an analysis: per category and mode, the share covered, the
    people in zones blanches and the median time, then the most populated uncovered units of
    the principal indicator (default: the first category and mode). Times beyond the cap are
    said in words (« plus de 60 min »), as on the map and in the report."""
    from zonesblanches.maps.findings import indicator_label
    from zonesblanches.maps.style import time_text, unit_words

    words = unit_words(result.unit_kind)
    lines = ["Résultats (part de la population à moins du seuil du service le plus proche) :"]
    if result.services_caveat:
        lines.append(f"  ⚠ {result.services_caveat}")
    for _, r in result.summary(by=None).iterrows():
        lines.append(
            f"  {category_label(r['categorie'])}, {ALL_MODES[r['mode']].label} "
            f"(≤ {fr_num(r['seuil_min'], 0)} min) : {_fr_pct(r['part_couverte'])} couverts ; "
            f"{fr_count(r['population_zone_blanche'], 'habitant')} en zone blanche "
            f"({words.count(r['unites_zone_blanche'])}) ; temps médian : "
            f"{time_text(r['temps_median_min'], r['seuil_min'])}"
        )
    cat, mode = principal or (result.categories[0], result.modes[0])
    worst = result.uncovered(cat, mode).head(5)
    if len(worst):
        threshold = float(result.thresholds[mode])
        lines.append(
            f"  {words.title} en zone blanche les plus {words.agree('peuplé')}"
            f" ({indicator_label(cat, mode)}) : "
            + ", ".join(
                f"{n} ({_fr_int(p)} hab., {time_text(m, threshold)})"
                for n, p, m in zip(
                    worst["nom"], worst["population"], worst["temps_min"], strict=True
                )
            )
        )
    return "\n".join(lines)


def format_problems(problems: int, result: CoverageResult | None = None) -> str:
    """The count of problems the run reported (rows rejected, warnings). On the example registry
    a « 0 » would read as reassurance: the line says the registry itself is not checked
    (issue 15). The command line prints it last, instead of « Problèmes signalés : N »."""
    line = f"Problèmes signalés : {problems}"
    if result is not None and result.services_caveat:
        line = (
            f"Problèmes signalés dans les fichiers lus : {problems} — le registre d'exemple "
            "n'est pas vérifié (non exhaustif, des services « à vérifier ») : ce chiffre ne dit "
            "rien de la fiabilité des services."
        )
    return line


def format_zones(result: CoverageResult, zones: Mapping[str, pd.DataFrame]) -> str:
    """One line on the contiguous zones blanches of the first indicator drawn: « zone blanche
    quasi continue » when one zone holds most of the people without access, else their count
    and the most populated one's size (empty without zones)."""
    from zonesblanches.maps.findings import indicator_label, zones_note

    if not zones:
        return ""
    name, first = next(iter(zones.items()))
    label = next(
        (
            indicator_label(c, m)
            for c in result.categories
            for m in result.modes
            if f"{c}_{m}" == name
        ),
        name,
    )
    note = zones_note(first, result.unit_kind)[1]
    if note:
        return f"{label} — {note}"
    text = f"{label} — zones blanches contiguës : {fr_count(len(first), 'zone')}"
    if len(first):
        text += f", la plus peuplée : {fr_count(first['population'].iloc[0], 'habitant')}"
    return text


def format_qpv_gap(tables: dict[str, pd.DataFrame]) -> str:
    """QPV residents within reach against the rest of the territory (empty without figures),
    preceded by the warning of commune-only QPV tables."""
    lines = []
    per_qpv = tables.get("qpv")
    warning = per_qpv.attrs.get("avertissement") if per_qpv is not None else None
    if warning:
        lines.append(f"  ⚠ {warning}")
    gap = tables.get("ecarts_qpv")
    if gap is not None and len(gap):
        whole = gap[(gap["niveau"] == "territoire") & gap["ecart_points"].notna()]
        if len(whole):
            lines.append("Habitants des QPV à portée, comparés au reste du territoire :")
        for _, r in whole.iterrows():
            lines.append(
                f"  {category_label(r['categorie'])}, {ALL_MODES[r['mode']].label} : QPV "
                f"{fr_num(r['pct_dans_seuil_qpv'])} % / hors QPV "
                f"{fr_num(r['pct_dans_seuil_hors_qpv'])} % (écart "
                f"{fr_num(r['ecart_points'])} points)"
            )
    return "\n".join(lines)


def _and(words: list[str]) -> str:
    """« a », « a et b », « a, b et c »."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " et " + words[-1]


def border_note(codes: list[str]) -> str:
    """The method note of a territory whose margin crosses land borders (ISO codes, keys of
    :data:`zonesblanches.geodata.borders.COUNTRIES`): no French inventory holds the services
    beyond them, so times near the border may be overestimated."""
    from zonesblanches.geodata.borders import COUNTRIES

    names = _and([COUNTRIES[c][0] for c in codes])
    adjectives = _and([COUNTRIES[c][1] for c in codes])
    where = "de la frontière" if len(codes) == 1 else "des frontières"
    return (
        f"Le territoire et sa marge touchent {names} : les services {adjectives} ne figurent "
        f"dans aucun inventaire français ; les temps près {where} peuvent être surestimés."
    )


OUTSIDE_FILE = "services_hors_territoire.csv"
"""The table of the services used outside the territory, written by ``analyse``, ``suggerer``
and ``scenario``."""


def outside_note(result: CoverageResult) -> str:
    """« N services hors du territoire pris en compte, liste dans services_hors_territoire.csv »
    (empty when the margin holds none, or no margin was applied)."""
    table = result.services_outside
    if table is None or not len(table):
        return ""
    n = len(table)
    return (
        f"{fr_count(n, 'service')} hors du territoire pris en compte, "
        f"liste dans {OUTSIDE_FILE} (commune, département, distance au territoire, source)."
    )


def format_outside(result: CoverageResult, *, top: int = 5, borders: bool = True) -> list[str]:
    """The CLI lines on the services used outside the territory (how many, the nearest ones,
    the file) and, with ``borders``, on the land borders the margin reaches (``suggerer`` and
    ``scenario`` print that one among their notes)."""
    lines = []
    note = outside_note(result)
    if note:
        table = result.services_outside
        names = ", ".join(
            f"{r.nom} ({r.commune}, {fr_num(r.distance_territoire_km, 1, trim=True)} km)"
            for r in table.head(top).itertuples(index=False)
        )
        more = f" et {fr_count(len(table) - top, 'autre')}" if len(table) > top else ""
        lines += [f"  {note}", f"    {names}{more}"]
    elif result.services_outside is not None:
        lines.append(f"  Aucun service hors du territoire pris en compte ({OUTSIDE_FILE} vide).")
    if borders and result.border_countries:
        lines.append(f"  ⚠ {border_note(result.border_countries)}")
    return lines


__all__ = [
    "border_note",
    "format_outside",
    "outside_note",
    "format_engine",
    "format_network",
    "format_population",
    "format_qpv_gap",
    "format_results",
    "format_scenario",
    "format_services",
    "format_suggestion",
    "format_zones",
]


def format_services(resolved, *, top: int = 10) -> list[str]:
    """What the CLI says about the services used (an ``api.ResolvedServices``): source, count,
    the example-registry caveat, counts of what was merged or left out, warnings, first
    rejects."""
    n = len(resolved.services)
    if resolved.kind == "registre":
        lines = [f"Services : {resolved.label} ({fr_count(n, 'service')})"]
    elif resolved.kind == "fichier":
        lines = [f"Services : {n} lus dans {resolved.label}"]
    else:
        lines = [
            f"Services : {fr_count(n, 'service retenu', 'services retenus')} — {resolved.label}"
        ]
    if resolved.caveat:
        lines.append(f"  ⚠ {resolved.caveat}")
    lines += [f"  {line}" for line in resolved.lines]
    lines += [f"  ⚠ {w}" for w in resolved.warnings]
    rejects = resolved.rejects
    if len(rejects):
        where = f", détail dans {resolved.rejects_path}" if resolved.rejects_path else ""
        lines.append(f"  ⚠ {fr_count(len(rejects), 'ligne écartée', 'lignes écartées')}{where}")
        for _, row in rejects.head(top).iterrows():
            lines.append(f"    ligne {row['ligne']} — {row['champ']} : {row['motif']}")
    flags = resolved.flags
    if len(flags):
        where = f", détail dans {resolved.flags_path}" if resolved.flags_path else ""
        n = int(flags["ligne"].nunique())
        lines.append(
            f"  ⚠ {fr_count(n, 'ligne gardée mais signalée', 'lignes gardées mais signalées')}"
            f"{where}"
        )
        for _, row in flags.head(top).iterrows():
            lines.append(f"    ligne {row['ligne']} — {row['champ']} : {row['motif']}")
    return lines


def format_population(demand, qpv, carreaux_path=None, qpv_path=None) -> list[str]:
    """What the CLI says about the population units and the QPV used."""
    if demand is not None:
        pop = (
            f"Population : carreaux INSEE Filosofi ({carreaux_path.name}) — "
            f"{_fr_int(len(demand))} carreaux habités, {_fr_int(demand['population'].sum())} "
            "habitants (population des ménages fiscaux, arrondie par l'INSEE)"
        )
    else:
        pop = (
            "Population : un point par commune (population municipale 2023) ; pas de "
            "carroyage fourni (--carreaux FICHIER pour compter par carreau de 200 m)."
        )
    if qpv is not None:
        n_qpv = fr_count(len(qpv), "quartier prioritaire", "quartiers prioritaires")
        text = f"QPV : {n_qpv} dans le territoire ({qpv_path.name})"
    else:
        text = (
            "QPV : pas de fichier des quartiers prioritaires (--qpv FICHIER pour les "
            "indicateurs par QPV)."
        )
    return [pop, text]


def _far_line(mode: str, far: int, max_snap_m: float, where: str = "du réseau routier") -> str:
    return (
        f"  ⚠ {mode} : {fr_count(far, 'service')} à plus de {max_snap_m:.0f} m {where} "
        "(hors de l'extrait ?) : trajet compté à pied en ligne droite, temps signalés dans la "
        "colonne remarque"
    )


def _network_lines(mode: str, nodes: int, edges: int, far: int, max_snap_m: float) -> list[str]:
    """A network's size line, and the line of its services too far from it if any."""
    lines = [f"  {mode} : {_fr_int(nodes)} nœuds, {_fr_int(edges)} tronçons"]
    return lines + ([_far_line(mode, far, max_snap_m)] if far else [])


def format_network(models, services) -> tuple[list[str], int]:
    """Size of each road network, and the services too far from it (lines, count)."""
    lines, problems = [], 0
    for mode, model in models.items():
        far = int((model.snap(services.geometry).distance_m > model.max_snap_m).sum())
        lines += _network_lines(mode, model.n_nodes, model.n_edges, far, model.max_snap_m)
        problems += far
    return lines, problems


def format_worker_network(reads: Mapping) -> tuple[list[str], int]:
    """The lines of :func:`format_network` for a network the Dask workers read
    (``PartitionedRun.network_reads``), and the count of services too far from it.

    When a département needed the whole territory's network, a worker read it as the driver
    would have: same sizes, same count. Otherwise only the groups' networks exist: their
    sizes (they overlap, and do not add up), and the services far from every one of them,
    which may differ from the whole network's count (the groups are read 10 km beyond the
    run's margin); the lines say so."""
    lines, problems = [], 0
    whole, groups = reads.get("territoire"), reads.get("groupes") or []
    if whole:
        lines.append(
            "Réseau routier lu par un worker Dask pour tout le territoire et sa marge (des "
            "départements en ont eu besoin) :"
        )
        for mode, n in whole.items():
            far = int(np.count_nonzero(n["far"]))
            lines += _network_lines(mode, n["nodes"], n["edges"], far, n["max_snap_m"])
            problems += far
    if not groups:
        return lines, problems
    lines.append(
        "Réseaux routiers lus par les workers Dask, un par groupe de départements (marges "
        "comprises : ils se recouvrent, leurs tailles ne s'additionnent pas) :"
    )
    for i, (depts, by_mode) in enumerate(groups):
        for mode, n in by_mode.items():
            lines.append(
                f"  {mode}, groupe {i} ({', '.join(depts)}) : {_fr_int(n['nodes'])} nœuds, "
                f"{_fr_int(n['edges'])} tronçons"
            )
    if whole:
        return lines, problems
    modes = list(dict.fromkeys(m for _, by_mode in groups for m in by_mode))
    for mode in modes:
        notes = [by_mode[mode] for _, by_mode in groups if mode in by_mode]
        far = int(np.count_nonzero(np.logical_and.reduce([n["far"] for n in notes])))
        problems += far
        where = "de chacun des réseaux lus"
        line = (
            _far_line(mode, far, notes[0]["max_snap_m"], where)
            if far
            else (f"  {mode} : aucun service à plus de {notes[0]['max_snap_m']:.0f} m {where}")
        )
        lines.append(
            line + " ; compté sur les réseaux des groupes (le réseau du territoire entier "
            "n'a pas été lu) : ce nombre peut différer de celui d'un calcul sur le réseau lu "
            "sur le poste (les groupes sont lus 10 km au-delà de sa marge)"
        )
    return lines, problems


def _from_about(value: float, what: str) -> str:
    """« à partir d'environ 1 700 sites » (two significant digits); infinity: « jamais »."""
    if not math.isfinite(value):
        return "jamais (la requête par seaux n'est pas plus rapide sur ce réseau)"
    digits = max(0, len(str(int(value))) - 2)
    return f"à partir d'environ {_fr_int(round(value, -digits))} {what}"


def format_engine(models) -> list[str]:
    """What the road engine did for each network model, with the hierarchy's break-even
    predicted by the automatic rule (lines to print; empty without a road network).

    The build time is printed here only (never in a file): outputs stay the same bytes.
    """
    lines = []
    for mode, model in (models or {}).items():
        log = getattr(model, "engine_log", None)
        if not log:
            continue
        head = f"  {mode} ({_fr_int(log[0].n_nodes)} nœuds)"
        for use in log:
            built = (
                f" ; hiérarchie construite en {_fr_num(use.build_seconds)} s"
                if use.build_seconds is not None
                else ""
            )
            if use.kind == "nearest":
                how = (
                    ("par Dijkstra" if use.count == 1 else "toutes par Dijkstra")
                    if use.by_hierarchy == 0
                    else f"dont {_fr_int(use.by_hierarchy)} par la hiérarchie de contraction"
                )
                lines.append(
                    f"{head} : {fr_count(use.count, 'requête')} « service le plus proche », "
                    f"{how} ; la hiérarchie est rentable "
                    f"{_from_about(use.break_even, 'requêtes')}{built}"
                )
            else:
                sites = fr_count(use.count, "site candidat", "sites candidats")
                if use.by_hierarchy == use.count and not math.isfinite(use.break_even):
                    how = "par la hiérarchie de contraction (déjà construite ou demandée)"
                elif use.by_hierarchy:
                    how = (
                        "par la hiérarchie de contraction, rentable "
                        f"{_from_about(use.break_even, 'sites')} ({_fr_int(use.reached)} nœuds "
                        "atteints par recherche)"
                    )
                else:
                    how = (
                        "par Dijkstra borné, site par site : la hiérarchie serait rentable "
                        f"{_from_about(use.break_even, 'sites')}"
                    )
                lines.append(f"{head} : accessibilité de {sites} {how}{built}")
    if lines:
        lines.insert(0, "Moteur de temps sur le réseau (choix automatique) :")
    return lines
